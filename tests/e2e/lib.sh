# Helpers for end-to-end tests (sourced by runner.sh). Each test_* function
# runs with `set -e` in an empty temp folder; $SALVAGE is the binary.

# fail MESSAGE: ends the test as failed.
fail() {
	echo "FAILED: $*" >&2
	exit 1
}

# skip WHY: ends the test as skipped.
skip() {
	echo "$*"
	exit 77
}

# sv ARGS...: runs salvage, keeping stdout in $out, stderr in $err, status in $status.
sv() {
	set +e
	"$SALVAGE" "$@" >"$PWD/.out" 2>"$PWD/.err"
	status=$?
	set -e
	out=$(cat "$PWD/.out")
	err=$(cat "$PWD/.err")
	rm -f "$PWD/.out" "$PWD/.err"
}

# expect_status N: the last sv call exited with N.
expect_status() {
	[ "$status" -eq "$1" ] || fail "expected exit $1, got $status; stdout: $out; stderr: $err"
}

# expect_in TEXT HAYSTACK: HAYSTACK contains TEXT.
expect_in() {
	case "$2" in *"$1"*) ;; *) fail "expected '$1' in: $2" ;; esac
}

# expect_eq A B
expect_eq() {
	[ "$1" = "$2" ] || fail "expected '$2', got '$1'"
}

# object_path ARCHIVE HEX
object_path() {
	echo "$1/objects/sha256/${2:0:2}/$2.zst"
}

# objects_in ARCHIVE: the number of object files.
objects_in() {
	find "$1/objects/sha256" -type f | wc -l
}

# slow_site DIR PAGES PAD DATASETS ROWS: DIR/index.html links PAGES pages
# (pN.html, "page N " and PAD x's) and DATASETS CSVs of ROWS rows each
# (data/dK.csv), linked through the test server's /slow/12000/ prefix so
# that each drips at 12 kB/s.
slow_site() {
	python3 - "$@" <<-'PY'
		import os, sys
		d, pages, pad, datasets, rows = sys.argv[1], *map(int, sys.argv[2:])
		os.makedirs(f"{d}/data", exist_ok=True)
		links = "".join(f'<a href="p{i}.html">p{i}</a>' for i in range(pages))
		links += "".join(f'<a href="/slow/12000/data/d{k}.csv">d{k}</a>' for k in range(datasets))
		open(f"{d}/index.html", "w").write(links)
		for i in range(pages):
		    open(f"{d}/p{i}.html", "w").write(f"page {i} " + "x" * pad)
		for k in range(datasets):
		    open(f"{d}/data/d{k}.csv", "w").write("n\n" + "\n".join(str(j * (k + 1)) for j in range(rows)))
	PY
}

testserver_pids=()

# testserver_start NAME ROOT [OPTION...]: starts the test server
# ($BUILD/tests/testserver) on a free port serving ROOT, with the options
# OPTION (say --cookie-check); its port goes to NAME.port, its request log to
# NAME.log. testservers_stop stops every server started so (call it on EXIT).
testserver_start() {
	local name=$1 root=$2 bin=${BUILD:-build/rel}/tests/testserver
	shift 2
	[ -x "$bin" ] || skip "testserver not built ($bin)"
	mkdir -p "$root"
	"$bin" --port 0 --root "$root" --port-file "$name.port" --log "$name.log" "$@" 2>"$name.stderr" &
	testserver_pids+=($!)
	for _ in $(seq 200); do
		[ -s "$name.port" ] && return 0
		sleep 0.05
	done
	fail "test server $name did not start: $(cat "$name.stderr")"
}

testservers_stop() {
	local p
	for p in "${testserver_pids[@]}"; do kill "$p" 2>/dev/null || true; done
}

# testservers_two: servers one (serving ./one) and two (./two), stopped on
# exit; P1 and P2 their ports (set for the caller).
# shellcheck disable=SC2034
testservers_two() {
	testserver_start one one
	testserver_start two two
	trap testservers_stop EXIT
	P1=$(cat one.port)
	P2=$(cat two.port)
}

# www_start: python3's http.server serving ./www on a free port of 127.0.0.1,
# its pid in www.pid and its requests in www.log (one a line); the port into
# WWW_PORT. The caller stops it (kill "$(cat www.pid)").
www_start() {
	(cd www && exec python3 -m http.server 0 --bind 127.0.0.1) >www.log 2>&1 &
	echo $! >www.pid
	WWW_PORT=
	for _ in $(seq 1 50); do
		WWW_PORT=$(grep -o 'port [0-9]*' www.log | grep -o '[0-9]*' || true)
		[ -n "$WWW_PORT" ] && return 0
		sleep 0.1
	done
	fail "no web server: $(cat www.log)"
}

# crawl_in DIR ARGS...: `salvage crawl ARGS...` in archive DIR under
# `timeout 120`, standard input closed; stdout in $out, stderr in $err, exit
# status in $status. A hang fails the test.
crawl_in() {
	local dir=$1
	shift
	set +e
	(cd "$dir" && exec timeout -k 10 120 "$SALVAGE" crawl "$@") >crawl.out 2>crawl.err <&-
	status=$?
	set -e
	out=$(cat crawl.out)
	err=$(cat crawl.err)
	[ "$status" -lt 124 ] || fail "crawl hung or died ($status); stdout: $out; stderr: $err"
	echo "crawl exit $status; stdout: $out; stderr: $err"
}

# max_at_once LOG: the most requests the test server was serving at one time
# (from each line's arrival time and duration).
max_at_once() {
	python3 - "$1" <<-'EOF'
		import sys
		ev = []
		for line in open(sys.argv[1]):
		    f = line.split()
		    t = float(f[0])
		    ms = next(int(x[3:]) for x in f if x.startswith("ms="))
		    ev += [(t, 1), (t + ms / 1000.0, -1)]
		n = best = 0
		for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
		    n += d
		    best = max(best, n)
		print(best)
	EOF
}

# PIDs of the workers wk_worker started (kill them on EXIT).
wk_pids=()

# wk_worker DIR ARGS...: `salvage worker ARGS...` in archive DIR in the
# background under `timeout 120`; output to DIR.out and DIR.err, exit status
# to DIR.status; its pid in WK_PID.
wk_worker() {
	local dir=$1
	shift
	(
		cd "$dir"
		code=0
		timeout -k 10 120 "$SALVAGE" worker "$@" >"../$dir.out" 2>"../$dir.err" <&- || code=$?
		echo "$code" >"../$dir.status"
	) &
	WK_PID=$!
	wk_pids+=("$WK_PID")
}

# wk_exited DIR: waits (up to 140 s) for the worker wk_worker started in
# archive DIR to exit; prints its output; fails unless it exited 0.
wk_exited() {
	for _ in $(seq 1400); do
		[ -s "$1.status" ] && break
		sleep 0.1
	done
	echo "worker $1: exit $(cat "$1.status" 2>/dev/null); $(cat "$1.out"); $(cat "$1.err")"
	[ "$(cat "$1.status" 2>/dev/null)" = 0 ] || fail "worker $1 failed: $(cat "$1.err")"
}

# Removes a test folder, unmounting anything a test mounted inside it.
cleanup_dir() {
	local m
	for m in $(awk -v d="$1" '$2 ~ "^"d {print $2}' /proc/mounts 2>/dev/null | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	chmod -R u+w "$1" 2>/dev/null
	rm -rf "$1"
}
