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
