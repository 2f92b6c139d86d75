# End-to-end tests of loading seed sheets (salvage seed) and of salvage status.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_seed.sh
# Each test_* runs with `set -e` in a fresh empty folder (see lib.sh); the
# sheets are written there by the tests themselves.
# shellcheck disable=SC2154 # $out, $err and $status are set by sv (lib.sh)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AGENCIES=$REPO/seeds/examples/agencies.csv

# The tail every refused load ends with.
SD_REFUSED="nothing loaded (fix them, or use --skip-bad-rows to load the good rows)"

# --- local helpers (prefixed sd_ so they never clash with lib.sh) ---

# sd_archive: creates an archive in ./a and moves into it.
sd_archive() {
	sv init a
	expect_status 0
	cd a || fail "cannot enter a/"
}

# sd_sql DB SQL: runs one query and prints the rows ('|' between columns),
# with the sqlite3 CLI when there is one, else with python's sqlite3 module.
sd_sql() {
	if command -v sqlite3 >/dev/null; then
		sqlite3 "$1" "$2"
	else
		python3 - "$1" "$2" <<-'EOF'
			import sqlite3, sys
			db = sqlite3.connect(sys.argv[1])
			for row in db.execute(sys.argv[2]):
			    print("|".join("" if v is None else str(v) for v in row))
		EOF
	fi
}

# sd_hex FILE: the bytes of FILE as one line of upper-case hex (as sqlite's hex()).
sd_hex() {
	od -An -v -tx1 "$1" | tr -d ' \n' | tr 'a-f' 'A-F'
}

# sd_json EXPR [ARGS...]: runs `salvage status --json ARGS...` and prints the
# python expression EXPR, in which d is the parsed document.
sd_json() {
	local expr=$1 doc
	shift
	doc=$("$SALVAGE" status --json "$@") || fail "status --json failed"
	printf '%s' "$doc" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$expr" || fail "cannot evaluate $expr on: $doc"
}

# sd_total FIELD: the status --json total for FIELD.
sd_total() {
	sd_json "d['total']['$1']"
}

# sd_rows: the number of seed rows status knows.
sd_rows() {
	sd_json "len(d['rows'])"
}

# sd_expect_nothing_loaded: the queue holds no row and no sheet.
sd_expect_nothing_loaded() {
	sv status
	expect_status 0
	expect_in "no seed rows yet" "$out"
	expect_eq "$(sd_rows)" 0
	expect_eq "$(sd_total queued)" 0
	expect_eq "$(sd_sql queue.db 'select count(*) from sheets')" 0
}

# sd_expect_refused N FILE...: the last seed refused the sheet(s) with N
# problems and loaded nothing (status and exit code).
sd_expect_refused() {
	local n=$1 word=problems sheets=sheet
	shift
	[ "$n" -ne 1 ] || word=problem
	[ $# -eq 1 ] || sheets=sheets
	expect_status 2
	expect_eq "$out" ""
	expect_in "salvage: $n $word in the $sheets: $SD_REFUSED" "$err"
}

# sd_problem_lines: how many FILE:LINE:COLUMN lines the last stderr holds.
sd_problem_lines() {
	printf '%s\n' "$err" | grep -cE '^[^:]+:[0-9]+:[0-9]+: ' || true
}

# sd_three: writes s.csv, three rows with priority and notes.
sd_three() {
	cat >s.csv <<-'EOF'
		url,priority,notes
		https://a.gov/,1,first
		https://b.gov/data/,2,second
		https://c.gov/,3,third
	EOF
}

# --- 1. sheets that load ---

test_excel_sheet_loads() {
	sd_archive
	# As Excel saves "CSV UTF-8": a byte-order mark, CRLF line ends, quoted
	# cells holding commas, doubled quotes and line breaks (Alt+Enter: LF),
	# a quoted URL and one with spaces around it.
	{
		printf '\xef\xbb\xbfurl,scope,priority,title,notes\r\n'
		printf 'https://a.gov/data,prefix,5,"Agency A, data","line one\nline two, with comma"\r\n'
		printf '"https://b.gov/",host,3,B,"say ""hi"""\r\n'
		printf '  https://c.gov/x  ,page,,C,\r\n'
	} >excel.csv
	sv seed excel.csv
	expect_status 0
	expect_eq "$out" "excel.csv: 3 rows: 3 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$err" ""
	expect_eq "$(sd_total queued)" 3
	expect_eq "$(sd_json "[(r['sheet'], r['line'], r['url']) for r in d['rows']]")" \
		"[('excel', 2, 'https://a.gov/data'), ('excel', 4, 'https://b.gov/'), ('excel', 5, 'https://c.gov/x')]"
	# The BOM is not part of the first column's name, and the quoted cells
	# come back whole, without their quotes and without the CR of the line end.
	expect_eq "$(sd_json "d['rows'][0]['meta']['title']")" "Agency A, data"
	expect_eq "$(sd_json "d['rows'][0]['meta']['notes'] == 'line one\nline two, with comma'")" True
	expect_eq "$(sd_json "d['rows'][1]['meta']")" "{'title': 'B', 'notes': 'say \"hi\"'}"
	expect_eq "$(sd_json "d['rows'][2]['meta']")" "{'title': 'C'}"
	expect_eq "$(sd_json "any('\\r' in v for r in d['rows'] for v in r['meta'].values())")" False
	sv status
	expect_status 0
	expect_in "excel:2 " "$out"
	expect_in "title: Agency A, data" "$out"
	expect_in 'notes: say "hi"' "$out"
}

test_example_agencies_sheet_loads() {
	sd_archive
	[ -f "$AGENCIES" ] || fail "no example sheet at $AGENCIES"
	sv seed "$AGENCIES"
	expect_status 0
	expect_eq "$out" "$AGENCIES: 14 rows: 14 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$err" ""
	expect_eq "$(sd_rows)" 14
	expect_eq "$(sd_total queued)" 14
	expect_eq "$(sd_json "sorted(set(r['sheet'] for r in d['rows']))")" "['agencies']"
	expect_eq "$(sd_json "d['rows'][0]['url']")" "https://www.epa.gov/climate-indicators"
	expect_eq "$(sd_json "d['rows'][0]['meta']['agency']")" "Environmental Protection Agency"
	expect_eq "$(sd_json "d['rows'][-1]['line']")" 15
	# The doubled quotes of the first row's notes come back as one.
	expect_in 'keep the "Download the data" files' "$(sd_json "d['rows'][0]['meta']['notes']")"
	sv status
	expect_status 0
	expect_in "agencies:15" "$out"
	expect_in "agency: Federal Emergency Management Agency · title: Flood Maps" "$out"
}

test_header_only_sheet_loads_nothing() {
	sd_archive
	printf 'url,notes\n' >h.csv
	sv seed h.csv
	expect_status 0
	expect_eq "$out" "h.csv: 0 rows: 0 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$(sd_rows)" 0
}

test_seed_from_subfolder_and_with_dash_C() {
	sd_archive
	mkdir -p logs/deep
	printf 'url\nhttps://a.gov/\n' >logs/deep/one.csv
	printf 'url\nhttps://b.gov/\n' >two.csv
	(
		cd logs/deep || fail "cannot enter logs/deep"
		sv seed one.csv
		expect_status 0
		expect_eq "$out" "one.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	)
	cd ..
	# -C DIR: as if started in DIR, so the sheet's name is relative to it.
	sv -C a seed two.csv
	expect_status 0
	expect_eq "$out" "two.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	sv -C a status --json
	expect_status 0
	expect_eq "$(cd a && sd_json "[r['sheet'] for r in d['rows']]")" "['one', 'two']"
	[ ! -e queue.db ] || fail "queue.db created outside the archive"
}

# --- 2. loading again ---

test_reseed_is_idempotent() {
	sd_archive
	sd_three
	sv seed s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 3 rows: 3 new, 0 updated, 0 unchanged, 0 removed"
	before=$(sd_json "d")
	sv seed s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 3 rows: 0 new, 0 updated, 3 unchanged, 0 removed"
	expect_eq "$(sd_total queued)" 3
	expect_eq "$(sd_sql queue.db 'select count(*) from urls')" 3
	expect_eq "$(sd_json "d")" "$before"
	# The same sheet once more in one command changes nothing either.
	sv seed s.csv s.csv
	expect_status 0
	expect_eq "$(sd_total queued)" 3
	expect_eq "$(sd_json "d")" "$before"
}

test_edited_row_is_updated() {
	sd_archive
	sd_three
	sv seed s.csv
	expect_status 0
	# A new priority for one row.
	sed -i 's|^https://b.gov/data/,2,|https://b.gov/data/,9,|' s.csv
	sv seed s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 3 rows: 0 new, 1 updated, 2 unchanged, 0 removed"
	expect_eq "$(sd_sql queue.db "select priority from seeds where url='https://b.gov/data/'")" 9
	# New notes for another: updated, and status shows them.
	sed -i 's|,third$|,third (edited)|' s.csv
	sv seed s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 3 rows: 0 new, 1 updated, 2 unchanged, 0 removed"
	expect_eq "$(sd_json "d['rows'][2]['meta']['notes']")" "third (edited)"
	sv status
	expect_in "notes: third (edited)" "$out"
	# Updating a row does not queue its URL a second time.
	expect_eq "$(sd_total queued)" 3
	expect_eq "$(sd_sql queue.db 'select count(*) from urls')" 3
	# A new row is new; the others stay unchanged.
	printf 'https://d.gov/,4,fourth\n' >>s.csv
	sv seed s.csv
	expect_eq "$out" "s.csv: 4 rows: 1 new, 0 updated, 3 unchanged, 0 removed"
	expect_eq "$(sd_total queued)" 4
}

test_removed_row_is_paused_and_restored() {
	sd_archive
	sd_three
	cp s.csv full.csv
	sv seed s.csv
	expect_status 0
	grep -v '^https://b.gov/' full.csv >s.csv
	sv seed s.csv
	expect_status 0
	# c.gov moved up a line: that counts as an update.
	expect_eq "$out" "s.csv: 2 rows: 0 new, 1 updated, 1 unchanged, 1 removed"
	row="[r for r in d['rows'] if r['url'] == 'https://b.gov/data/'][0]"
	expect_eq "$(sd_json "(${row}['active'], ${row}['queued'], ${row}['paused'])")" "(False, 0, 1)"
	expect_eq "$(sd_total queued)" 2
	expect_eq "$(sd_total paused)" 1
	expect_eq "$(sd_json "[r['active'] for r in d['rows'] if r['url'] != 'https://b.gov/data/']")" "[True, True]"
	sv status
	expect_status 0
	expect_in "paused" "$out"
	# Put back: updated (not new), queued again, nothing paused.
	cp full.csv s.csv
	sv seed s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 3 rows: 0 new, 2 updated, 1 unchanged, 0 removed"
	expect_eq "$(sd_json "(${row}['active'], ${row}['queued'], ${row}['paused'])")" "(True, 1, 0)"
	expect_eq "$(sd_total queued)" 3
	expect_eq "$(sd_total paused)" 0
	expect_eq "$(sd_sql queue.db 'select count(*) from urls')" 3
}

test_emptied_sheet_pauses_every_row() {
	sd_archive
	sd_three
	sv seed s.csv
	expect_status 0
	printf 'url,priority,notes\n' >s.csv
	sv seed s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 0 rows: 0 new, 0 updated, 0 unchanged, 3 removed"
	expect_eq "$(sd_total queued)" 0
	expect_eq "$(sd_total paused)" 3
	expect_eq "$(sd_json "[r['active'] for r in d['rows']]")" "[False, False, False]"
}

test_sheets_are_told_apart_by_name() {
	sd_archive
	# The same URL in two sheets is two rows.
	printf 'url,notes\nhttps://a.gov/,from one\n' >one.csv
	printf 'url,notes\nhttps://a.gov/,from two\n' >two.csv
	sv seed one.csv two.csv
	expect_status 0
	expect_eq "$out" "one.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed
two.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$(sd_json "[(r['sheet'], r['meta']['notes']) for r in d['rows']]")" \
		"[('one', 'from one'), ('two', 'from two')]"
	# Loading one sheet never removes the rows of another.
	sv seed one.csv
	expect_eq "$out" "one.csv: 1 row: 0 new, 0 updated, 1 unchanged, 0 removed"
	expect_eq "$(sd_json "[r['active'] for r in d['rows']]")" "[True, True]"
}

# --- 3. bad sheets: FILE:LINE:COLUMN, nothing loaded ---

test_missing_url_column() {
	sd_archive
	printf 'link,scope\nhttps://a.gov/,page\n' >nourl.csv
	sv seed nourl.csv
	sd_expect_refused 1 nourl.csv
	expect_in "nourl.csv:1:1: no 'url' column in the header" "$err"
	sd_expect_nothing_loaded
	# The same with a byte-order mark and CRLF: still line 1, column 1.
	printf '\xef\xbb\xbflink,depth\r\nhttps://a.gov/,1\r\n' >bom.csv
	sv seed bom.csv
	sd_expect_refused 1 bom.csv
	expect_in "bom.csv:1:1: no 'url' column in the header" "$err"
	sd_expect_nothing_loaded
}

test_unknown_scope() {
	sd_archive
	printf 'url,scope\nhttps://a.gov/,page\nhttps://b.gov/,wide\n' >s.csv
	sv seed s.csv
	sd_expect_refused 1 s.csv
	expect_in "s.csv:3:16: unknown scope 'wide' (page, prefix, host or domain)" "$err"
	expect_eq "$(sd_problem_lines)" 1
	sd_expect_nothing_loaded
}

test_non_numeric_depth() {
	sd_archive
	printf 'url,scope,depth\nhttps://a.gov/,page,1\nhttps://b.gov/,page,two\nhttps://c.gov/,page,-1\n' >s.csv
	sv seed s.csv
	sd_expect_refused 2 s.csv
	expect_in "s.csv:3:21: depth 'two' is not a whole number" "$err"
	expect_in "s.csv:4:21: depth '-1' is negative" "$err"
	expect_eq "$(sd_problem_lines)" 2
	sd_expect_nothing_loaded
}

test_non_http_url() {
	sd_archive
	printf 'depth,url\n1,https://a.gov/\n1,ftp://b.gov/x\n2,file:///etc/passwd\n3,not a url\n4,https://\n5,\n' >s.csv
	sv seed s.csv
	sd_expect_refused 5 s.csv
	expect_in "s.csv:3:3: 'ftp://b.gov/x' is not an http or https URL" "$err"
	expect_in "s.csv:4:3: 'file:///etc/passwd' is not an http or https URL" "$err"
	expect_in "s.csv:5:3: 'not a url' is not an http or https URL" "$err"
	expect_in "s.csv:6:3: 'https://' has no host" "$err"
	expect_in "s.csv:7:3: the url is empty" "$err"
	sd_expect_nothing_loaded
}

test_unterminated_quote() {
	sd_archive
	printf 'url,notes\nhttps://a.gov/,fine\nhttps://b.gov/,"never closed\nhttps://c.gov/,more\n' >s.csv
	sv seed s.csv
	sd_expect_refused 1 s.csv
	# Where the open quote is: line 3, column 16.
	expect_in "s.csv:3:16: unterminated quoted field" "$err"
	sd_expect_nothing_loaded
	# At the start of a line, column 1.
	printf 'url\n"https://a.gov/\n' >t.csv
	sv seed t.csv
	sd_expect_refused 1 t.csv
	expect_in "t.csv:2:1: unterminated quoted field" "$err"
	sd_expect_nothing_loaded
}

test_other_bad_values_all_reported() {
	sd_archive
	{
		printf 'url,robots,delay,datasets,priority,max_urls,max_bytes\n'
		printf 'https://a.gov/,maybe,fast,perhaps,high,-3,lots\n'
		printf 'https://b.gov/,ignore,0.5,no,-2,100,10M\n'
	} >s.csv
	sv seed s.csv
	sd_expect_refused 6 s.csv
	expect_in "s.csv:2:16: robots 'maybe' is not respect or ignore" "$err"
	expect_in "s.csv:2:22: delay 'fast' is not a number of seconds" "$err"
	expect_in "s.csv:2:27: datasets 'perhaps' is not yes or no" "$err"
	expect_in "s.csv:2:35: priority 'high' is not a whole number" "$err"
	expect_in "s.csv:2:40: max_urls '-3' must be at least 1" "$err"
	expect_in "s.csv:2:43: max_bytes 'lots' is not a size" "$err"
	# Problems come in the order of the sheet.
	expect_eq "$(printf '%s\n' "$err" | grep -oE '^s\.csv:[0-9]+:[0-9]+' | tr '\n' ' ')" \
		"s.csv:2:16 s.csv:2:22 s.csv:2:27 s.csv:2:35 s.csv:2:40 s.csv:2:43 "
	sd_expect_nothing_loaded
}

test_header_and_row_shape_problems() {
	sd_archive
	printf 'url,notes,url\nhttps://a.gov/,x,https://b.gov/\n' >dup.csv
	sv seed dup.csv
	sd_expect_refused 1 dup.csv
	expect_in "dup.csv:1:11: duplicate column 'url' in the header" "$err"
	sd_expect_nothing_loaded
	printf 'url,notes\nhttps://a.gov/,x,extra\n' >ragged.csv
	sv seed ragged.csv
	sd_expect_refused 1 ragged.csv
	expect_in "ragged.csv:2:18: 'extra' is past the last column of the header (2 columns)" "$err"
	sd_expect_nothing_loaded
	: >empty.csv
	sv seed empty.csv
	sd_expect_refused 1 empty.csv
	expect_in "empty.csv:1:1: the sheet is empty (no header row)" "$err"
	sd_expect_nothing_loaded
}

test_column_counts_characters_and_lines_count_line_breaks() {
	sd_archive
	# Two-byte characters before the bad cell count as one column each; a
	# line break inside a quoted cell moves the following cells to the next
	# line; the BOM and the CRs take no column.
	{
		printf '\xef\xbb\xbfnotes,url,depth\r\n'
		printf 'caf\xc3\xa9 \xc3\xbc,https://a.gov/\xc3\xa9,x\r\n'
		printf '"two\r\nlines, here",https://b.gov/,y\r\n'
	} >s.csv
	sv seed s.csv
	sd_expect_refused 2 s.csv
	expect_in "s.csv:2:24: depth 'x' is not a whole number" "$err"
	expect_in "s.csv:4:29: depth 'y' is not a whole number" "$err"
	sd_expect_nothing_loaded
}

test_latin1_sheet_is_refused() {
	sd_archive
	# Excel's plain "CSV" is Windows-1252, not UTF-8.
	printf 'url,notes\r\nhttps://a.gov/,Caf\xe9\r\n' >s.csv
	sv seed s.csv
	sd_expect_refused 1 s.csv
	expect_in "s.csv:2:19: invalid UTF-8 byte 0xe9" "$err"
	sd_expect_nothing_loaded
}

test_bad_sheet_with_good_sheet_loads_neither() {
	sd_archive
	printf 'url,notes\nhttps://a.gov/,good\n' >good.csv
	printf 'url,depth\nhttps://b.gov/,1\nhttps://c.gov/,x\n' >bad.csv
	sv seed good.csv bad.csv
	sd_expect_refused 1 good.csv bad.csv
	expect_in "bad.csv:3:16: depth 'x' is not a whole number" "$err"
	sd_expect_nothing_loaded
	# The other order too.
	sv seed bad.csv good.csv
	sd_expect_refused 1 bad.csv good.csv
	sd_expect_nothing_loaded
	# And a sheet already loaded keeps its rows as they were when a later
	# edit of it goes wrong.
	sv seed good.csv
	expect_status 0
	raw=$(sd_sql queue.db "select hex(raw) from sheets where name='good'")
	printf 'https://d.gov/,also good\nftp://e.gov/,bad\n' >>good.csv
	sv seed good.csv
	sd_expect_refused 1 good.csv
	expect_in "good.csv:4:1: 'ftp://e.gov/' is not an http or https URL" "$err"
	expect_eq "$(sd_json "[r['url'] for r in d['rows']]")" "['https://a.gov/']"
	expect_eq "$(sd_sql queue.db "select hex(raw) from sheets where name='good'")" "$raw"
}

test_skip_bad_rows_loads_the_good_rows() {
	sd_archive
	printf 'url,scope,depth\nhttps://a.gov/,wide,\nhttps://b.gov/,page,two\nftp://c.gov/x,page,1\nhttps://ok.gov/,page,1\n' >s.csv
	printf 'url\nhttps://other.gov/\n' >t.csv
	sv seed --skip-bad-rows s.csv t.csv
	expect_status 0
	expect_eq "$out" "s.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed
t.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	expect_in "s.csv:2:16: unknown scope 'wide'" "$err"
	expect_in "s.csv:3:21: depth 'two' is not a whole number" "$err"
	expect_in "s.csv:4:1: 'ftp://c.gov/x' is not an http or https URL" "$err"
	expect_in "3 problems: loading the good rows only (--skip-bad-rows)" "$err"
	expect_eq "$(sd_json "[(r['sheet'], r['line'], r['url']) for r in d['rows']]")" \
		"[('s', 5, 'https://ok.gov/'), ('t', 2, 'https://other.gov/')]"
	expect_eq "$(sd_total queued)" 2
	# Loading again with the same bad rows changes nothing.
	sv seed --skip-bad-rows s.csv t.csv
	expect_status 0
	expect_eq "$out" "s.csv: 1 row: 0 new, 0 updated, 1 unchanged, 0 removed
t.csv: 1 row: 0 new, 0 updated, 1 unchanged, 0 removed"
}

test_skip_bad_rows_with_unreadable_sheet() {
	sd_archive
	printf 'url\nhttps://g.gov/\n' >g.csv
	printf 'url,notes\nhttps://a.gov/,"open\n' >uq.csv
	sv seed --skip-bad-rows g.csv uq.csv
	expect_status 0
	expect_eq "$out" "g.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	expect_in "uq.csv:2:16: unterminated quoted field" "$err"
	expect_eq "$(sd_json "[r['url'] for r in d['rows']]")" "['https://g.gov/']"
	# Only unreadable sheets: nothing to load, exit 2.
	sv seed --skip-bad-rows uq.csv
	expect_status 2
	expect_in "uq.csv:2:16: unterminated quoted field" "$err"
	expect_in "nothing loaded" "$err"
}

test_more_than_50_problems() {
	sd_archive
	{
		printf 'url,depth\n'
		for i in $(seq 1 60); do printf 'https://h%d.gov/,x\n' "$i"; done
	} >many.csv
	sv seed many.csv
	sd_expect_refused 60 many.csv
	expect_eq "$(sd_problem_lines)" 50
	# The first 50, in order: lines 2 to 51.
	expect_eq "$(printf '%s\n' "$err" | head -n 1)" "many.csv:2:17: depth 'x' is not a whole number"
	expect_eq "$(printf '%s\n' "$err" | sed -n 50p)" "many.csv:51:18: depth 'x' is not a whole number"
	expect_in "... and 10 more problems" "$err"
	expect_eq "$(printf '%s\n' "$err" | wc -l)" 52
	sd_expect_nothing_loaded
	# The count covers all the sheets given.
	{
		printf 'url,depth\n'
		for i in $(seq 1 5); do printf 'https://k%d.gov/,y\n' "$i"; done
	} >more.csv
	sv seed many.csv more.csv
	sd_expect_refused 65 many.csv more.csv
	expect_eq "$(sd_problem_lines)" 50
	expect_in "... and 15 more problems" "$err"
	sd_expect_nothing_loaded
}

test_normalised_duplicates() {
	sd_archive
	printf 'url,notes\nHTTP://Example.GOV:80/a/../b#frag,x\nhttp://example.gov/b,y\n' >dup.csv
	sv seed dup.csv
	sd_expect_refused 1 dup.csv
	expect_in "dup.csv:3:1: url is the same as on line 2 once normalised" "$err"
	sd_expect_nothing_loaded
	# The url cell's column, wherever the url column is.
	printf 'notes,url\n"x, y",https://a.gov/\nz,HTTPS://A.gov:443/\n' >d2.csv
	sv seed d2.csv
	sd_expect_refused 1 d2.csv
	expect_in "d2.csv:3:3: url is the same as on line 2 once normalised" "$err"
	sd_expect_nothing_loaded
	# Skipped: the first one loads.
	sv seed --skip-bad-rows d2.csv
	expect_status 0
	expect_eq "$out" "d2.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	expect_eq "$(sd_json "[(r['line'], r['url'], r['meta']['notes']) for r in d['rows']]")" \
		"[(2, 'https://a.gov/', 'x, y')]"
}

test_urls_are_normalised() {
	sd_archive
	printf 'url\nHTTP://Example.GOV:80/a/../b#frag\nhttps://EXAMPLE.gov:443/./c/%%7e/\nhttps://ex.gov\nhttp://ex.gov:8080/Case/Kept?b=1&a=2\n' >n.csv
	sv seed n.csv
	expect_status 0
	expect_eq "$(sd_json "[r['url'] for r in d['rows']]")" \
		"['http://example.gov/b', 'https://example.gov/c/~/', 'https://ex.gov/', 'http://ex.gov:8080/Case/Kept?b=1&a=2']"
	# Written another way, the same URLs are the same rows.
	printf 'url\nhttp://example.gov/b\nhttps://example.gov/c/~/\nhttps://ex.gov/\nhttp://EX.gov:8080/Case/Kept?b=1&a=2\n' >n.csv
	sv seed n.csv
	expect_status 0
	expect_eq "$out" "n.csv: 4 rows: 0 new, 0 updated, 4 unchanged, 0 removed"
}

# --- 4. status ---

test_status_with_no_rows() {
	sd_archive
	sv status
	expect_status 0
	expect_eq "$out" "no seed rows yet: load a sheet with 'salvage seed SHEET.csv'"
	sv status --json
	expect_status 0
	expect_eq "$(sd_json "(d['rows'], d['total'])")" \
		"([], {'queued': 0, 'leased': 0, 'done': 0, 'failed': 0, 'skipped': 0, 'paused': 0, 'bytes': 0, 'datasets': 0, 'rescued': 0})"
}

test_metadata_in_status_and_json() {
	sd_archive
	cat >s.csv <<-'EOF'
		url,scope,depth,agency,title,nominated_by,notes
		https://www.epa.gov/climate-indicators,prefix,,Environmental Protection Agency,Climate Change Indicators,J. Rivera,"Keep the ""Download the data"" files"
		https://data.ny.gov/,host,2,New York State,Open NY,,
	EOF
	sv seed s.csv
	expect_status 0
	sv status
	expect_status 0
	# Header, then each row's line with its metadata indented beneath, then TOTAL.
	expect_eq "$(printf '%s\n' "$out" | head -n 1 | tr -s ' ')" "ROW QUEUED LEASED DONE FAILED BYTES DATASETS URL"
	expect_eq "$(printf '%s\n' "$out" | sed -n 2p | tr -s ' ')" "s:2 1 0 0 0 0 B 0 https://www.epa.gov/climate-indicators"
	expect_eq "$(printf '%s\n' "$out" | sed -n 3p)" \
		'      agency: Environmental Protection Agency · title: Climate Change Indicators · nominated_by: J. Rivera · notes: Keep the "Download the data" files'
	expect_eq "$(printf '%s\n' "$out" | sed -n 4p | tr -s ' ')" "s:3 1 0 0 0 0 B 0 https://data.ny.gov/"
	# Empty metadata cells are left out.
	expect_eq "$(printf '%s\n' "$out" | sed -n 5p)" "      agency: New York State · title: Open NY"
	expect_eq "$(printf '%s\n' "$out" | sed -n 6p | tr -s ' ')" "TOTAL 2 0 0 0 0 B 0 "
	# The crawl settings are not metadata.
	expect_eq "$(sd_json "d['rows'][0]['meta']")" \
		"{'agency': 'Environmental Protection Agency', 'title': 'Climate Change Indicators', 'nominated_by': 'J. Rivera', 'notes': 'Keep the \"Download the data\" files'}"
	expect_eq "$(sd_json "d['rows'][1]['meta']")" "{'agency': 'New York State', 'title': 'Open NY'}"
	expect_eq "$(sd_json "sorted(d['rows'][0].keys())")" \
		"['active', 'bytes', 'datasets', 'done', 'failed', 'landing', 'leased', 'line', 'meta', 'paused', 'queued', 'rescued', 'seed', 'sheet', 'skipped', 'url']"
}

test_status_multiline_metadata_stays_on_one_line() {
	sd_archive
	# A notes cell typed with Alt+Enter in Excel, saved with CRLF.
	printf 'url,notes\r\nhttps://a.gov/,"line one\r\nline two"\r\nhttps://b.gov/,plain\r\n' >s.csv
	sv seed s.csv
	expect_status 0
	sv status
	expect_status 0
	# Header, two lines per row, TOTAL: the cell's line break must not
	# start a new line of the table, nor a CR go to the terminal.
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 6 ] ||
		fail "expected 6 lines (header, 2 per row, TOTAL), got: $(printf '%s\n' "$out" | cat -A)"
	case "$out" in *$'\r'*) fail "status prints a CR: $(printf '%s' "$out" | od -c | head -n 20)" ;; esac
	expect_eq "$(printf '%s\n' "$out" | sed -n 4p | tr -s ' ' | cut -d' ' -f1)" "s:4"
	# The JSON keeps the cell as it was.
	expect_eq "$(sd_json "d['rows'][0]['meta']['notes'] in ('line one\r\nline two', 'line one\nline two')")" True
}

test_json_totals_equal_sum_of_rows() {
	sd_archive
	sv seed "$AGENCIES"
	expect_status 0
	sd_three
	sv seed s.csv
	expect_status 0
	grep -v '^https://a.gov/' s.csv >s2 && mv s2 s.csv
	sv seed s.csv
	expect_status 0
	expect_eq "$(sd_rows)" 17
	for f in queued leased 'done' failed paused bytes datasets; do
		expect_eq "$(sd_json "sum(r['$f'] for r in d['rows']) == d['total']['$f']")" True
	done
	expect_eq "$(sd_total queued)" 16
	expect_eq "$(sd_total paused)" 1
	# The text TOTAL line says the same.
	sv status
	expect_eq "$(printf '%s\n' "$out" | grep '^TOTAL' | tr -s ' ' | cut -d' ' -f2)" 16
}

# --- 5. where the sheet and the rows go ---

test_raw_sheet_kept_byte_for_byte() {
	sd_archive
	{
		printf '\xef\xbb\xbfurl,notes , Title\r\n'
		printf '"https://a.gov/",  "a\nb"  \r\n'
		printf 'https://b.gov/,"caf\xc3\xa9, ""q"""\r\n'
		printf '\r\n'
		printf 'https://c.gov/,no newline at the end'
	} >raw.csv
	sv seed raw.csv
	expect_status 0
	expect_eq "$(sd_sql queue.db "select hex(raw) from sheets where name='raw'")" "$(sd_hex raw.csv)"
	expect_eq "$(sd_sql queue.db "select length(raw) from sheets where name='raw'")" "$(wc -c <raw.csv)"
	expect_eq "$(sd_sql queue.db "select typeof(raw) from sheets where name='raw'")" blob
	stamp=$(sd_sql queue.db "select loaded_ms from sheets where name='raw'")
	[ "$stamp" -gt 1600000000000 ] || fail "loaded_ms '$stamp' is not a time in ms"
	# Loaded again after an edit: the new bytes replace the old.
	printf '\r\nhttps://d.gov/,x\r\n' >>raw.csv
	sv seed raw.csv
	expect_status 0
	expect_eq "$(sd_sql queue.db "select hex(raw) from sheets where name='raw'")" "$(sd_hex raw.csv)"
	expect_eq "$(sd_sql queue.db "select count(*) from sheets")" 1
}

test_queue_option_loads_elsewhere() {
	sd_archive
	printf 'url,notes\nhttps://a.gov/,n\n' >s.csv
	sv seed --queue "sqlite:$PWD/../other.db" s.csv
	expect_status 0
	# A shared queue keeps this archive's politeness for its workers, and says so once.
	expect_eq "$out" "every worker of this queue keeps crawl.hostConnections 4 and crawl.delayMs 0
s.csv: 1 row: 1 new, 0 updated, 0 unchanged, 0 removed"
	[ -f ../other.db ] || fail "no ../other.db"
	expect_eq "$(sd_sql ../other.db "select url from seeds")" "https://a.gov/"
	expect_eq "$(sd_sql ../other.db "select hex(raw) from sheets where name='s'")" "$(sd_hex s.csv)"
	# The archive's own queue has no rows.
	sv status
	expect_status 0
	expect_in "no seed rows yet" "$out"
	if [ -f queue.db ]; then
		expect_eq "$(sd_sql queue.db 'select count(*) from seeds')" 0
		expect_eq "$(sd_sql queue.db 'select count(*) from sheets')" 0
	fi
	# status --queue reads the other one.
	expect_eq "$(sd_json "[r['url'] for r in d['rows']]" --queue "sqlite:$PWD/../other.db")" "['https://a.gov/']"
	# Loading again into it is idempotent.
	sv seed --queue "sqlite:$PWD/../other.db" s.csv
	expect_status 0
	expect_eq "$out" "s.csv: 1 row: 0 new, 0 updated, 1 unchanged, 0 removed"
}

# --- 6. usage and environment ---

test_seed_missing_file() {
	sd_archive
	printf 'url\nhttps://a.gov/\n' >good.csv
	sv seed good.csv nothere.csv
	expect_status 2
	expect_in "nothere.csv" "$err"
	expect_in "No such file or directory" "$err"
	expect_in "nothing loaded" "$err"
	sd_expect_nothing_loaded
	[ ! -e nothere.csv ] || fail "nothere.csv was created"
	# A folder is not a sheet either.
	mkdir dir.csv
	sv seed dir.csv
	expect_status 2
	expect_in "dir.csv" "$err"
	sd_expect_nothing_loaded
}

test_seed_usage_errors() {
	sd_archive
	sv seed
	expect_status 2
	expect_in "seed needs at least one sheet" "$err"
	printf 'url\nhttps://a.gov/\n' >s.csv
	sv seed --bogus s.csv
	expect_status 2
	expect_in "unknown option '--bogus'" "$err"
	sv seed --queue
	expect_status 2
	sd_expect_nothing_loaded
	sv seed --help
	expect_status 0
	expect_in "usage: salvage seed" "$out$err"
}

test_outside_archive_exit_2() {
	d=$PWD
	while [ "$d" != / ]; do
		[ ! -f "$d/salvage.conf" ] || skip "the test folder is inside an archive ($d)"
		d=$(dirname "$d")
	done
	printf 'url\nhttps://a.gov/\n' >s.csv
	sv seed s.csv
	expect_status 2
	expect_in "not in an archive" "$err"
	sv status
	expect_status 2
	expect_in "not in an archive" "$err"
	sv status --json
	expect_status 2
	expect_in "not in an archive" "$err"
	# Nothing was created as a side effect.
	expect_eq "$(ls -A)" "s.csv"
}

test_two_sheets_with_one_name_are_refused() {
	sd_archive
	mkdir x y
	printf 'url\nhttps://a.gov/\n' >x/s.csv
	printf 'url\nhttps://b.gov/\n' >y/s.csv
	sv seed x/s.csv y/s.csv
	expect_status 2
	expect_in "y/s.csv:1:1: a sheet named 's' is given twice (also x/s.csv): rename one" "$err"
	sv status --json
	expect_in '"rows": []' "$out"
	# The same file twice is one sheet.
	sv seed x/s.csv x/s.csv
	expect_status 0
	expect_in "x/s.csv: 1 row: 1 new" "$out"
}
