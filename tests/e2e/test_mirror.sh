# End-to-end tests of offsite mirrors: salvage mirror add|push|verify|pull and
# salvage clone, against a folder (file://), a loopback OpenSSH server (sftp
# objects, git over ssh ledger; tests/servers/sshd.sh) and a loopback S3
# server that checks SigV4 signatures (tests/servers/s3.sh).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_mirror.sh
# Each test_* runs with `set -e` in a fresh empty folder (see lib.sh), with
# HOME pointed inside it so that nothing reads or writes the real ~/.ssh.
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

MR_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MR_TESTSERVER=${BUILD:-build/rel}/tests/testserver

# --- local helpers (prefixed mr_ so they never clash with lib.sh) ---

mr_pids=()
mr_stops=()

mr_cleanup() {
	local p
	for p in "${mr_stops[@]}"; do eval "$p" >/dev/null 2>&1 || true; done
	for p in "${mr_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

# mr_home: an empty HOME inside the test folder.
mr_home() {
	mkdir -p home
	export HOME=$PWD/home
	trap mr_cleanup EXIT
}

# mr_site: a small site in www/ served by the test server; its address in $SITE.
mr_site() {
	[ -x "$MR_TESTSERVER" ] || fail "testserver not built ($MR_TESTSERVER)"
	mkdir -p www/data
	cat >www/index.html <<-'EOF'
		<!doctype html><title>agency</title>
		<a href="p1.html">one</a> <a href="p2.html">two</a> <a href="data/budget.csv">budget</a>
	EOF
	echo '<a href="p3.html">three</a> page one' >www/p1.html
	echo '<a href="data/wells.json">wells</a> page two' >www/p2.html
	echo 'page three, the last' >www/p3.html
	printf 'year,amount\n2024,100\n2025,120\n' >www/data/budget.csv
	echo '{"wells": [1, 2, 3]}' >www/data/wells.json
	"$MR_TESTSERVER" --port 0 --root www --port-file site.port --log site.log 2>site.stderr &
	mr_pids+=($!)
	trap mr_cleanup EXIT
	for _ in $(seq 200); do
		[ -s site.port ] && break
		sleep 0.05
	done
	[ -s site.port ] || fail "test server did not start: $(cat site.stderr)"
	SITE=127.0.0.1:$(cat site.port)
}

# mr_archive DIR: a new archive DIR holding a crawl of the site (real ledger records).
mr_archive() {
	[ -n "${SITE:-}" ] || mr_site
	sv init "$1"
	expect_status 0
	printf 'url\nhttp://%s/\n' "$SITE" >sheet.csv
	set +e
	(cd "$1" && exec timeout -k 10 60 "$SALVAGE" crawl --jobs 1 "$PWD/../sheet.csv") >crawl.out 2>crawl.err
	status=$?
	set -e
	[ "$status" -eq 0 ] || fail "crawl failed ($status): $(cat crawl.out crawl.err)"
	[ "$(git --git-dir="$1/ledger.git" rev-parse -q --verify refs/heads/main)" ] || fail "the crawl left no ledger"
}

# mr_put ARCHIVE FILE...: stores files (absolute paths).
mr_put() {
	local a=$1
	shift
	"$SALVAGE" -C "$a" put "$@" >/dev/null || fail "put failed"
}

# mr_ls ARCHIVE: the capture list, sorted.
mr_ls() {
	"$SALVAGE" -C "$1" ls | sort
}

# mr_local_objects ARCHIVE: "<sha256 of the file>  <name>" for every object file, sorted by name.
mr_local_objects() {
	(cd "$1/objects/sha256" && find . -type f -name '*.zst' | sort | xargs -r sha256sum | sed 's| \./| |')
}

# mr_remote_objects DIR: the same for the objects of a file or sftp remote (temp files left out).
mr_remote_objects() {
	(cd "$1/sha256" && find . -type f -name '*.zst' ! -name '.svtmp*' | sort | xargs -r sha256sum | sed 's| \./| |')
}

# mr_check_readable DIR: every remote object decompresses with zstd to bytes that hash to its name.
mr_check_readable() {
	local f hex n=0
	while IFS= read -r f; do
		hex=$(basename "$f" .zst)
		[ "$(zstd -dc "$f" | sha256sum | cut -d' ' -f1)" = "$hex" ] || fail "zstd -dc $f | sha256sum is not $hex"
		n=$((n + 1))
	done < <(find "$1/sha256" -type f -name '*.zst' ! -name '.svtmp*')
	[ "$n" -gt 0 ] || fail "no objects in $1"
	echo "$n remote objects read back with zstd and sha256sum"
}

# mr_mtimes DIR: every file under DIR with its modification time.
mr_mtimes() {
	find "$1" -printf '%p %T@\n' | sort
}

# mr_ms: milliseconds since the epoch.
mr_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# mr_flip FILE OFFSET: inverts one byte in place (same size).
mr_flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	chmod u+w "$1"
	# shellcheck disable=SC2059 # the format is the escaped byte itself
	printf "$(printf '\\%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# mr_page_object ARCHIVE: the sha256 of a page the ledger records.
mr_page_object() {
	"$SALVAGE" -C "$1" ls --json | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    if c.get("kind") == "page" and c.get("status") == 200 and c.get("sha256"):
        print(c["sha256"]); break'
}

# mr_sshd: a loopback sshd (tests/servers/sshd.sh), stopped when the test ends.
# libgit2 1.5.1 leaks what it allocates for known_hosts on every ssh
# connection, whatever the caller does; a sanitizer build is told to leave
# just those out (as tests/unit/test_ledger.c does), with full stacks so
# that the suppressions can name the calls.
mr_sshd() {
	printf 'leak:libssh2_knownhost_init\nleak:git_remote_connect\n' >"$PWD/lsan.supp"
	export LSAN_OPTIONS=suppressions=$PWD/lsan.supp
	export ASAN_OPTIONS=fast_unwind_on_malloc=0
	export SV_SERVER_OWNER_PID=$BASHPID
	# shellcheck source=tests/servers/sshd.sh
	. "$MR_REPO/tests/servers/sshd.sh"
	mr_stops+=("sv_sshd_stop '$PWD/sshd'")
	trap mr_cleanup EXIT
	sv_sshd_start "$PWD/sshd" >sshd.out 2>&1 || fail "sshd did not start: $(cat sshd.out)"
}

# mr_s3: a loopback S3 server (tests/servers/s3.sh), stopped when the test ends.
mr_s3() {
	export SV_SERVER_OWNER_PID=$BASHPID
	# shellcheck source=tests/servers/s3.sh
	. "$MR_REPO/tests/servers/s3.sh"
	mr_stops+=("sv_s3_stop '$PWD/s3'")
	trap mr_cleanup EXIT
	sv_s3_start "$PWD/s3" >s3.out 2>&1 || fail "the S3 server did not start: $(cat s3.out)"
}

# --- 1. mirror add ---

test_add_writes_remote_section() {
	sv init a
	mkdir -p remote
	conf_before=$(cat a/salvage.conf)
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger ../remote/ledger.git
	expect_status 0
	expect_in "added mirror 'eu'" "$out"
	# git-config syntax, read back by git: the ledger path was made absolute.
	expect_eq "$(git config -f a/salvage.conf remote.eu.objects)" "file://$PWD/remote/objects"
	expect_eq "$(git config -f a/salvage.conf remote.eu.ledger)" "$PWD/remote/ledger.git"
	expect_eq "$(git config -f a/salvage.conf salvage.version)" 1
	sv -C a mirror add s3eu --objects s3://rescue-bucket/2026 --ledger ssh://git@127.0.0.1:2222/srv/ledger.git \
		--s3-endpoint https://s3.eu-west-1.amazonaws.com --s3-region eu-west-1
	expect_status 0
	expect_eq "$(git config -f a/salvage.conf remote.s3eu.s3Endpoint)" https://s3.eu-west-1.amazonaws.com
	expect_eq "$(git config -f a/salvage.conf remote.s3eu.s3Region)" eu-west-1
	sv -C a mirror list
	expect_status 0
	expect_in "eu	file://$PWD/remote/objects	$PWD/remote/ledger.git" "$out"
	expect_in "s3eu	s3://rescue-bucket/2026	ssh://git@127.0.0.1:2222/srv/ledger.git" "$out"
	# The rest of the file is as it was.
	case "$(cat a/salvage.conf)" in "$conf_before"*) ;; *) fail "salvage.conf lost its first lines" ;; esac
}

test_add_refuses_bad_input() {
	sv init a
	sv -C a mirror add eu --objects "file://$PWD/r" --ledger "$PWD/r.git"
	expect_status 0
	conf=$(cat a/salvage.conf)
	# A name that exists.
	sv -C a mirror add eu --objects "file://$PWD/other" --ledger "$PWD/o.git"
	expect_status 2
	expect_in "already exists" "$err"
	# Bad names.
	for name in "" -x "a b" "../up" "eu/west" "$(printf 'x%.0s' $(seq 70))"; do
		sv -C a mirror add "$name" --objects "file://$PWD/r2" --ledger "$PWD/r2.git"
		expect_status 2
	done
	# Unknown schemes.
	sv -C a mirror add ftp1 --objects ftp://host/x --ledger "$PWD/l.git"
	expect_status 2
	expect_in "unknown scheme 'ftp'" "$err"
	sv -C a mirror add git1 --objects "file://$PWD/r3" --ledger git://host/l.git
	expect_status 2
	expect_in "unknown scheme 'git'" "$err"
	sv -C a mirror add plain --objects /srv/objects --ledger "$PWD/l.git"
	expect_status 2
	expect_in "file:///" "$err"
	sv -C a mirror add rel --objects file://relative/path --ledger "$PWD/l.git"
	expect_status 2
	# Missing pieces and s3 settings where they do not belong.
	sv -C a mirror add half --objects "file://$PWD/r4"
	expect_status 2
	expect_in "--ledger" "$err"
	sv -C a mirror add s3x --objects s3://bucket/p --ledger "$PWD/l.git"
	expect_status 2
	expect_in "--s3-endpoint" "$err"
	sv -C a mirror add s3y --objects "file://$PWD/r5" --ledger "$PWD/l.git" --s3-endpoint http://127.0.0.1:9
	expect_status 2
	sv -C a mirror add keyless --objects "sftp://me@127.0.0.1/x" --ledger "$PWD/l.git" --ssh-key "$PWD/no-such-key"
	expect_status 2
	expect_in "no-such-key" "$err"
	# Passwords and tokens, wherever they hide: refused, and never echoed.
	for args in "--objects sftp://me:hunter2pw@127.0.0.1/x --ledger $PWD/l.git" \
		"--objects s3://AKIA:hunter2pw@bucket/p --s3-endpoint http://127.0.0.1:9 --ledger $PWD/l.git" \
		"--objects file://$PWD/r6 --ledger ssh://me:hunter2pw@127.0.0.1/l.git" \
		"--objects file://$PWD/r6 --ledger me:hunter2pw@127.0.0.1:l.git" \
		"--objects file://$PWD/r6 --ledger https://hunter2pw@git.example.org/l.git" \
		"--objects s3://bucket/p --s3-endpoint http://u:hunter2pw@127.0.0.1:9 --ledger $PWD/l.git"; do
		# shellcheck disable=SC2086 # split on purpose
		sv -C a mirror add pw $args
		expect_status 2
		case "$out$err" in *hunter2pw*) fail "the password was echoed: $err" ;; esac
		expect_in "no secret" "$err"
	done
	expect_eq "$(cat a/salvage.conf)" "$conf"
	grep -q hunter2pw a/salvage.conf && fail "a password reached salvage.conf"
	# Usage errors.
	sv -C a mirror frobnicate eu
	expect_status 2
	sv -C a mirror push
	expect_status 2
	sv -C a mirror push nosuch
	expect_status 2
	expect_in "no mirror named 'nosuch'" "$err"
	sv -C a mirror verify --sample 0 eu
	expect_status 2
	sv -C a mirror verify --sample 150% eu
	expect_status 2
	sv -C a mirror verify --deep --sample 5% eu
	expect_status 2
}

# --- 2. a folder as the mirror ---

test_file_push_then_clone_and_pull() {
	mr_home
	mr_archive a
	echo "a file harvested by hand" >manual.txt
	mr_put a "$PWD/manual.txt"
	mkdir -p remote/objects
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git"
	expect_status 0
	n=$(find a/objects/sha256 -type f | wc -l)

	sv -C a mirror push eu
	expect_status 0
	expect_in "mirror eu: $n objects uploaded" "$out"
	expect_in "0 already there; ledger pushed (1 branch)" "$out"
	# The remote objects are the local files, readable with zstd and sha256sum alone.
	expect_eq "$(mr_remote_objects remote/objects)" "$(mr_local_objects a)"
	mr_check_readable remote/objects
	# The remote ledger is a sound git repository with our history.
	git --git-dir=remote/ledger.git fsck --strict >fsck.out 2>&1 || fail "git fsck: $(cat fsck.out)"
	git clone -q remote/ledger.git ledger-copy
	git -C ledger-copy fsck >fsck.out 2>&1 || fail "git fsck of a clone: $(cat fsck.out)"
	expect_eq "$(git -C ledger-copy rev-parse HEAD)" "$(git --git-dir=a/ledger.git rev-parse main)"
	ls ledger-copy/captures/*/*/*.jsonl >/dev/null || fail "no capture files in the pushed ledger"

	# A second push sends nothing, changes nothing on the remote, and is quick.
	before=$(mr_mtimes remote)
	t0=$(mr_ms)
	sv -C a mirror push eu
	t1=$(mr_ms)
	expect_status 0
	expect_in "mirror eu: 0 objects uploaded (0.0 MB), $n already there; ledger up to date" "$out"
	expect_eq "$(mr_mtimes remote)" "$before"
	[ $((t1 - t0)) -lt 1000 ] || fail "a push with nothing new took $((t1 - t0)) ms"

	sv -C a mirror verify eu
	expect_status 0
	expect_in "all sound" "$out"
	sv -C a mirror verify --deep eu
	expect_status 0
	expect_in "re-hashed" "$out"

	# Disaster recovery: a clone passes verify and lists every capture.
	sv clone --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git" c
	expect_status 0
	expect_in "cloned into 'c'" "$out"
	sv -C c verify
	expect_status 0
	expect_in "verified $n objects" "$out"
	expect_in "all sound" "$out"
	[ "$(mr_ls a | wc -l)" -ge 5 ] || fail "the crawl recorded too few captures"
	expect_eq "$(mr_ls c)" "$(mr_ls a)"
	expect_eq "$("$SALVAGE" -C c ls --json | sort)" "$("$SALVAGE" -C a ls --json | sort)"
	expect_eq "$(git --git-dir=c/ledger.git rev-parse main)" "$(git --git-dir=a/ledger.git rev-parse main)"
	expect_eq "$(git config -f c/salvage.conf remote.origin.objects)" "file://$PWD/remote/objects"
	# Byte for byte the mirror's objects, so the clone can check the mirror by size.
	expect_eq "$(mr_local_objects c)" "$(mr_local_objects a)"
	sv -C c mirror verify origin
	expect_status 0
	"$SALVAGE" -C c cat "$(sha256sum <manual.txt | cut -d' ' -f1)" | cmp -s - manual.txt ||
		fail "the hand-harvested file did not come back"
	# The clone refuses a folder in use.
	sv clone --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git" c
	expect_status 2
	expect_in "not empty" "$err"

	# mirror pull into an empty folder, then again: nothing more.
	mkdir p
	sv -C a mirror pull eu ../p
	expect_status 0
	expect_in "$n objects downloaded" "$out"
	sv -C p verify
	expect_status 0
	expect_eq "$(mr_ls p)" "$(mr_ls a)"
	ls_before=$("$SALVAGE" -C p ls --json)
	sv -C p mirror pull eu
	expect_status 0
	expect_in "0 objects downloaded (0.0 MB), $n already here, 0 captures added" "$out"
	expect_eq "$("$SALVAGE" -C p ls --json)" "$ls_before"
	[ -z "$(find p/objects/tmp p/tmp -mindepth 1)" ] || fail "pull left temp files: $(find p/objects/tmp p/tmp -mindepth 1)"

	# New captures reach the clone with the next push and pull.
	echo 'page four, added later' >www/p4.html
	echo '<a href="p4.html">four</a> page three' >www/p3.html
	printf 'url,scope\nhttp://%s/p3.html,page\nhttp://%s/p4.html,page\n' "$SITE" "$SITE" >more.csv
	(cd a && timeout 60 "$SALVAGE" crawl --jobs 1 ../more.csv >/dev/null) || fail "second crawl failed"
	sv -C a mirror push eu
	expect_status 0
	expect_in "ledger pushed" "$out"
	sv -C c mirror pull origin
	expect_status 0
	case "$out" in *" 0 captures added"*) fail "the new capture did not come: $out" ;; esac
	expect_in "http://$SITE/p4.html" "$(mr_ls c)"
	expect_eq "$(mr_ls c)" "$(mr_ls a)"
	sv -C c verify
	expect_status 0
}

# The ledger goes out without a delta search (see storage/ledger.c,
# pack_without_deltas): capture records of 20 puts, alike enough for git to
# delta them, arrive in the remote pack as whole objects.
test_ledger_pushed_without_deltas() {
	sv init a
	expect_status 0
	for i in $(seq 20); do
		printf 'station,reading\nA,%d\n' "$i" >"f$i.csv"
		sv -C a put "$PWD/f$i.csv" --url "http://data.example.gov/readings/f$i.csv" --note "monthly readings, file $i"
		expect_status 0
	done
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git"
	expect_status 0
	mkdir -p remote/objects
	sv -C a mirror push eu
	expect_status 0
	git --git-dir=remote/ledger.git fsck --strict >fsck.out 2>&1 || fail "git fsck: $(cat fsck.out)"
	set -- remote/ledger.git/objects/pack/*.idx
	[ -f "$1" ] || fail "no pack in the remote ledger"
	git verify-pack -v "$1" >pack.txt
	expect_in "non delta:" "$(cat pack.txt)"
	if grep -q "chain length" pack.txt; then fail "deltas in the pushed pack: $(grep 'chain length' pack.txt)"; fi
	expect_eq "$(git --git-dir=a/ledger.git config pack.deltaCacheSize)" 1
}

test_file_push_killed_then_resumed() {
	mr_home
	mr_archive a
	# About 2,000 objects of 16 kB: enough for a push of a second or more.
	mkdir files
	head -c $((2000 * 16384)) /dev/urandom | (cd files && split -b 16384 -a 4 - f)
	find "$PWD/files" -type f | xargs -n 200 "$SALVAGE" -C a put >/dev/null || fail "put failed"
	total=$(find a/objects/sha256 -type f | wc -l)
	mkdir -p remote/objects
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git"
	expect_status 0

	"$SALVAGE" -C a mirror push eu >push1.out 2>push1.err &
	pid=$!
	# Killed once a batch or more is recorded: mid-push.
	for _ in $(seq 2000); do
		[ -f a/mirrors/eu.have ] && [ "$(wc -l <a/mirrors/eu.have)" -ge 2 ] && break
		sleep 0.005
	done
	kill -9 "$pid" 2>/dev/null || true
	set +e
	wait "$pid"
	rc=$?
	set -e
	[ "$rc" -eq 137 ] || fail "the push was not killed mid-way (exit $rc): $(cat push1.out push1.err)"
	held=$(($(wc -l <a/mirrors/eu.have) - 1))
	echo "killed with $held of $total objects recorded"
	[ "$held" -ge 1 ] && [ "$held" -lt "$total" ] || fail "$held of $total recorded"
	# The ledger goes last: nothing of it reached the remote.
	if [ -d remote/ledger.git ] && git --git-dir=remote/ledger.git rev-parse -q --verify refs/heads/main >/dev/null; then
		fail "the ledger was pushed before the objects"
	fi
	# Every object that is recorded is really there, complete.
	while read -r hex; do
		cmp -s "$(object_path a "$hex")" "remote/objects/sha256/${hex:0:2}/$hex.zst" ||
			fail "$hex is recorded but not on the remote"
	done < <(tail -n +2 a/mirrors/eu.have)

	sv -C a mirror push eu
	expect_status 0
	expect_in "ledger pushed (1 branch)" "$out"
	up=$(sed -E 's/^mirror eu: ([0-9]+) objects? uploaded.*/\1/' <<<"$out")
	[ "$up" -le $((total - held)) ] || fail "the resumed push sent $up objects, more than the $((total - held)) missing"
	expect_eq "$(mr_remote_objects remote/objects)" "$(mr_local_objects a)"
	expect_eq "$(git --git-dir=remote/ledger.git rev-parse main)" "$(git --git-dir=a/ledger.git rev-parse main)"
	sv -C a mirror verify --deep eu
	expect_status 0
	# Nothing is left to send, and finding that out is quick.
	t0=$(mr_ms)
	sv -C a mirror push eu
	t1=$(mr_ms)
	expect_status 0
	expect_in "mirror eu: 0 objects uploaded (0.0 MB), $total already there" "$out"
	echo "second push of $total objects: $((t1 - t0)) ms"
	[ $((t1 - t0)) -lt 1000 ] || fail "a push with nothing new took $((t1 - t0)) ms for $total objects"
	# A lost .have file is rebuilt from one listing, without uploading again.
	rm a/mirrors/eu.have
	before=$(mr_mtimes remote/objects)
	sv -C a mirror push eu
	expect_status 0
	expect_in "mirror eu: 0 objects uploaded" "$out"
	expect_eq "$(mr_mtimes remote/objects)" "$before"

	# A capture committed while a push uploads waits for the next push: the
	# push publishes the tips it started with, whose objects it has sent.
	mkdir files2
	head -c $((1000 * 16384)) /dev/urandom | (cd files2 && split -b 16384 -a 4 - g)
	find "$PWD/files2" -type f | xargs -n 200 "$SALVAGE" -C a put >/dev/null || fail "put failed"
	tip=$(git --git-dir=a/ledger.git rev-parse main)
	"$SALVAGE" -C a mirror push eu >push2.out 2>push2.err &
	pid=$!
	for _ in $(seq 2000); do
		[ "$(wc -l <a/mirrors/eu.have)" -gt $((total + 1)) ] && break
		sleep 0.005
	done
	# Held still mid-push while the capture is committed: a push of 1,000
	# objects can end sooner than a put (a sanitizer build's, say) takes.
	kill -STOP "$pid" 2>/dev/null || fail "the push ended before the capture was committed: $(cat push2.out)"
	echo "harvested by hand during a push" >late.txt
	late=$(sha256sum <late.txt | cut -d' ' -f1)
	"$SALVAGE" -C a put "$PWD/late.txt" --url http://example.org/late.txt >/dev/null || fail "put --url failed"
	kill -CONT "$pid"
	wait "$pid" || fail "the push failed: $(cat push2.out push2.err)"
	[ "$(git --git-dir=a/ledger.git rev-parse main)" != "$tip" ] || fail "put --url made no commit"
	expect_eq "$(git --git-dir=remote/ledger.git rev-parse main)" "$tip"
	[ ! -e "remote/objects/sha256/${late:0:2}/$late.zst" ] || fail "an object stored after the push began was sent by it"
	mr_remote_ledger_sound remote/ledger.git remote/objects
	sv -C a mirror push eu
	expect_status 0
	expect_in "mirror eu: 1 object uploaded" "$out"
	expect_eq "$(git --git-dir=remote/ledger.git rev-parse main)" "$(git --git-dir=a/ledger.git rev-parse main)"
	mr_remote_ledger_sound remote/ledger.git remote/objects
	sv -C a mirror verify eu
	expect_status 0
}

# mr_remote_ledger_sound LEDGER OBJECTS: every payload the remote ledger's
# capture records name is among the remote objects (also when nothing is pushed yet).
mr_remote_ledger_sound() {
	git --git-dir="$1" rev-parse -q --verify refs/heads/main >/dev/null 2>&1 || return 0
	# Only sheets so far: nothing names an object yet.
	[ -n "$(git --git-dir="$1" ls-tree main captures)" ] || return 0
	git --git-dir="$1" archive main captures | tar -xO | python3 -c '
import json, os, sys
objects, n, missing = sys.argv[1], 0, []
for line in sys.stdin:
    if not line.strip():
        continue
    sha = json.loads(line).get("sha256")
    if sha:
        n += 1
        if not os.path.exists(os.path.join(objects, "sha256", sha[:2], sha + ".zst")):
            missing.append(sha)
if missing:
    sys.exit("the mirror ledger names %d objects the mirror lacks: %s" % (len(missing), " ".join(missing[:5])))
print(n, "payloads named by the mirror ledger, all on the mirror")' "$2"
}

test_push_while_crawling_never_publishes_missing_objects() {
	mr_home
	[ -x "$MR_TESTSERVER" ] || fail "testserver not built ($MR_TESTSERVER)"
	# Ten pages and four datasets dripped at 12 kB/s, one connection at a
	# time: a crawl of about ten seconds that commits to the ledger every five.
	slow_site big 10 500 4 6000
	"$MR_TESTSERVER" --port 0 --root big --port-file big.port --log big.log 2>big.stderr &
	mr_pids+=($!)
	for _ in $(seq 200); do
		[ -s big.port ] && break
		sleep 0.05
	done
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$(cat big.port)" >sheet.csv
	sv init a
	git config -f a/salvage.conf crawl.hostConnections 1
	mkdir -p remote/objects
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git"
	(cd a && exec timeout -k 5 120 "$SALVAGE" crawl --jobs 1 ../sheet.csv) >crawl.out 2>&1 &
	crawl=$!
	mr_pids+=("$crawl")
	pushes=0
	while kill -0 "$crawl" 2>/dev/null; do
		sv -C a mirror push eu
		expect_status 0
		echo "$out" >>pushes.out
		mr_remote_ledger_sound remote/ledger.git remote/objects >/dev/null || fail "push $pushes broke the order"
		pushes=$((pushes + 1))
		sleep 0.2
	done
	wait "$crawl" || fail "the crawl failed: $(cat crawl.out)"
	sv -C a mirror push eu
	expect_status 0
	mr_remote_ledger_sound remote/ledger.git remote/objects
	published=$(grep -c "ledger pushed" pushes.out || true)
	echo "$pushes pushes during the crawl, $published of them with new ledger commits"
	[ "$published" -ge 2 ] || fail "the ledger moved under fewer than two pushes: $(cat pushes.out)"
	expect_eq "$(git --git-dir=remote/ledger.git rev-parse main)" "$(git --git-dir=a/ledger.git rev-parse main)"
	sv -C a mirror verify --deep eu
	expect_status 0
	sv clone --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git" c
	expect_status 0
	expect_eq "$(mr_ls c)" "$(mr_ls a)"
}

test_failed_uploads_hold_the_ledger_back() {
	mr_home
	mr_archive a
	hex=$(mr_page_object a)
	[ -n "$hex" ] || fail "no page captured"
	mkdir -p remote/objects/sha256
	# A file where the object's folder should be: that upload fails, the others do not.
	echo "in the way" >"remote/objects/sha256/${hex:0:2}"
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git"
	sv -C a mirror push eu
	expect_status 1
	expect_in "failed" "$out"
	expect_in "ledger not pushed" "$out"
	expect_in "cannot upload sha256/${hex:0:2}/$hex.zst" "$err"
	expect_in "the ledger was not pushed" "$err"
	if [ -d remote/ledger.git ] && git --git-dir=remote/ledger.git rev-parse -q --verify refs/heads/main >/dev/null; then
		fail "the ledger was pushed although an object it names is missing"
	fi
	rm "remote/objects/sha256/${hex:0:2}"
	sv -C a mirror push eu
	expect_status 0
	expect_in "ledger pushed" "$out"
	expect_eq "$(mr_remote_objects remote/objects)" "$(mr_local_objects a)"

	# An object the ledger names but this archive lost: the ledger is not published.
	mr_archive b2
	hex=$(mr_page_object b2)
	rm -f "$(object_path b2 "$hex")"
	mkdir -p remote2/objects
	sv -C b2 mirror add eu --objects "file://$PWD/remote2/objects" --ledger "$PWD/remote2/ledger.git"
	sv -C b2 mirror push eu
	expect_status 1
	expect_in "the ledger names object $hex" "$err"
	if git --git-dir=remote2/ledger.git rev-parse -q --verify refs/heads/main >/dev/null 2>&1; then
		fail "a ledger naming a missing object was pushed"
	fi
}

test_verify_finds_damage_and_push_repairs() {
	mr_home
	mr_archive a
	mkdir -p remote/objects
	sv -C a mirror add eu --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git"
	sv -C a mirror push eu
	expect_status 0
	hex=$(mr_page_object a)
	f=remote/objects/sha256/${hex:0:2}/$hex.zst
	size=$(stat -c %s "$f")
	mr_flip "$f" $((size / 2))
	expect_eq "$(stat -c %s "$f")" "$size"
	# Sizes only: a flipped byte goes unnoticed.
	sv -C a mirror verify eu
	expect_status 0
	# Re-hashing finds it, and names it.
	sv -C a mirror verify --deep eu
	expect_status 1
	expect_in "sha256/${hex:0:2}/$hex.zst: damaged on mirror eu" "$out"
	expect_in "1 problem" "$out"
	expect_eq "$(printf '%s\n' "$out" | grep -c damaged)" 1
	# A 100% sample re-hashes everything, too.
	sv -C a mirror verify --sample 100% eu
	expect_status 1
	expect_in "$hex" "$out"
	# A clone checks every object before it keeps it: the damaged one is named and left out.
	sv clone --objects "file://$PWD/remote/objects" --ledger "$PWD/remote/ledger.git" c
	expect_status 1
	expect_in "sha256/${hex:0:2}/$hex.zst: damaged on mirror origin, not copied" "$out"
	expect_in "neither this archive nor mirror origin holds it" "$out"
	[ ! -e "$(object_path c "$hex")" ] || fail "the damaged object was kept"
	sv -C c verify
	expect_status 1
	expect_in "$hex" "$out"
	[ -z "$(find c/objects/tmp -mindepth 1)" ] || fail "pull left temp files"
	# verify forgot it, so the next push sends it again.
	sv -C a mirror push eu
	expect_status 0
	expect_in "mirror eu: 1 object uploaded" "$out"
	sv -C a mirror verify --deep eu
	expect_status 0
	sv -C a mirror verify --sample 50% eu
	expect_status 0

	# A missing object and a truncated one are found by sizes alone.
	hex2=$("$SALVAGE" -C a ls --json | python3 -c '
import json, sys
shas = sorted({json.loads(l)["sha256"] for l in sys.stdin if json.loads(l).get("sha256")})
print(shas[0]); print(shas[-1])')
first=$(sed -n 1p <<<"$hex2")
last=$(sed -n 2p <<<"$hex2")
	rm "remote/objects/sha256/${first:0:2}/$first.zst"
	truncate -s -1 "remote/objects/sha256/${last:0:2}/$last.zst"
	sv -C a mirror verify eu
	expect_status 1
	expect_in "sha256/${first:0:2}/$first.zst: missing on mirror eu" "$out"
	expect_in "sha256/${last:0:2}/$last.zst: " "$out"
	expect_in "bytes on mirror eu" "$out"
	# verify --remote is the same check.
	sv -C a verify --fast --remote eu
	expect_status 1
	expect_in "sha256/${first:0:2}/$first.zst: missing on mirror eu" "$out"
	sv -C a mirror push eu
	expect_status 0
	expect_in "mirror eu: 2 objects uploaded" "$out"
	sv -C a mirror verify --deep eu
	expect_status 0
	sv -C a verify --remote eu
	expect_status 0

	# A ledger commit the mirror lacks is reported too.
	printf 'url,scope\nhttp://%s/p3.html,page\n' "$SITE" >more.csv
	echo 'page three, changed' >www/p3.html
	(cd a && timeout 60 "$SALVAGE" crawl --jobs 1 ../more.csv >/dev/null) || fail "second crawl failed"
	sv -C a mirror verify eu
	expect_status 1
	expect_in "ledger: branch main" "$out"
	expect_in "is not on mirror eu" "$out"
	sv -C a mirror push eu
	expect_status 0
	sv -C a mirror verify eu
	expect_status 0
}

# --- 3. sftp objects and a git-over-ssh ledger ---

test_sftp_and_ssh_ledger() {
	mr_home
	mr_sshd
	mr_archive a
	git init -q --bare "$SV_SSHD_ROOT/ledger.git"
	ledger=ssh://$SV_SSHD_USER@127.0.0.1:$SV_SSHD_PORT$SV_SSHD_ROOT/ledger.git
	sv -C a mirror add box --objects "$SV_SSHD_URL/objects" --ledger "$ledger" \
		--ssh-key "$SV_SSHD_KEY" --known-hosts "$SV_SSHD_KNOWN_HOSTS"
	expect_status 0
	n=$(find a/objects/sha256 -type f | wc -l)
	sv -C a mirror push box
	expect_status 0
	expect_in "mirror box: $n objects uploaded" "$out"
	expect_in "ledger pushed (1 branch)" "$out"
	expect_eq "$(mr_remote_objects "$SV_SSHD_ROOT/objects")" "$(mr_local_objects a)"
	mr_check_readable "$SV_SSHD_ROOT/objects"
	git --git-dir="$SV_SSHD_ROOT/ledger.git" fsck --strict >fsck.out 2>&1 || fail "git fsck: $(cat fsck.out)"
	expect_eq "$(git --git-dir="$SV_SSHD_ROOT/ledger.git" rev-parse main)" "$(git --git-dir=a/ledger.git rev-parse main)"

	before=$(mr_mtimes "$SV_SSHD_ROOT")
	sv -C a mirror push box
	expect_status 0
	expect_in "mirror box: 0 objects uploaded (0.0 MB), $n already there; ledger up to date" "$out"
	expect_eq "$(mr_mtimes "$SV_SSHD_ROOT")" "$before"
	sv -C a mirror verify --deep box
	expect_status 0

	sv clone --objects "$SV_SSHD_URL/objects" --ledger "$ledger" --ssh-key "$SV_SSHD_KEY" \
		--known-hosts "$SV_SSHD_KNOWN_HOSTS" c
	expect_status 0
	sv -C c verify
	expect_status 0
	expect_eq "$(mr_ls c)" "$(mr_ls a)"
	[ -z "$(ls -A home)" ] || fail "something was written to HOME: $(ls -A home)"

	# A host key that is not the server's is refused, for objects and ledger alike.
	ssh-keygen -q -t ed25519 -N '' -f other_key </dev/null
	echo "[127.0.0.1]:$SV_SSHD_PORT $(cut -d' ' -f1,2 other_key.pub)" >wrong_known_hosts
	echo "one more file" >more.txt
	mr_put a "$PWD/more.txt"
	sv -C a mirror add evil --objects "$SV_SSHD_URL/objects-evil" --ledger "$ledger" \
		--ssh-key "$SV_SSHD_KEY" --known-hosts "$PWD/wrong_known_hosts"
	expect_status 0
	sv -C a mirror push evil
	expect_status 3
	expect_in "host key" "$err"
	[ ! -e "$SV_SSHD_ROOT/objects-evil" ] || fail "files reached a server whose key did not match"
	sv clone --objects "$SV_SSHD_URL/objects" --ledger "$ledger" --ssh-key "$SV_SSHD_KEY" \
		--known-hosts "$PWD/wrong_known_hosts" d
	expect_status 3
	expect_in "host key" "$err"
	# No known_hosts at all (HOME has none) is refused as well.
	sv clone --objects "$SV_SSHD_URL/objects" --ledger "$ledger" --ssh-key "$SV_SSHD_KEY" e
	[ "$status" -eq 3 ] || [ "$status" -eq 2 ] || fail "clone without known_hosts: exit $status"
	expect_in "known_hosts" "$err"
	[ -z "$(find e/objects/sha256 -type f)" ] || fail "objects came from a server that was not checked"

	# The server goes away between two pushes: exit 3, and nothing is taken as sent.
	have=$(cat a/mirrors/box.have)
	sv_sshd_stop "$PWD/sshd"
	sv -C a mirror push box
	expect_status 3
	expect_in "no longer answers" "$err"
	expect_in "ledger not pushed" "$out"
	expect_eq "$(cat a/mirrors/box.have)" "$have"
}

# --- 4. S3 ---

test_s3_push_verify_clone() {
	mr_home
	mr_s3
	mr_archive a
	n=$(find a/objects/sha256 -type f | wc -l)
	sv -C a mirror add cloud --objects "s3://$SV_S3_BUCKET/rescue/2026" --s3-endpoint "$SV_S3_ENDPOINT" \
		--s3-region "$SV_S3_REGION" --ledger "$PWD/cloud-ledger.git" --allow-http
	expect_status 0
	sv -C a mirror push cloud
	expect_status 0
	expect_in "mirror cloud: $n objects uploaded" "$out"
	expect_in "ledger pushed" "$out"
	sv -C a mirror push cloud
	expect_status 0
	expect_in "mirror cloud: 0 objects uploaded (0.0 MB), $n already there; ledger up to date" "$out"
	sv -C a mirror verify --deep cloud
	expect_status 0
	expect_in "all sound" "$out"
	# The server keeps each object's bytes in a file of its own: damage one.
	hex=$(mr_page_object a)
	f=$(find "$SV_S3_DATA" -name "$hex.zst._S3rver_object")
	[ -f "$f" ] || fail "cannot find $hex in the S3 server's files"
	mr_flip "$f" $(($(stat -c %s "$f") / 2))
	sv -C a mirror verify cloud
	expect_status 0
	sv -C a mirror verify --deep cloud
	expect_status 1
	expect_in "$hex.zst: damaged on mirror cloud" "$out"
	sv -C a mirror push cloud
	expect_status 0
	expect_in "1 object uploaded" "$out"

	sv clone --objects "s3://$SV_S3_BUCKET/rescue/2026" --s3-endpoint "$SV_S3_ENDPOINT" --allow-http \
		--ledger "$PWD/cloud-ledger.git" c
	expect_status 0
	sv -C c verify
	expect_status 0
	expect_in "verified $n objects" "$out"
	expect_eq "$(mr_ls c)" "$(mr_ls a)"
	sv -C c mirror verify --deep origin
	expect_status 0

	# Without keys in the environment: a clear message, exit 2.
	(unset AWS_SECRET_ACCESS_KEY && "$SALVAGE" -C a mirror verify cloud >nokey.out 2>nokey.err) && fail "verify without keys worked"
	grep -q AWS_SECRET_ACCESS_KEY nokey.err || fail "no word of the missing key: $(cat nokey.err)"
}

test_credentials_never_leak() {
	mr_home
	mr_s3
	mr_sshd
	mr_archive a
	secret=$AWS_SECRET_ACCESS_KEY
	export AWS_SESSION_TOKEN=session-token-$RANDOM-$RANDOM-sekrit
	sv -C a mirror add cloud --objects "s3://$SV_S3_BUCKET/leak" --s3-endpoint "$SV_S3_ENDPOINT" --allow-http \
		--ledger "$PWD/leak-ledger.git"
	expect_status 0
	{
		"$SALVAGE" -C a mirror push cloud
		"$SALVAGE" -C a mirror push --recheck cloud
		"$SALVAGE" -C a mirror verify --deep cloud
		"$SALVAGE" -C a mirror pull cloud
		"$SALVAGE" clone --objects "s3://$SV_S3_BUCKET/leak" --s3-endpoint "$SV_S3_ENDPOINT" --allow-http \
			--ledger "$PWD/leak-ledger.git" c
		# Failures carry messages from the server: a wrong secret, a refused session token.
		AWS_SECRET_ACCESS_KEY=wrong-$secret "$SALVAGE" -C a mirror push --recheck cloud
		AWS_SECRET_ACCESS_KEY=wrong-$secret "$SALVAGE" -C a mirror verify --deep cloud
		"$SALVAGE" clone --objects "s3://$SV_S3_BUCKET/leak" --s3-endpoint "http://127.0.0.1:9" --allow-http \
			--ledger "$PWD/leak-ledger.git" d
		# sftp with a password in a URL written into the file by hand (never by salvage).
		git config -f a/salvage.conf remote.byhand.objects \
			"sftp://$SV_SSHD_USER:pw-$secret@127.0.0.1:$SV_SSHD_PORT$SV_SSHD_ROOT/x"
		git config -f a/salvage.conf remote.byhand.ledger \
			"ssh://$SV_SSHD_USER:pw-$secret@127.0.0.1:$SV_SSHD_PORT$SV_SSHD_ROOT/none.git"
		git config -f a/salvage.conf remote.byhand.knownHosts "$PWD/none"
		"$SALVAGE" -C a mirror push byhand
		"$SALVAGE" -C a mirror list
		git config -f a/salvage.conf --remove-section remote.byhand
	} >all.out 2>all.err || true
	grep -q "objects uploaded" all.out || fail "the push did not run: $(cat all.out all.err)"
	grep -q "SignatureDoesNotMatch\|403" all.err || fail "the wrong secret was not refused: $(cat all.err)"
	for s in "$secret" "$AWS_SESSION_TOKEN"; do
		if grep -rqF -- "$s" all.out all.err a c d 2>/dev/null; then
			fail "a secret leaked: $(grep -rlF -- "$s" all.out all.err a c d 2>/dev/null)"
		fi
	done
	! grep -qi "secret\|token\|password" a/salvage.conf || fail "salvage.conf mentions a secret: $(cat a/salvage.conf)"
}

# --- 5. the remote is not there ---

test_unreachable_remote_exit_3() {
	mr_home
	mr_archive a
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	touch known_hosts key
	sv -C a mirror add gone --objects "sftp://me@127.0.0.1:$port/srv" --ledger "ssh://me@127.0.0.1:$port/srv/l.git" \
		--known-hosts "$PWD/known_hosts" --ssh-key "$PWD/key"
	expect_status 0
	sv -C a mirror push gone
	expect_status 3
	sv -C a mirror verify gone
	expect_status 3
	# A first push makes the objects folder itself (one level), never the folders above it.
	sv -C a mirror add nodisk --objects "file://$PWD/not-mounted/objects" --ledger "$PWD/l.git"
	sv -C a mirror push nodisk
	expect_status 3
	expect_in "not-mounted" "$err"
	[ ! -e not-mounted ] || fail "a missing mirror folder was created"
}

# --- 5. A first push to a new place ---

# mr_first_push NAME DIR: archive a's first push to mirror NAME made DIR/objects
# and the bare repository DIR/ledger.git, which hold all of a.
mr_first_push() {
	sv -C a mirror push "$1"
	expect_status 0
	expect_in "ledger pushed (1 branch)" "$out"
	expect_eq "$(mr_remote_objects "$2/objects")" "$(mr_local_objects a)"
	expect_eq "$(git --git-dir="$2/ledger.git" rev-parse --is-bare-repository)" "true"
	expect_eq "$(git --git-dir="$2/ledger.git" rev-parse main)" "$(git --git-dir=a/ledger.git rev-parse main)"
}

# rsync, rclone and restic users expect a first push to make what it needs:
# the objects folder and a bare ledger repository under an existing folder.
test_first_push_creates_file_mirror() {
	mr_home
	mr_archive a
	mkdir -p backup/off
	off=$PWD/backup/off
	sv -C a mirror add off --objects "file://$off/objects" --ledger "file://$off/ledger.git"
	expect_status 0
	mr_first_push off "$off"
	sv -C a mirror verify --deep off
	expect_status 0
	sv clone --objects "file://$off/objects" --ledger "file://$off/ledger.git" c
	expect_status 0
	expect_eq "$(mr_ls c)" "$(mr_ls a)"

	# Only the last folder is made: a missing disk (its mount point gone too) is not filled.
	sv -C a mirror add gone --objects "file://$PWD/unmounted/off/objects" --ledger "file://$off/ledger.git"
	expect_status 0
	sv -C a mirror push gone
	expect_status 3
	expect_in "No such file or directory" "$err"
	[ ! -e unmounted ] || fail "a push made the folders above the mirror's own"
	# pull, verify and clone never make a location.
	sv clone --objects "file://$off/nothing" --ledger "file://$off/ledger.git" d
	[ "$status" -ne 0 ] || fail "clone from a missing objects folder succeeded"
	[ ! -e "$off/nothing" ] || fail "clone made the mirror's objects folder"
}

# The same over ssh, where the server holds only OpenSSH and git: the sftp
# objects folder is made, and the bare ledger repository is made over ssh
# (git init --bare) when the push finds none, under a folder that exists.
test_first_push_creates_ssh_mirror() {
	mr_home
	mr_sshd
	mr_archive a
	off=$SV_SSHD_ROOT/backup/off
	mkdir -p "$off"
	ssh=ssh://$SV_SSHD_USER@127.0.0.1:$SV_SSHD_PORT$SV_SSHD_ROOT
	keys=(--ssh-key "$SV_SSHD_KEY" --known-hosts "$SV_SSHD_KNOWN_HOSTS")
	sv -C a mirror add off --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$ssh/backup/off/ledger.git" "${keys[@]}"
	expect_status 0
	mr_first_push off "$off"
	expect_eq "$(git --git-dir="$off/ledger.git" symbolic-ref HEAD)" "refs/heads/main"
	# It refuses a rewrite, as a ledger made by salvage itself does.
	expect_eq "$(git --git-dir="$off/ledger.git" config receive.denyNonFastForwards)" "true"
	sv -C a mirror push off
	expect_status 0
	expect_in "ledger up to date" "$out"
	sv clone --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$ssh/backup/off/ledger.git" "${keys[@]}" c
	expect_status 0
	expect_eq "$(mr_ls c)" "$(mr_ls a)"

	# pull, verify and clone never make a ledger.
	sv -C a mirror add none --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$ssh/backup/off/none.git" "${keys[@]}"
	expect_status 0
	sv -C a mirror pull none
	[ "$status" -ne 0 ] || fail "pull from a missing ledger succeeded"
	sv -C a mirror verify none
	[ "$status" -ne 0 ] || fail "verify of a missing ledger succeeded"
	sv clone --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$ssh/backup/off/none.git" "${keys[@]}" d
	[ "$status" -ne 0 ] || fail "clone from a missing ledger succeeded"
	[ ! -e "$off/none.git" ] || fail "pull, verify or clone made a ledger"

	# Only the last folder is made: a missing disk (its mount point gone too) is not filled.
	sv -C a mirror add gone --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$ssh/unmounted/off/ledger.git" "${keys[@]}"
	expect_status 0
	sv -C a mirror push gone
	expect_status 3
	expect_in "unmounted/off" "$err"
	expect_in "ledger not pushed" "$out"
	[ ! -e "$SV_SSHD_ROOT/unmounted" ] || fail "a push made the folders above the ledger"
	# A folder that holds something else is left alone.
	mkdir "$off/taken"
	echo "someone's notes" >"$off/taken/notes.txt"
	sv -C a mirror add taken --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$ssh/backup/off/taken" "${keys[@]}"
	sv -C a mirror push taken
	expect_status 2
	expect_in "exists and is not a git repository" "$err"
	[ "$(ls -A "$off/taken")" = notes.txt ] || fail "a push wrote into a folder that was not empty: $(ls -A "$off/taken")"

	# A path with a double quote and a ';' reaches the server's shell as one word (libgit2 1.5 takes
	# no space in an ssh URL, raw or as %20: tests/unit/test_ledger_ssh.c runs the script on one).
	mkdir "$SV_SSHD_ROOT/an\"odd\";dir"
	odd="$ssh/an\"odd\";dir/ledger.git"
	sv -C a mirror add odd --objects "$SV_SSHD_URL/backup/off/objects" --ledger "$odd" "${keys[@]}"
	expect_status 0
	sv -C a mirror push odd
	expect_status 0
	expect_in "ledger pushed (1 branch)" "$out"
	expect_eq "$(git --git-dir="$SV_SSHD_ROOT/an\"odd\";dir/ledger.git" rev-parse main)" \
		"$(git --git-dir=a/ledger.git rev-parse main)"
	[ "$(ls -A "$SV_SSHD_ROOT/an\"odd\";dir")" = ledger.git ] || fail "unexpected files: $(ls -A "$SV_SSHD_ROOT/an\"odd\";dir")"
	# A single quote would end libgit2's own quoting of the path on the server: refused before anything runs.
	mkdir "$SV_SSHD_ROOT/q"
	sv -C a mirror add quote --objects "$SV_SSHD_URL/backup/off/objects" \
		--ledger "$ssh/q/x';touch%20pwned;'.git" "${keys[@]}"
	sv -C a mirror push quote
	[ "$status" -ne 0 ] || fail "a ledger path with a single quote was pushed to"
	[ -z "$(ls -A "$SV_SSHD_ROOT/q")" ] || fail "a quote in the path made something: $(ls -A "$SV_SSHD_ROOT/q")"
	home=$(getent passwd "$(id -un)" | cut -d: -f6)
	if [ -e "$home/pwned" ] || [ -e "$SV_SSHD_ROOT/q/pwned" ]; then fail "a quote in the path ran a command"; fi
}

# --- A hostile mirror ---

# An object the listing says is small but that arrives far larger (64 MiB) is
# stopped at the listed size, reported damaged and not adopted; the rest of
# the pull goes on.
test_hostile_mirror_download_capped() {
	mr_home
	mr_archive a
	mkdir off
	sv -C a mirror add off --objects "file://$PWD/off" --ledger "file://$PWD/off.git"
	expect_status 0
	sv -C a mirror push off
	expect_status 0
	big=$(cd off && find sha256 -name '*.zst' | sort | head -1)
	python3 "$MR_REPO/tests/servers/hostile_s3.py" "$PWD/off" s3.port s3.log "$big" 2>s3.err &
	mr_pids+=($!)
	for _ in $(seq 100); do
		[ -s s3.port ] && break
		sleep 0.05
	done
	[ -s s3.port ] || fail "the hostile S3 server did not start: $(cat s3.err)"
	export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secretexample
	# The hostile server is plain http on loopback: allowed, so that the cap is what stops it.
	sv clone --allow-http --objects s3://bkt --s3-endpoint "http://127.0.0.1:$(cat s3.port)" --ledger "file://$PWD/off.git" c
	expect_status 1
	echo "$out $err"
	expect_in "$(basename "$big")" "$out $err"
	expect_in "larger than" "$out $err"
	read -r key sent <s3.log
	expect_eq "$key" "$big"
	[ "$sent" -lt $((16 << 20)) ] || fail "the server sent $sent bytes before the download stopped"
	[ ! -e "c/objects/$big" ] || fail "the oversized object was adopted"
	[ -z "$(find c/tmp -type f -size +1M)" ] || fail "a large download was left in tmp: $(ls -la c/tmp)"
	# Every other object came.
	expect_eq "$(objects_in c)" "$(($(objects_in a) - 1))"
}

# A mirror's ledger is not trusted text: a record whose URL holds terminal
# escape sequences is shown with its control bytes escaped by ls, never raw.
test_hostile_ledger_shown_escaped() {
	mr_home
	echo "a file" >f.txt
	sv init a
	expect_status 0
	mr_put a "$PWD/f.txt" --url http://example.gov/f.txt
	mkdir -p off/objects
	sv -C a mirror add off --objects "file://$PWD/off/objects" --ledger "file://$PWD/off/ledger.git"
	sv -C a mirror push off
	expect_status 0
	# The mirror's keeper adds a commit whose record's URL clears the screen and retitles the terminal.
	git clone -q off/ledger.git work
	f=$(cd work && git ls-files 'captures/*' | head -1)
	sed -i 's|"url":"http://example.gov/f.txt"|"url":"http://example.gov/\\u001b[2J\\u001b]0;pwned\\u0007\\u009b31mx"|' "work/$f"
	grep -q 'u001b' "work/$f" || fail "the record was not rewritten: $(cat "work/$f")"
	git -C work -c user.name=m -c user.email=m@example.org commit -qam "hostile"
	git -C work push -q origin HEAD:main
	sv clone --objects "file://$PWD/off/objects" --ledger "file://$PWD/off/ledger.git" c
	sv -C c ls
	expect_status 0
	echo "$out"
	case "$out" in *$'\e'* | *$'\a'* | *$'\xc2\x9b'*) fail "ls printed control bytes raw: $(printf '%s' "$out" | od -c | head)" ;; esac
	expect_in 'http://example.gov/\x1b[2J\x1b]0;pwned\x07\u009b31mx' "$out"
}
