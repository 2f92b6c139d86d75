# Links read as browsers read them (issue 12, "Links as browsers read
# them"): on a page authored on Windows, href="sub\p.html" fetches /sub/p.html
# (not /sub%5Cp.html, a 404), and href="http:/other.html" on an http page is
# a path on the same host, not a host named "other.html".

test_backslash_and_one_slash_links_are_fetched_as_browsers_fetch_them() {
	mkdir -p site/sub
	printf '%s' '<a href="sub\p.html">p</a> <img src="sub\i.png"> <a href="http:/other.html">o</a>' >site/index.html
	echo "page p" >site/sub/p.html
	echo "png" >site/sub/i.png
	echo "other" >site/other.html
	printf 'User-agent: *\nAllow: /\n' >site/robots.txt
	trap testservers_stop EXIT
	testserver_start s site
	port=$(cat s.port)
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$port" >sheet.csv
	"$SALVAGE" init a >/dev/null
	crawl_in a ../sheet.csv
	[ "$status" -eq 0 ] || fail "crawl exit $status"
	for p in /sub/p.html /sub/i.png /other.html; do
		grep -q " GET $p 200 " s.log || fail "$p was not fetched: $(cat s.log)"
	done
	grep -q '%5C' s.log && fail "a backslash went out as %5C: $(cat s.log)"
	(cd a && "$SALVAGE" ls) | grep -q "http://127.0.0.1:$port/sub/p.html$" || fail "no capture of /sub/p.html"
}
