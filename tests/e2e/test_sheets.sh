# End-to-end tests of large sheets (issue 12, point 7): a sheet of 20,000
# rows and a header of 100,000 columns load with the right counts and the
# right problems. Not a timing test: bench/sheet measures the speed.

# sh_count DB SQL: one number from the queue.
sh_count() {
	python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"
}

test_twenty_thousand_rows_load_with_the_right_counts() {
	sv init a
	expect_status 0
	cd a
	# 20,000 rows over 500 hosts, an agency column; then three rows that are
	# earlier rows written another way (same URL once normalised).
	awk 'BEGIN {
		print "url,agency"
		for (i = 0; i < 20000; i++)
			printf "https://host%d.example.gov/data/set-%d.html,Agency %d\n", i % 500, i, i % 37
		print "HTTPS://HOST7.example.gov:443/data/set-7.html,again"
		print "https://host19999.example.gov/x,fine"
		print "https://host499.EXAMPLE.gov/data/./set-19999.html,again"
	}' >big.csv
	sv seed big.csv
	expect_status 2
	expect_in "big.csv:20002:1: url is the same as on line 9 once normalised" "$err"
	expect_in "big.csv:20004:1: url is the same as on line 20001 once normalised" "$err"
	expect_in "2 problems in the sheet: nothing loaded" "$err"
	sv seed --skip-bad-rows big.csv
	expect_status 0
	expect_eq "$out" "big.csv: 20001 rows: 20001 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$(sh_count queue.db 'SELECT count(*) FROM seeds')" 20001
	expect_eq "$(sh_count queue.db 'SELECT count(*) FROM urls WHERE state = 0')" 20001
	expect_eq "$(sh_count queue.db 'SELECT count(*) FROM hosts')" 501
	expect_eq "$(sh_count queue.db 'SELECT sum(queued) FROM hosts')" 20001
	expect_eq "$(sh_count queue.db 'SELECT sum(queued_total) FROM seeds')" 20001
	expect_eq "$(sh_count queue.db "SELECT count(*) FROM seeds WHERE meta = '{\"agency\":\"Agency 5\"}'")" 541
	# Loaded again: every row unchanged. One row edited and one taken out.
	sv seed --skip-bad-rows big.csv
	expect_eq "$out" "big.csv: 20001 rows: 0 new, 0 updated, 20001 unchanged, 0 removed"
	sed -i -e 's/^\(https:\/\/host3.example.gov\/data\/set-3.html\),Agency 3$/\1,Renamed/' \
		-e 's/^.*set-4.html,.*$//' big.csv
	sv seed --skip-bad-rows big.csv
	expect_status 0
	expect_eq "$out" "big.csv: 20000 rows: 0 new, 1 updated, 19999 unchanged, 1 removed"
	expect_eq "$(sh_count queue.db 'SELECT sum(queued) FROM hosts')" 20000
}

test_a_header_of_100000_columns() {
	sv init a
	expect_status 0
	cd a
	# url, then c1..c99999 with two duplicates that differ only in case.
	awk 'BEGIN {
		printf "url"
		for (i = 1; i < 100000; i++)
			printf ",%s", i == 50000 ? "C17" : i == 99999 ? "URL" : "c" i
		printf "\n"
		printf "https://a.example.gov/"
		for (i = 1; i < 100000; i++)
			printf ",%s", i == 3 ? "three" : ""
		printf "\n"
	}' >wide.csv
	sv seed wide.csv
	expect_status 2
	expect_in "wide.csv:1:" "$err"
	expect_in "duplicate column 'C17' in the header" "$err"
	expect_in "duplicate column 'URL' in the header" "$err"
	expect_in "2 problems in the sheet" "$err"
	sv seed --skip-bad-rows wide.csv
	expect_status 0
	expect_eq "$out" "wide.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$(sh_count queue.db 'SELECT meta FROM seeds')" '{"c3":"three"}'
}
