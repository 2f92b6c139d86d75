# End-to-end tests of issue 12, point 9: numbers on the command line are
# checked, `init ""` is bad usage, a damaged or lost queue.db is refused and
# rebuilt from the ledger by `salvage reindex --queue`, with no network.

test_numeric_options_are_checked() {
	sv init a
	expect_status 0
	cd a
	printf 'url\nhttp://127.0.0.1:9/\n' >s.csv
	for bad in "--jobs abc" "--jobs 0" "--transfers 0" "--jobs 65" "--transfers 1025" "--jobs -1" \
		"--jobs 2x" "--jobs ' 3'" "--transfers 99999999999999999999" "--jobs"; do
		eval "sv crawl $bad s.csv"
		expect_status 2
		expect_in "salvage: --" "$err"
		expect_in "usage: salvage crawl" "$err"
	done
	sv crawl --jobs abc s.csv
	expect_in "--jobs takes a whole number from 1 to 64, not 'abc'" "$err"
	sv crawl --transfers 0 s.csv
	expect_in "--transfers takes a whole number from 1 to 1024, not '0'" "$err"
	# Nothing was loaded or fetched.
	[ ! -e queue.db ] || fail "a refused crawl made queue.db"
}

test_init_with_an_empty_name_is_bad_usage() {
	sv init ""
	expect_status 2
	expect_in "init needs a folder" "$err"
}

test_an_empty_queue_db_is_refused() {
	sv init a
	expect_status 0
	cd a
	printf 'url\nhttp://127.0.0.1:9/\n' >s.csv
	sv seed s.csv
	expect_status 0
	: >queue.db
	rm -f queue.db-wal queue.db-shm
	for cmd in "seed s.csv" "status" "crawl"; do
		eval "sv $cmd"
		expect_status 3
		expect_in "queue.db' is damaged (it is empty)" "$err"
		expect_in "salvage reindex --queue" "$err"
	done
	[ ! -s queue.db ] || fail "the empty queue.db was written to"
	head -c 8192 /dev/urandom >queue.db
	sv status
	expect_status 3
	expect_in "is damaged (file is not a database)" "$err"
}

# rq_site DIR: index.html links 12 pages p1..p12, data.csv and a redirect to
# moved.html (which links m2.html); page N links qN.html (a page only it
# links to) and back to the index.
rq_site() {
	mkdir -p "$1"
	{
		echo '<html><body><a href="/redirect?to=/moved.html">moved</a>'
		for i in $(seq 12); do echo "<a href=\"p$i.html\">p$i</a>"; done
		echo '<a href="data.csv">data</a></body></html>'
	} >"$1/index.html"
	echo '<html><body><a href="m2.html">m2</a></body></html>' >"$1/moved.html"
	echo '<html><body>m2</body></html>' >"$1/m2.html"
	for i in $(seq 12); do
		echo "<html><body><a href=\"q$i.html\">q</a> <a href=\"/\">home</a></body></html>" >"$1/p$i.html"
		echo "<html><body>leaf $i</body></html>" >"$1/q$i.html"
	done
	printf 'a,b\n1,2\n' >"$1/data.csv"
}

# rq_urls DIR: the URLs captured in archive DIR, sorted, one per line.
rq_urls() {
	(cd "$1" && "$SALVAGE" ls) | grep -o 'http://[^ ]*' | sort -u
}

# rq_fetched LOG: the paths requested (robots.txt aside), sorted.
rq_fetched() {
	awk '$2 == "GET" && $3 != "/robots.txt" {print $3}' "$1" | sort
}

test_lost_queue_is_rebuilt_and_the_crawl_goes_on() {
	trap testservers_stop EXIT
	rq_site site
	testserver_start s site
	local root="http://127.0.0.1:$(cat s.port)/"
	printf 'url,scope,delay\n%s,host,0.3\n' "$root" >sheet.csv

	# The whole crawl in one go, for the URL set to compare with.
	sv init whole
	git config -f whole/salvage.conf crawl.hostConnections 1
	crawl_in whole --jobs 1 ../sheet.csv
	expect_status 0
	rq_urls whole >whole.urls
	# 12 + 12 pages, the index, data.csv, the redirect, moved.html, m2.html,
	# robots.txt and the sitemap probe
	expect_eq "$(wc -l <whole.urls)" 31

	# Part of it: stopped (SIGTERM, a clean stop) once a few captures are
	# committed (ls lists them; what was fetched since is fetched again).
	sv init a
	git config -f a/salvage.conf crawl.hostConnections 1
	(cd a && exec timeout -k 10 120 "$SALVAGE" crawl --jobs 1 ../sheet.csv) >part.out 2>part.err <&- &
	local crawl=$!
	for _ in $(seq 600); do
		[ "$(rq_urls a | wc -l)" -ge 5 ] && break
		sleep 0.05
	done
	kill -TERM "$crawl"
	wait "$crawl" || true
	# robots.txt aside: it is not a queued URL, and the next crawl asks for it again
	rq_urls a | grep -v '/robots.txt$' >part.urls || true
	local done_before
	done_before=$(wc -l <part.urls)
	[ "$done_before" -ge 3 ] && [ "$done_before" -lt 30 ] ||
		fail "the first crawl captured $done_before URLs; want some, not all: $(cat part.err)"

	# queue.db is lost: truncated to nothing.
	: >a/queue.db
	rm -f a/queue.db-wal a/queue.db-shm
	cd a
	sv crawl ../sheet.csv
	expect_status 3
	expect_in "reindex --queue" "$err"
	sv reindex --queue
	cd ..
	expect_status 0
	expect_in "moved the old queue aside as queue.db.damaged-" "$out"
	expect_in "1 sheet (1 row), $done_before captured URLs ended as recorded" "$out"
	ls a/queue.db.damaged-* >/dev/null || fail "the damaged queue.db was not kept"
	[ ! -s "$(ls a/queue.db.damaged-* | head -1)" ] || fail "the kept file is not the damaged one"

	# The crawl goes on: nothing captured before is fetched again, the rest is.
	: >s.log
	crawl_in a --jobs 1
	expect_status 0
	rq_fetched s.log >again.paths
	local u p
	while read -r u; do
		p=/${u#"$root"}
		! grep -qxF "$p" again.paths || fail "$u was fetched again after the rebuild: $(tr '\n' ' ' <again.paths)"
	done <part.urls
	expect_eq "$(wc -l <again.paths)" "$((30 - done_before))"
	rq_urls a >a.urls
	diff whole.urls a.urls >/dev/null || fail "the archive differs from one whole crawl: $(diff whole.urls a.urls)"
}
