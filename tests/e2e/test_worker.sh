# End-to-end tests of `salvage worker`: several archives ("machines") on one
# shared queue (a shared SQLite file, sqlite:PATH; the same runs unchanged on
# postgresql://), each committing its captures on ledger branch nodes/<node>,
# pushing to one mirror, and a coordinator whose pull covers every node.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_worker.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

wk_cleanup() {
	local p
	for p in "${wk_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	testservers_stop
	wait 2>/dev/null || true
}

# wk_site: ./site (an index linking 10 pages and 12 CSVs that drip at 12 kB/s,
# about a second each) served by server "s"; P its port; Q the shared queue.
wk_site() {
	trap wk_cleanup EXIT
	slow_site site 10 200 12 2500
	testserver_start s site
	P=$(cat s.port)
	Q="sqlite:$PWD/shared/queue.db"
	mkdir -p shared
	printf 'url\nhttp://127.0.0.1:%s/index.html\n' "$P" >sheet.csv
}

# wk_archive DIR [NODE]: a new archive, with node.name NODE if given, and
# crawl.hostConnections 8 so that two workers of two transfers each share the
# site's slots (a single worker would otherwise take them all).
wk_archive() {
	sv init "$1"
	expect_status 0
	git config -f "$1/salvage.conf" crawl.hostConnections 8
	[ -z "${2:-}" ] || git config -f "$1/salvage.conf" node.name "$2"
}

# wk_wait DIR: waits for the worker of DIR; fails unless it exited 0.
wk_wait() {
	wait "$WK_PID" 2>/dev/null || true
	for _ in $(seq 100); do
		[ -s "$1.status" ] && break
		sleep 0.1
	done
	echo "worker $1: exit $(cat "$1.status"); $(cat "$1.out"); $(cat "$1.err")"
	[ "$(cat "$1.status")" = 0 ] || fail "worker $1 exited $(cat "$1.status"): $(cat "$1.err")"
}

# wk_urls DIR: the URLs of DIR's captures but robots.txt, sorted, one a line.
wk_urls() {
	"$SALVAGE" -C "$1" ls --json | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    if c.get("kind") != "robots":
        print(c["url"])' | sort
}

# Two workers, w1 and w2, at once on one shared queue seeded by a
# coordinator; each URL done once by one of them, each ledger holding only
# its node's branch; both push to one mirror; the coordinator pulls it all.
test_two_workers_one_queue_one_mirror() {
	wk_site
	wk_archive c
	wk_archive w1 w1
	wk_archive w2 w2
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0

	wk_worker w1 --queue "$Q" --jobs 1 --transfers 2
	local p1=$WK_PID
	wk_worker w2 --queue "$Q" --jobs 1 --transfers 2
	local p2=$WK_PID
	WK_PID=$p1 wk_wait w1
	WK_PID=$p2 wk_wait w2
	expect_in "worker finished" "$(cat w1.out)"
	expect_in "node w1:" "$(cat w1.out)"

	# Every URL of the site done exactly once, by one of the two nodes.
	sv status --queue "$Q" --json
	expect_status 0
	echo "$out" >status.json
	wk_urls w1 >w1.urls
	wk_urls w2 >w2.urls
	local want=("http://127.0.0.1:$P/index.html")
	for i in $(seq 0 9); do want+=("http://127.0.0.1:$P/p$i.html"); done
	for k in $(seq 0 11); do want+=("http://127.0.0.1:$P/slow/12000/data/d$k.csv"); done
	printf '%s\n' "${want[@]}" | sort >want.urls
	python3 - <<-'EOF' || fail "queue and captures disagree: $(cat status.json)"
		import json
		st = json.load(open("status.json"))
		t, nodes = st["total"], {n["node"]: n for n in st["nodes"]}
		w1 = open("w1.urls").read().split()
		w2 = open("w2.urls").read().split()
		want = set(open("want.urls").read().split())
		assert t["queued"] == 0 and t["leased"] == 0 and t["failed"] == 0, t
		assert set(nodes) == {"w1", "w2"}, nodes
		assert nodes["w1"]["done"] > 0 and nodes["w2"]["done"] > 0, ("both nodes worked", nodes)
		assert nodes["w1"]["done"] + nodes["w2"]["done"] == t["done"], ("every done URL names its node", nodes, t)
		assert len(w1) == len(set(w1)) and len(w2) == len(set(w2)), "a URL captured twice by one node"
		assert not set(w1) & set(w2), ("a URL captured by both nodes", set(w1) & set(w2))
		assert len(w1) == nodes["w1"]["done"] and len(w2) == nodes["w2"]["done"], (len(w1), len(w2), nodes)
		assert want <= set(w1) | set(w2), ("site URLs missing", want - set(w1) - set(w2))
		assert len(w1) + len(w2) == t["done"], (len(w1) + len(w2), t)
		assert nodes["w1"]["last_seen_ms"] > 0 and nodes["w1"]["bytes"] > 0, nodes
	EOF

	# The queue keeps, per done URL, the node that holds it and its digest, as the
	# node's capture record says (read from the shared SQLite file itself).
	"$SALVAGE" -C w1 ls --json >w1.ls
	"$SALVAGE" -C w2 ls --json >w2.ls
	python3 - "${Q#sqlite:}" <<-'EOF' || fail "the queue's node and digest per done URL disagree with the captures"
		import json, sqlite3, sys
		caps = {}
		for n in ("w1", "w2"):
		    for l in open(n + ".ls"):
		        c = json.loads(l)
		        if c.get("kind") != "robots":
		            caps[c["url"]] = (n, c.get("sha256"))
		rows = sqlite3.connect(sys.argv[1]).execute("SELECT url, done_node, digest FROM urls WHERE state = 2").fetchall()
		assert len(rows) == len(caps), (len(rows), len(caps))
		for url, node, digest in rows:
		    assert caps[url] == (node, digest), (url, node, digest, caps.get(url))
	EOF

	# Each worker's ledger: only its own branch, its captures under captures/<node>/.
	local n
	for n in w1 w2; do
		expect_eq "$(git -C "$n/ledger.git" for-each-ref --format='%(refname)' refs/heads)" "refs/heads/nodes/$n"
		[ -z "$(git -C "$n/ledger.git" ls-tree -r --name-only "nodes/$n" | grep -v "^captures/$n/")" ] ||
			fail "$n's branch holds files of another node"
		sv -C "$n" verify
		expect_status 0
	done

	# The human table names both nodes.
	sv status --queue "$Q"
	expect_status 0
	expect_in "LAST HEARTBEAT" "$out"
	echo "$out" | grep -Eq '^w1 +[1-9]' || fail "no line for w1: $out"
	echo "$out" | grep -Eq '^w2 +[1-9]' || fail "no line for w2: $out"

	# Both push to one mirror (no conflict: neither has a main); the coordinator pulls.
	mkdir -p mirror/objects
	for n in w1 w2 c; do
		sv -C "$n" mirror add m --objects "file://$PWD/mirror/objects" --ledger "$PWD/mirror/ledger.git"
		expect_status 0
	done
	sv -C w1 mirror push m
	expect_status 0
	sv -C w2 mirror push m
	expect_status 0
	sv -C c mirror push m
	expect_status 0
	sv -C w1 mirror push m
	expect_status 0
	sv -C c mirror pull m
	expect_status 0
	expect_eq "$(git -C c/ledger.git for-each-ref --format='%(refname)' refs/heads | sort | tr '\n' ' ')" \
		"refs/heads/main refs/heads/nodes/w1 refs/heads/nodes/w2 "
	wk_urls c >c.urls
	sort -u w1.urls w2.urls >both.urls
	cmp -s c.urls both.urls || fail "the coordinator lists other URLs than the nodes: $(diff c.urls both.urls)"
	local u1 u2
	u1=$(grep '/data/' w1.urls | head -1)
	u2=$(grep '/data/' w2.urls | head -1)
	[ -n "$u1" ] || u1=$(head -1 w1.urls)
	[ -n "$u2" ] || u2=$(head -1 w2.urls)
	for u in "$u1" "$u2"; do
		"$SALVAGE" -C c cat "$u" >got || fail "cat $u on the coordinator failed"
		local file=${u#http://127.0.0.1:"$P"/}
		file=site/${file#slow/12000/}
		cmp -s got "$file" || fail "cat $u on the coordinator is not $file"
	done
	sv -C c verify
	expect_status 0
	expect_in "all sound" "$out"
}

test_worker_needs_a_queue() {
	wk_archive w w
	sv -C w worker
	expect_status 2
	expect_in "queue" "$err"
	sv -C w worker --queue "sqlite:$PWD/q.db" sheet.csv
	expect_status 2
	git config -f w/salvage.conf node.name 'bad:name'
	sv -C w worker --queue "sqlite:$PWD/q.db"
	expect_status 2
	expect_in "salvage.conf" "$err"
	expect_in "node.name" "$err"
}

# --forever: the drained worker waits (without spinning) and is woken by a
# sheet seeded later, fetches it, and stops cleanly on SIGTERM.
test_worker_forever_wakes_for_new_work() {
	wk_site
	wk_archive c
	wk_archive w1 w1
	printf 'url\nhttp://127.0.0.1:%s/p0.html\n' "$P" >first.csv
	sv -C c seed --queue "$Q" ../first.csv
	expect_status 0
	wk_worker w1 --queue "$Q" --jobs 1 --forever
	local pid
	for _ in $(seq 200); do
		sv status --queue "$Q" --json
		[ "$(echo "$out" | python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print(t["done"] > 0 and t["queued"] + t["leased"] == 0)')" = True ] && break
		sleep 0.1
	done
	sleep 1
	[ ! -s w1.status ] || fail "worker --forever exited when the queue drained: $(cat w1.out w1.err)"
	# The salvage process itself (the subshell's child): CPU time over 3 s of waiting.
	pid=$(pgrep -P "$(pgrep -P "$WK_PID" -x timeout)" -x salvage || true)
	[ -n "$pid" ] || fail "no salvage worker process under $WK_PID"
	local t0 t1
	t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	sleep 3
	t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	[ $((t1 - t0)) -lt 30 ] || fail "the waiting worker used $((t1 - t0)) ticks of CPU in 3 s: a busy poll"

	printf 'url\nhttp://127.0.0.1:%s/p5.html\n' "$P" >later.csv
	sv -C c seed --queue "$Q" ../later.csv
	expect_status 0
	local got=""
	for _ in $(seq 300); do
		got=$(wk_urls w1 | grep -c "/p5.html$" || true)
		[ "$got" = 1 ] && break
		sleep 0.1
	done
	[ "$got" = 1 ] || fail "the waiting worker did not fetch the sheet seeded later: $(cat w1.out w1.err)"
	kill -TERM "$pid"
	for _ in $(seq 100); do
		[ -s w1.status ] && break
		sleep 0.1
	done
	[ -s w1.status ] || fail "worker --forever did not stop on SIGTERM"
	expect_eq "$(cat w1.status)" 0
	expect_in "worker stopped" "$(cat w1.out)"
}

# Two archives with no node.name on one machine are two nodes: the first
# takes the host name, the second "<host>-2"; each keeps its name.
test_two_archives_without_node_name_are_two_nodes() {
	wk_site
	wk_archive c
	wk_archive a1
	wk_archive a2
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	wk_worker a1 --queue "$Q" --jobs 1
	wk_wait a1
	local n1 n2
	n1=$(git config -f a1/salvage.conf node.name) || fail "node.name not written by the first worker"
	expect_in "node.name = $n1 written" "$(cat a1.out)"
	wk_worker a2 --queue "$Q" --jobs 1
	wk_wait a2
	n2=$(git config -f a2/salvage.conf node.name) || fail "node.name not written by the second worker"
	expect_eq "$n2" "$n1-2"
	expect_in "another archive's" "$(cat a2.out)"
	# Kept: a second run of each is the same node.
	wk_worker a2 --queue "$Q" --jobs 1
	wk_wait a2
	expect_eq "$(git config -f a2/salvage.conf node.name)" "$n1-2"
	sv status --queue "$Q" --json
	expect_eq "$(echo "$out" | python3 -c 'import json,sys; print(" ".join(sorted(n["node"] for n in json.load(sys.stdin)["nodes"])))')" \
		"$n1 $n1-2"
	expect_eq "$(git -C a1/ledger.git for-each-ref --format='%(refname)' refs/heads)" "refs/heads/nodes/$n1"
}
