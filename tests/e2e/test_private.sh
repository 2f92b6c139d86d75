# End-to-end tests of the private-address guard (issue 12, point 3): links
# and redirects from a sheet row's server to another server on a loopback
# address are refused, whatever the spelling of the address (0x7f000001,
# 2130706433, [::ffff:127.0.0.1], localhost): the other server's log shows no
# request, and each refusal is a failed capture in the ledger that says why.
# crawl.allowPrivate = 127.0.0.1:P2 lets them through. Both servers listen on
# 127.0.0.1 (P1: the row's, named by the sheet, so allowed; P2: another).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_private.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv and crawl_in

# pv_setup: servers one (./one) and two (./two) on P1 and P2; one/index.html
# links a dataset on P2 under each spelling (and [::ffff:127.0.0.1] when this
# machine can connect a v4-mapped IPv6 socket: PV_V6=1) and a redirect to P2.
pv_setup() {
	testservers_two
	PV_V6=0
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET6); s.connect(("::ffff:127.0.0.1", int(sys.argv[1])))' \
		"$P2" 2>/dev/null && PV_V6=1
	[ "$PV_V6" = 1 ] || echo "no IPv6 on this machine: the [::ffff:127.0.0.1] case is left out"
	PV_URLS="http://127.0.0.1:$P2/a.csv http://0x7f000001:$P2/b.csv http://2130706433:$P2/c.csv http://localhost:$P2/e.csv"
	[ "$PV_V6" = 0 ] || PV_URLS="$PV_URLS http://[::ffff:127.0.0.1]:$P2/d.csv"
	local u links=""
	for u in $PV_URLS; do links="$links<a href=\"$u\">x</a>"; done
	links="$links<a href=\"/redirect?to=http://127.0.0.1:$P2/r.csv\">r</a>"
	printf '%s\n' "$links" >one/index.html
	for u in a b c d e r; do printf 'n\n1\n' >"two/$u.csv"; done
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$P1" >sheet.csv
	sv init a
	expect_status 0
}

# pv_record URL: the ledger's last record of URL (or of the URL ending in URL
# when it starts with '*': spellings of an address normalise as queue/url.c
# decides), as JSON.
pv_record() {
	git -C a/ledger.git archive main captures | tar -xO | python3 -c '
import json, sys
last = None
for line in sys.stdin:
    r = json.loads(line)
    u, want = r.get("url", ""), sys.argv[1]
    if u == want or (want[0] == "*" and u.endswith(want[1:])):
        last = r
print(json.dumps(last))' "$1"
}

# pv_field URL FIELD: one field of that record.
pv_field() {
	pv_record "$1" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("" if r is None else r.get(sys.argv[1], ""))' "$2"
}

test_private_links_and_redirects_refused() {
	pv_setup
	crawl_in a ../sheet.csv
	expect_status 1
	expect_eq "$(cat two.log)" ""
	# The row's own server was fetched: the sheet names it.
	expect_eq "$(pv_field "http://127.0.0.1:$P1/" status)" 200
	local u n want="refused: 127.0.0.1:$P2 is a loopback address; allow it with crawl.allowPrivate"
	for u in "http://127.0.0.1:$P2/a.csv" "http://127.0.0.1:$P2/b.csv" "http://127.0.0.1:$P2/c.csv" \
		"http://127.0.0.1:$P2/r.csv"; do
		expect_eq "$(pv_field "$u" error)" "$want"
		expect_eq "$(pv_field "$u" attempt)" 1
	done
	if [ "$PV_V6" = 1 ]; then
		expect_eq "$(pv_field "*]:$P2/d.csv" error)" "$want"
	fi
	# localhost may resolve to ::1 too: refused, whichever address it tried last.
	expect_in "refused: " "$(pv_field "http://localhost:$P2/e.csv" error)"
	expect_in "is a loopback address; allow it with crawl.allowPrivate" "$(pv_field "http://localhost:$P2/e.csv" error)"
	# Counted in the summary, by reason.
	expect_in "failed" "$out"
	expect_in "$want" "$out"
	n=$((PV_V6 + 5))
	expect_in "; $n failed;" "$out"
}

test_private_allowed_by_salvage_conf() {
	pv_setup
	git config -f a/salvage.conf crawl.allowPrivate "127.0.0.1:$P2"
	crawl_in a ../sheet.csv
	expect_status 0
	local got
	got=$(awk '$2 == "GET" {print $3}' two.log | sort | tr '\n' ' ')
	for u in /a.csv /b.csv /c.csv /e.csv /r.csv /robots.txt; do expect_in "$u " "$got"; done
	[ "$PV_V6" = 0 ] || expect_in "/d.csv " "$got"
	expect_eq "$(pv_field "http://localhost:$P2/e.csv" status)" 200
}

# Another port of the same address is another server: allowing P2 does not allow P1's neighbour.
test_private_allowed_is_host_and_port() {
	pv_setup
	git config -f a/salvage.conf crawl.allowPrivate "127.0.0.1:$((P2 == 65535 ? P2 - 1 : P2 + 1))"
	crawl_in a ../sheet.csv
	expect_status 1
	expect_eq "$(cat two.log)" ""
}

# A seed whose redirect lands on a private address: not allowed by the row
# (that is the attack), refused and recorded.
test_private_seed_landing_refused() {
	pv_setup
	printf 'url,scope\n"http://127.0.0.1:%s/redirect?to=http://localhost:%s/b.csv",host\n' "$P1" "$P2" >sheet.csv
	crawl_in a ../sheet.csv
	expect_status 1
	expect_eq "$(cat two.log)" ""
	expect_in "refused: " "$(pv_field "http://localhost:$P2/b.csv" error)"
}

# A bad crawl.allowPrivate is a config error (exit 2).
test_private_bad_allow_value() {
	pv_setup
	git config -f a/salvage.conf crawl.allowPrivate "127.0.0.1"
	crawl_in a ../sheet.csv
	expect_status 2
	expect_in "crawl.allowPrivate = 127.0.0.1 (host:port" "$err"
}
