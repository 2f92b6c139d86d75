# End-to-end tests of what a sheet row rescues, against the test server
# (tests/server/): a seed that redirects to another host and port (the row's
# scope follows it), a row that rescues nothing (reported, exit 1), and a
# response header that is not UTF-8 (kept byte for byte, nothing lost).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_rows.sh
# Each test_* runs with `set -e` in a fresh empty folder (see lib.sh), starts
# its own servers on 127.0.0.1 (free ports) and stops them when it ends.
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and rw_crawl

# rw_server NAME ROOT: lib.sh's test server, stopped when the test ends.
rw_server() {
	testserver_start "$1" "$2"
	trap testservers_stop EXIT
}

# rw_crawl ARGS...: `salvage crawl ARGS...` in the archive ./a (created if
# missing) under `timeout 120`; stdout in $out, stderr in $err, status in $status.
rw_crawl() {
	[ -d a ] || { sv init a && expect_status 0; }
	# A second server on 127.0.0.1 the seed lands on: allowed by name (test_private.sh).
	[ -z "${RW_ALLOW:-}" ] || git config -f a/salvage.conf crawl.allowPrivate "$RW_ALLOW"
	crawl_in a "$@"
}

# rw_site DIR: a small site: index.html links two pages and a dataset.
rw_site() {
	mkdir -p "$1/sub" "$1/data"
	printf '<a href="p1.html">p1</a> <a href="sub/p2.html">p2</a> <a href="data/t.csv">t</a>\n' >"$1/index.html"
	printf '<p>page one</p>\n' >"$1/p1.html"
	printf '<p>page two</p>\n' >"$1/sub/p2.html"
	printf 'a,b\n1,2\n' >"$1/data/t.csv"
}

# rw_cross_host JOBS: seed http://127.0.0.1:P1/redirect?to=http://localhost:P2/
# (301), the site on localhost:P2; scope host.
rw_cross_host() {
	rw_server one one
	rw_server two site
	rw_site site
	local p2
	p2=$(cat two.port)
	RW_ALLOW=localhost:$p2
	printf 'url,scope\n"http://127.0.0.1:%s/redirect?to=http://localhost:%s/&code=301",host\n' \
		"$(cat one.port)" "$p2" >sheet.csv
	rw_crawl --jobs "$1" ../sheet.csv
	expect_status 0
	sv -C a ls
	expect_status 0
	local u
	for u in / /p1.html /sub/p2.html /data/t.csv; do
		expect_in " http://localhost:$p2$u" "$out"
	done
	sv -C a status
	expect_in "http://localhost:$p2/" "$out"
	sv -C a status --json
	python3 -c 'import json,sys; r=json.load(sys.stdin)["rows"][0]; assert r["landing"]==sys.argv[1], r; assert r["rescued"]>=4, r' \
		"http://localhost:$p2/" <<<"$out" || fail "status --json: no landing or rescued count: $out"
}

test_seed_redirect_to_another_host() {
	rw_cross_host 1
}

test_seed_redirect_to_another_host_two_fetchers() {
	rw_cross_host 2
}

# The landing page queues its own host's sitemap.xml, as the seed does.
test_seed_landing_queues_its_sitemap() {
	rw_server one one
	rw_server two site
	rw_site site
	local p2
	p2=$(cat two.port)
	RW_ALLOW=localhost:$p2
	printf '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://localhost:%s/hidden.html</loc></url></urlset>\n' "$p2" >site/sitemap.xml
	printf '<p>only in the sitemap</p>\n' >site/hidden.html
	printf 'url,scope\n"http://127.0.0.1:%s/redirect?to=http://localhost:%s/",host\n' "$(cat one.port)" "$p2" >sheet.csv
	rw_crawl --jobs 1 ../sheet.csv
	expect_status 0
	sv -C a ls
	expect_in " http://localhost:$p2/hidden.html" "$out"
}

# A row whose server answers only 404: nothing rescued, said so, exit 1.
test_row_of_404_rescues_nothing() {
	rw_server one empty
	printf 'url\nhttp://127.0.0.1:%s/nothing/\n' "$(cat one.port)" >sheet.csv
	rw_crawl --jobs 1 ../sheet.csv
	expect_status 1
	expect_in "http://127.0.0.1:$(cat one.port)/nothing/): nothing rescued" "$out"
	expect_in "nothing rescued in this run" "$out"
}

# A seed that only redirects out of reach (a closed port): nothing rescued, exit 1.
test_row_redirected_out_of_reach_rescues_nothing() {
	rw_server one empty
	local dead
	dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf 'url\n"http://127.0.0.1:%s/redirect?to=http://127.0.0.1:%s/"\n' "$(cat one.port)" "$dead" >sheet.csv
	RW_ALLOW=127.0.0.1:$dead # the port is closed, not refused by the guard
	rw_crawl --jobs 1 ../sheet.csv
	expect_status 1
	expect_in "nothing rescued: 1 redirect" "$out"
}

# One good row and one that rescues nothing: the crawl says which, and exits 1.
test_one_row_of_two_rescues_nothing() {
	rw_server one site
	rw_site site
	local p
	p=$(cat one.port)
	printf 'url\nhttp://127.0.0.1:%s/\nhttp://127.0.0.1:%s/gone/\n' "$p" "$p" >sheet.csv
	rw_crawl --jobs 1 ../sheet.csv
	expect_status 1
	expect_in "(http://127.0.0.1:$p/gone/): nothing rescued" "$out"
	case "$out" in *"(http://127.0.0.1:$p/): nothing rescued"*) fail "the good row reported: $out" ;; esac
}

# A Latin-1 Content-Disposition: the crawl goes on (exit 0), the capture is
# listed, and the ledger keeps the header bytes exactly as the server sent them.
test_latin1_header_kept_byte_for_byte() {
	rw_server one site
	rw_site site
	local p path
	p=$(cat one.port)
	path="/header/data/t.csv?name=Content-Disposition&value=attachment%3B%20filename%3D%22Donn%E9es.csv%22"
	printf '<a href="%s">data</a>\n' "$path" >site/index.html
	printf 'url\nhttp://127.0.0.1:%s/\n' "$p" >sheet.csv
	rw_crawl --jobs 1 ../sheet.csv
	expect_status 0
	sv -C a ls
	expect_in " http://127.0.0.1:$p/header/data/t.csv?name=Content-Disposition" "$out"
	git -C a/ledger.git archive main captures | tar -xO | grep '/header/data/t.csv' >rec.json ||
		fail "no ledger record for the URL"
	python3 - "$p" <<-'PY' || fail "header bytes differ: $(cat rec.json)"
		import base64, json, sys
		r = json.loads(open("rec.json").readline())
		assert r.get("status") == 200 and r.get("sha256"), r
		h = base64.b64decode(r["headers_b64"])
		want = b'Content-Disposition: attachment; filename="Donn\xe9es.csv"\r\n'
		assert want in h, h
		assert h.startswith(b"HTTP/1.1 200"), h
	PY
	sv -C a cat "http://127.0.0.1:$p${path}"
	expect_status 0
	expect_eq "$out" "$(printf 'a,b\n1,2')"
}
