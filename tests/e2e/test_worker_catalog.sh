# End-to-end tests of catalog rows on the shared PostgreSQL queue: a
# coordinator seeds a sheet with a dcat row (which starts the catalog's pass),
# two `salvage worker`s on two archives rescue it, and what `salvage crawl`
# promises on the embedded queue holds across them: every dataset's files
# fetched once in all, the datasets in `salvage status --queue`, the
# needs-hands report from the queue (queue.url, or --queue), and a later seed
# reading the catalog again: only what changed fetched again, what vanished
# recorded once.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_worker_catalog.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

WC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/servers/postgres.sh
. "$WC_ROOT/tests/servers/postgres.sh"

wc_cleanup() {
	local p
	for p in "${wk_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ -s ct.pid ] && kill "$(cat ct.pid)" 2>/dev/null
	[ -s www.pid ] && kill "$(cat www.pid)" 2>/dev/null
	sv_pg_stop "$PWD/pg" >/dev/null 2>&1
	wait 2>/dev/null
	return 0
}

# wc_setup: PostgreSQL (Q: its URL), a coordinator archive c, and two worker
# archives w1 and w2 whose queue.url is Q (loopback servers allowed in all).
wc_setup() {
	trap wc_cleanup EXIT
	chmod 0755 "$PWD" # the cluster's owner (postgres) reaches ./pg
	sv_pg_start "$PWD/pg" >pg.start 2>&1 || fail "postgres did not start: $(cat pg.start)"
	Q=$SV_PG_URL
	local n
	for n in c w1 w2; do
		sv init "$n"
		expect_status 0
		git config -f "$n/salvage.conf" crawl.allowPrivate true
	done
	for n in w1 w2; do
		git config -f "$n/salvage.conf" node.name "$n"
		git config -f "$n/salvage.conf" queue.url "$Q"
	done
}

# wc_workers: w1 and w2 at once, until the queue drains; each must exit 0,
# or 1 (URLs of the catalog that fail for good: its broken links).
wc_workers() {
	rm -f w1.status w2.status
	wk_worker w1 --jobs 2 --transfers 4
	wk_worker w2 --jobs 2 --transfers 4
	local n
	for n in w1 w2; do
		for _ in $(seq 1400); do
			[ -s "$n.status" ] && break
			sleep 0.1
		done
		echo "worker $n: exit $(cat "$n.status" 2>/dev/null); $(cat "$n.out"); $(cat "$n.err")"
		[ "$(cat "$n.status" 2>/dev/null)" -le 1 ] || fail "worker $n failed: $(cat "$n.err")"
	done
}

# wc_captures: every capture of both workers but robots.txt, one JSON line each, with "node".
wc_captures() {
	local n
	for n in w1 w2; do
		"$SALVAGE" -C "$n" ls --json | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    if c.get("kind") != "robots":
        c["node"] = sys.argv[1]
        print(json.dumps(c))' "$n"
	done
}

# wc_sql SQL: rows from the queue, '|'-separated.
wc_sql() {
	"$SV_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$Q" -c "$1"
}

# A generated data.json of 200 datasets with the real quirks, seeded into
# PostgreSQL and rescued by two workers at once: the catalog read once, each
# URL fetched by one worker once, every listed file rescued, the datasets in
# status, and the needs-hands report read from the queue.
test_two_workers_rescue_a_catalog() {
	wc_setup
	python3 "$WC_ROOT/tests/servers/catalogs.py" --port-file ct.port --pid-file ct.pid --log ct.log >ct.err 2>&1 &
	for _ in $(seq 100); do
		[ -s ct.port ] && break
		sleep 0.1
	done
	[ -s ct.port ] || fail "the catalog server did not start: $(cat ct.err)"
	local ct url
	ct="http://127.0.0.1:$(cat ct.port)"
	url="$ct/gen/data.json?n=200&seed=3"
	printf 'url,kind,agency\n"%s",dcat,Test Agency\n' "$url" >sheet.csv
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	expect_in "1 catalog row: a pass started" "$out"
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	[[ "$out" != *"pass started"* ]] || fail "a pass under way was started again: $out"

	wc_workers
	curl -s -D headers.txt -o /dev/null "$url"
	wc_captures >captures.json
	sv status --queue "$Q" --json
	expect_status 0
	printf '%s\n' "$out" >status.json
	wc_sql "SELECT u.url, u.state FROM salvage.dataset_urls x JOIN salvage.urls u ON u.id = x.url" >dataset_urls.txt
	python3 - "$url" <<-'EOF' || fail "the catalog was not rescued once across the workers"
		import json, sys
		url = sys.argv[1]
		counts = None
		for line in open("headers.txt"):
		    if line.lower().startswith("x-gen-counts:"):
		        counts = json.loads(line.split(":", 1)[1])
		caps = [json.loads(l) for l in open("captures.json")]
		seen = {}
		for c in caps:
		    seen.setdefault(c["url"], []).append(c["node"])
		twice = {u: n for u, n in seen.items() if len(n) > 1}
		assert not twice, ("fetched more than once", list(twice.items())[:5])
		cat = [c for c in caps if c["url"] == url]
		assert len(cat) == 1 and cat[0]["catalog"]["ended"] and cat[0]["catalog"]["pass"] == 1, cat
		assert cat[0]["catalog"]["datasets"] == counts["datasets"], (cat[0]["catalog"], counts)
		ok = {c["url"] for c in caps if c["status"] == 200 and c["kind"] == "dataset" and "/files/gen/" in c["url"]}
		assert len(ok) == counts["files_ok"], (len(ok), counts["files_ok"])
		for c in caps:
		    if "/files/gen/" in c["url"]:
		        assert c["dataset"]["catalog"] == url, c
		nodes = {c["node"] for c in caps if "/files/gen/" in c["url"]}
		assert nodes == {"w1", "w2"}, ("both workers rescued files", nodes)
		ended = [l.rsplit("|", 1) for l in open("dataset_urls.txt").read().split("\n") if l]
		assert ended and all(s in ("2", "3", "5") for _, s in ended), [e for e in ended if e[1] not in ("2", "3", "5")][:5]
		st = json.load(open("status.json"))
		t, c = st["total"], st["rows"][0]["catalog"]
		assert t["queued"] == 0 and t["leased"] == 0, t
		assert c["listed"] == counts["unique_identifiers"] and c["pending"] == 0 and c["partly"] + c["needs_hands"] > 0, (c, counts)
		assert c["rescued"] + c["partly"] + c["needs_hands"] == c["listed"] and c["vanished"] == 0, c
		print("rescued across", sorted(nodes), ":", len(ok), "files;", c)
	EOF
	expect_eq 1 "$(wc_sql "SELECT catalog_done_pass FROM salvage.seeds")"

	# The human table names the catalog's datasets.
	sv status --queue "$Q"
	expect_status 0
	expect_in "datasets: 200 listed: " "$out"

	# The needs-hands report, from a worker's archive (its queue.url) and from anywhere (--queue).
	sv -C w1 report --needs-hands
	expect_status 0
	printf '%s\n' "$out" >todo.csv
	expect_in 'url,problem,dataset,title,publisher,modified,catalog,row' "$out"
	expect_in "$ct/broken/404.csv,HTTP 404" "$out"
	expect_in 'listed with no URL' "$out"
	expect_in 'not an http(s) URL: hhttps://' "$out"
	(cd / && "$SALVAGE" report --needs-hands --queue "$Q") >todo2.csv || fail "report --queue failed"
	cmp -s todo.csv todo2.csv || fail "the report differs with --queue: $(diff todo.csv todo2.csv | head)"
	sv -C c report --needs-hands
	expect_status 0
	[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "the coordinator's own queue has no datasets: $out"
}

# A data.json that changes between seeds: the second pass (the coordinator
# seeds again) fetches only the dataset whose `modified` changed, and the
# one no longer listed is recorded as vanished once, whichever worker reads
# the end; the third pass, with nothing changed, fetches no dated file again.
test_a_later_seed_fetches_only_what_changed() {
	wc_setup
	mkdir -p www/files
	python3 - <<-'EOF'
		import json
		ds = [{"identifier": "id-%d" % i, "title": "T%d" % i, "modified": "2020-01-01",
		       "distribution": [{"downloadURL": "files/d%d.csv" % i, "mediaType": "text/csv"}]} for i in range(40)]
		json.dump({"dataset": ds}, open("www/data.json", "w"))
		for i in range(40):
		    open("www/files/d%d.csv" % i, "w").write("a,b\n%d,2\n" % i)
	EOF
	www_start
	printf 'url,kind\nhttp://127.0.0.1:%s/data.json,dcat\n' "$WWW_PORT" >sheet.csv
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	wc_workers
	expect_eq 40 "$(grep -c 'GET /files/' www.log)"

	sleep 1.1 # Last-Modified has whole seconds
	python3 - <<-'EOF'
		import json
		d = json.load(open("www/data.json"))
		d["dataset"][1]["modified"] = "2021-06-01"
		del d["dataset"][2]
		json.dump(d, open("www/data.json", "w"))
	EOF
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	expect_in "1 catalog row: a pass started" "$out"
	wc_workers
	expect_eq 41 "$(grep -c 'GET /files/' www.log)"
	expect_eq 2 "$(grep -c 'GET /files/d1.csv' www.log)"
	expect_eq 2 "$(wc_sql "SELECT catalog_done_pass FROM salvage.seeds")"
	wc_captures >captures.json
	python3 - <<-'EOF' || fail "the vanished dataset is not recorded once"
		import json
		caps = [json.loads(l) for l in open("captures.json")]
		gone = [c for c in caps if "vanished" in (c.get("error") or "")]
		assert len(gone) == 1 and gone[0]["dataset"]["identifier"] == "id-2", gone
	EOF
	sv status --queue "$Q" --json
	python3 -c 'import json,sys; c=json.loads(sys.argv[1])["rows"][0]["catalog"]; assert (c["listed"],c["rescued"],c["vanished"],c["pending"])==(39,39,1,0), c' "$out" ||
		fail "status: $out"

	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	wc_workers
	expect_eq 41 "$(grep -c 'GET /files/' www.log)"
	expect_eq 3 "$(wc_sql "SELECT catalog_pass FROM salvage.seeds")"
}
