# End-to-end tests of salvage crawl over https and HTTP/2, through a loopback
# TLS front (tests/servers/nginx.sh: the tests' own CA, a port with a broken
# chain, a self-signed port) proxying to the test server (tests/server/).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_https.sh
# Each test_* runs with `set -e` in a fresh empty folder (see lib.sh).
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and ht_crawl

HT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HT_TESTSERVER=${BUILD:-build/rel}/tests/testserver

# --- local helpers (prefixed ht_ so they never clash with lib.sh) ---

ht_pids=()

ht_cleanup() {
	local p
	[ -f tls/nginx.pid ] && sv_nginx_stop tls
	for p in "${ht_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

# ht_site: the test server on www/ (a page linking another page and a CSV)
# and the TLS front before it; its variables (SV_NGINX_*) are exported.
ht_site() {
	[ -x "$HT_TESTSERVER" ] || skip "testserver not built ($HT_TESTSERVER)"
	mkdir -p www/data
	printf '<a href="p1.html">p1</a> <a href="data/d.csv">d</a>' >www/index.html
	printf 'page one' >www/p1.html
	printf 'n\n1\n2\n3\n' >www/data/d.csv
	printf 'User-agent: *\nAllow: /\n' >www/robots.txt
	"$HT_TESTSERVER" --port 0 --root www --port-file up.port --log up.log 2>up.stderr &
	ht_pids+=($!)
	trap ht_cleanup EXIT
	for _ in $(seq 200); do
		[ -s up.port ] && break
		sleep 0.05
	done
	[ -s up.port ] || fail "test server did not start: $(cat up.stderr)"
	# shellcheck source=tests/servers/nginx.sh
	. "$HT_REPO/tests/servers/nginx.sh"
	SV_SERVER_OWNER_PID=$BASHPID sv_nginx_start tls "$(cat up.port)" >/dev/null ||
		fail "nginx did not start: $(cat tls/error.log 2>/dev/null)"
	GOOD=https://127.0.0.1:$SV_NGINX_PORT
	BROKEN=https://127.0.0.1:$SV_NGINX_BROKEN_PORT
	SELF=https://127.0.0.1:$SV_NGINX_SELFSIGNED_PORT
}

# ht_init DIR [KEY VALUE]...: creates the archive DIR with these salvage.conf keys.
ht_init() {
	local dir=$1
	shift
	sv init "$dir"
	expect_status 0
	while [ $# -ge 2 ]; do
		git config -f "$dir/salvage.conf" --add "$1" "$2"
		shift 2
	done
}

# ht_crawl DIR ARGS...: `salvage crawl ARGS...` in archive DIR under timeout;
# stdout in $out, stderr in $err, exit status in $status.
ht_crawl() {
	crawl_in "$@"
}

# ht_py DIR EXPR [ARGS...]: EXPR over the capture records of archive DIR:
# caps (all), cap(URL) (the last of URL, {} when none), a (the ARGS).
ht_py() {
	local dir=$1 expr=$2
	shift 2
	"$SALVAGE" -C "$dir" ls --json >ls.json || fail "salvage ls --json failed"
	python3 - "$expr" "$@" <<-'EOF' || fail "cannot evaluate: $expr"
		import json, sys
		caps = [json.loads(l) for l in open("ls.json", encoding="utf-8", errors="replace") if l.strip()]
		a = sys.argv[2:]
		def cap(u):
		    m = [c for c in caps if c.get("url") == u]
		    return m[-1] if m else {}
		v = eval(sys.argv[1])
		print(v if isinstance(v, str) else json.dumps(v))
	EOF
}

# --- tests ---

# The real https path on loopback: trusted through crawl.caFile, spoken in HTTP/2.
test_https_ca_file_crawl_over_http2() {
	ht_site
	ht_init a crawl.caFile "$SV_NGINX_CA"
	printf 'url,scope\n%s/index.html,prefix\n' "$GOOD" >sheet.csv
	ht_crawl a ../sheet.csv
	expect_status 0
	expect_in "0 failed" "$out"
	expect_eq "$(ht_py a "cap(a[0]).get('status')" "$GOOD/index.html")" 200
	expect_eq "$(ht_py a "cap(a[0]).get('status')" "$GOOD/p1.html")" 200
	expect_eq "$(ht_py a "cap(a[0]).get('status')" "$GOOD/robots.txt")" 200
	expect_eq "$(ht_py a "cap(a[0]).get('kind')" "$GOOD/data/d.csv")" dataset
	expect_eq "$(ht_py a "cap(a[0]).get('length')" "$GOOD/data/d.csv")" 8
	# The raw header block is HTTP/2's, and its fields were parsed from it.
	expect_in "HTTP/2 200" "$(ht_py a "cap(a[0]).get('headers')" "$GOOD/data/d.csv")"
	expect_in "text/csv" "$(ht_py a "cap(a[0]).get('mime')" "$GOOD/data/d.csv")"
	expect_eq "$(ht_py a "[c['url'] for c in caps if 'tls_unverified' in c]")" "[]"
	hex=$(ht_py a "cap(a[0])['sha256']" "$GOOD/data/d.csv")
	"$SALVAGE" -C a cat "$hex" | cmp -s - www/data/d.csv || fail "stored CSV differs"
	sv -C a verify
	expect_status 0
	expect_in "all sound" "$out"
	# Every request salvage made went over HTTP/2.
	grep -q "^[0-9.]* $SV_NGINX_PORT HTTP/2.0 GET \"/data/d.csv\" 200 " "$SV_NGINX_LOG" ||
		fail "no HTTP/2 GET of the CSV: $(cat "$SV_NGINX_LOG")"
	! grep -v ' HTTP/2.0 ' "$SV_NGINX_LOG" | grep -q salvage || fail "a request not in HTTP/2: $(cat "$SV_NGINX_LOG")"
}

# A big download cut mid-body over HTTP/2 resumes with Range, still over HTTP/2.
test_https_h2_range_resume() {
	ht_site
	ht_init a crawl.caFile "$SV_NGINX_CA"
	big="$GOOD/reset/5M/big.bin?mb=12&once=1"
	printf 'url,scope,robots\n%s,page,ignore\n' "$big" >sheet.csv
	ht_crawl a ../sheet.csv
	expect_status 0
	expect_eq "$(ht_py a "cap(a[0]).get('status')" "$big")" 200
	expect_eq "$(ht_py a "cap(a[0]).get('length')" "$big")" $((12 * 1024 * 1024))
	expect_in "HTTP/2 206" "$(ht_py a "cap(a[0]).get('headers')" "$big")"
	[ "$(ht_py a "cap(a[0]).get('resumed_at', 0) > 0" "$big")" = true ] || fail "not resumed: $(cat ls.json)"
	grep -q "HTTP/2.0 GET \"/reset/5M/big.bin?mb=12&once=1\" 206 [0-9]* \"[^\"]*\" \"bytes=" "$SV_NGINX_LOG" ||
		fail "no HTTP/2 Range request: $(cat "$SV_NGINX_LOG")"
	curl -s "http://127.0.0.1:$(cat up.port)/big.bin?mb=12" >big.bin
	hex=$(ht_py a "cap(a[0])['sha256']" "$big")
	"$SALVAGE" -C a cat "$hex" | cmp -s - big.bin || fail "stored big.bin differs"
}

# A certificate salvage cannot verify fails that URL with curl's reason; the
# test CA in crawl.caFile makes the good port verify, and only that one.
test_https_untrusted_cert_fails_the_url() {
	ht_site
	printf 'url,scope\n%s/index.html,page\n%s/index.html,page\n' "$GOOD" "$SELF" >sheet.csv
	ht_init a
	ht_crawl a --ignore-robots ../sheet.csv
	expect_status 1
	expect_in "2 failed" "$out"
	expect_in "SSL certificate problem: self-signed certificate" "$out"
	expect_in "SSL certificate problem: unable to get local issuer certificate" "$out"
	expect_in "SSL certificate problem" "$(ht_py a "cap(a[0]).get('error')" "$GOOD/index.html")"
	# The same sites with the tests' CA trusted: the good port is rescued.
	ht_init b crawl.caFile "$SV_NGINX_CA"
	ht_crawl b --ignore-robots ../sheet.csv
	expect_status 1
	expect_in "1 failed" "$out"
	expect_eq "$(ht_py b "cap(a[0]).get('status')" "$GOOD/index.html")" 200
	expect_in "self-signed certificate" "$(ht_py b "cap(a[0]).get('error')" "$SELF/index.html")"
}

# With robots.txt respected, a TLS failure of robots.txt is not "disallowed
# by robots.txt" and success: the crawl exits 1 and names the certificate
# problem. Needs the robots.txt retry work of issue 11 point 7 (robots helper).
test_https_untrusted_cert_with_robots_is_reported() {
	ht_site
	printf 'url,scope\n%s/index.html,page\n' "$SELF" >sheet.csv
	ht_init a
	ht_crawl a ../sheet.csv
	expect_status 1
	expect_in "certificate" "$out$err"
}

# crawl.insecureHost: a broken chain on one server is rescued, unverified and
# recorded as such; the same host on another port is still verified.
test_https_insecure_host_only_that_server() {
	ht_site
	ht_init a crawl.caFile "$SV_NGINX_CA" crawl.insecureHost "127.0.0.1:$SV_NGINX_BROKEN_PORT"
	printf 'url,scope,robots\n%s/index.html,prefix,respect\n%s/index.html,page,ignore\n%s/p1.html,page,respect\n' \
		"$BROKEN" "$SELF" "$GOOD" >sheet.csv
	ht_crawl a ../sheet.csv
	expect_status 1
	expect_in "1 failed" "$out"
	for u in /index.html /p1.html /data/d.csv /robots.txt; do
		expect_eq "$(ht_py a "cap(a[0]).get('status')" "$BROKEN$u")" 200
		expect_eq "$(ht_py a "cap(a[0]).get('tls_unverified')" "$BROKEN$u")" true
	done
	expect_in "self-signed certificate" "$(ht_py a "cap(a[0]).get('error')" "$SELF/index.html")"
	expect_eq "$(ht_py a "'tls_unverified' in cap(a[0])" "$SELF/index.html")" false
	expect_eq "$(ht_py a "cap(a[0]).get('status')" "$GOOD/p1.html")" 200
	expect_eq "$(ht_py a "'tls_unverified' in cap(a[0])" "$GOOD/p1.html")" false
	sv -C a verify
	expect_status 0
	# Without the opt-out the broken chain fails, even with the CA trusted.
	ht_init b crawl.caFile "$SV_NGINX_CA"
	printf 'url,scope\n%s/index.html,page\n' "$BROKEN" >sheet2.csv
	ht_crawl b --ignore-robots ../sheet2.csv
	expect_status 1
	expect_in "unable to get local issuer certificate" "$out"
}

# A bad crawl.caFile or crawl.insecureHost is a config error naming salvage.conf and the key.
test_https_bad_tls_config_exit_2() {
	printf 'url\nhttps://127.0.0.1:9/\n' >sheet.csv
	ht_init a crawl.caFile "$PWD/no-such-ca.pem"
	ht_crawl a ../sheet.csv
	expect_status 2
	expect_in "salvage.conf" "$err"
	expect_in "crawl.caFile" "$err"
	printf 'not a certificate\n' >junk.pem
	ht_init b crawl.caFile "$PWD/junk.pem"
	ht_crawl b ../sheet.csv
	expect_status 2
	expect_in "crawl.caFile" "$err"
	ht_init c crawl.insecureHost "https://x.gov/"
	ht_crawl c ../sheet.csv
	expect_status 2
	expect_in "salvage.conf" "$err"
	expect_in "crawl.insecureHost" "$err"
	ht_init d crawl.insecureHost "x.gov:99999"
	ht_crawl d ../sheet.csv
	expect_status 2
	expect_in "crawl.insecureHost" "$err"
}
