# End-to-end tests of salvage crawl against the test server (tests/server/):
# a normal site, and one hostile behaviour per test (errors, retries, cut
# and short bodies, odd redirects, traps, size caps, stops and kill -9).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_crawl.sh
# Each test_* runs with `set -e` in a fresh empty folder (see lib.sh), starts
# its own server(s) on 127.0.0.1 (free ports) and stops them when it ends.
# Crawls run under `timeout 120`: a hang fails the test instead of the run.
# Retries back off exponentially from ~1-3 s, so the tests where a URL is
# tried 5 times take 20-45 s.
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and cr_crawl

CR_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# --- local helpers (prefixed cr_ so they never clash with lib.sh) ---

cr_pids=()   # servers and background crawls, stopped when the test ends
cr_groups=() # process groups of crawls started with setsid, killed at the end

cr_cleanup() {
	local p
	for p in "${cr_groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
	for p in "${cr_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	testservers_stop
	wait 2>/dev/null || true
}

# cr_server NAME ROOT: starts a test server on a free port serving ROOT, with
# its request log in NAME.log; its port ends up in NAME.port.
cr_server() {
	trap cr_cleanup EXIT
	testserver_start "$1" "$2"
}

# cr_addr NAME: host:port of server NAME.
cr_addr() {
	echo "127.0.0.1:$(cat "$1.port")"
}

# cr_sheet LINE...: writes sheet.csv, one line per argument (the first is the header).
cr_sheet() {
	printf '%s\n' "$@" >sheet.csv
}

# cr_init: creates the archive ./a.
cr_init() {
	sv init a
	expect_status 0
	# A second server, on 127.0.0.1 too (the demo's data host, CR_ALLOW): allowed by name (test_private.sh).
	[ -z "${CR_ALLOW:-}" ] || git config -f a/salvage.conf crawl.allowPrivate "$CR_ALLOW"
}

# cr_crawl ARGS...: runs `salvage crawl ARGS...` in the archive ./a (give the
# sheet as ../sheet.csv) under `timeout 120`; stdout in $out, stderr in $err,
# exit status in $status, with standard input closed. A hang or a crash fails the test.
cr_crawl() {
	set +e
	# No standard input at all, as under cron or CI: descriptor 0 is then free
	# for sockets and files, and closing it by mistake breaks them.
	(cd a && exec timeout -k 10 120 "$SALVAGE" crawl "$@") >crawl.out 2>crawl.err <&-
	status=$?
	set -e
	out=$(cat crawl.out)
	err=$(cat crawl.err)
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		fail "crawl did not end within 120 s; stdout: $out; stderr: $err"
	fi
	[ "$status" -lt 128 ] || fail "crawl died of signal $((status - 128)); stdout: $out; stderr: $err"
	echo "crawl exit $status; stdout: $out"
}

# cr_refresh: ls --json into ls.json, status --json into status.json.
cr_refresh() {
	"$SALVAGE" -C a ls --json >ls.json || fail "salvage ls --json failed"
	"$SALVAGE" -C a status --json >status.json || fail "salvage status --json failed"
}

# cr_py EXPR [ARGS...]: prints the python expression EXPR evaluated over the
# last cr_refresh: caps (the capture records), st (the status document),
# a (the ARGS) and cap(URL) (the last record for URL, {} when none). Strings
# print as they are, anything else as JSON.
cr_py() {
	local expr=$1
	shift
	python3 - "$expr" "$@" <<-'EOF' || fail "cannot evaluate: $expr"
		import json, sys
		caps = [json.loads(l) for l in open("ls.json", encoding="utf-8", errors="replace") if l.strip()]
		st = json.load(open("status.json"))
		a = sys.argv[2:]
		def cap(u):
		    m = [c for c in caps if c.get("url") == u]
		    return m[-1] if m else {}
		def count(u):
		    return sum(1 for c in caps if c.get("url") == u)
		v = eval(sys.argv[1])
		print(v if isinstance(v, str) else json.dumps(v))
	EOF
}

# cr_field URL FIELD: FIELD of the last capture record of URL ("null" when absent).
cr_field() {
	cr_py "cap(a[0]).get(a[1])" "$1" "$2"
}

# cr_gets NAME TARGET: how many GET requests for TARGET server NAME logged.
cr_gets() {
	awk -v t="$2" '$2 == "GET" && $3 == t { n++ } END { print n + 0 }' "$1.log"
}

# cr_get_times NAME TARGET: the arrival times of the GETs for TARGET, one a line.
cr_get_times() {
	awk -v t="$2" '$2 == "GET" && $3 == t { print $1 }' "$1.log"
}

# cr_same_bytes URL FILE: the payload stored for URL is byte for byte FILE.
cr_same_bytes() {
	local hex
	hex=$(cr_field "$1" sha256)
	[ "$hex" != null ] || fail "no payload stored for $1"
	"$SALVAGE" -C a cat "$hex" | cmp -s - "$2" || fail "stored payload of $1 differs from $2"
}

# cr_no_url_twice: no URL has two captures.
cr_no_url_twice() {
	local dup
	dup=$(cr_py "sorted({c['url'] for c in caps if count(c['url']) > 1})")
	expect_eq "$dup" "[]"
}

# cr_no_stray_objects: every object in the store is the payload of a capture
# (an aborted download left nothing behind), and nothing is left in tmp/.
cr_no_stray_objects() {
	local stray
	cr_py "'\n'.join(sorted({c['sha256'] for c in caps if c.get('sha256')}))" >shas
	find a/objects/sha256 -type f -name '*.zst' -printf '%f\n' | sed 's/\.zst$//' | sort >objs
	stray=$(comm -13 shas objs)
	[ -z "$stray" ] || fail "objects no capture refers to: $stray"
	[ -z "$(find a/objects/tmp a/tmp -mindepth 1 -type f)" ] ||
		fail "files left in tmp/: $(find a/objects/tmp a/tmp -mindepth 1 -type f)"
}

# cr_verify: salvage verify finds the archive sound.
cr_verify() {
	sv -C a verify
	expect_status 0
	expect_in "all sound" "$out"
}

# cr_demo_site: starts the two demo servers (site, data) and builds the demo
# site in www/ (tests/server/make_demo_site.sh); the sheet is www/demo.csv.
cr_demo_site() {
	command -v zip >/dev/null || command -v python3 >/dev/null || skip "neither zip nor python3"
	cr_server site www/site
	cr_server data www/data
	SITE=$(cr_addr site)
	DATA=$(cr_addr data)
	CR_ALLOW=$DATA
	bash "$CR_REPO/tests/server/make_demo_site.sh" www "$SITE" "$DATA" >/dev/null ||
		fail "make_demo_site.sh failed"
}

# --- 1. a normal small site ---

# salvage never closes descriptors 0-2, whatever it fetches or skips: a
# transfer that "closed its partial file" as descriptor 0 (zeroed struct) once
# closed standard input, and a socket or object file took its number.
test_crawl_never_closes_standard_descriptors() {
	local guard=$BUILD/tests/stdfd_guard.so
	[ -f "$guard" ] || fail "no $guard (make test builds it)"
	# The guard itself: a close of descriptor 0 is logged.
	LD_PRELOAD=$guard SV_STDFD_GUARD=$PWD/probe.log bash -c 'exec 0<&-' </dev/null
	expect_in "closed 0" "$(cat probe.log)"
	cr_demo_site
	cr_init
	set +e
	(cd a && LD_PRELOAD=$guard SV_STDFD_GUARD=$PWD/../closes.log \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		exec timeout -k 10 120 "$SALVAGE" crawl ../www/demo.csv) >crawl.out 2>crawl.err </dev/null
	status=$?
	set -e
	expect_eq "$status" 0
	expect_in "1 skipped" "$(cat crawl.out)" # a URL skipped for robots.txt, as in the bug
	[ ! -s closes.log ] || fail "salvage closed a standard descriptor: $(cat closes.log)"
}

test_crawl_demo_site() {
	cr_demo_site
	cr_init
	cr_crawl ../www/demo.csv
	expect_status 0
	expect_in "crawl finished" "$out"
	expect_in "1 skipped" "$out"
	crawl_out=$out
	cr_refresh
	cr_no_url_twice

	# Every page, requisite and dataset reachable by links is captured (200)
	# with the bytes of the file served. A folder's index.html may be captured
	# under the folder's URL.
	local f url n=0
	while IFS= read -r f; do
		case "$f" in
		drafts/* | data/draft_budget_lines_2025.csv) continue ;; # robots.txt keeps them out
		archive/* | data/wetlands_survey_2019.csv) continue ;;   # only in the sitemap (own test)
		robots.txt | sitemap.xml) continue ;;
		esac
		url=http://$SITE/$f
		if [ "$(cr_py "count(a[0])" "$url")" = 0 ]; then
			case "$f" in
			index.html) url=http://$SITE/ ;;
			*/index.html) url=http://$SITE/${f%index.html} ;;
			*) url=$(cr_py "next((c['url'] for c in caps if c['url'].split('?')[0] == a[0]), a[0])" "$url") ;;
			esac
		fi
		expect_eq "$(cr_field "$url" status)" 200
		cr_same_bytes "$url" "www/site/$f"
		n=$((n + 1))
	done < <(cd www/site && find . -type f | sed 's|^\./||' | sort)
	echo "$n files of the site captured whole"

	# The datasets, also the one on the second host, are captured as datasets.
	for f in data/air_quality_daily_2021_2023.csv data/river_gauges_hourly_2023.csv \
		data/emissions_inventory_2022.zip data/drought_index_monthly.csv \
		data/pollinator_survey_2023.json data/monitoring_stations.csv reports/annual-report-2023.pdf; do
		expect_eq "$(cr_field "http://$SITE/$f" kind)" dataset
	done
	expect_eq "$(cr_field "http://$SITE/data/water_quality_samples_2023.csv?download=1" kind)" dataset
	url=http://$DATA/exports/tree_canopy_2021.csv
	expect_eq "$(cr_field "$url" status)" 200
	expect_eq "$(cr_field "$url" kind)" dataset
	cr_same_bytes "$url" www/data/exports/tree_canopy_2021.csv
	# ... and nothing else of the second host but its robots.txt.
	expect_eq "$(awk '$2 == "GET" && $3 != "/robots.txt" && $3 != "/exports/tree_canopy_2021.csv"' data.log)" ""

	# robots.txt: fetched once per host; /drafts/ never fetched, recorded as skipped.
	expect_eq "$(cr_gets site /robots.txt)" 1
	expect_eq "$(cr_gets data /robots.txt)" 1
	if grep -q ' GET /drafts/' site.log || grep -q ' GET /data/draft_budget' site.log; then
		fail "robots.txt disallows /drafts/, but: $(grep -E ' GET /(drafts/|data/draft_budget)' site.log)"
	fi
	url=http://$SITE/drafts/2025-budget-proposal.html
	expect_eq "$(cr_field "$url" sha256)" null
	expect_in "robots" "$(cr_field "$url" error)"

	cr_verify

	# status agrees with the captures (robots.txt files are not queue URLs).
	local ndone bytes datasets
	ndone=$(cr_py "sum(1 for c in caps if c.get('sha256') and c.get('kind') != 'robots')")
	bytes=$(cr_py "sum(c['length'] for c in caps if c.get('sha256') and c.get('kind') != 'robots')")
	datasets=$(cr_py "sum(1 for c in caps if c.get('sha256') and c.get('kind') == 'dataset')")
	[ "$datasets" -ge 9 ] || fail "only $datasets datasets captured"
	expect_eq "$(cr_py "st['total']['done']")" "$ndone"
	expect_eq "$(cr_py "st['total']['bytes']")" "$bytes"
	expect_eq "$(cr_py "st['total']['datasets']")" "$datasets"
	expect_eq "$(cr_py "[st['total'][k] for k in ('queued', 'leased', 'failed')]")" "[0, 0, 0]"
	expect_eq "$(cr_py "[sum(r[k] for r in st['rows']) == st['total'][k] for k in ('done', 'bytes', 'datasets')]")" \
		"[true, true, true]"
	expect_in "$ndone URLs done" "$crawl_out"
	# The skipped URL is counted in status --json too.
	[ "$(cr_py "st['total'].get('skipped')")" = 1 ] ||
		fail "status --json should count the URL skipped by robots.txt: total is $(cr_py "st['total']")"
}

# The page listed only in sitemap.xml (named in robots.txt) is crawled, and
# the dataset it links.
test_crawl_demo_site_sitemap() {
	cr_demo_site
	cr_init
	cr_crawl ../www/demo.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	expect_eq "$(cr_field "http://$SITE/sitemap.xml" status)" 200
	url=http://$SITE/archive/2019-wetlands-survey.html
	expect_eq "$(cr_field "$url" status)" 200
	cr_same_bytes "$url" www/site/archive/2019-wetlands-survey.html
	url=http://$SITE/data/wetlands_survey_2019.csv
	expect_eq "$(cr_field "$url" kind)" dataset
	cr_same_bytes "$url" www/site/data/wetlands_survey_2019.csv
}

# --- 2. a 404 is a capture, not a failure ---

test_crawl_404_recorded_not_retried() {
	cr_server s www
	cr_sheet "url,scope" "http://$(cr_addr s)/no-such-page.html,page"
	cr_init
	cr_crawl ../sheet.csv
	# Recorded, not failed; but the row rescued nothing, which is no success.
	expect_status 1
	expect_in "/no-such-page.html): nothing rescued" "$out"
	cr_refresh
	url=http://$(cr_addr s)/no-such-page.html
	expect_eq "$(cr_py "count(a[0])" "$url")" 1
	expect_eq "$(cr_field "$url" status)" 404
	[ "$(cr_field "$url" sha256)" != null ] || fail "the 404 body was not stored"
	expect_eq "$(cr_gets s /no-such-page.html)" 1
	expect_eq "$(cr_py "st['total']['failed']")" 0
	expect_eq "$(cr_py "st['total']['done'] == sum(1 for c in caps if c.get('sha256') and c.get('kind') != 'robots')")" true
	cr_verify
}

# --- 3. 503 with Retry-After, twice, then 200 ---

# cr_crawl_target TARGET: crawls http://SERVER$TARGET alone (scope page) on
# a new server s, which must end well; sets $url. cr_gaps TARGET: the seconds
# between the requests for TARGET, in order.
cr_crawl_target() {
	cr_server s www
	url=http://$(cr_addr s)$1
	cr_sheet "url,scope" "$url,page"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
}

cr_gaps() {
	cr_get_times s "$1" | awk 'NR > 1 { printf "%.3f ", $1 - prev } { prev = $1 }'
}

test_crawl_503_retry_after_then_success() {
	target='/status/503?retry_after=1&times=2'
	cr_crawl_target "$target"
	expect_eq "$(cr_py "count(a[0])" "$url")" 1
	expect_eq "$(cr_field "$url" status)" 200
	expect_eq "$(cr_field "$url" attempt)" 3
	expect_eq "$(cr_gets s "$target")" 3
	expect_eq "$(awk -v t="$target" '$2 == "GET" && $3 == t { print $4 }' s.log | tr '\n' ' ')" "503 503 200 "
	# Retry-After: 1 is honoured: the requests are at least ~1 s apart.
	gaps=$(cr_gaps "$target")
	echo "gaps between the requests: $gaps"
	for g in $gaps; do
		awk -v g="$g" 'BEGIN { exit !(g >= 0.95) }' || fail "requests only $g s apart (Retry-After: 1): $gaps"
	done
}

# Retry-After as an HTTP date (as many agency servers and CDNs send it), 6 s
# ahead: the retry waits for that date, longer than salvage's own first
# backoff (at most 3 s), so a gap of 4.5 s or more shows the date was read.
test_crawl_503_retry_after_http_date() {
	local when
	when=$(date -u -d '+6 seconds' '+%a, %d %b %Y %H:%M:%S GMT' | sed 's/ /%20/g; s/,/%2C/g')
	target="/status/503?retry_after=$when&times=1"
	cr_crawl_target "$target"
	expect_eq "$(cr_field "$url" status)" 200
	gaps=$(cr_gaps "$target")
	echo "gap: $gaps"
	[ -n "$gaps" ] || fail "no retry seen"
	awk -v g="$gaps" 'BEGIN { exit !(g >= 4.5) }' || fail "retried after $gaps s, before the Retry-After date"
}

# --- 4. 500 forever: the last answer is kept ---

test_crawl_500_five_attempts_last_kept() {
	cr_server s www
	url=http://$(cr_addr s)/status/500
	cr_sheet "url,scope" "$url,page"
	cr_init
	SECONDS=0
	cr_crawl ../sheet.csv
	echo "crawl took $SECONDS s"
	# A complete response came: the URL is done, with the 500 as its capture;
	# the row rescued nothing, which is no success.
	expect_status 1
	expect_in "/status/500): nothing rescued" "$out"
	cr_refresh
	expect_eq "$(cr_py "count(a[0])" "$url")" 1
	expect_eq "$(cr_field "$url" status)" 500
	expect_eq "$(cr_field "$url" attempt)" 5
	expect_eq "$(cr_gets s /status/500)" 5
	echo "gaps: $(cr_get_times s /status/500 | awk 'NR > 1 { printf "%.1f ", $1 - prev } { prev = $1 }')"
	# Backed off: every gap at least ~1 s.
	cr_get_times s /status/500 | awk 'NR > 1 && $1 - prev < 0.9 { bad = 1 } { prev = $1 } END { exit bad }' ||
		fail "retries less than 1 s apart"
	curl -s "$url" >body
	cr_same_bytes "$url" body
	cr_verify
}

# --- 5. connection cut mid-body, once ---

test_crawl_reset_once_stored_whole() {
	cr_server s www
	head -c 300000 /dev/urandom >www/file.bin
	small="http://$(cr_addr s)/reset/100K/file.bin?once=1"
	# Big enough to be kept in tmp/ and resumed with Range.
	big="http://$(cr_addr s)/reset/5M/big.bin?mb=12&once=1"
	cr_sheet "url,scope" "$small,page" "$big,page"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	expect_eq "$(cr_field "$small" status)" 200
	expect_eq "$(cr_field "$small" length)" 300000
	cr_same_bytes "$small" www/file.bin
	expect_eq "$(cr_field "$big" status)" 200
	expect_eq "$(cr_field "$big" length)" $((12 * 1024 * 1024))
	expect_eq "$(cr_field "$big" truncated)" null
	expect_eq "$(cr_gets s '/reset/100K/file.bin?once=1')" 2
	# The big one was resumed where it was cut, not fetched again from the start.
	grep ' GET /reset/5M/big.bin?mb=12&once=1 206 range=bytes=' s.log ||
		fail "no Range resume of the cut big file: $(grep big.bin s.log)"
	curl -s "http://$(cr_addr s)/big.bin?mb=12" >big.bin
	cr_same_bytes "$big" big.bin
	cr_no_stray_objects
	cr_verify
}

# --- 6. fewer bytes than Content-Length, every time ---

test_crawl_short_body_fails_truncated() {
	cr_server s www
	head -c 300000 /dev/urandom >www/file.bin
	url=http://$(cr_addr s)/short/file.bin
	cr_sheet "url,scope" "$url,page"
	cr_init
	SECONDS=0
	cr_crawl ../sheet.csv
	echo "crawl took $SECONDS s"
	expect_status 1
	expect_in "1 failed" "$out"
	cr_refresh
	expect_eq "$(cr_py "count(a[0])" "$url")" 1
	expect_eq "$(cr_field "$url" truncated)" length
	expect_eq "$(cr_field "$url" sha256)" null
	[ "$(cr_field "$url" error)" != null ] || fail "no error in the record"
	expect_eq "$(cr_gets s /short/file.bin)" 5
	expect_eq "$(cr_py "[st['total']['failed'], st['total']['queued'], st['total']['leased']]")" "[1, 0, 0]"
	# Nothing partial stored: not the body, not any piece of it.
	hex=$(sha256sum <www/file.bin | cut -d' ' -f1)
	[ ! -e "$(object_path a "$hex")" ] || fail "the short body was stored as if complete"
	cr_no_stray_objects
	cr_verify
}

# --- 7. redirects to file: and ftp: ---

test_crawl_redirect_to_other_schemes_not_followed() {
	cr_server s www
	u1="http://$(cr_addr s)/redirect?to=file:///etc/passwd"
	u2="http://$(cr_addr s)/redirect?to=ftp://127.0.0.1/x"
	cr_sheet "url,scope" "$u1,host" "$u2,host"
	cr_init
	cr_crawl ../sheet.csv
	# Recorded, not followed: the rows rescued nothing, which is no success.
	expect_status 1
	expect_in "to=ftp://127.0.0.1/x): nothing rescued: 1 redirect" "$out"
	cr_refresh
	for u in "$u1" "$u2"; do
		expect_eq "$(cr_field "$u" status)" 302
		[ "$(cr_field "$u" error)" != null ] || fail "no note in the record of $u"
		echo "note: $(cr_field "$u" error)"
	done
	expect_eq "$(cr_py "[c['url'] for c in caps if not c['url'].startswith('http://')]")" "[]"
	expect_eq "$(awk '$2 == "GET" && $3 !~ /^\/(robots\.txt|redirect\?|sitemap\.xml)/' s.log)" ""
	if [ -r /etc/passwd ]; then
		hex=$(sha256sum </etc/passwd | cut -d' ' -f1)
		[ ! -e "$(object_path a "$hex")" ] || fail "/etc/passwd was stored"
	fi
	cr_verify
}

# --- 8. redirect loop ---

test_crawl_redirect_loop_ends() {
	cr_server s www
	cr_sheet "url,scope" "http://$(cr_addr s)/loop/0,prefix"
	cr_init
	cr_crawl ../sheet.csv
	# Only redirects: the row rescued nothing, which is no success.
	expect_status 1
	expect_in "/loop/0): nothing rescued: 11 redirects" "$out"
	cr_refresh
	cr_no_url_twice
	n=$(cr_py "sum(1 for c in caps if '/loop/' in c['url'])")
	echo "$n captures of /loop/"
	if [ "$n" -lt 2 ] || [ "$n" -gt 11 ]; then
		fail "$n captures of the loop (want 2..11: 10 hops at most)"
	fi
	expect_eq "$(cr_py "sorted({c['status'] for c in caps if '/loop/' in c['url']})")" "[302]"
	# The redirect targets are queued as pages too.
	kinds=$(cr_py "sorted({repr(c.get('kind')) for c in caps if '/loop/' in c['url']})")
	[ "$kinds" = "[\"'page'\"]" ] || fail "the kinds of the loop's captures are $kinds, not only 'page'"
	last=$(cr_py "max((c for c in caps if '/loop/' in c['url']), key=lambda c: int(c['url'].rsplit('/', 1)[1])).get('error') or ''")
	expect_in "redirect" "$last"
	[ "$(awk '$3 ~ /^\/loop\//' s.log | wc -l)" -le 11 ] || fail "more than 11 requests to /loop/"
}

test_crawl_redirect_chain_followed() {
	cr_server s www
	cr_sheet "url,scope" "http://$(cr_addr s)/redirect-chain/3,prefix"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	for k in 3 2 1; do
		url=http://$(cr_addr s)/redirect-chain/$k
		expect_eq "$(cr_field "$url" status)" 302
		expect_eq "$(cr_field "$url" redirect)" "http://$(cr_addr s)/redirect-chain/$((k - 1))"
	done
	url=http://$(cr_addr s)/redirect-chain/0
	expect_eq "$(cr_field "$url" status)" 200
	# The targets of redirects are pages like the seed.
	for k in 3 2 1 0; do
		url=http://$(cr_addr s)/redirect-chain/$k
		kind=$(cr_py "repr(cap(a[0]).get('kind'))" "$url")
		[ "$kind" = "'page'" ] || fail "$url recorded with kind $kind, not 'page'"
	done
	expect_eq "$(cr_field "$url" via)" "http://$(cr_addr s)/redirect-chain/1"
}

# --- 9. gzip sent unasked ---

test_crawl_gzip_stored_as_sent() {
	cr_server s www
	for i in $(seq 200); do echo "<p>line $i of a page sent gzip-compressed</p>"; done >www/page.html
	url=http://$(cr_addr s)/gzip/page.html
	cr_sheet "url,scope" "$url,page"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	expect_eq "$(cr_field "$url" status)" 200
	expect_eq "$(cr_field "$url" content_encoding)" gzip
	hex=$(cr_field "$url" sha256)
	"$SALVAGE" -C a cat "$hex" >payload
	gzip -dc <payload | cmp -s - www/page.html || fail "the payload does not gunzip to the page"
	curl -s "$url" | cmp -s - payload || fail "the payload is not the gzip body as sent"
	expect_eq "$(cr_field "$url" length)" "$(stat -c %s payload)"
	cr_verify
}

# The links of a page sent gzip-compressed are found (in the decoded HTML).
test_crawl_gzip_page_links_followed() {
	cr_server s www
	{
		echo '<html><body><a href="/gen/from-gzip.html">next</a>'
		for i in $(seq 100); do echo "<p>filler $i</p>"; done
		echo '</body></html>'
	} >www/page.html
	cr_sheet "url,scope" "http://$(cr_addr s)/gzip/page.html,host"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	[ "$(cr_field "http://$(cr_addr s)/gen/from-gzip.html" status)" = 200 ] ||
		fail "the link of the gzip-encoded page was not followed; requests: $(awk '{ print $3 }' s.log | tr '\n' ' ')"
}

# --- 10. malformed HTML ---

test_crawl_malformed_html() {
	cr_server s www
	cr_sheet "url,scope" "http://$(cr_addr s)/malformed.html,host"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	expect_eq "$(cr_field "http://$(cr_addr s)/malformed.html" length)" 623
	# -4 has a query (&amp; in the page): count the targets by their path.
	n=$(awk '$2 == "GET" { sub(/\?.*/, "", $3); print $3 }' s.log | grep -c '^/gen/malformed-[1-5]\.html$' || true)
	echo "$n of the 5 links found"
	expect_eq "$(cr_gets s /gen/malformed-1.html)" 1 # before any garbage
	[ "$n" -ge 3 ] || fail "only $n of the 5 links of malformed.html fetched"
	expect_eq "$(cr_gets s /gen/in-script.html)" 0 # in a script string: not a link
	cr_verify
}

# --- 11. a 50 MiB page ---

test_crawl_huge_page_bounded_memory() {
	[ -x /usr/bin/time ] || skip "/usr/bin/time not installed"
	cr_server s www
	url="http://$(cr_addr s)/huge.html?mb=50"
	cr_sheet "url,scope" "$url,page"
	cr_init
	set +e
	(cd a && exec /usr/bin/time -f %M -o ../rss timeout -k 10 120 "$SALVAGE" crawl --jobs 1 ../sheet.csv) \
		>crawl.out 2>crawl.err
	status=$?
	set -e
	out=$(cat crawl.out) err=$(cat crawl.err)
	expect_status 0
	cr_refresh
	want=$(curl -sI "$url" | tr -d '\r' | awk 'tolower($1) == "content-length:" { print $2 }')
	expect_eq "$(cr_field "$url" length)" "$want"
	expect_eq "$(cr_field "$url" truncated)" null
	expect_eq "$(cr_field "$url" sha256)" "$(curl -s "$url" | sha256sum | cut -d' ' -f1)"
	kb=$(tail -n 1 rss)
	echo "peak RSS of salvage crawl --jobs 1 for a 50 MiB page: $kb KiB"
	[ "$kb" -lt 307200 ] || fail "crawl used $kb KiB peak memory (limit 300 MiB)"
	cr_verify
}

# --- 12. the calendar trap ---

test_crawl_calendar_trap_max_urls() {
	cr_server s www
	cr_sheet "url,scope,max_urls" "http://$(cr_addr s)/calendar/,host,50"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	n=$(cr_py "sum(1 for c in caps if '/calendar/' in c['url'])")
	echo "$n calendar pages captured"
	[ "$n" -ge 10 ] || fail "only $n calendar pages captured"
	[ "$n" -le 50 ] || fail "$n calendar pages captured (max_urls 50)"
	r=$(cr_py "sum(st['rows'][0][k] for k in ('done', 'failed', 'queued', 'leased'))")
	[ "$r" -le 51 ] || fail "the row has $r URLs (max_urls 50, robots.txt aside)" # robots.txt may count
	[ "$(awk '$2 == "GET" && $3 ~ /^\/calendar\//' s.log | wc -l)" -le 50 ] || fail "more than 50 requests to /calendar/"
}

# --- 13. a body larger than the row's max_bytes ---

test_crawl_max_bytes_cap() {
	cr_server s www
	u1=http://$(cr_addr s)/bigger-than-it-says
	u2=http://$(cr_addr s)/chunked/bigger-than-it-says # no length announced: stopped at the cap
	cr_sheet "url,scope,max_bytes" "$u1,page,1M" "$u2,page,1M"
	cr_init
	SECONDS=0
	cr_crawl ../sheet.csv
	echo "crawl took $SECONDS s"
	[ "$SECONDS" -le 30 ] || fail "the capped downloads took $SECONDS s"
	expect_status 1
	cr_refresh
	for u in "$u1" "$u2"; do
		expect_in "max_bytes" "$(cr_field "$u" error)"
		expect_eq "$(cr_field "$u" sha256)" null
		expect_eq "$(cr_py "count(a[0])" "$u")" 1
	done
	sleep 0.3 # the server logs a cut request when it notices
	expect_eq "$(cr_gets s /bigger-than-it-says)" 1 # a cap is not retried
	expect_eq "$(cr_gets s /chunked/bigger-than-it-says)" 1
	# The announced 5 GiB is refused at once; the chunked body is cut near 1 MiB.
	sent=$(awk '$3 == "/bigger-than-it-says" { sub("bytes=", "", $7); print $7 }' s.log)
	[ "$sent" -lt 1048576 ] || fail "$sent bytes of /bigger-than-it-says sent before the cap"
	sent=$(awk '$3 == "/chunked/bigger-than-it-says" { sub("bytes=", "", $7); print $7 }' s.log)
	[ "$sent" -lt $((4 * 1048576)) ] || fail "$sent bytes of the chunked body sent before the cap"
	expect_eq "$(cr_py "st['total']['failed']")" 2
	cr_no_stray_objects
	cr_verify
}

# --- 14. stop (SIGTERM / Ctrl-C) and resume ---

# cr_slow_site N RATE: N files of 60 kB linked from index.html, each served
# through /slow/RATE/.
cr_slow_site() {
	mkdir -p www
	echo '<html><body>' >www/index.html
	for i in $(seq "$1"); do
		head -c 60000 /dev/urandom >"www/d$i.bin"
		echo "<a href=\"/slow/$2/d$i.bin\">d$i</a>" >>www/index.html
		echo "<a href=\"/gen/page-$i.html\">page $i</a>" >>www/index.html
	done
	echo '</body></html>' >>www/index.html
}

# cr_check_slow_site N: after a complete crawl, each URL has one capture and
# every file was stored whole.
cr_check_slow_site() {
	cr_refresh
	cr_no_url_twice
	for i in $(seq "$1"); do
		url=http://$(cr_addr s)/slow/$2/d$i.bin
		expect_eq "$(cr_field "$url" status)" 200
		cr_same_bytes "$url" "www/d$i.bin"
		expect_eq "$(cr_field "http://$(cr_addr s)/gen/page-$i.html" status)" 200
	done
	expect_eq "$(cr_py "[st['total'][k] for k in ('queued', 'leased', 'failed')]")" "[0, 0, 0]"
	cr_no_stray_objects
	cr_verify
}

test_crawl_sigterm_stops_cleanly_and_resumes() {
	cr_server s www
	cr_slow_site 6 20000 # 3 s each
	cr_sheet "url,scope" "http://$(cr_addr s)/,host"
	cr_init
	(cd a && exec "$SALVAGE" crawl --jobs 2 ../sheet.csv) >stop.out 2>stop.err &
	pid=$!
	cr_pids+=("$pid")
	sleep 2
	kill -0 "$pid" 2>/dev/null || fail "the crawl ended before it could be stopped: $(cat stop.out stop.err)"
	kill -TERM "$pid"
	t0=$(date +%s%N)
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "salvage crawl still running 15 s after SIGTERM"
	fi
	set +e
	wait "$pid"
	status=$?
	set -e
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "stopped $ms ms after SIGTERM, exit $status"
	out=$(cat stop.out) err=$(cat stop.err)
	echo "$out"
	expect_status 0
	[ "$ms" -le 5000 ] || fail "took $ms ms to stop"
	expect_in "run the same command again to resume" "$out"
	cr_refresh
	expect_eq "$(cr_py "st['total']['leased']")" 0
	[ "$(cr_py "st['total']['queued']")" -gt 0 ] || fail "nothing left to resume: the stop came too late"

	cr_crawl ../sheet.csv
	expect_status 0
	expect_in "crawl finished" "$out"
	cr_check_slow_site 6 20000
}

# --- 15. kill -9 of every salvage process, then resume ---

test_crawl_kill_9_then_resume() {
	command -v setsid >/dev/null || skip "setsid not installed"
	cr_server s www
	cr_slow_site 6 20000
	# and, linked first, one download big enough to be kept in tmp/ and resumed
	# by Range (8 MiB at 2 MiB/s: half done when the crawl is killed)
	sed -i 's|<body>|<body><a href="/slow/2M/big.bin?mb=8">big</a>|' www/index.html
	cr_sheet "url,scope" "http://$(cr_addr s)/,host"
	cr_init
	(cd a && exec setsid "$SALVAGE" crawl --jobs 2 ../sheet.csv) >kill.out 2>kill.err &
	pid=$!
	cr_pids+=("$pid")
	sleep 0.2
	pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
	if [ -z "$pgid" ] || [ "$pgid" = "$(ps -o pgid= -p $$ | tr -d ' ')" ]; then
		fail "setsid gave no own process group"
	fi
	cr_groups+=("$pgid")
	sleep 2
	kill -0 "$pid" 2>/dev/null || fail "the crawl ended before it could be killed: $(cat kill.out kill.err)"
	[ "$(pgrep -g "$pgid" | wc -l)" -ge 3 ] || fail "expected a parent and 2 fetchers in group $pgid"
	kill -KILL -- "-$pgid"
	wait "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		[ -z "$(pgrep -g "$pgid")" ] && break
		sleep 0.05
	done
	cr_refresh
	echo "after kill -9: $(cr_py "st['total']")"
	[ "$(cr_py "st['total']['queued'] + st['total']['leased']")" -gt 0 ] || fail "nothing left to resume: the kill came too late"

	SECONDS=0
	cr_crawl ../sheet.csv
	rerun_s=$SECONDS # the checks below take long under load: they are not the re-run
	echo "the re-run took $rerun_s s"
	expect_status 0
	expect_in "crawl finished" "$out"
	cr_check_slow_site 6 20000
	url="http://$(cr_addr s)/slow/2M/big.bin?mb=8"
	curl -s "http://$(cr_addr s)/big.bin?mb=8" >big.bin
	cr_same_bytes "$url" big.bin
	# The half-done big download went on from the part kept in tmp/.
	grep ' GET /slow/2M/big.bin?mb=8 206 range=bytes=' s.log ||
		fail "the big download was not resumed by Range: $(grep big.bin s.log)"
	# Without the lease reclaim, the re-run would wait for the lease expiry (120 s).
	[ "$rerun_s" -lt 60 ] || fail "the re-run took $rerun_s s"
}

# --- 16. one hop out of scope to another host ---

test_crawl_other_host_dataset_only() {
	cr_server a_site www/a
	cr_server b_site www/b
	A=$(cr_addr a_site)
	B=$(cr_addr b_site)
	CR_ALLOW=$B
	mkdir -p www/b/exports
	head -c 20000 /dev/urandom | od -An -tx1 | tr -s ' ' ',' >www/b/exports/table.csv
	echo '<html><body><a href="/deeper.html">deeper</a></body></html>' >www/b/other.html
	echo '<html><body>deeper</body></html>' >www/b/deeper.html
	cat >www/a/index.html <<-EOF
		<html><body>
		<a href="http://$B/exports/table.csv">the table</a>
		<a href="http://$B/other.html">a page elsewhere</a>
		<a href="/local.html">local</a>
		</body></html>
	EOF
	echo '<html><body>local</body></html>' >www/a/local.html
	cr_sheet "url,scope" "http://$A/,host"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	url=http://$B/exports/table.csv
	expect_eq "$(cr_field "$url" status)" 200
	expect_eq "$(cr_field "$url" kind)" dataset
	expect_eq "$(cr_field "$url" via)" "http://$A/"
	cr_same_bytes "$url" www/b/exports/table.csv
	expect_eq "$(cr_field "http://$A/local.html" status)" 200
	# 127.0.0.1:B is another server than the seed's 127.0.0.1:A: its pages are out of scope.
	[ "$(cr_gets b_site /other.html)" = 0 ] ||
		fail "the page on the other server (http://$B/other.html) was followed; its log: $(cat b_site.log)"
	expect_eq "$(cr_gets b_site /deeper.html)" 0
	expect_eq "$(cr_py "[c['url'] for c in caps if c['url'].startswith(a[0]) and not c['url'].endswith(('/robots.txt', '/exports/table.csv'))]" "http://$B/")" "[]"
	cr_verify
}

# One connection per host, as a polite crawl runs: while one fetcher holds
# the host's only slot for a slow download, the other is idle, and it must
# not commit to the ledger (a sync and an fsync'd commit) every time it is.
test_crawl_one_connection_batches_ledger_commits() {
	slow_site www 12 300 16 1300
	cr_server site www
	printf 'url,scope\nhttp://%s/,host\n' "$(cr_addr site)" >sheet.csv
	cr_init
	git config -f a/salvage.conf crawl.hostConnections 1
	cr_crawl --jobs 2 ../sheet.csv
	expect_status 0
	cr_refresh
	cr_no_url_twice
	done_urls=$(cr_py "sum(1 for c in caps if c.get('status') == 200)")
	expect_eq "$done_urls" 29 # index, 12 pages, 16 datasets of about 0.5 s each (robots.txt is a 404 here)
	commits=$(git -C a/ledger.git rev-list --count main)
	echo "$done_urls captures in $commits ledger commits"
	# The sheet, a checkpoint every 5 s of a crawl of about 9 s, the last ones
	# (committing whenever a fetcher idled made 9 to 11 here).
	[ "$commits" -le 6 ] || fail "$commits ledger commits for $done_urls captures: about one per URL"
	# Every capture is in the ledger all the same.
	expect_eq "$(git -C a/ledger.git archive main captures | tar -xO | grep -c '"url"')" "$(wc -l <ls.json)"
}

# --- the capture index, apart from the work queue ---

# A crawl's captures go to the archive's index.db, not to the work queue (which
# may be shared by many machines): queue.db keeps no capture, and the index
# made anew from the ledger lists exactly what the crawl listed, in order.
test_crawl_captures_are_indexed_apart_from_the_queue() {
	cr_demo_site
	cr_sheet "url" "http://$SITE/"
	cr_init
	cr_crawl ../sheet.csv
	expect_status 0
	"$SALVAGE" -C a ls >ls.before || fail "ls failed"
	[ "$(wc -l <ls.before)" -ge 10 ] || fail "too few captures listed: $(cat ls.before)"
	python3 - a/queue.db <<-'PY' || fail "queue.db still keeps captures"
		import sqlite3, sys
		db = sqlite3.connect(sys.argv[1])
		tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
		assert "urls" in tables and "captures" not in tables, tables
	PY
	rm -f a/index.db a/index.db-wal a/index.db-shm
	"$SALVAGE" -C a reindex >reindex.out || fail "reindex failed"
	expect_eq "$(cat reindex.out)" "indexed $(wc -l <ls.before) captures from the ledger"
	"$SALVAGE" -C a ls >ls.after || fail "ls failed"
	# The same captures; within one checkpoint's file the ledger keeps the crawl's order.
	expect_eq "$(sort ls.after)" "$(sort ls.before)"
}
