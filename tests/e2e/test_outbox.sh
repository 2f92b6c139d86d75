# The shared queue's database goes away mid-crawl (issue 13, "Faults"): the
# fetchers keep downloading into the local archive, keep what they would
# tell the queue in the archive's outbox.db, do not exit, and deliver it
# when the queue is back; a fetcher killed with -9 while the queue is down
# loses nothing: the next crawl on the archive delivers what it kept.
#
# The shared queue here is a SQLite file (sqlite:PATH), and "down" is the
# test-only switch of queue/outbox.c: SALVAGE_TEST_QUEUE_DOWN=FILE makes the
# queue unreachable while FILE exists. The PostgreSQL versions of these
# tests (a real server restarted or cut off) come with the postgres backend.

# ob_sql DB SQL: the first column of the first row.
ob_sql() {
	python3 -c 'import sqlite3, sys; r = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print(r[0] if r else "")' "$@"
}

# ob_site: a site of an index, five pages, robots.txt and a large file sent
# slowly (2 MB at 200 kB/s: about 10 s); the server on $port, log server.log.
ob_site() {
	mkdir site
	{
		for i in 0 1 2 3 4; do printf '<a href="p%s.html">p%s</a>\n' "$i" "$i"; done
		printf '<a href="/slow/200000/big.bin?mb=2">big</a>\n'
	} >site/index.html
	for i in 0 1 2 3 4; do echo "page $i" >"site/p$i.html"; done
	printf 'User-agent: *\nAllow: /\n' >site/robots.txt
	testserver_start srv site
	trap testservers_stop EXIT
	port=$(cat srv.port)
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$port" >sheet.csv
	"$SALVAGE" init a >/dev/null
}

# ob_wait SECONDS CONDITION...: waits until the command succeeds, at most SECONDS.
ob_wait() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

ob_big_state() {
	ob_sql shared.db "SELECT state FROM urls WHERE url LIKE '%big.bin%'"
}

ob_big_leased() {
	[ "$(ob_big_state)" = 1 ]
}

# The large file's capture is in the archive (its ledger and capture index).
ob_big_captured() {
	(cd a && "$SALVAGE" ls 2>/dev/null) | grep -q 'big.bin'
}

# The outcome of the large file waits in the outbox.
ob_big_kept() {
	local id
	id=$(ob_sql shared.db "SELECT id FROM urls WHERE url LIKE '%big.bin%'")
	[ -f a/outbox.db ] && [ "$(ob_sql a/outbox.db "SELECT count(*) FROM outbox WHERE op = 'complete' AND body LIKE '%\"id\":$id,%'")" -ge 1 ]
}

# Every URL of the site ended in the shared queue: the index, five pages and the large file done.
ob_all_done() {
	expect_eq "$(ob_sql shared.db "SELECT count(*) FROM urls WHERE state IN (0, 1)")" 0
	expect_eq "$(ob_sql shared.db "SELECT count(*) FROM urls WHERE state = 2 AND url NOT LIKE '%sitemap%'")" 7
}

# ob_crawl_then_down: starts a crawl of the site on the shared queue (pid in
# $crawl, its own process group) and takes the queue down once the large file
# is claimed.
ob_crawl_then_down() {
	setsid env SALVAGE_TEST_QUEUE_DOWN="$PWD/down" timeout -k 5 120 \
		"$SALVAGE" -C a crawl --jobs 1 --queue "sqlite:$PWD/shared.db" ../sheet.csv >crawl.out 2>crawl.err </dev/null &
	crawl=$!
	ob_wait 30 ob_big_leased || fail "the large file was never claimed: $(cat crawl.err)"
	touch down
}

ob_requests_of_big() {
	grep -c 'big.bin' srv.log || true
}

test_queue_down_mid_crawl_keeps_downloading_and_delivers_when_back() {
	ob_site
	ob_crawl_then_down
	# The download under way finishes into the archive while the queue is down.
	ob_wait 40 ob_big_captured || fail "the large file was not stored while the queue was down: $(cat crawl.err)"
	ob_wait 20 ob_big_kept || fail "the large file's outcome is not kept in outbox.db"
	sleep 2
	kill -0 "$crawl" 2>/dev/null || fail "the crawl ended while the queue was down: $(cat crawl.err)"
	expect_in "queue unreachable since" "$(cat crawl.err)"
	[ "$(ob_big_state)" = 1 ] || fail "the queue changed while it was down (state $(ob_big_state))"

	rm down
	set +e
	wait "$crawl"
	status=$?
	set -e
	err=$(cat crawl.err)
	[ "$status" -eq 0 ] || fail "the crawl exited $status after the queue came back: $err"
	expect_in "queue reachable again" "$err"
	ob_all_done
	expect_eq "$(ob_sql a/outbox.db "SELECT count(*) FROM outbox")" 0
	expect_eq "$(ob_requests_of_big)" 1
}

test_fetcher_killed_while_queue_down_loses_nothing() {
	ob_site
	ob_crawl_then_down
	ob_wait 40 ob_big_kept || fail "the large file's outcome is not kept in outbox.db: $(cat crawl.err)"
	kill -9 -- -"$crawl"
	wait "$crawl" 2>/dev/null || true
	[ "$(ob_big_state)" = 1 ] || fail "the queue changed while it was down"

	rm down
	(cd a && timeout -k 5 120 "$SALVAGE" crawl --jobs 1 --queue "sqlite:$PWD/../shared.db") >again.out 2>again.err </dev/null ||
		fail "the crawl after kill -9 failed: $(cat again.out again.err)"
	ob_all_done
	expect_eq "$(ob_sql a/outbox.db "SELECT count(*) FROM outbox")" 0
	# Delivered under the killed fetcher's lease, not fetched again.
	expect_eq "$(ob_requests_of_big)" 1
}
