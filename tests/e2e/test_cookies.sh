# End-to-end tests of cookies in salvage crawl (issue 11, point 3): a cookie
# check (302 + Set-Cookie + Location: the same URL) in front of a whole site,
# robots.txt included, or in front of one page; the cookie stays with the host
# that set it; a check that never passes ends, bounded, as a failure.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_cookies.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by ck_crawl

# ck_crawl SHEET_LINE...: a new archive ./a crawls a sheet of these lines (the
# first is the header) under `timeout 120`; $out, $err, $status as sv sets them.
ck_crawl() {
	printf '%s\n' "$@" >sheet.csv
	sv init a
	expect_status 0
	# A second server on 127.0.0.1 that a test links to: allowed by name (test_private.sh).
	[ -z "${CK_ALLOW:-}" ] || git config -f a/salvage.conf crawl.allowPrivate "$CK_ALLOW"
	set +e
	(cd a && exec timeout -k 10 120 "$SALVAGE" crawl ../sheet.csv) >crawl.out 2>crawl.err
	status=$?
	set -e
	out=$(cat crawl.out)
	err=$(cat crawl.err)
	[ "$status" -lt 124 ] || fail "crawl timed out or died (exit $status); stdout: $out; stderr: $err"
	"$SALVAGE" -C a ls --json >ls.json || fail "salvage ls --json failed"
}

# ck_crawl_page PREFIX: a server (s) whose /index.html is a small page; the
# crawl of http://127.0.0.1:PORT/PREFIX/index.html, kept in $url.
ck_crawl_page() {
	trap testservers_stop EXIT
	testserver_start s www
	echo '<html><body><a href="/gen/after.html">after</a></body></html>' >www/index.html
	url=http://127.0.0.1:$(cat s.port)/$1/index.html
	ck_crawl "url,scope" "$url,prefix"
}

# ck_caps URL: the captures of URL in ls.json, one a line: "STATUS KIND REDIRECT SET-COOKIE?".
ck_caps() {
	python3 - "$1" <<-'EOF'
		import json, sys
		for l in open("ls.json"):
		    c = json.loads(l)
		    if c.get("url") == sys.argv[1]:
		        h = (c.get("headers") or "").lower()
		        print(c.get("status"), c.get("kind"), c.get("redirect") or "-",
		              "set-cookie" if "\nset-cookie: sv_check=ok" in h else "-")
	EOF
}

# ck_log NAME FIELD=VALUE: how many requests server NAME logged with that field.
ck_log() {
	grep -c " $2\( \|$\)" "$1.log" || true
}

test_cookies_site_behind_a_check_is_crawled() {
	trap testservers_stop EXIT
	testserver_start s www --cookie-check
	testserver_start other other
	A=127.0.0.1:$(cat s.port)
	B=localhost:$(cat other.port) # another host name: a cookie of 127.0.0.1 is not its cookie
	CK_ALLOW=$B
	mkdir -p www/data www/private
	printf 'User-agent: *\nDisallow: /private/\n' >www/robots.txt
	cat >www/index.html <<-EOF
		<html><body><a href="/p1.html">p1</a> <a href="/data/table.csv">table</a>
		<a href="/private/secret.html">secret</a> <a href="http://$B/exports/other.csv">elsewhere</a></body></html>
	EOF
	echo '<html><body>page one</body></html>' >www/p1.html
	echo '<html><body>not for robots</body></html>' >www/private/secret.html
	seq 1 500 | sed 's/$/,x/' >www/data/table.csv
	mkdir -p other/exports
	seq 1 50 >other/exports/other.csv
	ck_crawl "url,scope" "http://$A/,host"
	expect_status 0
	for u in / /p1.html /data/table.csv; do
		last=$(ck_caps "http://$A$u" | tail -n 1)
		[ "${last%% *}" = 200 ] || fail "http://$A$u: last capture '$last', not 200; all: $(ck_caps "http://$A$u")"
	done
	expect_in "200 dataset" "$(ck_caps "http://$A/data/table.csv")"
	# robots.txt was read through its cookie check: its rules hold.
	expect_in "200 robots" "$(ck_caps "http://$A/robots.txt")"
	[ "$(grep -c ' /private/secret.html ' s.log)" = 0 ] || fail "a page robots.txt disallows was fetched"
	# Each 302 of the site is a capture of its own: to the URL itself, setting the cookie.
	python3 - "$A" <<-'EOF' || fail "a 302 capture is not the cookie check of its own URL"
		import json, sys
		n = 0
		for l in open("ls.json"):
		    c = json.loads(l)
		    if c.get("status") == 302:
		        n += 1
		        assert c["redirect"] == c["url"] and "set-cookie: sv_check=ok" in c["headers"].lower(), c
		print(n, "cookie-check captures")
	EOF
	# The site got its cookie back; the other host never did.
	[ "$(ck_log s cookie=sv_check=ok)" -ge 4 ] || fail "the cookie was not sent back: $(cat s.log)"
	expect_in "200 dataset" "$(ck_caps "http://$B/exports/other.csv")"
	[ "$(ck_log other cookie=-)" = "$(wc -l <other.log)" ] || fail "a cookie of $A went to $B: $(cat other.log)"
}

test_cookies_check_in_front_of_a_page_is_followed() {
	ck_crawl_page cookie-check
	expect_status 0
	# The 302 to itself is in `ls`, then the page itself, asked again with the cookie.
	expect_eq "$(ck_caps "$url")" "302 page $url set-cookie
200 page - -"
	expect_eq "$(grep ' /cookie-check/index.html ' s.log | awk '{ print $4, $NF }' | tr '\n' ' ')" \
		"302 cookie=- 200 cookie=sv_check=ok "
	expect_in "$url" "$("$SALVAGE" -C a ls)"
}

test_cookies_check_never_passed_ends_as_a_failure() {
	ck_crawl_page cookie-never
	expect_status 1
	expect_in "1 failed" "$out"
	# Asked three times (the first and two more with the cookie), then given up.
	expect_eq "$(grep -c ' /cookie-never/index.html ' s.log)" 3
	expect_eq "$(ck_caps "$url" | awk '{ print $1 }' | tr '\n' ' ')" "302 302 302 "
	"$SALVAGE" -C a ls --json | grep -q 'its cookie was not accepted' || fail "no reason recorded: $(cat ls.json)"
}
