# End-to-end tests of salvage import: WARCs made by a producer nobody here
# wrote (wget --mirror --warc-file), salvage's own exports (.warc.gz,
# .warc.zst, in a WACZ), and hostile files (truncated, a lying gzip member, a
# wrong digest, ../ member names), each refused by name with nothing of the
# bad record stored.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_import.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

IM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IM_JS=$IM_REPO/tests/js

# im_site: the test server (s) with a small site of pages and datasets; $A is its host:port.
im_site() {
	trap testservers_stop EXIT
	mkdir -p www/data www/sub
	printf 'User-agent: *\nDisallow:\n' >www/robots.txt
	seq 1 3000 | sed 's/$/,x,Zürich/' >www/data/a.csv
	seq 1 50 >www/data/b.csv
	cp www/data/b.csv www/data/b-copy.csv
	echo '<html><head><title>Sub</title></head><body><a href="../data/b.csv">b</a></body></html>' >www/sub/index.html
	cat >www/index.html <<-'EOF'
		<html><head><title>Agency</title></head><body>
		<a href="/sub/">sub</a> <a href="/data/a.csv">a</a> <a href="data/b-copy.csv">copy</a>
		</body></html>
	EOF
	testserver_start s www
	A=127.0.0.1:$(cat s.port)
}

# im_caps ARCHIVE: "URL SHA256" of its captures with status 200, sorted.
im_caps() {
	"$SALVAGE" -C "$1" ls --json | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    if c.get("status") == 200:
        print(c["url"], c["sha256"])' | LC_ALL=C sort -u
}

test_import_wget_warc_equals_salvage_crawl() {
	command -v wget >/dev/null || fail "wget is not installed (scripts/deps.sh installs it)"
	im_site
	# salvage's own crawl of the site
	printf 'url,scope\nhttp://%s/,host\n' "$A" >sheet.csv
	sv init own
	(cd own && timeout -k 10 120 "$SALVAGE" crawl ../sheet.csv) >crawl.out 2>&1 <&- || fail "crawl: $(cat crawl.out)"
	# wget's, into a WARC
	mkdir wg
	(cd wg && timeout 120 wget -q --mirror --no-host-directories --warc-file=site "http://$A/") ||
		[ -s wg/site.warc.gz ] || fail "wget made no WARC"
	sv init imp
	sv -C imp import "$PWD/wg/site.warc.gz"
	expect_status 0
	expect_in "0 refused" "$out"
	echo "$out"
	im_caps own >own.txt
	im_caps imp >imp.txt
	cat imp.txt
	[ "$(wc -l <imp.txt)" -ge 5 ] || fail "too few 200 captures imported: $(cat imp.txt)"
	diff own.txt imp.txt || fail "wget's 200 responses (URL and sha256) differ from salvage's crawl"
	# every capture is of kind imported, names its source and the WARC's record id
	"$SALVAGE" -C imp ls --json | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    assert c["kind"] == "imported" and c["source"] == "site.warc.gz", c
    assert c["id"].startswith("urn:uuid:"), c
    assert c["headers"].startswith("HTTP/1.1 "), c' || fail "imported records lack kind, source or id"
	# the payloads read back, and the archive verifies
	sha=$(sha256sum <www/data/a.csv | cut -d' ' -f1)
	expect_eq "$("$SALVAGE" -C imp cat "http://$A/data/a.csv" | sha256sum | cut -d' ' -f1)" "$sha"
	sv -C imp verify
	expect_status 0
	# Importing the same WARC again stores nothing new (objects) and says so.
	n=$(objects_in imp)
	sv -C imp import "$PWD/wg/site.warc.gz"
	expect_status 0
	expect_eq "$(objects_in imp)" "$n"
}

test_import_round_trip_through_export() {
	[ -d "$IM_JS/node_modules/warcio" ] || fail "warcio is not installed in tests/js"
	im_site
	printf 'url,scope\nhttp://%s/,host\n' "$A" >sheet.csv
	sv init own
	(cd own && timeout -k 10 120 "$SALVAGE" crawl ../sheet.csv) >crawl.out 2>&1 <&- || fail "crawl: $(cat crawl.out)"
	for ext in warc.gz warc.zst; do
		sv -C own export warc "$PWD/own.$ext"
		expect_status 0
	done
	# a WACZ as ReplayWeb.page's packagers lay it out
	mkdir -p pkg/archive pkg/indexes
	cp own.warc.gz pkg/archive/data.warc.gz
	cp own.cdxj pkg/indexes/index.cdxj
	(cd pkg && zip -q -0 -r ../own.wacz archive indexes)
	for f in own.warc.gz own.warc.zst own.wacz; do
		rm -rf "imp-$f"
		sv init "imp-$f"
		sv -C "imp-$f" import "$PWD/$f"
		expect_status 0
		expect_in "1 revisits" "$out" # the copy of b.csv
		im_caps "imp-$f" >got.txt
		im_caps own >want.txt
		diff want.txt got.txt || fail "$f: imported captures differ from the crawl's"
	done
	# What was imported exports again with the same payload digests, and warcio reads it.
	sv -C imp-own.warc.gz export warc "$PWD/again.warc.gz"
	expect_status 0
	node "$IM_JS/warc_check.mjs" again.warc.gz >check.txt || fail "warcio: $(tail -n 2 check.txt)"
	node "$IM_JS/warc_check.mjs" own.warc.gz >check0.txt
	python3 -c '
import json, sys
def d(p):
    return sorted((r["url"], r["payload"], r["status"]) for r in (json.loads(l) for l in open(p) if l.startswith("{"))
                  if r["type"] in ("response", "revisit"))
a, b = d("check0.txt"), d("check.txt")
assert a == b, (a, b)
print(len(a), "responses and revisits alike")' || fail "the re-export's payload digests differ from the first export's"
}

test_import_hostile_files_refused_by_name() {
	im_site
	printf 'url,scope\nhttp://%s/,host\n' "$A" >sheet.csv
	sv init own
	(cd own && timeout -k 10 120 "$SALVAGE" crawl ../sheet.csv) >crawl.out 2>&1 <&- || fail "crawl: $(cat crawl.out)"
	sv -C own export warc "$PWD/own.warc.gz"
	expect_status 0
	zcat own.warc.gz >own.warc
	a_csv=$(sha256sum <www/data/a.csv | cut -d' ' -f1)

	# A wrong digest: one byte of a.csv's payload changed, the length kept.
	python3 - <<-'EOF'
		data = open("own.warc", "rb").read()
		i = data.index(b"2999,x,Z")
		open("bad-digest.warc", "wb").write(data[:i] + b"9" + data[i + 1:])
	EOF
	sv init d1
	sv -C d1 import "$PWD/bad-digest.warc"
	expect_status 1
	expect_in "bad-digest.warc: the response record <urn:uuid:" "$err"
	expect_in "/data/a.csv" "$err"
	expect_in "does not match" "$err"
	"$SALVAGE" -C d1 ls | grep -q "/data/a.csv" && fail "the refused record is listed"
	[ -f "$(object_path d1 "$a_csv")" ] && fail "an object of the refused record was kept"
	# ...while the other records were imported
	"$SALVAGE" -C d1 ls | grep -q "/data/b.csv" || fail "the good records were not imported"
	sv -C d1 verify
	expect_status 0

	# Truncated: the .warc.gz cut inside a.csv's record.
	python3 - <<-'EOF'
		import zlib
		data = open("own.warc.gz", "rb").read()
		off, members = 0, []
		while off < len(data):
		    d = zlib.decompressobj(31)
		    rec = d.decompress(data[off:])
		    n = len(data) - off - len(d.unused_data)
		    members.append((off, n, rec))
		    off += n
		for off, n, rec in members:
		    if b"WARC-Type: response" in rec and b"/data/a.csv\r\n" in rec.split(b"\r\n\r\n")[0] + b"\r\n":
		        open("truncated.warc.gz", "wb").write(data[:off + n // 2])
		        # a member whose trailer lies about its length (ISIZE)
		        m = bytearray(data[off:off + n])
		        m[-1] ^= 0x01
		        open("lying.warc.gz", "wb").write(data[:off] + bytes(m) + data[off + n:])
		        break
	EOF
	sv init d2
	sv -C d2 import "$PWD/truncated.warc.gz"
	expect_status 1
	expect_in "truncated.warc.gz: the response record" "$err"
	expect_in "/data/a.csv" "$err"
	[ -f "$(object_path d2 "$a_csv")" ] && fail "a half record was stored"
	"$SALVAGE" -C d2 ls | grep -q "/robots.txt" || fail "the whole records before the cut were not kept"
	sv -C d2 verify
	expect_status 0
	sv init d3
	sv -C d3 import "$PWD/lying.warc.gz"
	expect_status 1
	expect_in "lying.warc.gz: the response record" "$err"
	expect_in "gzip" "$err"
	[ -f "$(object_path d3 "$a_csv")" ] && fail "the lying member's payload was stored"

	# A WACZ whose member names leave the package: refused before anything is read.
	python3 - <<-'EOF'
		import zipfile
		with zipfile.ZipFile("evil.wacz", "w") as z:
		    z.write("own.warc.gz", "archive/data.warc.gz")
		    z.writestr(zipfile.ZipInfo("archive/../../evil.warc.gz"), open("own.warc.gz", "rb").read())
	EOF
	sv init d4
	sv -C d4 import "$PWD/evil.wacz"
	expect_status 1
	expect_in "member 'archive/../../evil.warc.gz'" "$err"
	expect_eq "$("$SALVAGE" -C d4 ls | wc -l)" 0
	expect_eq "$(objects_in d4)" 0
	# Not a WARC at all; an unknown extension.
	echo "hello" >x.warc
	sv -C d4 import "$PWD/x.warc"
	expect_status 2
	expect_in "not a WARC" "$err"
	sv -C d4 import "$PWD/sheet.csv"
	expect_status 2
}
