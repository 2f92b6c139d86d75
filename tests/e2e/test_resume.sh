# Kill and resume: a generated site of a few thousand pages and datasets and
# one 200 MB file, crawled while every salvage process is killed with -9 at
# random moments, then re-run until done. Every reachable URL must end with
# exactly one capture, every object must verify, and the big file must have
# been resumed with Range rather than fetched again from its first byte.

# gen_site DIR PAGES DATASETS BIGPATH: writes the site; prints the number of reachable URLs.
rs_gen_site() {
	python3 - "$@" <<'PY'
import os, random, sys
root, pages, datasets, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(7)
os.makedirs(os.path.join(root, "p"), exist_ok=True)
os.makedirs(os.path.join(root, "d"), exist_ok=True)
def page(i):
    links = {f"/p/{rnd.randrange(pages)}.html" for _ in range(10)}
    links.add(f"/p/{(i + 1) % pages}.html")          # a chain: every page is reachable
    links.add(f"/d/{i % datasets}.csv")
    body = "".join(f'<li><a href="{l}">{l}</a></li>' for l in sorted(links))
    return f"<!doctype html><title>page {i}</title><ul>{body}</ul><p>{'text ' * 200}</p>"
with open(os.path.join(root, "index.html"), "w") as f:
    f.write(f'<a href="/p/0.html">start</a> <a href="{big}">the big file</a>')
for i in range(pages):
    with open(os.path.join(root, "p", f"{i}.html"), "w") as f:
        f.write(page(i))
for i in range(datasets):
    with open(os.path.join(root, "d", f"{i}.csv"), "w") as f:
        f.write("id,value\n" + "".join(f"{j},{rnd.random():.6f}\n" for j in range(200)))
with open(os.path.join(root, "robots.txt"), "w") as f:
    f.write("User-agent: *\nAllow: /\n")
print(1 + pages + datasets + 1)   # index, pages, datasets, the big file
PY
}

test_kill_9_repeatedly_then_resume() {
	local big='/slow/40000000/big.bin?mb=200'
	mkdir site
	want=$(rs_gen_site site 3000 300 "$big")
	"$BUILD/tests/testserver" --port 0 --root site --port-file port --log server.log >server.out 2>&1 &
	server=$!
	trap 'kill $server 2>/dev/null' EXIT
	for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
	port=$(cat port)
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$port" >sheet.csv
	"$SALVAGE" init a >/dev/null
	cd a
	for round in 1 2 3 4 5; do
		setsid "$SALVAGE" crawl --jobs 2 ../sheet.csv >"run$round.log" 2>&1 &
		leader=$!
		sleep "$(awk -v r="$RANDOM" 'BEGIN {printf "%.2f", 1 + (r % 200) / 100}')"
		kill -9 -- -"$leader" 2>/dev/null || true
		wait "$leader" 2>/dev/null || true
	done
	timeout 300 "$SALVAGE" crawl --jobs 2 ../sheet.csv >final.log 2>&1 || { cat final.log; fail "the last run did not finish cleanly"; }
	"$SALVAGE" ls >ls.txt
	# Every reachable URL once, with status 200 (robots.txt and the sitemap probe aside).
	grep -v -e ' robots ' -e ' sitemap ' ls.txt >fetched.txt
	[ "$(awk '$2 == 200' fetched.txt | wc -l)" -eq "$want" ] ||
		fail "expected $want captures with status 200, got $(awk '$2 == 200' fetched.txt | wc -l) (of $(wc -l <fetched.txt))"
	[ "$(awk '{print $NF}' fetched.txt | sort | uniq -d | wc -l)" -eq 0 ] || fail "a URL has two captures"
	"$SALVAGE" verify >verify.txt || { cat verify.txt; fail "verify found damage"; }
	# The ledger, read with git itself: sound, and every capture marked done in
	# the queue is in it (a kill between the ledger commit and the queue may
	# leave extra records, never missing ones), each naming a stored object.
	git -C ledger.git fsck --strict >fsck.txt 2>&1 || { cat fsck.txt; fail "git fsck of the ledger failed"; }
	git -C ledger.git archive main captures | tar -xO >ledger.jsonl
	"$SALVAGE" ls --json >ls.json
	python3 - <<-'EOF' || fail "the ledger misses captures or names missing objects"
		import json, os
		led = [json.loads(l) for l in open("ledger.jsonl") if l.strip()]
		keys = {(r["url"], r["ts"]) for r in led}
		db = [json.loads(l) for l in open("ls.json") if l.strip()]
		missing = [c["url"] for c in db if (c["url"], c["ts"]) not in keys]
		assert not missing, "not in the ledger: %s" % missing[:5]
		for r in led:
		    if r.get("sha256"):
		        p = "objects/sha256/%s/%s.zst" % (r["sha256"][:2], r["sha256"])
		        assert os.path.exists(p), "ledger names a missing object: " + p
		print(len(led), "ledger records,", len(db), "captures")
	EOF
	git -C ledger.git show main:sheets/sheet.csv | cmp - ../sheet.csv || fail "the sheet in the ledger differs from the file"
	[ -z "$(ls tmp)" ] || fail "partial files left in tmp/: $(ls tmp)"
	# The big file: resumed by Range at least once, and its bytes are right.
	grep 'big.bin' ../server.log | grep -q ' 206 range=bytes=' || fail "the big file was never resumed with Range"
	want_sha=$(curl -s "http://127.0.0.1:$port/big.bin?mb=200" | sha256sum | cut -c1-64)
	grep 'big.bin' fetched.txt | grep -q "$want_sha" || fail "the big file's digest is wrong"
}
