# End-to-end tests of salvage export wacz: the demo site (scripts/demo.sh)
# and a page the server gzipped, crawled and packed as a WACZ, then read
# the way others read one: unzip -t, Python's zipfile, zlib and hashlib for
# the package's own promises (hashes, sizes, index offsets), warcio's
# indexer for the CDXJ, and ReplayWeb.page (npm replaywebpage) in headless
# Chromium (Debian chromium, driven by npm playwright-core) replaying a page
# and a dataset it links, all on 127.0.0.1.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_wacz.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

WZ_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WZ_JS=$WZ_REPO/tests/js

# wz_demo: the demo crawl in ./demo (servers stopped once it is done), plus
# a page served gzipped by a test server crawled into the same archive; $SITE
# is the demo site's http://host:port/, $G the gzip server's host:port.
wz_demo() {
	SALVAGE=$SALVAGE BUILD=$BUILD DEMO_DIR=$PWD/demo bash "$WZ_REPO/scripts/demo.sh" >demo.log 2>&1 ||
		{ tail -n 30 demo.log; fail "demo failed"; }
	SITE=$(grep -o 'site on http://[0-9.:]*/' demo.log | head -n 1 | sed 's/site on //')
	[ -n "$SITE" ] || fail "no site address in demo.log"
	trap testservers_stop EXIT
	mkdir -p gz
	printf '<html><head><TITLE lang="en">\n  Gzipped &amp; tidy\tpage &#x2014; Z&#252;rich &eacute;</TITLE></head><body>g</body></html>' >gz/g.html
	testserver_start g gz
	G=127.0.0.1:$(cat g.port)
	printf 'url,scope\nhttp://%s/gzip/g.html,page\n' "$G" >gz.csv
	crawl_in demo/archive ../../gz.csv
	[ "$status" -eq 0 ] || fail "crawl of the gzip page failed"
}

# wz_unpack FILE.wacz: its members into ./x.
wz_unpack() {
	rm -rf x && mkdir x && (cd x && unzip -q "../$1") || fail "unzip cannot extract $1"
}

test_wacz_package_hashes_index_and_pages() {
	[ -d "$WZ_JS/node_modules/warcio" ] || fail "warcio is not installed in tests/js (make deps installs it)"
	wz_demo
	sv -C demo/archive export wacz "$PWD/out.wacz"
	expect_status 0
	echo "$out"
	expect_in "exported" "$out"
	expect_in "5 files" "$out"
	ls out.wacz.tmp-* 2>/dev/null && fail "a temp file was left"
	[ -z "$(ls demo/archive/tmp)" ] || fail "the work folder was left: $(ls demo/archive/tmp)"
	unzip -t out.wacz || fail "unzip -t refuses out.wacz"
	"$SALVAGE" -C demo/archive ls --json >ls.json
	# The package's own promises: members, compression, hashes, sizes, digest.
	python3 - out.wacz <<-'EOF' || fail "the WACZ breaks its datapackage's promises"
		import hashlib, json, sys, zipfile
		z = zipfile.ZipFile(sys.argv[1])
		names = sorted(z.namelist())
		assert names == sorted(["archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl",
		                        "datapackage.json", "datapackage-digest.json"]), names
		assert z.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED, "the WARC is not stored"
		raw = z.read("datapackage.json")
		pkg = json.loads(raw)
		assert pkg["profile"] == "data-package" and pkg["wacz_version"] == "1.1.1", pkg
		for k in ("created", "software", "title"):
		    assert pkg.get(k), k
		res = {r["path"]: r for r in pkg["resources"]}
		assert sorted(res) == [n for n in names if not n.startswith("datapackage")], sorted(res)
		for path, r in res.items():
		    data = z.read(path)
		    assert r["hash"] == "sha256:" + hashlib.sha256(data).hexdigest(), (path, r["hash"])
		    assert r["bytes"] == len(data), (path, r["bytes"], len(data))
		    assert r["name"] == path.rsplit("/", 1)[1], r
		d = json.loads(z.read("datapackage-digest.json"))
		assert d["path"] == "datapackage.json" and d["hash"] == "sha256:" + hashlib.sha256(raw).hexdigest(), d
		print(len(res), "resources hash and size as datapackage.json says")
	EOF
	wz_unpack out.wacz
	# Each index line's offset and length read back, in archive/, the record it names.
	python3 - x/archive x/indexes/index.cdxj <<-'EOF' || fail "an index line does not read back its record"
		import json, os, sys, zlib
		n = 0
		for l in open(sys.argv[2]):
		    key, ts, j = l.split(" ", 2)
		    d = json.loads(j)
		    assert d["filename"] == "data.warc.gz", d["filename"]
		    with open(os.path.join(sys.argv[1], d["filename"]), "rb") as f:
		        f.seek(int(d["offset"]))
		        member = f.read(int(d["length"]))
		    z = zlib.decompressobj(31)
		    rec = z.decompress(member)
		    assert z.eof and not z.unused_data, (d["url"], "not one whole gzip member")
		    head = rec.split(b"\r\n\r\n", 1)[0].decode()
		    assert "\r\nWARC-Target-URI: %s\r\n" % d["url"] in head, (d["url"], head)
		    n += 1
		assert n > 30, n
		print(n, "index lines read back")
	EOF
	# ... and the index is warcio's own of the WARC inside.
	(cd x/archive && node "$WZ_JS/node_modules/warcio/dist/cli.js" cdx-index data.warc.gz) | LC_ALL=C sort >warcio.cdxj
	diff warcio.cdxj x/indexes/index.cdxj || fail "indexes/index.cdxj differs from warcio cdx-index"
	# pages.jsonl: the header, then every HTML capture with status 200, with its title.
	python3 - x/pages/pages.jsonl ls.json "$SITE" "$G" <<-'EOF' || fail "pages.jsonl is not as expected"
		import json, sys
		lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
		assert json.loads(lines[0]) == {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}, lines[0]
		pages = [json.loads(l) for l in lines[1:]]
		caps = [json.loads(l) for l in open(sys.argv[2])]
		want = sorted((c["url"], c["ts"]) for c in caps
		              if c["status"] == 200 and (c.get("mime") or "").split(";")[0].strip() == "text/html")
		assert sorted((p["url"], p["ts"]) for p in pages) == want, (len(pages), len(want))
		assert len({p["id"] for p in pages}) == len(pages), "ids repeat"
		title = {p["url"]: p.get("title") for p in pages}
		site, g = sys.argv[3], sys.argv[4]
		assert title[site + "datasets/river-gauges.html"] == "Hourly river levels and flows, 2023 | Office of Environmental Data", title
		assert title["http://%s/gzip/g.html" % g] == "Gzipped & tidy page \u2014 Z\u00fcrich &eacute;", title["http://%s/gzip/g.html" % g]
		print(len(pages), "pages, titles as the pages say (gzip one too)")
	EOF
	# One seed row; a wrong name or option is bad usage.
	sv -C demo/archive export wacz "$PWD/row.wacz" --seed 1
	expect_status 0
	unzip -t row.wacz >/dev/null || fail "unzip -t refuses row.wacz"
	unzip -p row.wacz datapackage.json | grep -q '"title": "salvage archive archive, seed row 1"' || fail "no row in the title"
	unzip -p row.wacz pages/pages.jsonl | grep -q "/gzip/g.html" && fail "the other row's page is in the seed 1 package"
	sv -C demo/archive export wacz "$PWD/x.zip"
	expect_status 2
	expect_in "does not end in .wacz" "$err"
	sv -C demo/archive export wacz "$PWD/x.wacz" --max-size 2m
	expect_status 2
	[ ! -e x.wacz ] || fail "a refused export wrote x.wacz"
}

# wz_replay WACZ PAGE TEXT SELECTOR PNG: tests/js/wacz_replay.mjs under a timeout.
wz_replay() {
	[ -d "$WZ_JS/node_modules/replaywebpage" ] && [ -d "$WZ_JS/node_modules/playwright-core" ] ||
		fail "replaywebpage or playwright-core is not installed in tests/js (make deps installs them)"
	[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is not installed (make deps installs it)"
	timeout -k 10 150 node "$WZ_JS/wacz_replay.mjs" "$@"
}

test_wacz_replays_in_replayweb_page() {
	wz_demo
	sv -C demo/archive export wacz "$PWD/out.wacz"
	expect_status 0
	art=${BUILD:-/tmp}/test-artifacts
	mkdir -p "$art"
	shot=$art/wacz-replay.png
	rm -f "$shot"
	# The servers are gone: whatever shows comes from the WACZ.
	wz_replay out.wacz "${SITE}datasets/river-gauges.html" "Hourly river levels and flows, 2023" \
		'a[href$=".csv"]' "$shot" >replay.txt 2>&1 || { cat replay.txt; fail "ReplayWeb.page did not replay the page"; }
	cat replay.txt
	echo "screenshot of the replay: $shot"
	[ -s "$shot" ] || fail "no screenshot"
	got=$(awk '$1 == "download" { print $2, $3, $5 }' replay.txt)
	want=$(sha256sum <demo/www/site/data/river_gauges_hourly_2023.csv | cut -d' ' -f1)
	expect_eq "$got" "${SITE}data/river_gauges_hourly_2023.csv 200 $want"
	# And the check fails when the page does not show what is asked.
	WACZ_REPLAY_TIMEOUT=8000 wz_replay out.wacz "${SITE}datasets/river-gauges.html" "Text the page does not have" \
		'a[href$=".csv"]' shot2.png >replay2.txt 2>&1 && fail "the replay check passed on text the page lacks"
	grep -q "does not show 'Text the page does not have'" replay2.txt || { cat replay2.txt; fail "not the failure expected"; }
}

test_wacz_large_payload_stays_flat() {
	[ -x /usr/bin/time ] || skip "/usr/bin/time not installed"
	sv init a
	expect_status 0
	"$BUILD/tests/genstream" 200M 7 >big.bin 2>/dev/null || head -c 209715200 /dev/urandom >big.bin
	sv -C a put --url "http://127.0.0.1:9/huge.bin" "$PWD/big.bin"
	expect_status 0
	# A sanitizer build keeps freed memory aside (its quarantine): a small one, so memory is what salvage holds.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8 \
		/usr/bin/time -f %M -o maxrss "$SALVAGE" -C a export wacz "$PWD/big.wacz" >export.out ||
		fail "export failed: $(cat export.out maxrss)"
	kb=$(tail -n 1 maxrss)
	echo "peak RSS of export wacz with a 200 MiB payload: $kb KiB; $(cat export.out)"
	[ "$kb" -lt 102400 ] || fail "export wacz used $kb KiB peak memory (limit 100 MiB)"
	unzip -t big.wacz >/dev/null || fail "unzip -t refuses big.wacz"
	want=$(sha256sum <big.bin | cut -d' ' -f1)
	unzip -p big.wacz indexes/index.cdxj | grep -q "\"digest\":\"$want\"" || fail "huge.bin is not indexed with its digest"
	python3 - big.wacz <<-'EOF' || fail "the WARC's hash differs from datapackage.json"
		import hashlib, json, sys, zipfile
		z = zipfile.ZipFile(sys.argv[1])
		r = [r for r in json.loads(z.read("datapackage.json"))["resources"] if r["path"] == "archive/data.warc.gz"][0]
		h = hashlib.sha256()
		with z.open("archive/data.warc.gz") as f:
		    for b in iter(lambda: f.read(1 << 20), b""):
		        h.update(b)
		assert r["hash"] == "sha256:" + h.hexdigest(), r
		print("data.warc.gz:", r["bytes"], "bytes, hash as datapackage.json says")
	EOF
}
