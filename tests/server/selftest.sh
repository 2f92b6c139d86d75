#!/usr/bin/env bash
# tests/server/selftest.sh -- checks testserver from the outside, with curl
# against 127.0.0.1 only: static files, ranges and validators, path
# traversal, every trap, the whole-site cookie checks, 256 concurrent
# connections, the request log, two instances side by side, SIGTERM, and
# make_demo_site.sh. Prints one line per check and "N passed, N failed";
# exits 1 when a check failed. Takes ~10 s.
#
#   bash tests/server/selftest.sh
#
# TESTSERVER names the binary (default $BUILD/tests/testserver, BUILD
# defaulting to build/rel); when it does not exist the script compiles
# tests/server/testserver.c into its temp folder. TESTSERVER_WRAP runs the
# server under a wrapper, e.g. TESTSERVER_WRAP="valgrind --leak-check=full".
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${SALVAGE_TEST_TMP:-${TMPDIR:-/tmp}}/testserver-selftest.XXXXXX")
pids=()
passed=0
failed=0

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

pass() {
	passed=$((passed + 1))
	echo "ok   $1"
}

flunk() {
	failed=$((failed + 1))
	echo "FAIL $1: $2"
}

# check NAME GOT WANT
check() {
	if [ "$2" = "$3" ]; then pass "$1"; else flunk "$1" "got '$2', want '$3'"; fi
}

# check_true NAME DETAIL COMMAND...: passes when COMMAND succeeds.
check_true() {
	local name=$1 detail=$2
	shift 2
	if "$@"; then pass "$name"; else flunk "$name" "$detail"; fi
}

bin=${TESTSERVER:-${BUILD:-$repo/build/rel}/tests/testserver}
if [ ! -x "$bin" ]; then
	bin=$tmp/testserver
	# shellcheck disable=SC2046 # pkg-config output is meant to split
	if ! cc -std=c11 -O2 -Wall -Wextra -Werror -pthread -o "$bin" "$here/testserver.c" \
		$(pkg-config --cflags --libs libmicrohttpd zlib); then
		echo "cannot build testserver"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

# start ROOT NAME [ARGS...]: starts a server; sets $pid and $port.
start() {
	local root=$1 name=$2 i
	shift 2
	# shellcheck disable=SC2086 # the wrapper is a command line
	${TESTSERVER_WRAP:-} "$bin" --port 0 --root "$root" --port-file "$tmp/$name.port" \
		--log "$tmp/$name.log" "$@" 2>>"$tmp/$name.err" &
	pid=$!
	pids+=("$pid")
	for i in $(seq 100); do
		[ -s "$tmp/$name.port" ] && break
		sleep 0.05
		[ "$i" = 100 ] && { echo "server $name did not start:"; cat "$tmp/$name.err"; }
	done
	port=$(cat "$tmp/$name.port" 2>/dev/null)
}

# hdr FILE NAME: the value of header NAME in a curl -D dump (last response).
hdr() {
	tr -d '\r' <"$1" | awk -v n="$2" 'BEGIN { IGNORECASE = 1 } /^HTTP\// { v = "" }
		tolower($0) ~ "^" tolower(n) ":" { sub(/^[^:]*: */, ""); v = $0 } END { print v }'
}

# --- fixtures ---
root=$tmp/root
mkdir -p "$root/dir" "$root/sub" "$root/noindex" "$root/types"
printf '<!DOCTYPE html>\n<html><body><a href="/dir/">dir</a></body></html>\n' >"$root/index.html"
printf 'folder index\n' >"$root/dir/index.html"
seq 1 20000 >"$root/data.csv"
head -c 3000000 /dev/urandom >"$root/blob.bin"
head -c 2000 /dev/zero | tr '\0' 'x' >"$root/small.txt"
for ext in html css js csv json xml zip pdf gz png txt xlsx unknownext; do
	printf 'x' >"$root/types/f.$ext"
done
ln -s /etc/passwd "$root/evil"
ln -s /etc "$root/evildir"
ln -s ../data.csv "$root/sub/alias.csv"
size=$(stat -c %s "$root/data.csv")

start "$root" main
main_pid=$pid
U=http://127.0.0.1:$port
C=(curl -s --max-time 20)

check "port file holds a port" "$([[ $port =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && echo yes)" yes
check "listens on 127.0.0.1 only" \
	"$(awk -v p="$(printf '%04X' "$port")" '$2 ~ ":"p"$" && $4 == "0A" { print $2 }' /proc/net/tcp /proc/net/tcp6 | sort -u)" \
	"0100007F:$(printf '%04X' "$port")"

# --- static files ---
check "GET / serves index.html" "$("${C[@]}" "$U/")" "$(cat "$root/index.html")"
"${C[@]}" -I -o /dev/null -D "$tmp/h" "$U/data.csv"
check "HEAD: Content-Length" "$(hdr "$tmp/h" Content-Length)" "$size"
check "HEAD: ETag and Last-Modified" \
	"$([ -n "$(hdr "$tmp/h" ETag)" ] && [ -n "$(hdr "$tmp/h" Last-Modified)" ] && echo yes)" yes
check "HEAD: Accept-Ranges" "$(hdr "$tmp/h" Accept-Ranges)" bytes
check "HEAD sends no body" "$("${C[@]}" -I -w '%{size_download}' -o /dev/null "$U/data.csv")" 0
types=""
for ext in html css js csv json xml zip pdf gz png txt xlsx unknownext; do
	types+="$ext=$("${C[@]}" -o /dev/null -w '%{content_type}' "$U/types/f.$ext") "
done
check "Content-Type by extension" "$types" "html=text/html; charset=utf-8 css=text/css; charset=utf-8 \
js=text/javascript; charset=utf-8 csv=text/csv; charset=utf-8 json=application/json xml=application/xml \
zip=application/zip pdf=application/pdf gz=application/gzip png=image/png txt=text/plain; charset=utf-8 \
xlsx=application/vnd.openxmlformats-officedocument.spreadsheetml.sheet unknownext=application/octet-stream "
check "folder without slash: 301 to the slash form" \
	"$("${C[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "$U/dir?x=1")" "301 $U/dir/?x=1"
check "folder serves its index.html" "$("${C[@]}" "$U/dir/")" "folder index"
check "folder without index.html: 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/noindex/")" 404
check "missing file: 404" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/nope.csv")" 404
check "symlink inside the root is served" "$("${C[@]}" "$U/sub/alias.csv" | cmp - "$root/data.csv" && echo same)" same
check "POST: 405 with Allow" "$("${C[@]}" -X POST -d a=1 -o /dev/null -D "$tmp/h" -w '%{http_code}' "$U/"; \
	echo " $(hdr "$tmp/h" Allow)")" "405 GET, HEAD"
check "keep-alive: two requests, one connection" \
	"$("${C[@]}" -o /dev/null -o /dev/null -w '%{num_connects}' "$U/" "$U/data.csv" | tr -d '\n')" 10

# --- path traversal ---
for t in "/../../../etc/passwd:400" "/dir/../../etc/passwd:400" "/%2e%2e/%2e%2e/etc/passwd:400" \
	"/dir/%2E%2E/%2E%2E/etc/passwd:400" "/evil:403" "/evildir/passwd:403" "//etc/passwd:404" \
	"/index.html%00.txt:400"; do
	check "traversal ${t%:*}" "$("${C[@]}" --path-as-is -o "$tmp/t" -w '%{http_code}' "$U${t%:*}")$(grep -q root: "$tmp/t" && echo LEAK)" "${t##*:}"
done
check "absolute-form target: 400" \
	"$("${C[@]}" --request-target "http://127.0.0.1/etc/passwd" -o /dev/null -w '%{http_code}' "$U/")" 400

# --- ranges and validators ---
"${C[@]}" -r 0-99 -D "$tmp/h" -o "$tmp/r" "$U/data.csv"
check "Range 0-99: 206" "$(head -n1 "$tmp/h" | cut -d' ' -f2) $(hdr "$tmp/h" Content-Range)" "206 bytes 0-99/$size"
check "Range 0-99: the bytes" "$(cmp "$tmp/r" <(head -c 100 "$root/data.csv") && echo same)" same
check "Range 100-: the rest" "$("${C[@]}" -r 100- "$U/data.csv" | cmp - <(tail -c +101 "$root/data.csv") && echo same)" same
check "Range -50: the last 50" "$("${C[@]}" -r -50 "$U/data.csv" | cmp - <(tail -c 50 "$root/data.csv") && echo same)" same
check "Range past the end: 416 with Content-Range" \
	"$("${C[@]}" -r "$size-" -D "$tmp/h" -o /dev/null -w '%{http_code}' "$U/data.csv") $(hdr "$tmp/h" Content-Range)" \
	"416 bytes */$size"
check "several ranges: the whole file" "$("${C[@]}" -r 0-1,5-6 -o /dev/null -w '%{http_code} %{size_download}' "$U/data.csv")" "200 $size"
check "invalid range ignored" "$("${C[@]}" -H 'Range: bytes=9-2' -o /dev/null -w '%{http_code} %{size_download}' "$U/data.csv")" "200 $size"
"${C[@]}" -I -D "$tmp/h" -o /dev/null "$U/data.csv"
etag=$(hdr "$tmp/h" ETag)
lm=$(hdr "$tmp/h" Last-Modified)
check "If-Range with the ETag: 206" "$("${C[@]}" -r 10- -H "If-Range: $etag" -o /dev/null -w '%{http_code}' "$U/data.csv")" 206
check "If-Range with the date: 206" "$("${C[@]}" -r 10- -H "If-Range: $lm" -o /dev/null -w '%{http_code}' "$U/data.csv")" 206
check "If-Range with another ETag: 200, whole" \
	"$("${C[@]}" -r 10- -H 'If-Range: "other"' -o /dev/null -w '%{http_code} %{size_download}' "$U/data.csv")" "200 $size"
check "If-None-Match: 304" "$("${C[@]}" -H "If-None-Match: $etag" -o /dev/null -w '%{http_code}' "$U/data.csv")" 304
check "If-Modified-Since: 304" "$("${C[@]}" -H "If-Modified-Since: $lm" -o /dev/null -w '%{http_code}' "$U/data.csv")" 304
touch -d '2001-01-01' "$root/data.csv"
check "file changed: the old ETag no longer validates a range" \
	"$("${C[@]}" -r 10- -H "If-Range: $etag" -o /dev/null -w '%{http_code}' "$U/data.csv")" 200

# --- traps ---
check "/reset/N: cut after N bytes (curl 18)" \
	"$("${C[@]}" -D "$tmp/h" -o /dev/null -w '%{http_code} %{size_download}' "$U/reset/1000/blob.bin"; echo " $? $(hdr "$tmp/h" Content-Length)")" \
	"200 1000 18 3000000"
check "/reset/N?once=1: cut the first time" \
	"$("${C[@]}" -o "$tmp/once" -w '%{size_download}' "$U/reset/100000/blob.bin?once=1"; echo " $?")" "100000 18"
check "/reset/N?once=1: resumed by Range" \
	"$("${C[@]}" -C - -o "$tmp/once" -w '%{http_code}' "$U/reset/100000/blob.bin?once=1"; cmp -s "$tmp/once" "$root/blob.bin" && echo " same")" "206 same"
check "log shows the resume by Range" \
	"$(grep -c 'GET /reset/100000/blob.bin?once=1 206 range=bytes=100000- ' "$tmp/main.log")" 1
check "log shows the cut" "$(grep -c 'GET /reset/1000/blob.bin 200 range=- if-range=- bytes=1000 end=error' "$tmp/main.log")" 1
"${C[@]}" -o "$tmp/big" "$U/big.bin?mb=8"
"${C[@]}" -o "$tmp/big2" "$U/reset/3M/big.bin?mb=8&once=1"
"${C[@]}" -C - -o "$tmp/big2" "$U/reset/3M/big.bin?mb=8&once=1"
check "/reset/ on /big.bin, resumed: same bytes" "$(cmp "$tmp/big" "$tmp/big2" && stat -c %s "$tmp/big2")" 8388608
check "/short/: announces more, sends the file, drops" \
	"$("${C[@]}" -D "$tmp/h" -o "$tmp/s" "$U/short/data.csv?extra=10"; echo "$? $(hdr "$tmp/h" Content-Length) $(hdr "$tmp/h" Accept-Ranges)")$(cmp -s "$tmp/s" "$root/data.csv" && echo " same")" \
	"18 $((size + 10)) none same"
check "/status/429 with Retry-After" \
	"$("${C[@]}" -D "$tmp/h" -o /dev/null -w '%{http_code}' "$U/status/429?retry_after=7") $(hdr "$tmp/h" Retry-After)" "429 7"
codes=""
for i in 1 2 3 4; do
	codes+="$("${C[@]}" -o "$tmp/st" -w '%{http_code}' "$U/status/503/data.csv?retry_after=1&times=2") "
done
check "/status/503?times=2: twice, then the file" "$codes$(cmp -s "$tmp/st" "$root/data.csv" && echo same)" "503 503 200 200 same"
check "/status/CODE" "$(for c in 404 410 500; do "${C[@]}" -o /dev/null -w '%{http_code} ' "$U/status/$c"; done)" "404 410 500 "
t0=$(date +%s%N)
"${C[@]}" -o "$tmp/slow" "$U/slow/1000/small.txt"
ms=$((($(date +%s%N) - t0) / 1000000))
check "/slow/1000/ drips 2000 bytes in 1.5-4 s" "$([ $ms -ge 1500 ] && [ $ms -le 4000 ] && cmp -s "$tmp/slow" "$root/small.txt" && echo yes)" yes
check "/loop/N: 302 to N+1" "$("${C[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "$U/loop/7")" "302 $U/loop/8"
check "/loop/ never ends (curl 47)" "$("${C[@]}" -L --max-redirs 20 -o /dev/null "$U/loop/1"; echo $?)" 47
check "/redirect?to=file:///etc/passwd" \
	"$("${C[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "$U/redirect?to=file:///etc/passwd")" "302 file:///etc/passwd"
check "/redirect?to=ftp://...&code=301" \
	"$("${C[@]}" -D "$tmp/h" -o /dev/null -w '%{http_code}' "$U/redirect?to=ftp://ftp.example.invalid/x.csv&code=301") $(hdr "$tmp/h" Location)" \
	"301 ftp://ftp.example.invalid/x.csv"
check "/redirect-chain/3: 3 hops then a page" \
	"$("${C[@]}" -L -o /dev/null -w '%{http_code} %{num_redirects} %{url_effective}' "$U/redirect-chain/3")" "200 3 $U/redirect-chain/0"
check "/gzip/: Content-Encoding gzip, whatever was asked" \
	"$("${C[@]}" -H 'Accept-Encoding: identity' -D "$tmp/h" -o "$tmp/gz" "$U/gzip/data.csv"; hdr "$tmp/h" Content-Encoding)$(gzip -dc "$tmp/gz" | cmp -s - "$root/data.csv" && echo " same")" \
	"gzip same"
check "/gzip/: Content-Length is the compressed size" "$(hdr "$tmp/h" Content-Length)" "$(stat -c %s "$tmp/gz")"
check "/chunked/: no Content-Length, same bytes" \
	"$("${C[@]}" -D "$tmp/h" -o "$tmp/ch" "$U/chunked/data.csv"; echo "$(hdr "$tmp/h" Transfer-Encoding)/$(hdr "$tmp/h" Content-Length)")$(cmp -s "$tmp/ch" "$root/data.csv" && echo " same")" \
	"chunked/ same"
"${C[@]}" -D "$tmp/h" -o "$tmp/hd" "$U/header/data.csv?name=Content-Disposition&value=attachment%3B%20filename%3D%22Donn%E9es.csv%22"
check "/header/: a Latin-1 header sent byte for byte, same body" \
	"$(grep -ac $'^Content-Disposition: attachment; filename="Donn\xe9es.csv"\r$' "$tmp/h")$(cmp -s "$tmp/hd" "$root/data.csv" && echo " same")" \
	"1 same"
check "/header/: a line break in the value gets 400" \
	"$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/header/data.csv?name=X&value=a%0d%0aInjected:%201")" "400"
"${C[@]}" -o "$tmp/m" "$U/malformed.html"
check "/malformed.html: NULs, bad UTF-8 and five links" \
	"$(tr -cd '\000' <"$tmp/m" | wc -c) $(grep -c $'\xff' "$tmp/m") $(grep -ao 'malformed-[0-9]' "$tmp/m" | sort -u | wc -l)" "3 1 5"
"${C[@]}" -D "$tmp/h" -o "$tmp/huge" "$U/huge.html?mb=3"
hs=$(stat -c %s "$tmp/huge")
check "/huge.html?mb=3: about 3 MiB, as announced" \
	"$([ "$hs" -gt $((3 * 1048576 - 256)) ] && [ "$hs" -le $((3 * 1048576)) ] && [ "$(hdr "$tmp/h" Content-Length)" = "$hs" ] && echo yes)" yes
check "/huge.html: links from the first to the last line" \
	"$(head -c 400 "$tmp/huge" | grep -q 'huge-0.html' && echo first) $(tail -c 400 "$tmp/huge" | grep -q 'huge-99.html' && echo last) $(grep -o 'href="/gen/huge-[0-9]*.html"' "$tmp/huge" | sort -u | wc -l) $(tail -c 20 "$tmp/huge" | grep -c '</html>')" \
	"first last 100 1"
check "/huge.html: a range is the same slice" \
	"$("${C[@]}" -r 1000000-1000999 "$U/huge.html?mb=3" | cmp - <(tail -c +1000001 "$tmp/huge" | head -c 1000) && echo same)" same
check "/gen/NAME: a small page" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/gen/huge-5.html")" 200
cal=$("${C[@]}" "$U/calendar/2024/12/")
check "/calendar/: next and previous month" \
	"$(grep -o 'href="/calendar/[0-9/]*"' <<<"$cal" | tr '\n' ' ')" 'href="/calendar/2024/11/" href="/calendar/2025/01/" href="/calendar/" '
check "/calendar/: no slash gets one, no month 13" \
	"$(for m in 2024/12 2024/13/; do "${C[@]}" -o /dev/null -w '%{http_code} ' "$U/calendar/$m"; done)" "301 404 "
"${C[@]}" -D "$tmp/h" -o /dev/null "$U/big.bin?mb=8"
check "/big.bin: length, ETag, Last-Modified" \
	"$(hdr "$tmp/h" Content-Length) $(hdr "$tmp/h" ETag) $(hdr "$tmp/h" Last-Modified)" \
	'8388608 "big-8388608-0" Mon, 01 Jan 2024 00:00:00 GMT'
check "/big.bin: the same bytes twice" "$("${C[@]}" "$U/big.bin?mb=8" | cmp - "$tmp/big" && echo same)" same
check "/big.bin: a range is the same slice" \
	"$("${C[@]}" -r 1234567-2345678 "$U/big.bin?mb=8" | cmp - <(tail -c +1234568 "$tmp/big" | head -c 1111112) && echo same)" same
check "/big.bin: another seed, other bytes" "$("${C[@]}" "$U/big.bin?mb=8&seed=2" | cmp -s - "$tmp/big" || echo differ)" differ
check "/bigger-than-it-says: claims 5 GiB, sends slowly" \
	"$("${C[@]}" --max-time 1 -D "$tmp/h" -o /dev/null -w '%{size_download}' "$U/bigger-than-it-says" | awk '{ print ($1 < 1048576) }') $(hdr "$tmp/h" Content-Length)" \
	"1 5368709120"

check "/cookie-check/: 302 to itself with Set-Cookie" \
	"$("${C[@]}" -D "$tmp/h" -o /dev/null -w '%{http_code} ' "$U/cookie-check/data.csv?a=1"; echo "$(hdr "$tmp/h" Location) $(hdr "$tmp/h" Set-Cookie)")" \
	"302 /cookie-check/data.csv?a=1 sv_check=ok; Path=/"
check "/cookie-check/: with the cookie, the file" \
	"$("${C[@]}" -b '' -L -o "$tmp/ck" -w '%{http_code} %{num_redirects}' "$U/cookie-check/data.csv"; cmp -s "$tmp/ck" "$root/data.csv" && echo " same")" \
	"200 1 same"
check "log: the cookie sent" "$(grep -c ' GET /cookie-check/data.csv 200 .* cookie=sv_check=ok$' "$tmp/main.log") $(grep -c ' GET /cookie-check/data.csv 302 .* cookie=-$' "$tmp/main.log")" "1 1"
check "/cookie-never/: 302 to itself, cookie or not (curl 47)" \
	"$("${C[@]}" -b '' -L --max-redirs 5 -o /dev/null "$U/cookie-never/data.csv"; echo $?)" 47
start "$root" cookies --cookie-check
cookie_pids=("$pid")
check "--cookie-check: robots.txt and every path behind the check" \
	"$(for t in /robots.txt /data.csv /dir/; do "${C[@]}" -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$port$t"; done; \
	"${C[@]}" -b '' -L -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/data.csv")" "302 302 302 200"
start "$root" never --cookie-never
cookie_pids+=("$pid")
check "--cookie-never: never served" \
	"$("${C[@]}" -b '' -L --max-redirs 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/data.csv"; echo " $?")" "302 47"
kill -TERM "${cookie_pids[@]}"
wait "${cookie_pids[@]}"

# --- load ---
t0=$(date +%s%N)
# One curl process with 256 transfers at once: 256 curl processes took 7 s
# just to start on 2 loaded cores, which measured the machine, not the server.
load_args=()
for i in $(seq 256); do load_args+=(-o /dev/null "$U/slow/2000/small.txt?n=$i"); done
codes=$(curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 256 --max-time 20 -w '%{http_code}\n' "${load_args[@]}" |
	sort | uniq -c | awk '{ print $1 "x" $2 }')
ms=$((($(date +%s%N) - t0) / 1000000))
check "256 concurrent 1-second downloads" "$codes $([ $ms -lt 8000 ] && echo concurrent)" "256x200 concurrent"

# --- the log ---
lines=$(wc -l <"$tmp/main.log")
check "log: one well-formed line per request" \
	"$(grep -cE '^[0-9]+\.[0-9]{3} (GET|HEAD|POST) [^ ]+ [0-9]{3} range=[^ ]+ if-range=[^ ]+ bytes=[0-9]+ end=[a-z-]+ ms=[0-9]+ ua=[^ ]+ cookie=[^ ]+$' "$tmp/main.log")" "$lines"
check "log: a 206 names its range" "$(grep -c ' 206 range=bytes=1234567-2345678 ' "$tmp/main.log")" 1

# --- two instances, SIGTERM ---
mkdir -p "$tmp/second"
printf 'second host\n' >"$tmp/second/index.html"
start "$tmp/second" second
second_pid=$pid
check "a second instance on another port" "$([ "$port" != "$(cat "$tmp/main.port")" ] && "${C[@]}" "http://127.0.0.1:$port/")" "second host"
"${C[@]}" -o /dev/null "$U/bigger-than-it-says" &
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$main_pid"
wait "$main_pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "SIGTERM during a download: exit 0 within 2 s" "$rc $([ $ms -lt 2000 ] && echo fast)" "0 fast"
kill -INT "$second_pid"
wait "$second_pid"
check "SIGINT: exit 0" $? 0
wait
pids=()

# --- --fail PATH=CODE[:TIMES] ---
mkdir -p "$tmp/failing"
printf 'User-agent: *\n' >"$tmp/failing/robots.txt"
printf 'home\n' >"$tmp/failing/index.html"
start "$tmp/failing" failing --fail /robots.txt=503:2 --fail /index.html=500
codes=""
for _ in 1 2 3; do codes+="$("${C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/robots.txt?x") "; done
check "--fail /robots.txt=503:2: twice, then the file" "$codes$("${C[@]}" "http://127.0.0.1:$port/robots.txt")" \
	"503 503 200 User-agent: *"
check "--fail /index.html=500: always; other paths as usual" \
	"$("${C[@]}" -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$port/index.html")$("${C[@]}" -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$port/index.html")$("${C[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" \
	"500 500 404"
"$bin" --root "$tmp/failing" --fail robots.txt=503 2>/dev/null
check "--fail without a leading slash: usage, exit 2" $? 2
kill -TERM "$pid"
wait "$pid"
pids=()

# --- the demo site ---
mkdir -p "$tmp/demo/site" "$tmp/demo/data"
start "$tmp/demo/site" site
site=127.0.0.1:$port
start "$tmp/demo/data" data
data=127.0.0.1:$port
bash "$here/make_demo_site.sh" "$tmp/demo" "$site" "$data" >/dev/null
check "make_demo_site.sh: {{DATA_HOST}} replaced once" \
	"$(grep -rho "http://$data/[^\"]*" "$tmp/demo/site" | sort | uniq -c | awk '{ print $1, $2 }')" \
	"1 http://$data/exports/tree_canopy_2021.csv"
check "make_demo_site.sh: no placeholder left" "$(grep -rl '{{' "$tmp/demo" | wc -l)" 0
check "make_demo_site.sh: seed sheet" "$(sed -n 2p "$tmp/demo/demo.csv" | cut -d, -f1-2)" "http://$site/,host"
check "demo: the dataset on the second host" \
	"$("${C[@]}" -o /dev/null -w '%{http_code} %{content_type}' "http://$data/exports/tree_canopy_2021.csv")" "200 text/csv; charset=utf-8"
check "demo: robots.txt and sitemap" \
	"$("${C[@]}" "http://$site/robots.txt" | grep -c 'Disallow: /drafts/') $("${C[@]}" "http://$site/sitemap.xml" | grep -c "http://$site/archive/2019-wetlands-survey.html")" "1 1"
check "demo: the ZIP is valid" "$(unzip -tq "$tmp/demo/site/data/emissions_inventory_2022.zip" >/dev/null && echo valid)" valid
check "demo: a few MB of CSV" "$(du -cb "$tmp/demo/site/data/"*.csv | tail -1 | awk '{ print ($1 > 3000000) }')" 1
broken=""
for f in $(cd "$tmp/demo/site" && find . -name '*.html' | sort); do
	while read -r l; do
		case $l in /*) t=$tmp/demo/site$l ;; *) t=$tmp/demo/site/$(dirname "$f")/$l ;; esac
		[ -e "$t" ] || broken+="$f->$l "
	done < <(grep -o 'href="[^"#:]*"\|src="[^"#:]*"' "$tmp/demo/site/$f" | sed 's/^[a-z]*="//; s/"$//; s/?.*//')
done
check "demo: every local link resolves" "$broken" ""

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
