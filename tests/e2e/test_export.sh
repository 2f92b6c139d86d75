# End-to-end tests of salvage export warc: the archive of a crawl (pages, a
# dataset under two URLs, a gzip body the server forced, a chunked body, a
# 6 MiB payload, a 404, a URL robots.txt kept us from, a file put by hand)
# written as .warc.gz and .warc.zst, and read back by other people's tools:
# webrecorder's warcio (npm, tests/js), zstd, and Python's zlib.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_export.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

EX_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EX_JS=$EX_REPO/tests/js

ex_need_warcio() {
	[ -d "$EX_JS/node_modules/warcio" ] || fail "warcio is not installed in tests/js (make deps installs it)"
}

# warcio's own CLI, on files in the current folder.
ex_warcio() {
	node "$EX_JS/node_modules/warcio/dist/cli.js" "$@"
}

# ex_site: the test server (s) serving a small site with every kind of capture,
# crawled into ./a; $A is its host:port.
ex_site() {
	trap testservers_stop EXIT
	mkdir -p www/data www/private
	seq 1 2000 | sed 's/$/,row,Zürich/' >www/data/table.csv
	cp www/data/table.csv www/data/copy.csv
	printf 'User-agent: *\nDisallow: /private/\n' >www/robots.txt
	echo '<html><body>secret</body></html>' >www/private/no.html
	echo '<html><head><title>Page one</title></head><body>one</body></html>' >www/p1.html
	testserver_start s www
	A=127.0.0.1:$(cat s.port)
	cat >www/index.html <<-EOF
		<html><head><title>Agency data</title></head><body>
		<a href="/p1.html?b=2&amp;a=1">p1</a> <a href="/data/table.csv">table</a>
		<a href="/data/copy.csv">the same table</a> <a href="/gzip/data/table.csv">gzip</a>
		<a href="/chunked/data/copy.csv">chunked</a> <a href="/big.bin?mb=6">big</a>
		<a href="/missing.csv">gone</a> <a href="/private/no.html">private</a>
		</body></html>
	EOF
	printf 'url,scope,agency\nhttp://%s/,host,Test Agency\n' "$A" >sheet.csv
	sv init a
	expect_status 0
	set +e
	(cd a && exec timeout -k 10 120 "$SALVAGE" crawl ../sheet.csv) >crawl.out 2>crawl.err <&-
	local st=$?
	set -e
	[ "$st" -le 1 ] || fail "crawl failed ($st): $(cat crawl.out crawl.err)"
	echo "manual file" >hand.txt
	sv -C a put --url "http://$A/by-hand.txt" "$PWD/hand.txt"
	expect_status 0
	"$SALVAGE" -C a ls --json >ls.json
}

# ex_field FILE.cdxj: the CDXJ lines without offset, length and filename.
ex_strip() {
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    k, t, j = l.rstrip("\n").split(" ", 2)
    d = json.loads(j)
    for f in ("offset", "length", "filename"):
        d.pop(f, None)
    print(k, t, json.dumps(d, sort_keys=True))' "$1" | LC_ALL=C sort
}

test_export_warc_gz_is_read_by_warcio() {
	ex_need_warcio
	ex_site
	sv -C a export warc "$PWD/out.warc.gz"
	expect_status 0
	expect_in "exported" "$out"
	[ -s out.warc.gz ] && [ -s out.cdxj ] || fail "no out.warc.gz or out.cdxj: $(ls)"
	ls out.warc.gz.tmp-* 2>/dev/null && fail "a temp file was left"
	# warcio reads every record, every digest holds.
	node "$EX_JS/warc_check.mjs" out.warc.gz >check.txt || fail "warcio check: $(tail -n 3 check.txt)"
	tail -n 1 check.txt
	# one gzip member per record: as many members as warcio saw records
	records=$(tail -n 1 check.txt | awk '{ print $2 }')
	members=$(python3 -c '
import sys, zlib
data = open(sys.argv[1], "rb").read()
n = 0
while data:
    d = zlib.decompressobj(31)
    d.decompress(data)
    if not d.eof:
        sys.exit("a member does not end")
    data = d.unused_data
    n += 1
print(n)' out.warc.gz)
	expect_eq "$members" "$records"
	# Every capture of ls is in the WARC: a response/revisit (with a request
	# record before it), a resource (by hand), or a metadata record.
	python3 - <<-'EOF' || fail "the WARC does not hold every capture"
		import json
		caps = [json.loads(l) for l in open("ls.json")]
		recs = [json.loads(l) for l in open("check.txt") if l.startswith("{")]
		types = [r["type"] for r in recs]
		assert types[0] == "warcinfo", types[:3]
		by = {}
		for r in recs:
		    by.setdefault((r["url"], r["type"]), []).append(r)
		for c in caps:
		    u = c["url"]
		    if c.get("kind") == "manual":
		        assert (u, "resource") in by, u
		    elif c.get("sha256") is None:
		        assert (u, "metadata") in by, u
		    else:
		        got = by.get((u, "response"), []) + by.get((u, "revisit"), [])
		        assert any(r["payload"] == "sha256:" + c["sha256"] and r["status"] == c["status"] for r in got), (u, got)
		        assert (u, "request") in by, u
		# one payload under two URLs: one response, one revisit
		assert types.count("revisit") >= 1, types
		print(len(caps), "captures,", len(recs), "records")
	EOF
	# The CDXJ beside it is what warcio's own indexer says, sorted bytewise.
	ex_warcio cdx-index out.warc.gz | LC_ALL=C sort >warcio.cdxj
	diff warcio.cdxj out.cdxj || fail "out.cdxj differs from warcio cdx-index"
	LC_ALL=C sort -c out.cdxj || fail "out.cdxj is not sorted bytewise"
	# Each CDXJ line's offset and length read back exactly the record it names.
	python3 - out.warc.gz out.cdxj <<-'EOF' || fail "a CDXJ offset does not read back its record"
		import json, sys, zlib
		data = open(sys.argv[1], "rb").read()
		n = 0
		for l in open(sys.argv[2]):
		    key, ts, j = l.split(" ", 2)
		    d = json.loads(j)
		    off, ln = int(d["offset"]), int(d["length"])
		    z = zlib.decompressobj(31)
		    rec = z.decompress(data[off:off + ln])
		    assert z.eof and not z.unused_data, (d["url"], "not one whole member")
		    head = rec.split(b"\r\n\r\n", 1)[0].decode()
		    assert head.startswith("WARC/1.1\r\n"), head[:20]
		    assert "\r\nWARC-Target-URI: %s\r\n" % d["url"] in head, (d["url"], head)
		    n += 1
		print(n, "index lines read back")
	EOF
	# The body the server gzipped unasked stays as sent, with its header; the
	# chunked one is de-chunked and says so.
	python3 - "$A" <<-'EOF' || fail "gzip or chunked response not as sent"
		import gzip, json, sys, zlib
		A = sys.argv[1]
		data = open("out.warc.gz", "rb").read()
		recs = {}
		while data:
		    d = zlib.decompressobj(31)
		    r = d.decompress(data)
		    data = d.unused_data
		    head, block = r.split(b"\r\n\r\n", 1)
		    h = dict(l.split(": ", 1) for l in head.decode().split("\r\n")[1:])
		    recs[(h["WARC-Type"], h.get("WARC-Target-URI"))] = block
		g = recs[("response", "http://%s/gzip/data/table.csv" % A)]
		http, body = g[:-4].split(b"\r\n\r\n", 1)
		assert b"Content-Encoding: gzip" in http, http
		assert gzip.decompress(body) == open("www/data/table.csv", "rb").read()
		c = recs[("response", "http://%s/chunked/data/copy.csv" % A)] if ("response", "http://%s/chunked/data/copy.csv" % A) in recs \
		    else recs[("revisit", "http://%s/chunked/data/copy.csv" % A)]
		http = c.split(b"\r\n\r\n", 1)[0]
		assert b"X-Crawler-Transfer-Encoding: chunked" in http and b"\nTransfer-Encoding" not in http, http
		req = recs[("request", "http://%s/p1.html?a=1&b=2" % A)] if ("request", "http://%s/p1.html?a=1&b=2" % A) in recs \
		    else recs[("request", "http://%s/p1.html?b=2&a=1" % A)]
		assert req.startswith(b"GET /p1.html?b=2&a=1 HTTP/1.1\r\n"), req[:60]
		m = recs[("metadata", "http://%s/private/no.html" % A)]
		assert b"robots.txt" in m, m
		print("gzip, chunked, request and metadata records as expected")
	EOF
}

test_export_warc_zst_frames_read_by_zstd_and_warcio() {
	ex_need_warcio
	ex_site
	sv -C a export warc "$PWD/out.warc.zst"
	expect_status 0
	zstd -q -t out.warc.zst || fail "zstd -t refuses out.warc.zst"
	zstd -q -dc out.warc.zst >plain.warc
	node "$EX_JS/warc_check.mjs" plain.warc >check.txt || fail "warcio check: $(tail -n 3 check.txt)"
	records=$(tail -n 1 check.txt | awk '{ print $2 }')
	frames=$(zstd -lv out.warc.zst 2>&1 | sed -n 's/^# Zstandard Frames: *//p')
	expect_eq "$frames" "$records"
	# Every frame: content size set, checksum on, no dictionary, window <= 8 MiB,
	# and each CDXJ offset starts one holding its record.
	python3 - out.warc.zst out.cdxj <<-'EOF' || fail "a zstd frame breaks the proposal's rules"
		import json, struct, sys
		data = open(sys.argv[1], "rb").read()
		def frame_header(off):
		    assert data[off:off + 4] == b"\x28\xb5\x2f\xfd", "no frame at %d" % off
		    fhd = data[off + 4]
		    fcs_flag, single, checksum, dict_id = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
		    assert checksum, "no checksum at %d" % off
		    assert dict_id == 0, "a dictionary at %d" % off
		    assert fcs_flag or single, "no content size at %d" % off
		    if not single:
		        wd = data[off + 5]
		        base = 1 << (10 + (wd >> 3))
		        assert base + base // 8 * (wd & 7) <= 8 << 20, "window over 8 MiB at %d" % off
		n = 0
		for l in open(sys.argv[2]):
		    d = json.loads(l.split(" ", 2)[2])
		    frame_header(int(d["offset"]))
		    n += 1
		frame_header(0)
		print(n, "frames checked")
	EOF
	# warcio indexes the decompressed file as salvage's index says (offsets aside).
	ex_warcio cdx-index plain.warc >warcio.cdxj
	ex_strip warcio.cdxj >a.txt
	ex_strip out.cdxj >b.txt
	diff a.txt b.txt || fail "out.cdxj (of the .zst) differs from warcio's index of its content"
}

test_export_rolls_over_filters_and_stays_flat() {
	ex_need_warcio
	ex_site
	[ -x /usr/bin/time ] || skip "/usr/bin/time not installed"
	# A payload of 200 MiB: streamed from the store, memory flat.
	"$BUILD/tests/genstream" 200M 7 >big.bin 2>/dev/null || head -c 209715200 /dev/urandom >big.bin
	sv -C a put --url "http://$A/huge.bin" "$PWD/big.bin"
	expect_status 0
	# A sanitizer build keeps freed memory aside (its quarantine): a small one, so memory is what salvage holds.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8 \
		/usr/bin/time -f %M -o maxrss "$SALVAGE" -C a export warc "$PWD/part.warc.gz" --max-size 2m >export.out ||
		fail "export failed: $(cat export.out maxrss)"
	kb=$(tail -n 1 maxrss)
	echo "peak RSS of export: $kb KiB"
	[ "$kb" -lt 102400 ] || fail "export used $kb KiB peak memory (limit 100 MiB)"
	# Several files, each starting with a warcinfo record, each with its index.
	ls part*.warc.gz part*.cdxj
	n=$(ls part*.warc.gz | wc -l)
	[ "$n" -ge 2 ] || fail "expected files rolled over at 2 MB, got $n"
	expect_in "in $n files" "$(cat export.out)"
	total=0
	for f in part*.warc.gz; do
		c=${f%.warc.gz}.cdxj
		[ -f "$c" ] || fail "no index beside $f"
		ex_warcio cdx-index "$f" | LC_ALL=C sort | diff - "$c" || fail "$c is not warcio's index of $f"
		ex_warcio cdx-index -a "$f" >all.cdxj
		first=$(head -n 1 all.cdxj)
		expect_in '"mime":"application/warc-fields"' "$first"
		total=$((total + $(wc -l <"$c")))
	done
	caps=$(grep -vc '"sha256":null' ls.json || true)
	caps=$((caps + 1)) # huge.bin
	expect_eq "$total" "$caps"
	# The large payload reads back whole from the WARC.
	want=$(sha256sum <big.bin | cut -d' ' -f1)
	grep -h "huge.bin" part*.cdxj | grep -q "\"digest\":\"$want\"" || fail "huge.bin is not indexed with its digest"
	# --since in the future: the warcinfo record alone; --seed of another row: refused.
	sv -C a export warc "$PWD/none.warc.gz" --since 2999-01-01
	expect_status 0
	expect_in "exported 0 captures" "$out"
	[ "$(ex_warcio cdx-index -a none.warc.gz | wc -l)" = 1 ] || fail "more than the warcinfo record"
	sv -C a export warc "$PWD/row.warc.gz" --seed 1
	expect_status 0
	zcat row.warc.gz >row.warc
	grep -q "^salvage-row-agency: Test Agency" row.warc || fail "the row's columns are not in warcinfo"
	sv -C a export warc "$PWD/x.warc.gz" --seed 99
	expect_status 2
	expect_in "no seed row 99" "$err"
	sv -C a export warc "$PWD/x.warc"
	expect_status 2
	expect_in ".warc.gz or .warc.zst" "$err"
	sv -C a export warc "$PWD/x.warc.gz" --since yesterday
	expect_status 2
}
