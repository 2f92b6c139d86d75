# The test server's own checks (tests/server/selftest.sh), so that a broken
# server is found before the crawl tests that lean on it.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

test_testserver_selftest() {
	TESTSERVER=$BUILD/tests/testserver bash "$REPO/tests/server/selftest.sh" >selftest.log 2>&1 ||
		{ tail -n 30 selftest.log; fail "selftest failed"; }
	tail -n 1 selftest.log | grep -Eq '^[0-9]+ passed, 0 failed$' || { tail -n 30 selftest.log; fail "selftest reported failures"; }
}
