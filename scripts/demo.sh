#!/usr/bin/env bash
# make demo: a short tour of the object store on this machine. It creates an
# archive in build/demo, stores a generated 50 MB CSV and a few small files,
# shows that zstd and sha256sum alone can check an object, verifies the
# archive, damages a copy of it and shows verify naming the damage.
# (When the crawler lands, this becomes a crawl of the bundled example site.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/salvage
demo=$PWD/build/demo
rm -rf "$demo"
mkdir -p "$demo"

step() { printf '\n== %s\n' "$*"; }

step "salvage init $demo/archive"
"$bin" init "$demo/archive"

step "generate a 50 MB CSV and store it with two small files"
build/rel/tests/genstream 50M > "$demo/spending.csv"
printf 'agency,url\nEPA,https://www.epa.gov/\n' > "$demo/agencies.csv"
: > "$demo/empty.txt"
"$bin" -C "$demo/archive" put "$demo/spending.csv" "$demo/agencies.csv" "$demo/empty.txt"

step "the same digests, by sha256sum"
sha256sum "$demo/spending.csv" "$demo/agencies.csv" "$demo/empty.txt"

digest=$(sha256sum "$demo/spending.csv" | cut -c1-64)
obj="$demo/archive/objects/sha256/${digest:0:2}/$digest.zst"
step "an object needs nothing but zstd and sha256sum: zstd -dc OBJECT | sha256sum"
zstd -dc "$obj" | sha256sum
ls -l "$obj"

step "salvage cat gives the bytes back"
"$bin" -C "$demo/archive" cat "$digest" | cmp - "$demo/spending.csv" && echo "identical"

step "salvage verify (deep: decompress and re-hash on every core)"
"$bin" -C "$demo/archive" verify

step "damage one byte of a copy of the archive; verify names it and exits 1"
cp -a "$demo/archive" "$demo/damaged"
dobj="$demo/damaged/objects/sha256/${digest:0:2}/$digest.zst"
chmod u+w "$dobj"
printf 'X' | dd of="$dobj" bs=1 seek=100000 conv=notrunc status=none
set +e
"$bin" -C "$demo/damaged" verify
echo "exit status: $?"
set -e
printf '\ndemo done: the archive is in %s\n' "$demo/archive"
