# End-to-end tests of catalog rows (kind = dcat): a DCAT-US data.json served
# by tests/servers/catalogs.py is read as a stream, every dataset's files are
# rescued with the dataset's metadata in their records, and a later crawl
# reads the catalog again, fetches only what changed and records what vanished.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_catalogs.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and crawl_in

here_catalogs=$(cd "$(dirname "${BASH_SOURCE[0]}")/../servers" && pwd)

# ct_server: the catalog server on a free port (ct.port), its requests in ct.log.
ct_server() {
	python3 "$here_catalogs/catalogs.py" --port-file ct.port --pid-file ct.pid --log ct.log >ct.err 2>&1 &
	local i
	for i in $(seq 1 100); do
		[ -s ct.port ] && break
		sleep 0.1
	done
	[ -s ct.port ] || fail "the catalog server did not start: $(cat ct.err)"
	trap 'kill "$(cat ct.pid 2>/dev/null)" 2>/dev/null || true' EXIT
}

ct_archive() {
	sv init a && expect_status 0
	git config -f a/salvage.conf crawl.allowPrivate true
}

# A generated data.json of 120 datasets with the real quirks: every dataset
# listed is kept, the files are rescued with the dataset in their records,
# the quirks are counted in the catalog's record as the server counted them.
test_dcat_generated_catalog() {
	ct_server
	ct_archive
	local port url
	port=$(cat ct.port)
	url="http://127.0.0.1:$port/gen/data.json?n=120&seed=3"
	printf 'url,kind,agency\n"%s",dcat,Test Agency\n' "$url" >sheet.csv
	crawl_in a ../sheet.csv
	[ "$status" -le 1 ] || fail "crawl exit $status" # 1 when a listed file 404s
	sv -C a ls --json
	expect_status 0
	printf '%s\n' "$out" >ls.json
	curl -s -D headers.txt -o /dev/null "$url"
	python3 - "$url" <<'EOF' || fail "records do not match the catalog"
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
assert c["counts"]["relative_url"] == counts["relative_downloadURL"], (c, counts)
assert c["counts"]["bad_url"] == counts["hhttps_typo"], (c, counts)
assert c["counts"].get("bad_text", 0) >= 1, c
files = [r for r in recs if r.get("dataset")]
ids = {r["dataset"]["identifier"] for r in files}
assert len(files) >= counts["datasets"], (len(files), counts["datasets"])
for r in files:
    d = r["dataset"]
    assert d["catalog"] == url and d["role"] in ("download", "access", "found", "api", "metadata"), d
ok = [r for r in files if r["status"] == 200 and r["kind"] == "dataset"]
assert len(ok) >= counts["datasets"] // 2, len(ok)
print("catalog ok:", len(files), "captures of", len(ids), "datasets")
EOF
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
json.dump({"dataset": ds}, open("www/data.json", "w"))
for i in range(4):
    open("www/files/d%d.csv" % i, "w").write("a,b\n%d,2\n" % i)
EOF
	(cd www && exec python3 -m http.server 0 --bind 127.0.0.1) >www.log 2>&1 &
	echo $! >www.pid
	local port=
	trap 'kill "$(cat www.pid)" 2>/dev/null || true' EXIT
	for _ in $(seq 1 50); do
		port=$(grep -o 'port [0-9]*' www.log | grep -o '[0-9]*' || true)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || fail "no web server"
	ct_archive
	printf 'url,kind\nhttp://127.0.0.1:%s/data.json,dcat\n' "$port" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 0
	local n1
	n1=$(grep -c 'GET /files/' www.log)
	expect_eq 4 "$n1"
	crawl_in a ../sheet.csv
	expect_status 0
	expect_eq 4 "$(grep -c 'GET /files/' www.log)"
	expect_eq 2 "$(grep -c 'GET /data.json' www.log)"
	python3 - <<'EOF'
import json
d = json.load(open("www/data.json"))
d["dataset"][1]["modified"] = "2021-06-01"
del d["dataset"][2]
json.dump(d, open("www/data.json", "w"))
EOF
	crawl_in a ../sheet.csv
	expect_status 0
	expect_eq 5 "$(grep -c 'GET /files/' www.log)"
	expect_eq 2 "$(grep -c 'GET /files/d1.csv' www.log)"
	sv -C a ls --json
	python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
gone = [r for r in recs if "vanished" in (r.get("error") or "")]
assert len(gone) == 1 and gone[0]["dataset"]["identifier"] == "id-2", gone
' <<<"$out" || fail "no record of the vanished dataset: $out"
}
