# End-to-end tests of sitemaps and the row's scope (issue 12, point 1):
# robots.txt Sitemap: lines and the entries of sitemap indexes pass the row's
# scope and depth like links (a sitemap index counts one hop), and index
# nesting is bounded (SV_SCOPE_SITEMAP_LEVELS = 3: the first sitemap and two
# levels below it). Two test servers on 127.0.0.1: the row's (one) and another
# host (two, reached as localhost:P2) whose request log must stay empty.
# crawl.allowPrivate = true in every archive here: these tests are about the
# scope, not about the private-address guard (test_private.sh).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_scope.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and crawl_in

# sc_servers: servers one (./one) and two (./two); P1 and P2 their ports.
sc_servers() {
	testservers_two
}

# sc_sitemap FILE ROOT ITEM LOC...: a sitemap document, <ROOT> of <ITEM><loc>LOC</loc></ITEM>.
sc_sitemap() {
	local f=$1 root=$2 item=$3 l
	shift 3
	{
		printf '<?xml version="1.0"?>\n<%s xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' "$root"
		for l in "$@"; do printf '<%s><loc>%s</loc></%s>\n' "$item" "$l" "$item"; done
		printf '</%s>\n' "$root"
	} >"$f"
}

# sc_index FILE LOC...: a sitemap index listing LOC...
sc_index() { sc_sitemap "$1" sitemapindex sitemap "${@:2}"; }

# sc_urlset FILE LOC...: a sitemap listing LOC...
sc_urlset() { sc_sitemap "$1" urlset url "${@:2}"; }

# sc_other_host: on server two, a chain of 8 nested indexes i0.xml -> i7.xml,
# each also listing a sitemap of 5 pages; and r.xml, a sitemap of pages.
sc_other_host() {
	local i
	for i in $(seq 0 7); do
		sc_index "two/i$i.xml" "http://localhost:$P2/i$((i + 1)).xml" "http://localhost:$P2/u$i.xml"
		sc_urlset "two/u$i.xml" $(for k in 1 2 3 4 5; do echo "http://localhost:$P2/p$i-$k.html"; done)
	done
	sc_urlset two/r.xml "http://localhost:$P2/r1.html" "http://localhost:$P2/data.csv"
	printf '<p>off host</p>\n' >two/index.html
}

# sc_crawl SCOPE DEPTH ("" for none): crawls the row http://127.0.0.1:P1/ in archive ./a.
sc_crawl() {
	printf 'url,scope,depth\nhttp://127.0.0.1:%s/,%s,%s\n' "$P1" "$1" "$2" >sheet.csv
	sv init a
	expect_status 0
	git config -f a/salvage.conf crawl.allowPrivate true
	crawl_in a ../sheet.csv
	expect_status 0
}

# sc_gets NAME: the targets server NAME was asked for, one a line.
sc_gets() {
	awk '$2 == "GET" || $2 == "HEAD" {print $3}' "$1.log" 2>/dev/null | sort
}

# A page-scope row of depth 0 reads no sitemap: neither its own server's
# /sitemap.xml (an index leading to another host's chain of indexes), nor
# another host's sitemap named in its robots.txt. Only the page is fetched.
test_page_scope_depth_0_reads_no_sitemap() {
	sc_servers
	sc_other_host
	printf '<p>the page</p>\n' >one/index.html
	printf 'User-agent: *\nAllow: /\nSitemap: http://localhost:%s/r.xml\n' "$P2" >one/robots.txt
	sc_index one/sitemap.xml "http://localhost:$P2/i0.xml" "/own.xml"
	sc_urlset one/own.xml "http://127.0.0.1:$P1/hidden.html"
	sc_crawl page 0
	expect_eq "$(sc_gets two | tr '\n' ' ')" ""
	expect_eq "$(sc_gets one | tr '\n' ' ')" "/ /robots.txt "
}

# A host-scope row: another host's sitemaps (from robots.txt, from the
# row's own index) are not read, and the pages its own sitemaps list on
# other hosts are not fetched; its own sitemaps and pages are.
test_host_scope_sitemaps_stay_on_the_host() {
	sc_servers
	sc_other_host
	printf '<p>the page</p>\n' >one/index.html
	printf '<p>only in the sitemap</p>\n' >one/hidden.html
	printf 'User-agent: *\nAllow: /\nSitemap: http://localhost:%s/r.xml\n' "$P2" >one/robots.txt
	sc_index one/sitemap.xml "http://localhost:$P2/i0.xml" "/own.xml"
	sc_urlset one/own.xml "http://127.0.0.1:$P1/hidden.html" "http://localhost:$P2/p0-1.html" \
		"http://127.0.0.1:$P2/p0-2.html"
	sc_crawl host ""
	expect_eq "$(sc_gets two | tr '\n' ' ')" ""
	sv -C a ls
	expect_in " http://127.0.0.1:$P1/hidden.html" "$out"
	expect_in " http://127.0.0.1:$P1/own.xml" "$out"
}

# Index nesting is bounded even with unlimited depth: sitemap.xml (level 0)
# -> n1.xml (1) -> n2.xml (2) are read, with the sitemaps they list at those
# levels; n3.xml and u2.xml, three index hops down, are not.
test_sitemap_index_nesting_is_bounded() {
	sc_servers
	printf '<p>the page</p>\n' >one/index.html
	sc_index one/sitemap.xml /s0.xml /n1.xml
	sc_urlset one/s0.xml "http://127.0.0.1:$P1/p0.html"
	local i
	for i in $(seq 1 6); do
		sc_index "one/n$i.xml" "/u$i.xml" "/n$((i + 1)).xml"
		sc_urlset "one/u$i.xml" "http://127.0.0.1:$P1/p$i.html"
		printf '<p>%s</p>\n' "$i" >"one/p$i.html"
	done
	printf '<p>0</p>\n' >one/p0.html
	sc_crawl host ""
	local got
	got=$(sc_gets one | tr '\n' ' ')
	for want in /sitemap.xml /s0.xml /p0.html /n1.xml /u1.xml /p1.html /n2.xml; do
		expect_in "$want " "$got"
	done
	for never in /u2.xml /n3.xml /p2.html /n4.xml; do
		case "$got" in *"$never "*) fail "$never was read, past the nesting bound: $got" ;; esac
	done
}

# A row's depth bounds sitemaps as it bounds links: at depth 1 the row's
# /sitemap.xml (depth 0) and the pages it lists (1) come, the sitemap an
# index lists (1) too, but not what that one lists (2).
test_sitemap_counts_one_hop() {
	sc_servers
	printf '<p>the page</p>\n' >one/index.html
	sc_index one/sitemap.xml /s1.xml
	sc_urlset one/s1.xml "http://127.0.0.1:$P1/deep.html"
	printf '<p>deep</p>\n' >one/deep.html
	sc_crawl host 1
	local got
	got=$(sc_gets one | tr '\n' ' ')
	expect_in "/s1.xml " "$got"
	case "$got" in *"/deep.html "*) fail "a page two hops down was fetched at depth 1: $got" ;; esac
}
