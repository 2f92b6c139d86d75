#!/usr/bin/env bash
# make demo: a real crawl on loopback. Starts two test servers on 127.0.0.1
# (the example agency site, and a second "host" with one linked dataset),
# builds the site from seeds/examples/, crawls it from demo.csv into a fresh
# archive, then shows status, the captures, and verifies the archive.
# Everything lives in build/demo; the servers are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=${SALVAGE:-$repo/salvage}
server=${BUILD:-$repo/build/rel}/tests/testserver
demo=${DEMO_DIR:-$repo/build/demo}
rm -rf "$demo"
mkdir -p "$demo/www/site" "$demo/www/data"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

start_server() { # ROOT PORTFILE LOG
	"$server" --port 0 --root "$1" --port-file "$2" --log "$3" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$2" ] && return 0; sleep 0.05; done
	echo "demo: the test server did not start" >&2
	exit 3
}

step "start two servers on 127.0.0.1"
start_server "$demo/www/site" "$demo/site.port" "$demo/site.log"
start_server "$demo/www/data" "$demo/data.port" "$demo/data.log"
site=127.0.0.1:$(cat "$demo/site.port")
data=127.0.0.1:$(cat "$demo/data.port")
bash tests/server/make_demo_site.sh "$demo/www" "$site" "$data" >/dev/null
echo "site on http://$site/, second host on http://$data/"

step "salvage init $demo/archive"
"$bin" init "$demo/archive"
# The second host is on 127.0.0.1 too, which the crawl refuses unless told:
# the sheet names the site, not the data host (README: private addresses).
git config -f "$demo/archive/salvage.conf" crawl.allowPrivate "$data"

step "salvage crawl demo.csv"
cd "$demo/archive"
"$bin" crawl "$demo/www/demo.csv"

step "salvage status"
"$bin" status

step "salvage ls (datasets)"
"$bin" ls | grep -E ' dataset ' || true

step "salvage verify"
"$bin" verify

step "an object checked with nothing but zstd and sha256sum"
line=$("$bin" ls | grep -E ' dataset ' | head -n 1)
digest=$(awk '{print $3}' <<<"$line")
echo "$line"
zstd -dc "objects/sha256/${digest:0:2}/$digest.zst" | sha256sum

printf '\ndemo done: the archive is in %s\n' "$demo/archive"
