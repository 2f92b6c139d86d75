# End-to-end tests of secrets (issue 12, points 2 and 4): credentials never
# reach a sheet, the ledger or a mirror; a netrc file named in salvage.conf
# gives them instead; what a hostile mirror sends is bounded and shown escaped.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_secrets.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

SC_PW=S3cretPW
# base64 of alice:S3cretPW, as an Authorization header would carry it
SC_PW_B64=YWxpY2U6UzNjcmV0UFc

# sc_no_secret DIR: neither the password nor its base64 is anywhere in the
# archive DIR: files, the ledger's history (every commit's patch) and the queue.
sc_no_secret() {
	local hits
	hits=$(grep -rlaF -e "$SC_PW" -e "$SC_PW_B64" "$1" || true)
	[ -z "$hits" ] || fail "the password is in: $hits"
	if git --git-dir="$1/ledger.git" rev-parse -q --verify HEAD >/dev/null; then
		! git --git-dir="$1/ledger.git" log -p --all | grep -aqF -e "$SC_PW" -e "$SC_PW_B64" ||
			fail "the password is in the ledger's history"
		mapfile -t revs < <(git --git-dir="$1/ledger.git" rev-list --all)
		rc=0
		git --git-dir="$1/ledger.git" grep -qF -e "$SC_PW" -e "$SC_PW_B64" "${revs[@]}" -- >/dev/null 2>&1 || rc=$?
		[ "$rc" -eq 1 ] || fail "the password is in a ledger tree (or git grep failed)"
	fi
	# zstd objects are compressed: read each one back.
	while IFS= read -r f; do
		! zstd -dc "$f" | grep -aqF -e "$SC_PW" -e "$SC_PW_B64" || fail "the password is in the object $f"
	done < <(find "$1/objects" -name '*.zst')
}

# A URL with user info in a sheet is refused (exit 2, FILE:LINE:COLUMN), and
# nothing of the sheet is stored: not with --skip-bad-rows either, since the
# sheet goes into the ledger byte for byte.
test_sheet_with_credentials_refused() {
	sv init a
	expect_status 0
	printf 'agency,url\nEPA,https://www.epa.gov/\nNOAA,http://alice:%s@127.0.0.1:9/data/\nUSGS,http://alice@127.0.0.1:9/\n' \
		"$SC_PW" >creds.csv
	for cmd in "seed" "seed --skip-bad-rows" "crawl" "crawl --skip-bad-rows"; do
		# shellcheck disable=SC2086 # the command and its option
		sv -C a $cmd "$PWD/creds.csv"
		expect_status 2
		expect_in "$PWD/creds.csv:3:6: credentials in a URL would be published with the ledger;" "$err"
		expect_in "$PWD/creds.csv:4:6: credentials in a URL" "$err"
		expect_in "crawl.netrcFile" "$err"
		case "$err$out" in *"$SC_PW"*) fail "$cmd printed the password: $err" ;; esac
	done
	! git --git-dir=a/ledger.git rev-parse -q --verify refs/heads/main >/dev/null || fail "a sheet was committed"
	sv -C a status
	case "$out" in *epa* | *127.0.0.1*) fail "rows were queued: $out" ;; esac
	sc_no_secret a
}

# crawl.netrcFile gives a password to the host it names: a page behind Basic
# auth is captured with it, and the password is nowhere in the archive. A
# redirect to another host (localhost, same server) gets no credentials.
test_netrc_logs_in_and_keeps_the_password_out() {
	trap testservers_stop EXIT
	mkdir -p www
	printf '<!doctype html><title>members</title><a href="budget.csv">budget</a>\n' >www/index.html
	printf 'year,amount\n2024,100\n' >www/budget.csv
	testserver_start site www --basic-auth "alice:$SC_PW"
	port=$(cat site.port)
	sv init a
	expect_status 0
	printf 'machine 127.0.0.1\nlogin alice\npassword %s\n' "$SC_PW" >netrc
	git config -f a/salvage.conf crawl.netrcFile "$PWD/netrc"
	# Loopback is what this test crawls (a no-op where private addresses are not guarded).
	git config -f a/salvage.conf crawl.allowPrivate true
	printf 'url\nhttp://127.0.0.1:%s/basic-auth/index.html\nhttp://127.0.0.1:%s/basic-auth/redirect?to=http://localhost:%s/basic-auth/budget.csv\n' \
		"$port" "$port" "$port" >sheet.csv
	crawl_in a "$PWD/sheet.csv"
	sv -C a ls
	expect_status 0
	echo "$out"
	grep -qE " 200 .* http://127\.0\.0\.1:$port/basic-auth/index\.html$" <<<"$out" || fail "the page was not captured with the netrc: $out"
	grep -qE " 200 .* http://127\.0\.0\.1:$port/basic-auth/budget\.csv$" <<<"$out" || fail "the dataset was not captured: $out"
	grep -qE " 302 .* http://127\.0\.0\.1:$port/basic-auth/redirect" <<<"$out" || fail "the redirect was not captured: $out"
	grep -qE " 401 .* http://localhost:$port/basic-auth/budget\.csv$" <<<"$out" ||
		fail "the redirect to another host was not answered 401 (were credentials sent?): $out"
	sv -C a cat "http://127.0.0.1:$port/basic-auth/budget.csv"
	expect_eq "$out" "$(cat www/budget.csv)"
	sc_no_secret a

	# Without the netrc the same page is refused: the login really was needed.
	sv init b
	git config -f b/salvage.conf crawl.allowPrivate true
	printf 'url\nhttp://127.0.0.1:%s/basic-auth/index.html\n' "$port" >plain.csv
	crawl_in b "$PWD/plain.csv"
	sv -C b ls
	grep -qE " 401 .* http://127\.0\.0\.1:$port/basic-auth/index\.html$" <<<"$out" || fail "no 401 without the netrc: $out"

	# A netrc file that cannot be read is a config error, before any fetch.
	git config -f b/salvage.conf crawl.netrcFile missing.netrc
	crawl_in b "$PWD/plain.csv"
	expect_status 2
	expect_in "crawl.netrcFile" "$err"
}
