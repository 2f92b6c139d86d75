# make demo's crawl, as a test: the bundled example site is crawled whole,
# verifies, and a dataset read back by URL is byte for byte what was served.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

test_demo_crawl_rescues_the_site() {
	SALVAGE=$SALVAGE BUILD=$BUILD DEMO_DIR=$PWD/demo bash "$REPO/scripts/demo.sh" >demo.log 2>&1 ||
		{ tail -n 30 demo.log; fail "demo failed"; }
	grep -q "crawl finished" demo.log || fail "no crawl summary"
	grep -q "0 failed; 1 skipped (robots.txt)" demo.log || fail "expected no failure and the /drafts/ page skipped: $(grep 'crawl finished' demo.log)"
	grep -q "all sound" demo.log || fail "verify did not pass"
	cd demo/archive
	# A dataset by its URL, the archived page only the sitemap lists, the second host's dataset.
	site=$(grep -o 'site on http://[0-9.:]*/' ../../demo.log | head -n 1 | sed 's/site on //')
	"$SALVAGE" cat "${site}data/monitoring_stations.csv" | cmp - ../www/site/data/monitoring_stations.csv
	"$SALVAGE" ls >ls.txt
	grep -q "archive/2019-wetlands-survey.html" ls.txt || fail "the sitemap-only page was not captured"
	grep -q "exports/tree_canopy_2021.csv" ls.txt || fail "the second host's dataset was not captured"
	if grep "/drafts/" ls.txt | grep -qv "Z    -  -  "; then fail "a robots-disallowed page was fetched"; fi
	[ "$(awk '{print $NF}' ls.txt | sort | uniq -d | wc -l)" -eq 0 ] || fail "a URL was captured twice"
}
