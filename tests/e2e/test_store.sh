# End-to-end tests of the object store commands: init, put, cat, verify.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_store.sh
# Each test_* runs with `set -e` in a fresh empty folder (see lib.sh).
# shellcheck disable=SC2154 # $out, $err and $status are set by sv (lib.sh)

GENSTREAM=${BUILD:-build/rel}/tests/genstream

# --- local helpers (prefixed st_ so they never clash with lib.sh) ---

# st_need_genstream: skips the test when the generator was not built.
st_need_genstream() {
	[ -x "$GENSTREAM" ] || skip "genstream not built ($GENSTREAM)"
}

# st_hex FILE: the SHA-256 of FILE.
st_hex() {
	sha256sum <"$1" | cut -d' ' -f1
}

# st_init DIR: creates an archive, failing the test if init fails.
st_init() {
	sv init "$1"
	expect_status 0
}

# st_put ARCHIVE FILE: stores FILE and echoes its digest.
st_put() {
	local o
	o=$("$SALVAGE" -C "$1" put "$(realpath "$2")") || fail "put $2 failed"
	echo "${o%%  *}"
}

# st_temps ARCHIVE: the number of files in objects/tmp.
st_temps() {
	find "$1/objects/tmp" -mindepth 1 | wc -l
}

# st_count_lines TEXT HAYSTACK: how many lines of HAYSTACK contain TEXT.
st_count_lines() {
	printf '%s\n' "$2" | grep -cF -- "$1" || true
}

# st_flip_byte FILE OFFSET: inverts the bits of one byte in place.
st_flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the escaped byte itself
	printf "$(printf '\\%03o' $((b ^ 0xff)))" |
		dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# --- 1. init ---

test_init_creates_layout() {
	sv init a
	expect_status 0
	[ -f a/salvage.conf ] || fail "no salvage.conf"
	[ -d a/objects/sha256 ] || fail "no objects/sha256/"
	[ -d a/objects/tmp ] || fail "no objects/tmp/"
	[ -d a/tmp ] || fail "no tmp/"
	[ -d a/logs ] || fail "no logs/"
	# salvage.conf is git-config syntax: git can read it.
	if command -v git >/dev/null; then
		git config -f a/salvage.conf --list >/dev/null || fail "git cannot parse salvage.conf"
	fi
	# A fresh archive holds no objects and verifies clean.
	expect_eq "$(objects_in a)" 0
	sv -C a verify
	expect_status 0
	expect_in "all sound" "$out"
}

test_init_refuses_nonempty_dir() {
	mkdir d
	echo "precious data" >d/notes.txt
	before=$(sha256sum d/notes.txt)
	sv init d
	expect_status 2
	expect_in "'d' is not empty and is not an archive" "$err"
	expect_eq "$(sha256sum d/notes.txt)" "$before"
	[ ! -e d/salvage.conf ] || fail "salvage.conf created in a non-empty dir"
	expect_eq "$(ls -A d)" "notes.txt"
}

test_init_existing_archive_is_noop() {
	st_init a
	echo "x" >f
	st_put a f >/dev/null
	conf_before=$(sha256sum a/salvage.conf)
	tree_before=$(cd a && find . | sort)
	sv init a
	expect_status 0
	expect_in "already an archive" "$out$err"
	expect_eq "$(sha256sum a/salvage.conf)" "$conf_before"
	expect_eq "$(cd a && find . | sort)" "$tree_before"
	expect_eq "$(objects_in a)" 1
}

# --- 2. finding the archive ---

test_commands_outside_archive_exit_2() {
	d=$PWD
	while [ "$d" != / ]; do
		[ ! -f "$d/salvage.conf" ] || skip "the test folder is inside an archive ($d)"
		d=$(dirname "$d")
	done
	echo "hello" >f
	sv put f
	expect_status 2
	expect_in "not in an archive" "$err"
	sv cat "$(st_hex f)"
	expect_status 2
	expect_in "not in an archive" "$err"
	sv verify
	expect_status 2
	expect_in "not in an archive" "$err"
	# Nothing was created as a side effect.
	expect_eq "$(ls -A)" "f"
}

test_dash_C_selects_archive() {
	st_init a
	echo "hello" >f
	hex=$(st_hex f)
	# "As if started in DIR": relative names are relative to DIR, as in git -C.
	sv -C a put ../f
	expect_status 0
	expect_eq "$out" "$hex  ../f"
	[ -f "$(object_path a "$hex")" ] || fail "object not stored in a/"
	sv -C a put "$PWD/f"
	expect_status 0
	expect_eq "$out" "$hex  $PWD/f"
	expect_eq "$(objects_in a)" 1
	sv -C a cat "$hex"
	expect_status 0
	expect_eq "$out" "hello"
	sv -C a verify
	expect_status 0
}

test_runs_from_subfolder_of_archive() {
	st_init a
	mkdir -p a/logs/deep/er
	echo "from below" >f
	hex=$(st_hex f)
	cd a/logs/deep/er
	sv put ../../../../f
	expect_status 0
	expect_eq "$out" "$hex  ../../../../f"
	sv cat "$hex"
	expect_status 0
	expect_eq "$out" "from below"
	sv verify
	expect_status 0
	cd ../../../..
	[ -f "$(object_path a "$hex")" ] || fail "object not stored in the enclosing archive"
	[ ! -e a/logs/deep/er/objects ] || fail "an object store was created in the subfolder"
}

# --- 3. put output is sha256sum's ---

test_put_output_matches_sha256sum() {
	st_need_genstream
	st_init a
	: >empty
	printf 'x' >one
	head -c 131071 /dev/urandom >k131071
	head -c 131072 /dev/urandom >k131072
	head -c 131073 /dev/urandom >k131073
	"$GENSTREAM" 10M >ten_mb
	"$GENSTREAM" 300K 7 >piped
	files="../empty ../one ../k131071 ../k131072 ../k131073 ../ten_mb"
	cd a
	# shellcheck disable=SC2086
	"$SALVAGE" put $files - <../piped >../got || fail "put failed"
	# shellcheck disable=SC2086
	sha256sum $files - <../piped >../want
	cd ..
	cmp got want || fail "put output differs from sha256sum: $(diff got want)"
	expect_eq "$(objects_in a)" 7
	# And each one alone, by absolute name, and the empty stdin.
	for f in empty one k131071 k131072 k131073 ten_mb; do
		"$SALVAGE" -C a put "$PWD/$f" >got1
		sha256sum "$PWD/$f" >want1
		cmp got1 want1 || fail "put $f: $(cat got1) vs $(cat want1)"
	done
	"$SALVAGE" -C a put - <empty >got1
	sha256sum - <empty >want1
	cmp got1 want1 || fail "put - (empty stdin): $(cat got1) vs $(cat want1)"
	expect_eq "$(objects_in a)" 7
}

# --- 4. the format, checked with zstd and sha256sum only ---

test_objects_readable_with_zstd_and_sha256sum() {
	st_need_genstream
	st_init a
	: >empty
	printf 'x' >one
	head -c 131073 /dev/urandom >rnd
	"$GENSTREAM" 3M >gen
	# shellcheck disable=SC2094 # put only reads ../gen
	(cd a && "$SALVAGE" put ../empty ../one ../rnd ../gen - <../gen >/dev/null) || fail "put failed"
	n=0
	while IFS= read -r obj; do
		n=$((n + 1))
		name=$(basename "$obj" .zst)
		prefix=$(basename "$(dirname "$obj")")
		expect_eq "$prefix" "${name:0:2}"
		got=$(zstd -dc "$obj" | sha256sum | cut -d' ' -f1)
		expect_eq "$got" "$name"
		perms=$(stat -c %a "$obj")
		expect_eq "$perms" 444
	done < <(find a/objects/sha256 -type f)
	expect_eq "$n" 4
	# A regular file: the frame records the checksum and the content size.
	info=$(zstd -lv "$(object_path a "$(st_hex rnd)")")
	expect_in "XXH64" "$info"
	expect_in "(131073 B)" "$info"
	info=$(zstd -lv "$(object_path a "$(st_hex gen)")")
	expect_in "XXH64" "$info"
	expect_in "($((3 * 1024 * 1024)) B)" "$info"
}

# --- 5. dedup ---

test_put_same_file_twice_keeps_one_object() {
	st_init a
	head -c 200000 /dev/urandom >f
	cp f copy
	hex=$(st_put a f)
	obj=$(object_path a "$hex")
	before=$(stat -c '%i %y' "$obj")
	sleep 0.05 # past the kernel timestamp granularity, so a rewrite would show
	sv -C a put "$PWD/f"
	expect_status 0
	expect_eq "$out" "$hex  $PWD/f"
	sv -C a put "$PWD/copy" - <f
	expect_status 0
	expect_eq "$(objects_in a)" 1
	expect_eq "$(stat -c '%i %y' "$obj")" "$before"
	expect_eq "$(st_temps a)" 0
}

# --- 6. cat ---

test_cat_round_trip_10mb() {
	st_need_genstream
	st_init a
	"$GENSTREAM" 10M 3 >f
	hex=$(st_put a f)
	"$SALVAGE" -C a cat "$hex" >back || fail "cat failed"
	cmp f back || fail "cat output differs from the stored file"
}

test_cat_bad_digest_exit_2() {
	st_init a
	echo "x" >f
	hex=$(st_put a f)
	sv -C a cat "${hex:0:63}"
	expect_status 2
	expect_eq "$out" ""
	sv -C a cat "${hex}0"
	expect_status 2
	sv -C a cat "zz${hex:2}"
	expect_status 2
	expect_eq "$out" ""
	sv -C a cat
	expect_status 2
}

test_cat_unknown_digest_exit_1() {
	st_init a
	echo "x" >f
	st_put a f >/dev/null
	unknown=$(printf 'not stored' | sha256sum | cut -d' ' -f1)
	set +e
	"$SALVAGE" -C a cat "$unknown" >stdout 2>stderr
	st=$?
	set -e
	expect_eq "$st" 1
	[ ! -s stdout ] || fail "cat of an unknown digest wrote to stdout: $(head -c 200 stdout)"
	expect_in "no object" "$(cat stderr)"
}

test_cat_damaged_object_exit_1() {
	st_need_genstream
	st_init a
	"$GENSTREAM" 1M 5 >f
	hex=$(st_put a f)
	obj=$(object_path a "$hex")
	chmod u+w "$obj"
	st_flip_byte "$obj" $(($(stat -c %s "$obj") / 2))
	set +e
	"$SALVAGE" -C a cat "$hex" >/dev/null 2>stderr
	st=$?
	set -e
	expect_eq "$st" 1
	expect_in "object $hex is damaged" "$(cat stderr)"
}

# --- 7. all or nothing ---

test_put_missing_file_stores_nothing() {
	st_init a
	echo "one" >good1
	echo "two" >good2
	sv -C a put "$PWD/good1" "$PWD/no-such-file" "$PWD/good2"
	expect_status 2
	expect_in "no-such-file" "$err"
	expect_eq "$(objects_in a)" 0
	# The missing one last.
	sv -C a put "$PWD/good1" "$PWD/good2" "$PWD/also-missing"
	expect_status 2
	expect_in "also-missing" "$err"
	expect_eq "$(objects_in a)" 0
	# A folder among the arguments.
	mkdir adir
	sv -C a put "$PWD/good1" "$PWD/adir"
	expect_status 2
	expect_in "adir" "$err"
	expect_eq "$(objects_in a)" 0
	expect_eq "$(st_temps a)" 0
}

# --- 8. damage ---

test_verify_finds_flip_truncation_and_misplacement() {
	st_need_genstream
	st_init a
	for i in 1 2 3 4; do "$GENSTREAM" 2M "$i" >"f$i"; done
	for i in 1 2 3 4; do h[i]=$(st_put a "f$i"); done
	sv -C a verify
	expect_status 0
	expect_in "all sound" "$out"

	# 1: one byte flipped in the middle.
	flipped=objects/sha256/${h[1]:0:2}/${h[1]}.zst
	chmod u+w "a/$flipped"
	st_flip_byte "a/$flipped" $(($(stat -c %s "a/$flipped") / 2))
	# 2: cut in half.
	truncated=objects/sha256/${h[2]:0:2}/${h[2]}.zst
	chmod u+w "a/$truncated"
	truncate -s $(($(stat -c %s "a/$truncated") / 2)) "a/$truncated"
	# 3: moved to a prefix folder it does not belong in.
	wrong=00
	[ "${h[3]:0:2}" != 00 ] || wrong=01
	mkdir -p "a/objects/sha256/$wrong"
	misplaced=objects/sha256/$wrong/${h[3]}.zst
	mv "a/objects/sha256/${h[3]:0:2}/${h[3]}.zst" "a/$misplaced"
	# 4: untouched.
	sound=${h[4]}

	sv -C a verify
	expect_status 1
	for p in "$flipped" "$truncated" "$misplaced"; do
		expect_eq "$(st_count_lines "$p: " "$out")" 1
	done
	expect_in "$truncated: truncated zstd frame" "$out"
	expect_in "$misplaced: misplaced: belongs in ${h[3]:0:2}/" "$out"
	expect_eq "$(st_count_lines "$sound" "$out")" 0
	expect_in "DAMAGE FOUND" "$out"
	expect_eq "$(printf '%s\n' "$out" | grep -c '^verified ')" 1

	sv -C a verify --fast
	expect_status 1
	expect_eq "$(st_count_lines "$truncated: " "$out")" 1
	expect_eq "$(st_count_lines "$misplaced: " "$out")" 1
	expect_eq "$(st_count_lines "$sound" "$out")" 0
	expect_in "DAMAGE FOUND" "$out"
}

test_verify_names_renamed_object() {
	st_init a
	echo "renamed payload" >f
	hex=$(st_put a f)
	# Same prefix folder, another valid-looking name.
	last=${hex:63:1}
	[ "$last" = 0 ] && new_last=1 || new_last=0
	other=${hex:0:63}$new_last
	mv "$(object_path a "$hex")" "$(object_path a "$other")"
	sv -C a verify
	expect_status 1
	expect_in "objects/sha256/${other:0:2}/$other.zst: content hashes to $hex" "$out"
	expect_in "DAMAGE FOUND" "$out"
}

test_verify_reports_stray_file() {
	st_init a
	echo "x" >f
	hex=$(st_put a f)
	echo junk >"a/objects/sha256/${hex:0:2}/notes.txt"
	sv -C a verify --fast
	expect_status 1
	expect_in "objects/sha256/${hex:0:2}/notes.txt: misplaced: not named" "$out"
	sv -C a verify
	expect_status 1
	expect_in "objects/sha256/${hex:0:2}/notes.txt: " "$out"
}

# --- 9. disk full ---

test_put_file_size_limit_exit_3() {
	st_init a
	echo "kept safe" >small
	small_hex=$(st_put a small)
	head -c 20M /dev/urandom >big
	big_hex=$(st_hex big)
	set +e
	(
		ulimit -f 1024 # 1 MiB (bash counts 1024-byte blocks)
		exec "$SALVAGE" -C a put "$PWD/big"
	) >stdout 2>stderr
	st=$?
	set -e
	expect_eq "$st" 3
	[ -s stderr ] || fail "no message on stderr"
	[ ! -e "$(object_path a "$big_hex")" ] || fail "partial object stored"
	expect_eq "$(objects_in a)" 1
	expect_eq "$(st_temps a)" 0
	sv -C a verify
	expect_status 0
	sv -C a cat "$small_hex"
	expect_status 0
	expect_eq "$out" "kept safe"
}

test_put_on_full_filesystem_exit_3() {
	mkdir mnt
	mount -t tmpfs -o size=8m tmpfs mnt 2>/dev/null || skip "cannot mount tmpfs"
	st_init mnt/a
	echo "small and safe" >small
	small_hex=$(st_put mnt/a small)
	head -c 20M /dev/urandom >big
	big_hex=$(st_hex big)
	sv -C mnt/a put "$PWD/big"
	expect_status 3
	expect_in "space" "$err"
	[ ! -e "$(object_path mnt/a "$big_hex")" ] || fail "partial object stored"
	expect_eq "$(objects_in mnt/a)" 1
	expect_eq "$(st_temps mnt/a)" 0
	sv -C mnt/a verify
	expect_status 0
	sv -C mnt/a cat "$small_hex"
	expect_status 0
	expect_eq "$out" "small and safe"
	# The space is given back: a small put still works.
	echo "after" >after
	sv -C mnt/a put "$PWD/after"
	expect_status 0
	umount mnt
}

# --- 10. kill -9 ---

test_kill_9_mid_put_leaves_temp_next_put_cleans() {
	st_need_genstream
	st_init a
	"$GENSTREAM" 2G 11 | "$SALVAGE" -C a put - >/dev/null 2>&1 &
	pid=$!
	tmpfile=
	for _ in $(seq 200); do # up to 10 s
		tmpfile=$(find a/objects/tmp -mindepth 1 -type f -size +0 -print -quit)
		[ -n "$tmpfile" ] && break
		sleep 0.05
	done
	if [ -z "$tmpfile" ]; then
		kill -9 "$pid" 2>/dev/null || true
		wait || true
		fail "no temp file appeared in objects/tmp within 10 s"
	fi
	kill -0 "$pid" 2>/dev/null || fail "put finished before it could be killed"
	kill -9 "$pid"
	wait || true # the generator dies of SIGPIPE
	rel=${tmpfile#a/}

	sv -C a verify
	expect_status 1
	expect_in "$rel: leftover temp file" "$out"
	expect_in "DAMAGE FOUND" "$out"
	expect_eq "$(objects_in a)" 0

	echo "next" >small
	sv -C a put "$PWD/small"
	expect_status 0
	[ ! -e "$tmpfile" ] || fail "stale temp file $rel not removed by put"
	expect_eq "$(st_temps a)" 0
	sv -C a verify
	expect_status 0
	expect_in "all sound" "$out"
	expect_eq "$(objects_in a)" 1
	[ -f "$(object_path a "$(st_hex small)")" ] || fail "small object missing"
}

# --- 11. help and usage ---

test_help_and_version() {
	sv --help
	expect_status 0
	for c in init put cat verify; do expect_in "$c" "$out"; done
	sv --version
	expect_status 0
	printf '%s\n' "$out" | grep -Eq '[0-9]+\.[0-9]+' || fail "no version number in: $out"
	sv put --help
	expect_status 0
	expect_in "usage" "$out"
	sv no-such-command
	expect_status 2
	expect_in "no-such-command" "$err"
	sv
	expect_status 2
}

# --- 12. streaming a large input ---

test_put_1g_stream_bounded_memory() {
	st_need_genstream
	[ -x /usr/bin/time ] || skip "/usr/bin/time not installed"
	st_init a
	want=$("$GENSTREAM" 1G 13 | sha256sum | cut -d' ' -f1)
	"$GENSTREAM" 1G 13 | /usr/bin/time -f %M -o maxrss "$SALVAGE" -C a put - >got ||
		fail "put of 1 GiB failed: $(cat maxrss)"
	expect_eq "$(cat got)" "$want  -"
	got=$("$SALVAGE" -C a cat "$want" | sha256sum | cut -d' ' -f1)
	expect_eq "$got" "$want"
	kb=$(tail -n 1 maxrss)
	[ "$kb" -lt 102400 ] || fail "put used $kb KiB peak memory (limit 100 MiB)"
	echo "peak RSS of put for 1 GiB: $kb KiB"
}

test_bad_config_names_file_and_line() {
	st_init a
	conf=$(realpath a/salvage.conf)
	cp "$conf" good.conf
	printf '[storage\n' >>"$conf"
	sv -C a verify
	expect_status 2
	expect_in "$conf:" "$err"
	expect_in "missing ']'" "$err"
	cp good.conf "$conf"
	printf '[storage]\n\tzstdLevel = 42\n' >>"$conf"
	echo data >f
	sv -C a put "$PWD/f"
	expect_status 2
	expect_in "zstdLevel = 42 is out of range" "$err"
	[ "$(objects_in a)" -eq 0 ] || fail "a bad config must store nothing"
}

test_progress_only_on_a_terminal() {
	st_need_genstream
	st_init a
	"$GENSTREAM" 300M >big
	# A pipe (and CI=true): no progress line on stderr.
	CI= "$SALVAGE" -C a put "$PWD/big" 2>err.txt | cat >/dev/null
	[ ! -s err.txt ] || fail "progress written to a pipe: $(cat err.txt)"
	# A terminal (script gives one): progress appears, and the digest line too.
	rm -rf a && st_init a
	CI= script -qec "$SALVAGE -C a put $PWD/big" /dev/null >tty.txt
	grep -q 'MB/s' tty.txt || fail "no progress on a terminal: $(cat tty.txt)"
	grep -q "$(st_hex big)" tty.txt || fail "no digest line on a terminal"
	# Under CI, even on a terminal, nothing.
	rm -rf a && st_init a
	CI=true script -qec "$SALVAGE -C a put $PWD/big" /dev/null >ci.txt
	if grep -q 'MB/s' ci.txt; then fail "progress shown under CI"; fi
}

test_put_url_is_a_manual_capture_in_ledger_and_ls() {
	st_init a
	printf 'year,value\n2020,1\n' >table.csv
	sv -C a put "$PWD/table.csv" --url 'HTTP://Data.Example.GOV/x/../table.csv' --note 'behind a login form'
	expect_status 0
	hex=$(st_hex table.csv)
	expect_eq "${out%%  *}" "$hex"
	# ls: the normalised URL, kind manual, no HTTP status.
	sv -C a ls
	expect_status 0
	expect_in "$hex" "$out"
	expect_in " manual " "$out"
	expect_in "http://data.example.gov/table.csv" "$out"
	sv -C a ls --json
	python3 - "$out" "$hex" <<-'PY' || fail "bad record: $out"
		import json, sys
		r = json.loads(sys.argv[1])
		assert r["kind"] == "manual" and r["sha256"] == sys.argv[2] and r["length"] == 18, r
		assert r["note"] == "behind a login form" and r["file"] == "table.csv" and r["status"] is None, r
		assert r["url"] == "http://data.example.gov/table.csv", r
		import re, datetime
		assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["ts"]), r["ts"]
		t = datetime.datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
		assert abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) < 60, r["ts"]
	PY
	# The ledger, read with git: one commit, the record in captures/<node>/<date>/.
	git -C a/ledger.git fsck --strict || fail "git fsck failed"
	expect_in "captures: 1 record" "$(git -C a/ledger.git log --format=%s main)"
	rec=$(git -C a/ledger.git archive main captures | tar -xO)
	expect_in "\"sha256\":\"$hex\"" "$rec"
	expect_in '"kind":"manual"' "$rec"
	sv -C a verify
	expect_status 0
	expect_in "ledger: 1 capture records, 1 naming objects: all sound" "$out"
}

test_put_url_refuses_bad_input() {
	st_init a
	printf 'x\n' >f
	sv -C a put "$PWD/f" --url 'ftp://example.gov/f'
	expect_status 2
	expect_in "not an http or https URL" "$err"
	sv -C a put "$PWD/f" "$PWD/f" --url 'http://example.gov/f'
	expect_status 2
	sv -C a put "$PWD/f" --note 'no url'
	expect_status 2
	sv -C a put "$PWD/f" --url
	expect_status 2
	expect_eq "$(objects_in a)" 0
	expect_eq "$(git -C a/ledger.git rev-list --all | wc -l)" 0
}

test_verify_finds_a_record_whose_object_is_missing() {
	st_init a
	printf 'kept\n' >kept.csv
	printf 'lost\n' >lost.csv
	sv -C a put "$PWD/kept.csv" --url http://example.gov/kept.csv
	expect_status 0
	sv -C a put "$PWD/lost.csv" --url http://example.gov/lost.csv
	expect_status 0
	hex=$(st_hex lost.csv)
	chmod u+w "a/objects/sha256/${hex:0:2}"
	rm -f "a/objects/sha256/${hex:0:2}/$hex.zst"
	sv -C a verify
	expect_status 1
	expect_in "the capture of http://example.gov/lost.csv names objects/sha256/${hex:0:2}/$hex.zst, which is missing" "$out"
	[ "$(st_count_lines 'which is missing' "$out")" -eq 1 ] || fail "only the lost object is missing: $out"
}

test_verify_finds_a_damaged_ledger() {
	st_init a
	printf 'x\n' >f
	sv -C a put "$PWD/f" --url http://example.gov/f
	expect_status 0
	# Damage every loose object of the ledger: one byte appended to each.
	find a/ledger.git/objects -type f -path '*/objects/??/*' | while read -r o; do
		chmod u+w "$o"
		printf 'x' >>"$o"
	done
	sv -C a verify
	expect_status 1
	expect_in "ledger.git: " "$out"
	expect_in "DAMAGE FOUND" "$out"
}

# --- the capture index: index.db, made anew from the ledger ---

# ls reads index.db; a lost index is built again from the ledger, and
# reindex makes it anew on demand, listing the same captures in the same order.
test_lost_index_is_rebuilt_from_the_ledger() {
	st_init a
	for i in 1 2 3; do
		printf 'n,%s\n' "$i" >t$i.csv
		sv -C a put "$PWD/t$i.csv" --url "http://data.example.gov/t$i.csv"
		expect_status 0
	done
	sv -C a ls
	before=$out
	expect_eq "$(printf '%s\n' "$before" | wc -l)" 3
	[ -f a/index.db ] || fail "no index.db in the archive"
	rm -f a/index.db a/index.db-wal a/index.db-shm
	sv -C a ls
	expect_status 0
	expect_eq "$out" "$before"
	sv -C a reindex
	expect_status 0
	expect_eq "$out" "indexed 3 captures from the ledger"
	sv -C a ls
	expect_eq "$out" "$before"
	sv -C a cat http://data.example.gov/t2.csv
	expect_eq "$out" "n,2"
	sv -C a reindex extra
	expect_status 2
}

# An archive from before the index kept its captures in queue.db: the first
# command that reads captures takes them in, in their order, with the ledger's.
test_captures_of_an_old_queue_are_taken_in() {
	st_init a
	printf 'x\n' >x.csv
	sv -C a put "$PWD/x.csv" --url http://data.example.gov/x.csv
	expect_status 0
	rm -f a/index.db a/index.db-wal a/index.db-shm
	python3 - a/queue.db <<-'PY'
		import sqlite3, sys
		db = sqlite3.connect(sys.argv[1])
		db.execute("CREATE TABLE captures(id INTEGER PRIMARY KEY, url TEXT NOT NULL, ts TEXT NOT NULL,"
		           " status INTEGER, sha256 TEXT, length INTEGER, kind TEXT, record TEXT NOT NULL)")
		rec = ('{"url":"http://old.example.gov/","ts":"2025-01-20T10:00:00.000Z","status":200,"mime":null,'
		       '"length":null,"sha256":null,"stored":null,"headers":null,"seed":1,"via":null,"kind":"page",'
		       '"node":"old"}')
		db.execute("INSERT INTO captures(url, ts, status, kind, record) VALUES(?, ?, 200, 'page', ?)",
		           ("http://old.example.gov/", "2025-01-20T10:00:00.000Z", rec))
		db.commit()
	PY
	sv -C a ls
	expect_status 0
	expect_eq "$(printf '%s\n' "$out" | wc -l)" 2
	expect_in "2025-01-20T10:00:00.000Z  200" "$(printf '%s\n' "$out" | head -n 1)"
	expect_in "http://data.example.gov/x.csv" "$(printf '%s\n' "$out" | tail -n 1)"
}
