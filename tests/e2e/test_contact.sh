# Who is crawling (issue 12, point 8): crawl.contact in salvage.conf is sent
# in every request as "User-Agent: salvage/VERSION (+CONTACT)", robots.txt
# still matches the product token "salvage", init asks for it on a terminal
# (or takes --contact), and a contact that would break the header is a
# config error (exit 2) naming salvage.conf and the key.

# ct_site: a site whose robots.txt keeps salvage out of /private/, linked from the home page.
ct_site() {
	mkdir -p site/private
	printf '%s' '<a href="p0.html">0</a> <a href="private/x.html">x</a>' >site/index.html
	echo "page 0" >site/p0.html
	echo "private" >site/private/x.html
	printf 'User-agent: *\nDisallow: /\n\nUser-agent: salvage\nDisallow: /private/\n' >site/robots.txt
	trap testservers_stop EXIT
	testserver_start s site
	port=$(cat s.port)
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$port" >sheet.csv
}

# ct_agents: the User-Agent of every request the server saw, one per line, deduplicated.
ct_agents() {
	sed -E 's/.* ua=([^ ]*) cookie=.*/\1/' s.log | sort -u
}

test_contact_is_in_every_request_and_robots_still_match_salvage() {
	ct_site
	sv init --contact ops@example.org a
	expect_status 0
	grep -q 'contact = ops@example.org' a/salvage.conf || fail "no crawl.contact in: $(cat a/salvage.conf)"
	crawl_in a ../sheet.csv
	[ "$status" -eq 0 ] || fail "crawl exit $status"
	grep -q ' /p0.html 200 ' s.log || fail "p0.html was not fetched: $(cat s.log)"
	grep -q ' /private/' s.log && fail "robots.txt of group salvage was not obeyed: $(cat s.log)"
	expect_eq "$(ct_agents)" "salvage/0.1.0%20(+ops@example.org)"
}

test_without_contact_the_agent_is_the_product_alone() {
	ct_site
	sv init a
	expect_status 0
	crawl_in a ../sheet.csv
	[ "$status" -eq 0 ] || fail "crawl exit $status"
	grep -q ' /p0.html 200 ' s.log || fail "p0.html was not fetched: $(cat s.log)"
	expect_eq "$(ct_agents)" "salvage/0.1.0"
}

test_a_contact_set_in_salvage_conf_by_hand() {
	ct_site
	sv init a
	git config -f a/salvage.conf crawl.contact https://example.org/crawl
	crawl_in a ../sheet.csv
	[ "$status" -eq 0 ] || fail "crawl exit $status"
	expect_eq "$(ct_agents)" "salvage/0.1.0%20(+https://example.org/crawl)"
}

test_a_contact_that_breaks_the_header_is_refused() {
	ct_site
	sv init --contact 'ops (at) example.org' a
	expect_status 2
	expect_in "crawl.contact" "$err"
	[ ! -e a ] || fail "a refused --contact still made an archive"
	sv init a
	for bad in 'ops@example.org) (x' 'ops@example.org\r\nX-Evil: 1' 'nobody' 'ops@exa mple.org'; do
		git config -f a/salvage.conf crawl.contact "$(printf '%b' "$bad")"
		crawl_in a ../sheet.csv
		[ "$status" -eq 2 ] || fail "crawl.contact '$bad': exit $status"
		expect_in "salvage.conf: crawl.contact must be" "$err"
	done
	[ ! -s s.log ] || fail "a request was made: $(cat s.log)"
}

test_init_asks_for_the_contact_on_a_terminal() {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	# script gives salvage a terminal for stdin and stdout; the first answer is refused and asked again
	printf 'not a contact\nops@example.org\n' | script -qec "'$SALVAGE' init a" /dev/null >init.out
	grep -q 'Who runs this crawl' init.out || fail "init did not ask: $(cat init.out)"
	grep -q 'crawl.contact must be' init.out || fail "a bad answer was not refused: $(cat init.out)"
	expect_eq "$(git config -f a/salvage.conf crawl.contact)" "ops@example.org"
	# without a terminal it does not ask
	sv init b </dev/null
	expect_status 0
	git config -f b/salvage.conf crawl.contact && fail "init asked without a terminal"
	true
}
