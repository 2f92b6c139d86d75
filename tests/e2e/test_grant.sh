# End-to-end tests of the access and politeness a PostgreSQL queue holds for
# the whole crawl: `salvage seed --grant-worker ROLE --password-file FILE`
# makes a role that can do a worker's work and nothing else (tried with the
# real psql), a worker runs as it to the end with its password only in a
# PGPASSFILE, and the password shows up nowhere; the coordinator's
# crawl.hostConnections holds across workers whose salvage.conf says more.
# Each test starts its own throwaway cluster (tests/servers/postgres.sh).
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_grant.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

GR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/servers/postgres.sh
. "$GR_ROOT/tests/servers/postgres.sh"

gr_cleanup() {
	local p
	for p in "${wk_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	testservers_stop
	sv_pg_stop "$PWD/pg"
	wait 2>/dev/null || true
}

# gr_start DATASETS: a cluster in ./pg (SV_PG_* exported; Q the admin's queue
# URL), ./site of 10 pages and DATASETS slow CSVs served by "s" (port P), and
# sheet.csv seeding its index.
gr_start() {
	trap gr_cleanup EXIT
	chmod 0755 "$PWD" # the cluster's owner (postgres) reaches ./pg
	sv_pg_start "$PWD/pg" >pg.start 2>&1 || fail "postgres did not start: $(cat pg.start)"
	Q=$SV_PG_URL
	slow_site site 10 200 "$1" 2500
	testserver_start s site
	P=$(cat s.port)
	printf 'url\nhttp://127.0.0.1:%s/index.html\n' "$P" >sheet.csv
}

# gr_archive DIR CONNECTIONS [NODE]: a new archive with crawl.hostConnections CONNECTIONS.
gr_archive() {
	sv init "$1"
	expect_status 0
	git config -f "$1/salvage.conf" crawl.hostConnections "$2"
	[ -z "${3:-}" ] || git config -f "$1/salvage.conf" node.name "$3"
}

# gr_psql ROLE PASSFILE SQL: psql as ROLE (password from PASSFILE), one
# statement; stdout in $out, stderr in $err (with the SQLSTATE), status in $status.
gr_psql() {
	set +e
	PGPASSFILE=$2 "$SV_PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		"postgresql://$1@127.0.0.1:$SV_PG_PORT/salvage" -c "$3" >.pout 2>.perr
	status=$?
	set -e
	out=$(cat .pout)
	err=$(cat .perr)
}

# gr_refused ROLE PASSFILE SQL: SQL fails with a permission error (42501).
gr_refused() {
	gr_psql "$@"
	[ "$status" -ne 0 ] || fail "$1 was allowed: $3 ($out)"
	expect_in "42501" "$err"
}

# gr_rights ROLE: ROLE's rights in schema salvage, one a line, sorted (as the admin).
gr_rights() {
	"$SV_PG_BIN/psql" -X -q -At "$Q" -c "
		SELECT 'table ' || table_name || ' ' || privilege_type FROM information_schema.role_table_grants
		 WHERE grantee = '$1' AND table_schema = 'salvage'
		UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'salvage' AND has_function_privilege('$1', p.oid, 'EXECUTE')
		UNION ALL SELECT 'schema usage' WHERE has_schema_privilege('$1', 'salvage', 'USAGE')
		UNION ALL SELECT 'schema create' WHERE has_schema_privilege('$1', 'salvage', 'CREATE')
		ORDER BY 1"
}

# A role from --grant-worker: refused every table write, DDL and other nodes'
# leases; runs a worker to the end; its password shown and logged nowhere.
test_grant_worker_role() {
	gr_start 3
	local pw pw2
	pw="gw-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')-secret"
	pw2="gw2-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')-secret"
	printf '%s\n' "$pw" >w1.password
	printf '%s\n' "$pw2" >w2.password
	printf '127.0.0.1:*:*:w1:%s\n' "$pw" >w1.pgpass
	printf '127.0.0.1:*:*:w2:%s\n' "$pw2" >w2.pgpass
	chmod 0600 w1.pgpass w2.pgpass
	gr_archive c 4

	sv -C c seed --queue "$Q" --grant-worker w1 --password-file ../w1.password ../sheet.csv
	expect_status 0
	echo "$out$err" >>all.out
	expect_in "role w1 created" "$out"
	gr_rights w1 >rights.1
	sv -C c seed --queue "$Q" --grant-worker w1 --password-file ../w1.password
	expect_status 0
	echo "$out$err" >>all.out
	expect_in "role w1 exists" "$out"
	gr_rights w1 >rights.2
	cmp -s rights.1 rights.2 || fail "granting again changed the rights: $(diff rights.1 rights.2)"
	echo "w1's rights:"
	cat rights.1
	grep -Eq ' (INSERT|UPDATE|DELETE|TRUNCATE)$|^schema create$' rights.1 && fail "w1 may write tables: $(cat rights.1)"
	grep -q '^function claim$' rights.1 || fail "w1 may not claim: $(cat rights.1)"
	sv -C c seed --queue "$Q" --grant-worker 'w1";DROP TABLE salvage.work;--'
	expect_status 2
	sv -C c seed --queue "$Q" --grant-worker w2 --password-file ../w2.password
	expect_status 0
	echo "$out$err" >>all.out
	sv -C c seed --queue "$Q" --grant-worker w3
	expect_status 0
	expect_in '\password w3' "$out"

	# Node w2n (role w2) holds the index's lease.
	gr_psql w2 w2.pgpass "SELECT o_id FROM salvage.claim('w2n:1:0', NULL, 1, 600000, NULL, 4, 0, 0, false, 5)"
	expect_status 0
	local id=$out
	[ -n "$id" ] || fail "w2 claimed nothing"

	gr_refused w1 w1.pgpass "DELETE FROM salvage.urls"
	gr_refused w1 w1.pgpass "UPDATE salvage.urls SET state = 3, reason = 'rewritten'"
	gr_refused w1 w1.pgpass "UPDATE salvage.work SET node = 'w1n:1:0' WHERE id = $id"
	gr_refused w1 w1.pgpass "INSERT INTO salvage.urls(url, host, seed, kind) VALUES('http://x/', 1, 1, 'page')"
	gr_refused w1 w1.pgpass "DROP TABLE salvage.work"
	gr_refused w1 w1.pgpass "CREATE TABLE salvage.x(a int)"
	gr_refused w1 w1.pgpass "ALTER TABLE salvage.urls ADD COLUMN x int"
	gr_refused w1 w1.pgpass "SELECT salvage.settle('http://127.0.0.1:$P/index.html', 2, 'x', 500, 0, NULL)"
	gr_refused w1 w1.pgpass "SELECT salvage.complete('w2n:1:0', ARRAY[$id]::bigint[], '{2}', '{0}', '{rewritten}',
		'{500}', '{0}', '{NULL}', NULL)"
	expect_in "belongs to another role" "$err"
	gr_refused w1 w1.pgpass "SELECT salvage.give_back('w2n:1:0', ARRAY[$id]::bigint[], true)"
	gr_refused w1 w1.pgpass "SELECT salvage.renew('w2n:1:0', ARRAY[$id]::bigint[], 1, NULL)"
	expect_eq "$("$SV_PG_BIN/psql" -X -At "$Q" -c "SELECT w.node || ' ' || coalesce(u.reason, '-')
		FROM salvage.work w JOIN salvage.urls u ON u.id = w.id WHERE w.id = $id")" "w2n:1:0 -"
	# Its own node's lease w2 gives back.
	gr_psql w2 w2.pgpass "SELECT salvage.give_back('w2n:1:0', ARRAY[$id]::bigint[], true)"
	expect_status 0
	expect_eq "$out" 1

	# A worker as w1: queue.url without a password, the password in PGPASSFILE only.
	gr_archive w 4 wn
	git config -f w/salvage.conf queue.url "postgresql://w1@127.0.0.1:$SV_PG_PORT/salvage"
	PGPASSFILE=$PWD/w1.pgpass wk_worker w --jobs 1 --transfers 2
	wk_exited w
	cat w.out w.err >>all.out
	(cd w && PGPASSFILE=$PWD/../w1.pgpass "$SALVAGE" status --queue "postgresql://w1@127.0.0.1:$SV_PG_PORT/salvage" \
		--json >../status.json 2>>../all.out) || fail "status as w1 failed: $(cat all.out)"
	cat status.json >>all.out
	python3 - <<-'EOF' || fail "the crawl as w1 did not end: $(cat status.json)"
		import json
		st = json.load(open("status.json"))
		t = st["total"]
		assert t["queued"] == 0 and t["leased"] == 0 and t["failed"] == 0 and t["done"] >= 14, t
		assert {n["node"] for n in st["nodes"]} >= {"wn"}, st["nodes"]
	EOF
	sv -C w verify
	expect_status 0

	# The passwords: in no output, log, archive, ledger, nor the server's log.
	git -C w/ledger.git log -p --all >>all.out
	git -C c/ledger.git log -p --all >>all.out
	local p
	for p in "$pw" "$pw2"; do
		grep -qF "$p" all.out && fail "a password in the output: $(grep -F "$p" all.out)"
		grep -rqaF "$p" w c && fail "a password in an archive: $(grep -rlaF "$p" w c)"
		grep -rqaF "$p" pg/log && fail "a password in the server's log"
	done
	[ -s pg/log/postgres.log ] || ls pg/log | grep -q . || fail "no server log to look in"
	return 0
}

# Two workers whose salvage.conf allow 8 connections per host, on a queue
# seeded by a coordinator whose conf says 2: never more than 2 at once.
test_queue_politeness_applies_to_every_worker() {
	gr_start 12
	gr_archive c 2
	gr_archive w1 8 w1
	gr_archive w2 8 w2
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0
	local seeded=$out

	wk_worker w1 --queue "$Q" --jobs 1 --transfers 4
	wk_worker w2 --queue "$Q" --jobs 1 --transfers 4
	wk_exited w1
	wk_exited w2
	local most
	most=$(max_at_once s.log)
	echo "most requests at once: $most; $(wc -l <s.log) requests"
	[ "$most" -le 2 ] || fail "$most requests at once to the site; the queue's cap is 2"
	[ "$(wc -l <s.log)" -ge 23 ] || fail "the site was not crawled: $(cat s.log)"
	expect_in "crawl.hostConnections 2" "$seeded"
	local n
	for n in w1 w2; do
		expect_in "the queue's crawl.hostConnections 2 and crawl.delayMs 0 apply" "$(cat $n.out)"
		[ "$(grep -c "crawl.hostConnections" $n.out)" -eq 1 ] || fail "$n said it more than once: $(cat $n.out)"
	done
	return 0
}
