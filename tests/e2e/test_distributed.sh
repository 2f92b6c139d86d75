# End to end (issue 13, "Tests"): three workers, each with its own archive
# (three "machines"), crawl a generated open-data site (bench/gensite.c: about
# 1,100 pages and datasets, two large files, plus one large file dripped
# slowly so that it is in flight during the faults) from one PostgreSQL queue
# that a coordinator seeded. Mid-crawl: worker 1 is killed with -9 (its whole
# process group) and started again later on the same archive; PostgreSQL is
# restarted; worker 3, which reaches the database only through a TCP proxy,
# is cut off (silence, as a dropped Wi-Fi link) for longer than its lease and
# then comes back. Then: every worker exits 0; nothing is queued, leased or
# failed; every URL of the site is done exactly once in the queue (one node,
# one digest) and that node's archive holds a capture with that digest; each
# archive verifies; never more requests at once to the site than the queue's
# per-host cap (the test server's log); all three push to one mirror and a
# coordinator that pulls it lists every URL and verifies; the workers' role
# is refused DELETE and UPDATE of the queue's outcomes.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_distributed.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

DT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/servers/postgres.sh
. "$DT_ROOT/tests/servers/postgres.sh"

DT_SCALE=${DT_SCALE:-0.05} # gensite's scale: about 1,100 URLs
DT_LEASE=8                 # queue.leaseSeconds of every worker
DT_CAP=3                   # the coordinator's crawl.hostConnections: the queue's cap
DT_DELAY=20                # the coordinator's crawl.delayMs (a crawl of about a minute)
DT_LIMIT=600               # seconds any worker may run

dt_proxy_pid=
dt_cleanup() {
	local f
	for f in w1 w2 w3; do
		[ -s "$f.pid" ] && kill -KILL -- -"$(cat "$f.pid")" 2>/dev/null || true
	done
	[ -z "$dt_proxy_pid" ] || kill "$dt_proxy_pid" 2>/dev/null || true
	testservers_stop
	sv_pg_stop "$PWD/pg" >/dev/null 2>&1
	wait 2>/dev/null
	return 0
}

# dt_log TEXT: a timestamped line in the test's output.
dt_log() {
	echo "[$(date +%T) +$((SECONDS - dt_t0))s] $*"
}

# dt_sql SQL: one value (or rows, '|'-separated) from the queue, as the admin.
dt_sql() {
	"$SV_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$Q" -c "$1"
}

# dt_done: URLs done in the queue (0 while the database is down).
dt_done() {
	dt_sql "SELECT count(*) FROM salvage.urls WHERE state = 2" 2>/dev/null || echo 0
}

# dt_wait SECONDS WHAT CONDITION...: waits until the command succeeds; fails after SECONDS.
dt_wait() {
	local secs=$1 end=$((SECONDS + $1)) what=$2
	shift 2
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.3
	done
	fail "waited $secs s for $what (done: $(dt_done)); $(tail -n 5 w*.err)"
}

dt_done_at_least() {
	[ "$(dt_done)" -ge "$1" ]
}

# The slow large file is leased (in flight) now.
dt_slow_leased() {
	[ "$(dt_sql "SELECT count(*) FROM salvage.work w JOIN salvage.urls u ON u.id = w.id
		WHERE w.state = 1 AND u.url LIKE '%/slow/%'" 2>/dev/null)" = 1 ]
}

# The node holding the slow file's lease now, or its state.
dt_slow_holder() {
	dt_sql "SELECT coalesce(w.node, 'state ' || u.state || ' ' || coalesce(u.done_node, '')) FROM salvage.urls u
		LEFT JOIN salvage.work w ON w.id = u.id WHERE u.url LIKE '%/slow/%'" 2>/dev/null || echo unknown
}

# dt_worker N: `salvage worker` in archive wN in the background, in its own
# process group (timeout's: wN.pid), output appended to wN.out and wN.err,
# exit status to wN.status when it ends.
dt_worker() {
	rm -f "w$1.status" "w$1.pid"
	(
		cd "w$1"
		PGPASSFILE=$DT_PGPASS timeout -k 10 "$DT_LIMIT" "$SALVAGE" worker --jobs 2 --transfers 4 >>"../w$1.out" 2>>"../w$1.err" <&- &
		echo $! >"../w$1.pid"
		code=0
		wait $! || code=$?
		echo "$code" >"../w$1.status"
	) &
	for _ in $(seq 100); do
		[ -s "w$1.pid" ] && return 0
		sleep 0.05
	done
	fail "worker $1 did not start"
}

dt_ended() {
	[ -s "w$1.status" ]
}

# dt_site: the generated site with one more large file linked from the home
# page, served slowly (6 MB at 150 kB/s: about 40 s); served by "s" (port P).
dt_site() {
	cc -std=c11 -O2 -o gensite "$DT_ROOT/bench/gensite.c" -lz -lm || fail "cannot build gensite"
	./gensite site "$DT_SCALE" >gensite.out || fail "gensite failed: $(cat gensite.out)"
	cat gensite.out
	sed -i 's|</body>|<a href="/slow/150000/big.bin?mb=6">slow</a></body>|' site/www/index.html
	grep -q '/slow/150000/' site/www/index.html || fail "no slow link in the home page"
	testserver_start s site/www
	P=$(cat s.port)
	printf 'url,scope\nhttp://127.0.0.1:%s/,host\n' "$P" >sheet.csv
}

test_three_workers_survive_kill_restart_and_cut() {
	trap dt_cleanup EXIT
	dt_t0=$SECONDS
	chmod 0755 "$PWD" # the cluster's owner (postgres) reaches ./pg
	sv_pg_start "$PWD/pg" >pg.start 2>&1 || fail "postgres did not start: $(cat pg.start)"
	Q=$SV_PG_URL
	dt_site
	python3 "$DT_ROOT/tests/servers/tcpproxy.py" --target "127.0.0.1:$SV_PG_PORT" --port-file proxy.port 2>proxy.log &
	dt_proxy_pid=$!
	dt_wait 20 "the proxy" test -s proxy.port

	# The coordinator seeds (its cap and delay become the queue's) and makes the workers' role.
	sv init c
	expect_status 0
	git config -f c/salvage.conf crawl.hostConnections "$DT_CAP"
	git config -f c/salvage.conf crawl.delayMs "$DT_DELAY"
	printf 'vol-%s\n' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >vol.password
	sv -C c seed --queue "$Q" --grant-worker vol --password-file ../vol.password ../sheet.csv
	expect_status 0
	dt_log "seeded: $out"
	# The workers connect as vol, its password in their own PGPASSFILE.
	DT_PGPASS=$PWD/vol.pgpass
	printf '127.0.0.1:*:*:vol:%s\n' "$(cat vol.password)" >"$DT_PGPASS"
	chmod 0600 "$DT_PGPASS"
	local vol="postgresql://vol@127.0.0.1:$SV_PG_PORT/salvage"

	mkdir -p mirror/objects
	local n
	for n in 1 2 3; do
		sv init "w$n"
		expect_status 0
		git config -f "w$n/salvage.conf" node.name "w$n"
		git config -f "w$n/salvage.conf" crawl.hostConnections 16 # the queue's cap applies
		git config -f "w$n/salvage.conf" queue.leaseSeconds "$DT_LEASE"
		git config -f "w$n/salvage.conf" queue.url "$vol"
		sv -C "w$n" mirror add m --objects "file://$PWD/mirror/objects" --ledger "$PWD/mirror/ledger.git"
		expect_status 0
	done
	git config -f w3/salvage.conf queue.url "postgresql://vol@127.0.0.1:$(cat proxy.port)/salvage"

	local total
	total=$(dt_sql "SELECT count(*) FROM salvage.urls")
	dt_log "queue holds $total URLs; starting three workers"
	dt_worker 1
	dt_worker 2
	dt_worker 3

	# Worker 1 killed -9 with the slow file in flight somewhere, a third of the way in.
	dt_wait 120 "the slow file in flight" dt_slow_leased
	dt_wait 120 "300 URLs done" dt_done_at_least 300
	kill -KILL -- -"$(cat w1.pid)"
	dt_wait 20 "worker 1 to die" dt_ended 1
	dt_log "worker 1 killed (-9, process group); the slow file: $(dt_slow_holder); done $(dt_done); w1 holds $(dt_sql "SELECT count(*) FROM salvage.work WHERE node LIKE 'w1:%'") leases"

	# PostgreSQL restarted while the others work.
	dt_wait 120 "500 URLs done" dt_done_at_least 500
	dt_log "restarting PostgreSQL (done $(dt_done)); the slow file: $(dt_slow_holder)"
	sv_pg_restart "$PWD/pg" >pg.restart 2>&1 || fail "postgres did not restart: $(cat pg.restart)"
	dt_log "PostgreSQL is back"
	dt_wait 120 "progress after the restart" dt_done_at_least 600
	dt_worker 1
	dt_log "worker 1 started again (done $(dt_done))"

	# Worker 3 cut off for longer than its lease, then mended.
	dt_wait 120 "700 URLs done" dt_done_at_least 700
	local told
	told=$(grep -c "queue unreachable since" w3.err || true)
	kill -USR1 "$dt_proxy_pid"
	local cut_at=$SECONDS
	dt_log "worker 3 cut off; it holds $(dt_sql "SELECT count(*) FROM salvage.work WHERE node LIKE 'w3:%'") leases; the slow file: $(dt_slow_holder)"
	# A silent link is noticed well within the lease (the outbox takes over,
	# transfers go on), not when the link comes back.
	dt_w3_told() {
		[ "$(grep -c "queue unreachable since" w3.err || true)" -gt "$told" ]
	}
	dt_wait $((2 * DT_LEASE)) "worker 3 to notice the cut" dt_w3_told
	dt_log "worker 3 noticed the cut after $((SECONDS - cut_at)) s: $(grep "queue unreachable since" w3.err | tail -n 1)"
	dt_w3_lost() {
		[ $((SECONDS - cut_at)) -gt $((DT_LEASE + 3)) ] &&
			[ "$(dt_sql "SELECT count(*) FROM salvage.work WHERE node LIKE 'w3:%'")" = 0 ]
	}
	dt_wait 120 "worker 3's leases to run out" dt_w3_lost
	kill -USR2 "$dt_proxy_pid"
	dt_log "worker 3 mended after $((SECONDS - cut_at)) s (lease $DT_LEASE s)"

	for n in 1 2 3; do
		dt_wait "$DT_LIMIT" "worker $n to end" dt_ended "$n"
		dt_log "worker $n exit $(cat "w$n.status")"
	done
	for n in 1 2 3; do
		echo "--- w$n.out"; cat "w$n.out"; echo "--- w$n.err"; cat "w$n.err"
	done
	for n in 1 2 3; do
		[ "$(cat "w$n.status")" = 0 ] || fail "worker $n exited $(cat "w$n.status"): $(tail -n 20 "w$n.err")"
	done
	dt_check_queue "$total"
	dt_check_archives
	dt_check_politeness
	dt_check_mirror
	dt_check_role
	dt_log "all checks passed"
}

# The queue: nothing queued, leased or failed; every manifest URL (and the
# slow file) done once, by one node, with a digest.
dt_check_queue() {
	(cd c && "$SALVAGE" status --queue "$Q" --json >../status.json) || fail "status failed"
	python3 - "$1" <<-'EOF' || fail "the crawl did not complete: $(cat status.json)"
		import json, sys
		st = json.load(open("status.json"))
		t = st["total"]
		print("status:", t, [(n["node"], n["done"], n["leased"]) for n in st["nodes"]])
		assert t["queued"] == 0 and t["leased"] == 0 and t["failed"] == 0, t
		assert t["done"] >= int(sys.argv[1]) - 5, t
	EOF
	dt_sql "SELECT url, state, coalesce(done_node, ''), coalesce(digest, '') FROM salvage.urls" >queue.rows
	python3 - "$P" <<-'EOF' || fail "the queue's outcomes are wrong"
		import sys
		port = sys.argv[1]
		rows = {}
		for line in open("queue.rows"):
		    url, state, node, digest = line.rstrip("\n").split("|")
		    assert url not in rows, "two rows for " + url
		    rows[url] = (state, node, digest)
		want = [f"http://127.0.0.1:{port}" + l.split("\t")[0] for l in open("site/manifest.tsv")]
		want.append(f"http://127.0.0.1:{port}/slow/150000/big.bin?mb=6")
		bad = [u for u in want if u not in rows or rows[u][0] != "2" or rows[u][1] not in ("w1", "w2", "w3")
		       or len(rows[u][2]) != 64]
		assert not bad, f"{len(bad)} URLs not done once by a node: {bad[:5]} {[rows.get(u) for u in bad[:5]]}"
		with open("expected.tsv", "w") as f:
		    for u in want:
		        f.write(f"{u}\t{rows[u][1]}\t{rows[u][2]}\n")
		per = {}
		for u in want:
		    per[rows[u][1]] = per.get(rows[u][1], 0) + 1
		print(f"{len(want)} URLs done once in the queue; per node: {sorted(per.items())}")
	EOF
}

# Each archive verifies, and the node the queue names holds a capture of the
# URL with the queue's digest; URLs captured by a node the queue does not
# name (late outcomes refused) are counted and listed.
dt_check_archives() {
	local n
	for n in 1 2 3; do
		sv -C "w$n" verify
		[ "$status" -eq 0 ] || fail "w$n does not verify: $out $err"
		(cd "w$n" && "$SALVAGE" ls --json >"../w$n.ls") || fail "ls in w$n failed"
	done
	python3 - <<-'EOF' || fail "the archives do not hold what the queue says"
		import json
		have = {}
		for n in ("w1", "w2", "w3"):
		    caps = 0
		    for line in open(n + ".ls"):
		        r = json.loads(line)
		        if r.get("status") != 200:
		            continue
		        caps += 1
		        have.setdefault(r["url"], {}).setdefault(n, set()).add(r.get("sha256"))
		    print(f"{n}: {caps} captures (status 200)")
		missing, dup = [], []
		for line in open("expected.tsv"):
		    url, node, digest = line.rstrip("\n").split("\t")
		    if digest not in have.get(url, {}).get(node, set()):
		        missing.append((url, node, digest, have.get(url)))
		    others = sorted(set(have.get(url, {})) - {node})
		    if others:
		        dup.append((url, node, others))
		print(f"URLs also captured by a node the queue does not name (late outcomes refused): {len(dup)}")
		for url, node, others in dup:
		    print(f"  {url}: queue says {node}, also in {','.join(others)}")
		assert not missing, f"{len(missing)} URLs without the queue's capture in its node's archive: {missing[:5]}"
	EOF
}

dt_check_politeness() {
	local most
	most=$(max_at_once s.log)
	dt_log "the site served $(wc -l <s.log) requests, at most $most at once (the queue's cap: $DT_CAP)"
	[ "$most" -le "$DT_CAP" ] || fail "$most requests at once to the site; the queue's cap is $DT_CAP"
}

# All three push to the mirror; a new coordinator archive pulls it, lists every URL, verifies.
dt_check_mirror() {
	local n
	for n in 1 2 3; do
		sv -C "w$n" mirror push m
		[ "$status" -eq 0 ] || fail "w$n's push failed: $out $err"
	done
	sv init view
	expect_status 0
	sv -C view mirror add m --objects "file://$PWD/mirror/objects" --ledger "$PWD/mirror/ledger.git"
	expect_status 0
	sv -C view mirror pull m
	[ "$status" -eq 0 ] || fail "the pull failed: $out $err"
	(cd view && "$SALVAGE" ls >../view.ls) || fail "ls of the pulled archive failed"
	python3 - <<-'EOF' || fail "the coordinator's view lacks URLs"
		listed = {l.split()[-1] for l in open("view.ls") if l.strip()}
		want = [l.split("\t")[0] for l in open("expected.tsv")]
		missing = [u for u in want if u not in listed]
		print(f"the pulled archive lists {len(listed)} URLs; {len(missing)} of {len(want)} missing")
		assert not missing, missing[:5]
	EOF
	sv -C view verify
	[ "$status" -eq 0 ] || fail "the pulled archive does not verify: $out $err"
}

# The workers' role may not delete outcomes nor rewrite another node's.
dt_check_role() {
	local e
	for e in "DELETE FROM salvage.urls" "UPDATE salvage.urls SET done_node = 'w1', digest = NULL WHERE done_node = 'w2'"; do
		if PGPASSFILE=$DT_PGPASS "$SV_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "postgresql://vol@127.0.0.1:$SV_PG_PORT/salvage" \
			-c "$e" >role.out 2>role.err; then
			fail "vol was allowed: $e"
		fi
		expect_in "permission denied" "$(cat role.err)"
	done
}
