# End-to-end tests of catalog rows (kind = dcat): a DCAT-US data.json served
# by tests/servers/catalogs.py is read as a stream, every dataset's files are
# rescued with the dataset's metadata in their records, and a later crawl
# reads the catalog again, fetches only what changed and records what vanished.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_catalogs.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and crawl_in

here_catalogs=$(cd "$(dirname "${BASH_SOURCE[0]}")/../servers" && pwd)

# ct_server [OPTIONS...]: the catalog server on a free port (ct.port), its
# requests in ct.log (one JSON object per line), stopped when the test ends.
ct_server() {
	python3 "$here_catalogs/catalogs.py" --port-file ct.port --pid-file ct.pid --log ct.log "$@" >ct.err 2>&1 &
	local i
	for i in $(seq 1 100); do
		[ -s ct.port ] && break
		sleep 0.1
	done
	[ -s ct.port ] || fail "the catalog server did not start: $(cat ct.err)"
	trap 'kill "$(cat ct.pid 2>/dev/null)" 2>/dev/null || true' EXIT
	CT="http://127.0.0.1:$(cat ct.port)"
}

ct_archive() {
	sv init a && expect_status 0
	git config -f a/salvage.conf crawl.allowPrivate true
}

# ct_status_catalog N: the "catalog" object of row N's status (JSON) into $out.
ct_status_catalog() {
	sv -C a status --json
	expect_status 0
	out=$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["rows"][int(sys.argv[1])]["catalog"]))' "$1" <<<"$out") ||
		fail "no catalog counts in status"
}

# ct_sum KEY: the sum of counts KEY over every catalog capture of ./a.
ct_sum() {
	sv -C a ls --json
	python3 -c '
import json, sys
print(sum((json.loads(l).get("catalog") or {}).get("counts", {}).get(sys.argv[1], 0) for l in sys.stdin if l.strip()))
' "$1" <<<"$out"
}

# A generated data.json of 400 datasets with the real quirks: every dataset
# listed is kept, the files are rescued with the dataset in their records,
# the quirks are counted as the server counted them, and what could not be
# rescued is in the needs-hands report, which loads as a sheet.
test_dcat_generated_catalog_and_needs_hands() {
	ct_server
	ct_archive
	local url="$CT/gen/data.json?n=400&seed=3"
	printf 'url,kind,agency\n"%s",dcat,Test Agency\n' "$url" >sheet.csv
	crawl_in a ../sheet.csv
	[ "$status" -le 1 ] || fail "crawl exit $status" # 1: listed files that 404 are failures
	curl -s -D headers.txt -o /dev/null "$url"
	sv -C a ls --json
	printf '%s\n' "$out" >ls.json
	python3 - "$url" <<'EOF2' || fail "records do not match the catalog"
import json, sys
url = sys.argv[1]
counts = None
for line in open("headers.txt"):
    if line.lower().startswith("x-gen-counts:"):
        counts = json.loads(line.split(":", 1)[1])
recs = [json.loads(l) for l in open("ls.json") if l.strip()]
cat = [r for r in recs if r["url"] == url]
assert len(cat) == 1 and cat[0]["kind"] == "catalog", cat
c = cat[0]["catalog"]
assert c["ended"] and c["step"] == "dcat" and c["pass"] == 1, c
assert c["datasets"] == counts["datasets"], (c, counts)
k = c["counts"]
assert k["relative_url"] == counts["relative_downloadURL"], (k, counts)
assert k["bad_url"] == counts["hhttps_typo"], (k, counts)
assert k["neither_url"] == counts["no_url"], (k, counts)
assert k["no_media_type"] >= counts["missing_mediaType"], (k, counts)
assert k["bad_text"] >= 1 and k["modified_interval"] == counts["modified_repeating"], k
files = [r for r in recs if r.get("dataset")]
for r in files:
    d = r["dataset"]
    assert d["catalog"] == url and d["role"] in ("download", "access", "found"), d
ok = {r["url"] for r in files if r["status"] == 200 and r["kind"] == "dataset" and "/files/gen/" in r["url"]}
assert len(ok) == counts["files_ok"], (len(ok), counts["files_ok"])
# A downloadURL that redirects to a landing page: the redirect is followed as part of the dataset,
# and the page is read for its data files.
moved = [r for r in files if r["url"].endswith("/broken/to-landing.csv")]
assert moved and all(r["status"] == 302 for r in moved), moved
landed = [r for r in files if "/landing/" in r["url"] and r["dataset"]["role"] == "download"]
assert landed and all(r["status"] == 200 for r in landed), landed
assert any(r["dataset"]["role"] == "found" for r in files), "no data file found on a landing page"
print("catalog ok:", len(files), "captures")
EOF2
	ct_status_catalog 0
	python3 -c 'import json,sys; c=json.loads(sys.argv[1]); assert c["listed"]==int(sys.argv[2]) and c["pending"]==0 and c["needs_hands"]>0, c' \
		"$out" "$(python3 -c 'import json,sys; print(json.loads(open("headers.txt").read().split("X-Gen-Counts: ")[1].splitlines()[0])["unique_identifiers"])')" ||
		fail "status: $out"
	sv -C a report --needs-hands
	expect_status 0
	printf '%s\n' "$out" >todo.csv
	expect_in 'url,problem,dataset,title,publisher,modified,catalog,row' "$out"
	expect_in "$CT/broken/404.csv,HTTP 404" "$out"
	expect_in 'listed with no URL' "$out"
	expect_in 'not an http(s) URL: hhttps://' "$out"
	# The archiving world gets the datasets too: each capture of a dataset's
	# file has a metadata record about it in the WARC, and the bag keeps the records.
	sv -C a export warc "$PWD/out.warc.gz"
	expect_status 0
	node "$here_catalogs/../js/warc_check.mjs" out.warc.gz >check.txt || fail "warcio check: $(tail -n 3 check.txt)"
	local meta files
	meta=$(zcat out.warc.gz | grep -ac '^dataset-identifier: ')
	files=$(python3 -c 'import json; print(sum(1 for l in open("ls.json") if l.strip() and json.loads(l).get("dataset")))')
	expect_eq "$files" "$meta"
	sv -C a export bagit "$PWD/bag"
	expect_status 0
	[ "$(grep -c '"dataset":{' bag/salvage/captures.jsonl)" -ge 1 ] || fail "the bag's records lost their datasets"
	# The report is a sheet: a volunteer's archive loads it.
	sv init b && expect_status 0
	sv -C b seed ../todo.csv
	expect_status 0
	expect_in "$(($(wc -l <todo.csv) - 1)) new" "$out"
}

# ct_stable_listed WHAT: every id the server's WHAT/_expect says existed
# all along (stable) is a dataset of the queue, and none is kept twice.
ct_stable_listed() {
	curl -s -H 'X-Api-Key: k3y' "$CT/$1/_expect" >expect.json
	sqlite3 a/queue.db 'SELECT identifier FROM datasets' | sort >listed.txt
	python3 - <<'EOF2' || fail "$1: datasets missed or kept twice"
import json
e = json.load(open("expect.json"))
assert e["mutated"], e
listed = open("listed.txt").read().split()
assert len(listed) == len(set(listed)), "a dataset kept twice"
missing = set(e["stable"]) - set(listed)
assert not missing, ("missed", sorted(missing)[:5], len(missing))
print("stable", len(e["stable"]), "listed", len(listed))
EOF2
	expect_eq 0 "$(ct_sum listed_again)"
}

# CKAN: rows silently capped at 100 (asked 1000), and the catalog changing
# while it is paged (deletions, additions before and after the cursor,
# modifications): every package that existed all along is listed exactly once.
test_ckan_capped_and_changing_while_paged() {
	ct_server --ckan-packages 600 --ckan-rows-max 100 --mutate-after-requests 3
	ct_archive
	printf 'url,kind\n%s/ckan,ckan\n' "$CT" >sheet.csv
	crawl_in a ../sheet.csv
	[ "$status" -le 1 ] || fail "crawl exit $status"
	ct_stable_listed ckan
	[ "$(ct_sum rows_capped)" -ge 1 ] || fail "the silent cap was not noticed"
	# Keyset paging: one request per 100 packages, not offsets.
	local pages
	pages=$(grep -c 'package_search' ct.log)
	[ "$pages" -le 8 ] || fail "$pages package_search requests for 600 packages at 100 a page"
	grep -q 'fq=id%3A%7B' ct.log || fail "no keyset request: $(grep package_search ct.log | head -3)"
	sv -C a report --needs-hands
	expect_in 'an API or service, not a file' "$out"
}

# Socrata past the Discovery API's 10,000 results, with its scroll_id, while
# the catalog changes under it; the app token is sent on the portal's
# requests and recorded nowhere.
test_socrata_past_ten_thousand() {
	ct_server --socrata-datasets 12000 --socrata-token s3cr3t-token --socrata-mutate-after 4
	ct_archive
	git config -f a/salvage.conf catalog.socrataAppToken s3cr3t-token
	# Enumerate only: the exports are excluded (a row's patterns apply to datasets).
	printf 'url,kind,exclude\n%s/,socrata,*/api/views/*\n' "$CT" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 0 # the catalog's pages are what was asked for
	ct_stable_listed socrata
	[ "$(sqlite3 a/queue.db 'SELECT count(*) FROM datasets')" -gt 11800 ] || fail "not every dataset listed"
	grep -q 'scroll_id=' ct.log || fail "no scroll_id paging"
	if grep '/api/catalog/' ct.log | grep -qv '"X-App-Token": "s3cr3t-token"'; then
		fail "a catalog request without the app token"
	fi
	if grep -rq 's3cr3t-token' a/ledger.git a/index.db a/logs 2>/dev/null; then
		fail "the app token is recorded"
	fi
	sv -C a ls --json
	expect_in 'X-App-Token: ***' "$out"
}

# data.gov's catalog API: the `after` cursor while the catalog changes, the
# key sent as X-Api-Key and recorded nowhere; without a key, a failure that
# says why, not a rescue of nothing.
test_datagov_cursor_and_key() {
	ct_server --datagov-datasets 450 --datagov-key k3y --datagov-mutate-after 2
	ct_archive
	printf 'url,kind\n%s/datagov,datagov\n' "$CT" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 1 # without the key: 403
	expect_in 'failed' "$out"
	git config -f a/salvage.conf catalog.dataGovApiKey k3y
	crawl_in a ../sheet.csv
	[ "$status" -le 1 ] || fail "crawl exit $status"
	ct_stable_listed datagov
	grep -q '/datagov/search?per_page=100&after=' ct.log || fail "no after cursor"
	if grep -rq 'k3y' a/ledger.git a/index.db a/logs 2>/dev/null; then
		fail "the api key is recorded"
	fi
	sv -C a ls --json "$CT/datagov/search"
	expect_in 'X-Api-Key: ***' "$out"
}

# kind auto: the probes find each kind of catalog (data.json, CKAN, Socrata,
# ArcGIS Hub) and say so when a site has none.
test_auto_probes_find_the_catalog() {
	# (Socrata lives at a domain's root: the probe of /auto/socrata/ finds the portal, which lists its root catalog)
	ct_server --auto-datasets 12 --socrata-datasets 12
	ct_archive
	{
		echo 'url,kind'
		for k in dcat ckan socrata arcgis nothing; do echo "$CT/auto/$k/,auto"; done
	} >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 1 # the site with no catalog
	sv -C a status --json
	python3 -c '
import json, sys
rows = {r["url"].rstrip("/").rsplit("/", 1)[1]: r for r in json.load(sys.stdin)["rows"]}
for k in ("dcat", "ckan", "socrata", "arcgis"):
    c = rows[k].get("catalog")
    # (a Hub dataset whose distribution is a FeatureServer layer: the layer is a dataset of its own)
    assert c and (c["listed"] == 12 or (k == "arcgis" and c["listed"] > 12)), (k, c)
n = rows["nothing"]
assert n["failed"] == 1 and n["catalog"]["needs_hands"] == 1 and n["catalog"]["listed"] == 1, n
' <<<"$out" || fail "probes: $out"
	sv -C a ls --json "$CT/auto/nothing/"
	expect_in 'no catalog found by probing' "$out"
	sv -C a report --needs-hands
	expect_in "$CT/auto/nothing/api/feed/dcat-us/1.1.json,no catalog found by probing" "$out"
	# The first probe that answers is the one read: a CKAN site is not asked as Socrata.
	if grep -q '/auto/ckan/api/catalog/v1' ct.log; then fail "probed on after a catalog was found"; fi
}

# ArcGIS: a layer of 25,000 features (ids with gaps) exported in batches of at
# most maxRecordCount (1000): every feature once; a layer whose server cuts
# answers short without saying so: counted, and the rest asked for; a layer
# that answers errors with HTTP 200: a failure, not a rescue.
test_arcgis_layers_exported_whole() {
	ct_server --arcgis-features 25000
	ct_archive
	local svc="$CT/arcgis/rest/services/Addresses/FeatureServer"
	printf 'url,kind\n%s/0,arcgis\n%s/1,arcgis\n%s/2,arcgis\n' "$svc" "$svc" "$svc" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 1 # layer 2 fails
	for layer in 0 1; do
		curl -s "$svc/$layer/query?where=1%3D1&returnIdsOnly=true&f=json" >ids$layer.json
		sv -C a ls --json "$svc/$layer/query?where"
		printf '%s\n' "$out" >batches$layer.json
		python3 - "$layer" <<'EOF2' || fail "layer $layer not exported whole"
import json, subprocess, sys, os
layer = sys.argv[1]
want = json.load(open("ids%s.json" % layer))["objectIds"]
recs = [json.loads(l) for l in open("batches%s.json" % layer) if l.strip()]
seen = []
for r in recs:
    if r["status"] != 200 or not r.get("sha256") or not r.get("dataset"):
        continue  # the layer's description and its ids are no batch
    body = subprocess.run([os.environ["SALVAGE"], "-C", "a", "cat", r["sha256"]], capture_output=True, check=True).stdout
    feats = json.loads(body)["features"]
    assert len(feats) <= 1000, len(feats)
    seen += [f["id"] for f in feats]
assert len(seen) == len(set(seen)), "a feature twice"
assert set(seen) == set(want), (len(seen), len(want))
print("layer", layer, len(seen), "features in", len(recs), "batches")
EOF2
	done
	[ "$(ct_sum short_batch)" -ge 1 ] || fail "the short answers were not noticed"
	sv -C a ls --json "$svc/2"
	expect_in 'not a catalog answer' "$out"
	# What could not be read is a human's: listed with its reason, and counted by status.
	sv -C a report --needs-hands
	expect_in "$svc/2/query?where=1%3D1&returnIdsOnly=true&f=json,not a catalog answer: ArcGIS error: 400" "$out"
	ct_status_catalog 2
	python3 -c 'import json,sys; c=json.loads(sys.argv[1]); assert c["needs_hands"] == 1, c' "$out" || fail "status: $out"
}

# data.json of 100,000 datasets, and the crawl killed with -9 while it is
# being read: the next run reads it again and nothing is kept twice or lost.
test_dcat_100000_killed_while_enumerating() {
	ct_server
	ct_archive
	printf 'url,kind,exclude\n"%s/gen/data.json?n=100000&seed=5",dcat,*\n' "$CT" >sheet.csv
	(cd a && exec "$SALVAGE" crawl ../sheet.csv) >first.out 2>&1 &
	local pid=$! n=0
	for _ in $(seq 1 1500); do
		# (sqlite3 would make an empty queue.db if it looked before salvage made it)
		[ -s a/queue.db ] && n=$(sqlite3 a/queue.db 'SELECT count(*) FROM datasets' 2>/dev/null || echo 0)
		[ "${n:-0}" -ge 1000 ] && break
		sleep 0.02
	done
	# The crawl and its fetchers, at once: no clean stop.
	pkill -9 -P "$pid" || true
	kill -9 "$pid" 2>/dev/null || fail "the crawl ended before it could be killed ($n datasets): $(cat first.out)"
	wait "$pid" 2>/dev/null || true
	[ "${n:-0}" -ge 1000 ] && [ "$n" -lt 100000 ] || fail "not killed in the middle ($n datasets)"
	crawl_in a ../sheet.csv
	curl -s -D headers.txt -o /dev/null "$CT/gen/data.json?n=100000&seed=5"
	local want
	want=$(python3 -c 'import json; print(json.loads(open("headers.txt").read().split("X-Gen-Counts: ")[1].splitlines()[0])["unique_identifiers"])')
	expect_eq "$want" "$(sqlite3 a/queue.db 'SELECT count(*) FROM datasets')"
	expect_eq 0 "$(sqlite3 a/queue.db 'SELECT count(*) FROM (SELECT identifier FROM datasets GROUP BY identifier HAVING count(*) > 1)')"
	ct_status_catalog 0
	expect_in "\"listed\": $want" "$out"
}

# A data.json whose first download is cut in the middle: the next attempt
# fetches it whole and reads it (a catalog answer is never resumed with
# Range: a resumed body would reach its reader without its beginning).
test_dcat_cut_download_is_read_whole_again() {
	ct_archive
	python3 - <<'EOF2'
import json
ds = [{"identifier": "id-%d" % i, "title": "T%d " % i + "x" * 3000, "modified": "2020-01-01",
       "distribution": [{"downloadURL": "/files/d%d.csv" % i}]} for i in range(2000)]
open("data.json", "w").write(json.dumps({"dataset": ds}))
EOF2
	cat >cut.py <<'EOF2'
import http.server, os, sys, hashlib
body = open("data.json", "rb").read()
etag = '"%s"' % hashlib.sha1(body).hexdigest()
state = {"n": 0}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        sys.stderr.write("%s %s\n" % (self.command, self.path)); sys.stderr.flush()
    def do_GET(self):
        if self.path != "/data.json":
            self.send_response(200 if self.path.startswith("/files/") else 404)
            b = b"a,b\n1,2\n"
            self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b); return
        rng = self.headers.get("Range")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self.send_response(206 if start else 200)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/json")
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        state["n"] += 1
        if state["n"] == 1:
            self.wfile.write(body[:len(body) // 2]); self.wfile.flush()
            self.connection.shutdown(2); return
        self.wfile.write(body[start:])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open("cut.port.tmp", "w").write(str(srv.server_address[1])); os.rename("cut.port.tmp", "cut.port")
srv.serve_forever()
EOF2
	python3 cut.py 2>cut.log &
	echo $! >cut.pid
	trap 'kill "$(cat cut.pid)" 2>/dev/null || true' EXIT
	for _ in $(seq 1 50); do [ -s cut.port ] && break; sleep 0.1; done
	printf 'url,kind,exclude\nhttp://127.0.0.1:%s/data.json,dcat,*\n' "$(cat cut.port)" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 0
	expect_eq 2000 "$(sqlite3 a/queue.db 'SELECT count(*) FROM datasets')"
	expect_eq 2 "$(grep -c 'GET /data.json' cut.log)"
}

# A data.json the test changes between crawls: the second crawl fetches the
# catalog and nothing else, the third fetches the dataset whose `modified`
# changed and records the one that vanished.
test_dcat_refresh_fetches_only_what_changed() {
	mkdir -p www/files
	python3 - <<'EOF'
import json
ds = [{"identifier": "id-%d" % i, "title": "T%d" % i, "modified": "2020-01-01",
       "distribution": [{"downloadURL": "files/d%d.csv" % i, "mediaType": "text/csv"}]} for i in range(4)]
ds.append({"identifier": "id-page", "title": "Only a page", "distribution": [{"accessURL": "app.html"}]})
ds.append({"identifier": "id-nomod", "title": "No date", "distribution": [{"downloadURL": "files/n.csv"}]})
open("www/files/n.csv", "w").write("n\n1\n")
json.dump({"dataset": ds}, open("www/data.json", "w"))
open("www/app.html", "w").write("<html><div id=root></div><script src=app.js></script></html>")
for i in range(4):
    open("www/files/d%d.csv" % i, "w").write("a,b\n%d,2\n" % i)
EOF
	trap 'kill "$(cat www.pid)" 2>/dev/null || true' EXIT
	www_start
	local port=$WWW_PORT
	ct_archive
	printf 'url,kind\nhttp://127.0.0.1:%s/data.json,dcat\n' "$port" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 0
	expect_eq 5 "$(grep -c 'GET /files/' www.log)"
	# Again: the catalog is asked with its validators, answers 304, and nothing else is asked.
	crawl_in a ../sheet.csv
	expect_status 0
	expect_eq 5 "$(grep -c 'GET /files/' www.log)"
	expect_eq 2 "$(grep -c 'GET /data.json' www.log)"
	grep -q '"GET /data.json HTTP/1.1" 304' www.log || fail "the catalog was not asked conditionally: $(cat www.log)"
	sleep 1.1 # Last-Modified has whole seconds
	python3 - <<'EOF'
import json
d = json.load(open("www/data.json"))
d["dataset"][1]["modified"] = "2021-06-01"
del d["dataset"][2]
json.dump(d, open("www/data.json", "w"))
EOF
	crawl_in a ../sheet.csv
	expect_status 0
	# d1 changed: fetched again; n.csv has no modified: asked again with its validators (304).
	expect_eq 7 "$(grep -c 'GET /files/' www.log)"
	expect_eq 2 "$(grep -c 'GET /files/d1.csv' www.log)"
	grep -q '"GET /files/n.csv HTTP/1.1" 304' www.log || fail "a file of unknown date was not asked conditionally"
	sv -C a ls --json
	python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
gone = [r for r in recs if "vanished" in (r.get("error") or "")]
assert len(gone) == 1 and gone[0]["dataset"]["identifier"] == "id-2", gone
' <<<"$out" || fail "no record of the vanished dataset: $out"
	sv -C a report --needs-hands
	expect_in "http://127.0.0.1:$port/app.html,\"a page with no data file found on it" "$out"
	ct_status_catalog 0
	python3 -c 'import json,sys; c=json.loads(sys.argv[1]); assert (c["listed"],c["rescued"],c["needs_hands"],c["vanished"])==(5,4,1,1), c' "$out" ||
		fail "status: $out"
}
