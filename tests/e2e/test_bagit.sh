# End-to-end tests of salvage export bagit and cat --decoded: a crawl of a
# small loopback site (a CSV the server gzips unasked, a folder index, a
# query) and files put by hand under hostile URLs, bagged and checked with
# sha256sum and sha512sum from inside the bag, as a receiver would.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_bagit.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

# bg_site: the test server (s) serving a small site crawled into ./a; $A is its host:port.
bg_site() {
	trap testservers_stop EXIT
	mkdir -p www/data www/sub
	seq 1 3000 | sed 's/$/,row,Zürich/' >www/data/table.csv
	echo '<html><body>sub</body></html>' >www/sub/index.html
	echo 'a,b' >www/data/q.csv
	testserver_start s www
	A=127.0.0.1:$(cat s.port)
	cat >www/index.html <<-EOF2
		<html><body><a href="/gzip/data/table.csv">gzip</a> <a href="/data/table.csv">plain</a>
		<a href="/sub/">sub</a> <a href="/data/q.csv?x=1&amp;y=2">query</a> <a href="/missing.csv">gone</a>
		</body></html>
	EOF2
	printf 'url,scope,agency\nhttp://%s/,host,Test Agency\n' "$A" >sheet.csv
	sv init a
	expect_status 0
	crawl_in a ../sheet.csv
	[ "$status" -le 1 ] || fail "crawl failed"
}

# bg_check BAG: the checks a receiver makes, from inside the bag.
bg_check() {
	(
		cd "$1" || fail "no bag $1"
		sha256sum --quiet -c manifest-sha256.txt || fail "manifest-sha256.txt does not check"
		sha512sum --quiet -c manifest-sha512.txt || fail "manifest-sha512.txt does not check"
		sha256sum --quiet -c tagmanifest-sha256.txt || fail "tagmanifest-sha256.txt does not check"
		grep -qx 'BagIt-Version: 1.0' bagit.txt || fail "bagit.txt: $(cat bagit.txt)"
		grep -qx 'Tag-File-Character-Encoding: UTF-8' bagit.txt || fail "bagit.txt: $(cat bagit.txt)"
		# Payload-Oxum: the bytes and the number of files under data/
		files=$(find data -type f | wc -l)
		bytes=$(find data -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
		expect_eq "$(sed -n 's/^Payload-Oxum: //p' bag-info.txt)" "$bytes.$files"
		# every payload file is in both manifests, and nothing else is
		find data -type f | LC_ALL=C sort >files.lst
		for m in manifest-sha256.txt manifest-sha512.txt; do
			cut -d' ' -f3- "$m" | LC_ALL=C sort | diff files.lst - || fail "$m does not list exactly the files of data/"
		done
		rm files.lst
		# every tag file is in the tag manifest
		for t in bagit.txt bag-info.txt manifest-sha256.txt manifest-sha512.txt salvage/captures.jsonl \
			salvage/files.tsv salvage/headers.warc.gz; do
			grep -q "  $t\$" tagmanifest-sha256.txt || fail "$t is not in tagmanifest-sha256.txt"
		done
	)
}

test_bagit_bag_checks_and_holds_what_was_published() {
	bg_site
	git -C a config -f salvage.conf bag.sourceOrganization "Data Rescue Volunteers" 2>/dev/null ||
		git config -f a/salvage.conf bag.sourceOrganization "Data Rescue Volunteers"
	echo "by hand" >hand.txt
	sv -C a put --url "http://$A/by-hand.txt" "$PWD/hand.txt"
	expect_status 0
	sv -C a export bagit "$PWD/bag"
	expect_status 0
	echo "$out"
	expect_in "bagged" "$out"
	ls -d bag.tmp-* 2>/dev/null && fail "a temp folder was left"
	bg_check bag
	H=127.0.0.1+${A#*:}
	# the CSV the server gzipped is in data/ decoded: the file as published
	cmp "bag/data/$H/gzip/data/table.csv" www/data/table.csv || fail "the gzip CSV is not decoded in the bag"
	cmp "bag/data/$H/data/table.csv" www/data/table.csv || fail "the plain CSV differs"
	cmp "bag/data/$H/sub/index.html" www/sub/index.html || fail "sub/ is not sub/index.html"
	cmp "bag/data/$H/by-hand.txt" hand.txt || fail "the file put by hand is not in the bag"
	find "bag/data/$H/data" -name 'q.csv_x=1_y=2~*' | grep -q '/q\.csv_x=1_y=2~[0-9a-f]\{16\}$' ||
		fail "the query's name: $(ls "bag/data/$H/data/")"
	# a 404 is not published data
	[ -z "$(find bag/data -name 'missing*')" ] || fail "the 404 is in the bag"
	grep -qx 'Source-Organization: Data Rescue Volunteers' bag/bag-info.txt || fail "no Source-Organization: $(cat bag/bag-info.txt)"
	grep -q '^Bagging-Date: [0-9]\{4\}-[0-9][0-9]-[0-9][0-9]$' bag/bag-info.txt || fail "no Bagging-Date"
	grep -q '^Bagging-Software: salvage/' bag/bag-info.txt || fail "no Bagging-Software"
	grep -q '^External-Identifier: ' bag/bag-info.txt || fail "no External-Identifier"
	# files.tsv says where and when each file came from; captures.jsonl holds the records as indexed
	python3 - "$A" <<-'PY' || fail "salvage/files.tsv or captures.jsonl wrong"
		import json, os, subprocess, sys
		A = sys.argv[1]
		rows = [l.rstrip("\n").split("\t") for l in open("bag/salvage/files.tsv")][1:]
		data = sorted(os.path.join(d, f)[4:] for d, _, fs in os.walk("bag/data") for f in fs)
		assert sorted(r[0] for r in rows) == data, (rows, data)
		caps = [json.loads(l) for l in open("bag/salvage/captures.jsonl")]
		ls = {json.dumps(json.loads(l), sort_keys=True) for l in subprocess.check_output(["sh", "-c", "$SALVAGE -C a ls --json"]).decode().splitlines()}
		assert all(json.dumps(c, sort_keys=True) in ls for c in caps), "a record differs from the index"
		by = {c["url"]: c for c in caps}
		for path, url, ts, sha, enc in rows:
		    assert by[url]["ts"] == ts and by[url]["sha256"] == sha, (path, url)
		g = [r for r in rows if r[1] == "http://%s/gzip/data/table.csv" % A]
		assert g and g[0][4] == "gzip", g
		print(len(rows), "files traced")
	PY
	# the headers WARC: header blocks only, payload digests of the stored bodies
	python3 - "$A" <<-'PY' || fail "salvage/headers.warc.gz wrong"
		import gzip, sys
		A = sys.argv[1]
		data = gzip.open("bag/salvage/headers.warc.gz").read()
		recs = data.split(b"WARC/1.1\r\n")[1:]
		resp = [r for r in recs if b"WARC-Type: response" in r and (b"/gzip/data/table.csv\r\n" in r)]
		assert resp, "no response record of the gzip CSV"
		head, block = resp[0].split(b"\r\n\r\n", 1)
		assert b"WARC-Truncated: length" in head, head
		assert b"WARC-Payload-Digest: sha256:" in head, head
		assert block.endswith(b"\r\n\r\n\r\n\r\n") or block.count(b"\r\n\r\n") == 2, block[-40:]
		assert b"Content-Encoding: gzip" in block and len(block) < 2000, len(block)
		print(len(recs), "records")
	PY
	# cat --decoded gives the file as published; cat alone the bytes as sent
	"$SALVAGE" -C a cat --decoded "http://$A/gzip/data/table.csv" >dec.csv || fail "cat --decoded failed"
	cmp dec.csv www/data/table.csv || fail "cat --decoded differs from the original"
	"$SALVAGE" -C a cat "http://$A/gzip/data/table.csv" | gzip -dc | cmp - www/data/table.csv ||
		fail "cat without --decoded is not the gzip body as sent"
	"$SALVAGE" -C a cat --decoded "http://$A/data/table.csv" | cmp - www/data/table.csv || fail "cat --decoded of a plain body"
	sv -C a cat --decoded "$(sha256sum <www/data/table.csv | cut -d' ' -f1)"
	expect_status 2
	# a folder that is not empty is refused, and left as it was
	mkdir full && echo keep >full/x
	sv -C a export bagit "$PWD/full"
	expect_status 2
	expect_in "not empty" "$err"
	expect_eq "$(ls full)" "x"
	ls -d full.tmp-* 2>/dev/null && fail "a temp folder was left"
	# an empty one is taken
	mkdir empty
	sv -C a export bagit "$PWD/empty"
	expect_status 0
	bg_check empty
	# --seed: the row's columns go into bag-info.txt; an unknown row is refused
	sv -C a export bagit "$PWD/row" --seed 1
	expect_status 0
	grep -q '^salvage-row-agency: Test Agency$' row/bag-info.txt || fail "the row's columns: $(cat row/bag-info.txt)"
	grep -q "^salvage-seed-url: http://$A/\$" row/bag-info.txt || fail "the row's URL: $(cat row/bag-info.txt)"
	bg_check row
	sv -C a export bagit "$PWD/none" --seed 99
	expect_status 2
	[ ! -e none ] || fail "a bag for an unknown row"
	# usage errors
	sv -C a export bagit
	expect_status 2
	expect_in "needs a folder" "$err"
	sv -C a export bagit "$PWD/none" --since 2026-01-01
	expect_status 2
	sv -C a export bagit "$PWD/none" "$PWD/other"
	expect_status 2
	if [ -e none ] || [ -e other ]; then fail "a bag after a usage error"; fi
}

test_bagit_hostile_urls_stay_inside_data() {
	trap testservers_stop EXIT
	sv init a
	expect_status 0
	echo x >f
	A=127.0.0.1:9
	urls=(
		"http://$A/../../etc/passwd" "http://$A/%2e%2e/%2e%2e/x" "http://$A/a%2Fb" "http://$A/c%01d%0a"
		"http://$A/q?x=1&y=../../2" "http://$A/con.txt" "http://$A/A" "http://$A/a" "http://$A/a/b"
		"http://$A/dir/" "http://$A/dir/index.html" "http://$A/t." "http://$A/$(printf 'n%.0s' $(seq 300))"
		"http://evil..%2f..%2f/x"
	)
	for u in "${urls[@]}"; do
		sv -C a put --url "$u" "$PWD/f"
		[ "$status" -eq 0 ] || echo "put refused $u: $err"
	done
	mkdir out
	sv -C a export bagit "$PWD/out/bag"
	expect_status 0
	echo "$out"
	# nothing outside the bag, nothing in it but data/ and the tag files
	expect_eq "$(ls out)" "bag"
	find out/bag -mindepth 1 | sed 's,^out/bag/,,' | grep -v '^data\(/\|$\)' | LC_ALL=C sort >tags.lst
	printf '%s\n' bag-info.txt bagit.txt manifest-sha256.txt manifest-sha512.txt salvage salvage/captures.jsonl \
		salvage/files.tsv salvage/headers.cdxj salvage/headers.warc.gz tagmanifest-sha256.txt | diff - tags.lst ||
		fail "unexpected entries in the bag"
	if [ -e etc ] || [ -e out/etc ] || [ -e x ]; then fail "a file escaped the bag"; fi
	bg_check out/bag
	# every URL put has its own file; no two names clash when case is ignored
	n=$("$SALVAGE" -C a ls | wc -l)
	expect_eq "$(find out/bag/data -type f | wc -l)" "$n"
	dups=$(find out/bag/data | tr '[:upper:]' '[:lower:]' | sort | uniq -d)
	[ -z "$dups" ] || fail "names alike but for case: $dups"
	# no control characters, no segment over 255 bytes
	find out/bag -print0 | python3 -c '
import sys
for p in sys.stdin.buffer.read().split(b"\0"):
    assert not any(c < 0x20 or c == 0x7f for c in p), p
    assert all(len(s) <= 255 for s in p.split(b"/")), p'
}
