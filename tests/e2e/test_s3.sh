# End-to-end tests of S3 mirrors beyond single PUTs: plain-http endpoints
# refused unless allowed, multipart uploads (several parts, a push killed
# midway resuming without sending stored parts again) and a pull cut short
# resuming with a Range request. Against the loopback S3 server of
# tests/servers/s3.sh, whose DIR/requests.log shows every request it answered,
# and which holds parts (DIR/hold-parts) and slows GETs (DIR/slow-get) on demand.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_s3.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

S3_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

s3_pids=()

s3_cleanup() {
	local p
	for p in "${s3_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	sv_s3_stop "$PWD/s3" >/dev/null 2>&1 || true
	wait 2>/dev/null || true
}

# s3_server: the S3 server, its variables exported, its request log emptied.
s3_server() {
	mkdir -p home
	export HOME=$PWD/home
	export SV_SERVER_OWNER_PID=$BASHPID
	# shellcheck source=tests/servers/s3.sh
	. "$S3_REPO/tests/servers/s3.sh"
	trap s3_cleanup EXIT
	sv_s3_start "$PWD/s3" >s3.out 2>&1 || fail "the S3 server did not start: $(cat s3.out)"
	: >"$SV_S3_DIR/requests.log"
}

# s3_archive DIR BYTES: an archive holding one capture of BYTES random bytes (incompressible),
# with multipart uploads from 1 MiB in parts of 256 KiB; the object's hex in $HEX.
s3_archive() {
	sv init "$1"
	expect_status 0
	head -c "$2" /dev/urandom >"$1.bin"
	sv -C "$1" put "$PWD/$1.bin" --url "https://data.example.gov/$1.bin"
	expect_status 0
	HEX=$(sha256sum "$1.bin" | cut -c1-64)
	git config -f "$1/salvage.conf" mirror.multipartThreshold 1m
	git config -f "$1/salvage.conf" mirror.multipartPartSize 256k
}

# s3_add DIR: mirror "cloud" of DIR on the S3 server, plain http allowed (loopback).
s3_add() {
	sv -C "$1" mirror add cloud --objects "s3://$SV_S3_BUCKET/big" --s3-endpoint "$SV_S3_ENDPOINT" \
		--ledger "$PWD/cloud-ledger.git" --allow-http
	expect_status 0
}

# s3_object_file DIR: the local object file of $HEX in archive DIR.
s3_object_file() {
	find "$1/objects/sha256" -name "$HEX.zst"
}

# s3_wait WHAT SECONDS 'SHELL CODE': until the code (evaluated each time) succeeds.
s3_wait() {
	local what=$1 n=$(($2 * 20))
	for _ in $(seq "$n"); do
		eval "$3" && return 0
		sleep 0.05
	done
	fail "waited in vain for $what"
}

# Unfinished multipart uploads the server keeps (s3rver: one folder each).
s3_open_uploads() {
	find "$SV_S3_DATA/$SV_S3_BUCKET/._S3rver_uploads" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l
}

# --- plain http ---

test_plain_http_endpoint_refused_unless_allowed() {
	s3_server
	s3_archive a 1000
	export AWS_SESSION_TOKEN=session-token-$RANDOM-sekrit
	sv -C a mirror add cloud --objects "s3://$SV_S3_BUCKET/x" --s3-endpoint "$SV_S3_ENDPOINT" \
		--ledger "$PWD/l.git"
	expect_status 2
	expect_in "plain http" "$err"
	expect_in "remote.cloud.allowHttp = true" "$err"
	[ -z "$(git config -f a/salvage.conf --get-regexp '^remote\.')" ] || fail "a refused mirror was saved"
	# Written by hand without the key: refused at use, before any request.
	git config -f a/salvage.conf remote.cloud.objects "s3://$SV_S3_BUCKET/x"
	git config -f a/salvage.conf remote.cloud.ledger "$PWD/l.git"
	git config -f a/salvage.conf remote.cloud.s3Endpoint "$SV_S3_ENDPOINT"
	for verb in push verify pull; do
		sv -C a mirror "$verb" cloud
		expect_status 2
		expect_in "plain http" "$err"
	done
	sv clone --objects "s3://$SV_S3_BUCKET/x" --s3-endpoint "$SV_S3_ENDPOINT" --ledger "$PWD/l.git" c
	expect_status 2
	expect_in "--allow-http" "$err"
	[ ! -s "$SV_S3_DIR/requests.log" ] || fail "requests reached the server: $(cat "$SV_S3_DIR/requests.log")"
	# Allowed: saved as remote.NAME.allowHttp, and used.
	git config -f a/salvage.conf --remove-section remote.cloud
	sv -C a mirror add cloud --objects "s3://$SV_S3_BUCKET/x" --s3-endpoint "$SV_S3_ENDPOINT" \
		--ledger "$PWD/l.git" --allow-http
	expect_status 0
	expect_eq "$(git config -f a/salvage.conf --bool remote.cloud.allowHttp)" true
	AWS_SECRET_ACCESS_KEY=wrong-$AWS_SECRET_ACCESS_KEY "$SALVAGE" -C a mirror push cloud >wrong.out 2>wrong.err &&
		fail "a push with a wrong secret worked"
	sv -C a mirror push cloud
	expect_status 0
	expect_in "1 object uploaded" "$out"
	# No secret in anything printed.
	for f in wrong.out wrong.err; do
		! grep -qF "$AWS_SECRET_ACCESS_KEY" "$f" || fail "the secret key is in $f"
		! grep -qF "$AWS_SESSION_TOKEN" "$f" || fail "the session token is in $f"
		! grep -q "Signature=" "$f" || fail "a signature is in $f"
	done
}

# --- multipart uploads ---

test_large_object_goes_up_in_parts() {
	s3_server
	s3_archive a 1500000
	s3_add a
	obj=$(s3_object_file a)
	size=$(stat -c %s "$obj")
	parts=$(((size + 262143) / 262144))
	sv -C a mirror push cloud
	expect_status 0
	expect_in "1 object uploaded" "$out"
	log=$SV_S3_DIR/requests.log
	expect_eq "$(grep -c "^POST .*$HEX.zst?uploads= .*status=200" "$log")" 1
	expect_eq "$(grep -c "^PUT .*$HEX.zst?partNumber=.*status=200" "$log")" "$parts"
	expect_eq "$(grep -c "^POST .*$HEX.zst?uploadId=.*status=200" "$log")" 1
	grep -q "^PUT .*$HEX.zst range" "$log" && fail "the object also went up as a single PUT"
	# The server holds the object whole, and nothing unfinished.
	f=$(find "$SV_S3_DATA" -name "$HEX.zst._S3rver_object")
	[ -f "$f" ] || fail "the object is not on the server"
	cmp "$f" "$obj" || fail "the server's copy differs"
	expect_eq "$(s3_open_uploads)" 0
	[ -z "$(ls a/mirrors/cloud.uploads 2>/dev/null)" ] || fail "an upload state file was left"
	sv -C a mirror verify --deep cloud
	expect_status 0
	# A small object still goes as one PUT.
	head -c 1000 /dev/urandom >small.bin
	sv -C a put "$PWD/small.bin"
	small=$(sha256sum small.bin | cut -c1-64)
	sv -C a mirror push cloud
	expect_status 0
	grep -q "^PUT .*$small.zst range=- status=200" "$log" || fail "the small object did not go as one PUT"
}

test_push_killed_midway_resumes_its_parts() {
	s3_server
	s3_archive a 1500000
	s3_add a
	obj=$(s3_object_file a)
	parts=$((($(stat -c %s "$obj") + 262143) / 262144))
	[ "$parts" -ge 5 ] || fail "too few parts for the test: $parts"
	log=$SV_S3_DIR/requests.log
	# Parts 3 and on wait; once 1 and 2 are stored, the push dies.
	echo 3 >"$SV_S3_DIR/hold-parts"
	"$SALVAGE" -C a mirror push cloud >push1.out 2>push1.err &
	pid=$!
	s3_pids+=("$pid")
	s3_wait "parts 1 and 2" 30 '[ "$(grep -c "partNumber=[12]&.*status=200" "$log")" -eq 2 ]'
	s3_wait "their state" 10 '[ "$(cat a/mirrors/cloud.uploads/* 2>/dev/null | grep -c "^part ")" -eq 2 ]'
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	id=$(sed -n 's/^upload [0-9]* [0-9]* //p' a/mirrors/cloud.uploads/*)
	[ -n "$id" ] || fail "no upload id kept"
	rm "$SV_S3_DIR/hold-parts"
	sleep 0.3 # the held requests of the dead push end
	: >"$log"
	sv -C a mirror push cloud
	expect_status 0
	expect_in "1 object uploaded" "$out"
	# The same upload, only the parts it lacked, then completed.
	grep -q "?uploads=" "$log" && fail "a new upload was started: $(cat "$log")"
	grep -q "partNumber=[12]&" "$log" && fail "stored parts were sent again: $(cat "$log")"
	expect_eq "$(grep -c "^PUT .*partNumber=.*uploadId=$id .*status=200" "$log")" $((parts - 2))
	expect_eq "$(grep -c "^POST .*?uploadId=$id .*status=200" "$log")" 1
	expect_eq "$(s3_open_uploads)" 0
	[ -z "$(ls a/mirrors/cloud.uploads)" ] || fail "an upload state file was left"
	f=$(find "$SV_S3_DATA" -name "$HEX.zst._S3rver_object")
	cmp "$f" "$obj" || fail "the resumed object differs"
	sv -C a mirror verify --deep cloud
	expect_status 0
}

# --- pull ---

test_pull_cut_short_resumes_with_range() {
	s3_server
	s3_archive a 1500000
	s3_add a
	sv -C a mirror push cloud
	expect_status 0
	size=$(stat -c %s "$(s3_object_file a)")
	sv init b
	git config -f b/salvage.conf mirror.multipartThreshold 1m
	s3_add b
	log=$SV_S3_DIR/requests.log
	echo 150000 >"$SV_S3_DIR/slow-get"
	"$SALVAGE" -C b mirror pull cloud >pull1.out 2>pull1.err &
	pid=$!
	s3_pids+=("$pid")
	part=b/tmp/mirror-pull.$HEX.part
	s3_wait "a partial download" 30 '[ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -ge 300000 ]'
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	have=$(stat -c %s "$part")
	[ "$have" -lt "$size" ] || fail "the download was not cut short"
	rm "$SV_S3_DIR/slow-get"
	sleep 0.3
	: >"$log"
	sv -C b mirror pull cloud
	expect_status 0
	expect_in "1 object downloaded" "$out"
	expect_in "1 capture added" "$out"
	# Only the rest was asked for, and sent.
	grep -q "^GET .*$HEX.zst range=bytes=$have- status=206 len=$((size - have))\$" "$log" ||
		fail "no ranged GET from byte $have: $(cat "$log")"
	expect_eq "$(grep -c "^GET .*$HEX.zst " "$log")" 1
	[ ! -e "$part" ] || fail "the partial download was left"
	cmp "$(s3_object_file a)" "$(s3_object_file b)" || fail "the pulled object differs"
	sv -C b verify
	expect_status 0
}

test_pull_restarts_when_the_partial_is_bad() {
	s3_server
	s3_archive a 1500000
	s3_add a
	sv -C a mirror push cloud
	expect_status 0
	sv init b
	git config -f b/salvage.conf mirror.multipartThreshold 1m
	s3_add b
	# A partial download whose bytes are not the object's: the check after the rest fails, and the
	# next pull starts over.
	mkdir -p b/tmp
	head -c 1000 /dev/urandom >"b/tmp/mirror-pull.$HEX.part"
	sv -C b mirror pull cloud
	expect_status 1
	expect_in "damaged on mirror cloud" "$out"
	[ ! -e "b/tmp/mirror-pull.$HEX.part" ] || fail "the bad partial was kept"
	sv -C b mirror pull cloud
	expect_status 0
	expect_in "1 object downloaded" "$out"
	cmp "$(s3_object_file a)" "$(s3_object_file b)" || fail "the pulled object differs"
}
