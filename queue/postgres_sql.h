/*
 * queue/postgres_sql.h -- the schema of the postgres queue backend (schema
 * `salvage`), with its functions; included by queue/postgres.c only.
 *
 * What must stay true:
 * - work holds only the URLs being worked on (queued, leased, paused); urls
 *   holds every URL ever queued (identity, seed, depth, kind, via) and, once
 *   it ended, its outcome. Ending a URL deletes its work row, so the table
 *   that every claim scans and updates stays the size of the frontier, not of
 *   the crawl;
 * - hosts.queued and hosts.inflight count work rows (state 0, and slot) in
 *   the same transactions that change them; a hosts row is the per-host slot
 *   keeper: every claim locks it (FOR UPDATE SKIP LOCKED) before leasing its
 *   URLs, so the cap, delay, Crawl-delay, cool-down and robots-first hold
 *   across every process and machine;
 * - hosts rows are locked in id order wherever several are updated, so that
 *   two transactions rarely deadlock (and one that does is retried);
 * - times are ms since the epoch: the caller's test clock when given (p_now),
 *   else the server's clock_timestamp(), so that leases taken on many machines
 *   do not depend on their clocks.
 * Changing anything here means a new SCHEMA_VERSION and a migration.
 */
#ifndef SV_QUEUE_POSTGRES_SQL_H
#define SV_QUEUE_POSTGRES_SQL_H

/* 2: every write through a function, SECURITY DEFINER, nodes bound to the
 * role that first used them (nodes.role), so that a role granted only what a
 * worker needs (salvage seed --grant-worker) can be given out.
 * 3: claim and complete lock fewer rows; work_leased's predicate, no
 * work_seed, work's fillfactor.
 * 4: catalogs: what a queued URL carries for its fetcher (urls.meta), each
 * catalog row's passes (seeds.catalog_pass, catalog_done_pass), the
 * datasets rows list and the URLs of each (datasets, dataset_urls). */
#define PG_SCHEMA_VERSION "4"

/* The catalogs' tables (4), for a new schema and a migrated one alike. A
 * dataset's key is unique within its row by md5, as a URL is (keys are
 * identifiers, but also landing URLs or titles of any length). */
#define PG_CATALOG_TABLES \
	"CREATE TABLE IF NOT EXISTS salvage.datasets(" \
	" id bigserial PRIMARY KEY, seed bigint NOT NULL, key text NOT NULL, identifier text, title text," \
	" publisher text, modified text, meta text, first_pass int NOT NULL, last_pass int NOT NULL," \
	" vanished_pass int NOT NULL DEFAULT 0);" \
	"CREATE UNIQUE INDEX IF NOT EXISTS datasets_key ON salvage.datasets(seed, (md5(key)::uuid));" \
	"CREATE TABLE IF NOT EXISTS salvage.dataset_urls(dataset bigint NOT NULL, url bigint NOT NULL, role text," \
	" PRIMARY KEY(dataset, url));" \
	"CREATE INDEX IF NOT EXISTS dataset_urls_url ON salvage.dataset_urls(url);"

/* URL and seed identity: a unique index on md5(url)::uuid rather than on the
 * text, which a btree cannot index past ~2700 bytes (long query strings are
 * common); lookups compare the text as well. Two different URLs with one md5
 * (which takes inputs crafted for it) would be queued as one. */
static const char PG_SCHEMA[] =
	"CREATE TABLE salvage.sheets(name text PRIMARY KEY, raw bytea NOT NULL, loaded_ms bigint);"
	"CREATE TABLE salvage.seeds("
	" id bigserial PRIMARY KEY, sheet text NOT NULL, url text NOT NULL, line int,"
	" priority int NOT NULL DEFAULT 0, max_urls bigint NOT NULL DEFAULT -1, delay_ms int NOT NULL DEFAULT -1,"
	" params text, meta text, active boolean NOT NULL DEFAULT true, queued_total bigint NOT NULL DEFAULT 0,"
	" catalog_pass int NOT NULL DEFAULT 0, catalog_done_pass int NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX seeds_key ON salvage.seeds(sheet, (md5(url)::uuid));"
	/* Counters change on every claim and outcome: room on each page for
	 * the new row versions (fillfactor) keeps updates of columns no index
	 * names HOT, and autovacuum visits as soon as 1% of rows are dead. */
	"CREATE TABLE salvage.hosts("
	" id bigserial PRIMARY KEY, host text NOT NULL UNIQUE, queued bigint NOT NULL DEFAULT 0,"
	" inflight int NOT NULL DEFAULT 0, priority int NOT NULL DEFAULT 0, delay_ms int NOT NULL DEFAULT -1,"
	" next_ms bigint NOT NULL DEFAULT 0, cooldown_ms bigint NOT NULL DEFAULT 0,"
	" robots text, robots_ms bigint, robots_status int, crawl_delay_ms int NOT NULL DEFAULT -1,"
	" timeouts int NOT NULL DEFAULT 0, robots_tries int NOT NULL DEFAULT 0, robots_error text,"
	" robots_held boolean NOT NULL DEFAULT false, robots_claim_ms bigint NOT NULL DEFAULT 0)"
	" WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 100,"
	" autovacuum_vacuum_cost_delay = 0);"
	"CREATE INDEX hosts_waiting ON salvage.hosts(priority DESC, next_ms) WHERE queued > 0;"
	"CREATE TABLE salvage.urls("
	" id bigserial PRIMARY KEY, url text NOT NULL, host bigint NOT NULL, seed bigint NOT NULL,"
	" depth int NOT NULL DEFAULT 0, kind text NOT NULL, via text, redirects int NOT NULL DEFAULT 0,"
	" state smallint NOT NULL DEFAULT 0, attempts int NOT NULL DEFAULT 0, expiries int NOT NULL DEFAULT 0,"
	" status int, bytes bigint, reason text, done_ms bigint, done_node text, digest text, meta text)"
	/* Each row is updated once, when its URL ends: room for that to be HOT
	 * (no new entry in urls_key, whose md5 is the costly part). */
	" WITH (fillfactor = 90);"
	"CREATE UNIQUE INDEX urls_key ON salvage.urls((md5(url)::uuid));"
	/* The hot table: every claim, renew and outcome updates it and every end
	 * deletes from it. No room left on its pages (fillfactor 100): a claim
	 * changes state, node, lease_ms and slot, which indexes name, and renew
	 * changes lease_ms, so no update of it is HOT and room for one only made
	 * the table (a whole frontier) 30% larger. autovacuum runs after 2% of it
	 * is dead instead of 20%, without cost delay, so dead rows do not pile up
	 * behind claims. */
	"CREATE TABLE salvage.work("
	" id bigint PRIMARY KEY, host bigint NOT NULL, seed bigint NOT NULL, priority bigint NOT NULL,"
	" state smallint NOT NULL DEFAULT 0, attempts int NOT NULL DEFAULT 0, expiries int NOT NULL DEFAULT 0,"
	" not_before_ms bigint NOT NULL DEFAULT 0, node text, lease_ms bigint, slot boolean NOT NULL DEFAULT false)"
	" WITH (fillfactor = 100, autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,"
	" autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05);"
	"CREATE INDEX work_queued ON salvage.work(host, priority DESC, id) WHERE state = 0;"
	/* Leases by expiry (lease_ms is set exactly while state = 1). Not
	 * "WHERE state = 1": a query naming state = 1 would then match it, and
	 * the planner, whose statistics see few leases, took it for complete's
	 * lookups by id, scanning every lease and their dead entries. */
	"CREATE INDEX work_leased ON salvage.work(lease_ms) WHERE lease_ms IS NOT NULL;"
	"CREATE INDEX work_slots ON salvage.work(host, node) WHERE slot;"
	/* No index on seed: every claim's and every enqueue's row would pay
	 * for it, and only pausing a row (set_paused, when a sheet drops or
	 * brings back rows) looks work up by seed, one scan of the frontier. */
	/* A node's heartbeat: its last claim or renewal (see salvage.seen). */
	"CREATE TABLE salvage.nodes(name text PRIMARY KEY, last_ms bigint NOT NULL DEFAULT 0, role text) WITH (fillfactor = 50);"
	"CREATE TABLE salvage.seed_landings(id bigserial PRIMARY KEY, seed bigint NOT NULL, url text NOT NULL);"
	"CREATE UNIQUE INDEX seed_landings_key ON salvage.seed_landings(seed, (md5(url)::uuid));"
	PG_CATALOG_TABLES;

/* Every function of the schema, whatever its signature: dropped. */
#define PG_DROP_FUNCTIONS \
	"DO $$DECLARE f record; BEGIN FOR f IN SELECT p.proname, pg_get_function_identity_arguments(p.oid) a" \
	" FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'salvage' LOOP" \
	" EXECUTE format('DROP FUNCTION salvage.%I(%s)', f.proname, f.a); END LOOP; END$$;"

/* Schema 1, 2 or 3 to 4 in place (each step may run again): nodes gain their
 * role (2); URLs their meta, rows their catalog passes, and the catalogs'
 * tables are made (4); the functions are all dropped, to be made again from
 * PG_FUNCTIONS (so that any migration can change any signature). */
static const char PG_MIGRATE[] =
	"ALTER TABLE salvage.nodes ADD COLUMN IF NOT EXISTS role text;"
	"ALTER TABLE salvage.urls ADD COLUMN IF NOT EXISTS meta text;"
	"ALTER TABLE salvage.seeds ADD COLUMN IF NOT EXISTS catalog_pass int NOT NULL DEFAULT 0;"
	"ALTER TABLE salvage.seeds ADD COLUMN IF NOT EXISTS catalog_done_pass int NOT NULL DEFAULT 0;"
	PG_CATALOG_TABLES
	"DROP INDEX IF EXISTS salvage.work_leased;"
	"CREATE INDEX work_leased ON salvage.work(lease_ms) WHERE lease_ms IS NOT NULL;"
	"DROP INDEX IF EXISTS salvage.work_seed;"
	"ALTER TABLE salvage.work SET (fillfactor = 100);"
	PG_DROP_FUNCTIONS;

/*
 * Run after PG_FUNCTIONS: every function of the schema runs as its owner
 * (SECURITY DEFINER), with a search_path no caller can change (pg_temp last,
 * so a caller's temporary table never stands in for one of ours), and none
 * may be called by PUBLIC: a role calls only what it is granted. The loop
 * over pg_proc keeps this true whatever functions and signatures there are.
 */
static const char PG_SECURE[] =
	"DO $$DECLARE f record; BEGIN FOR f IN SELECT p.proname, pg_get_function_identity_arguments(p.oid) a"
	" FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'salvage' LOOP"
	" EXECUTE format('ALTER FUNCTION salvage.%I(%s) SECURITY DEFINER SET search_path = salvage, pg_catalog, pg_temp',"
	" f.proname, f.a); END LOOP; END$$;"
	"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA salvage FROM PUBLIC;";

/* What a worker role is granted (salvage seed --grant-worker), and nothing
 * more: the reads of status and of the fetchers, and the functions of a
 * worker's writes (it keeps the datasets the catalogs it reads list and
 * ends the passes it reads to the end; `crawl` on the shared queue starts
 * passes, as the coordinator's seed does). Not
 * add_sheet, set_paused, settle (the coordinator's), nor the helpers the
 * functions call (hosts_adjust, queued_add, expire, seen, own_node). */
#define PG_WORKER_TABLES \
	"salvage.meta, salvage.seeds, salvage.hosts, salvage.urls, salvage.work, salvage.nodes, salvage.seed_landings," \
	" salvage.datasets, salvage.dataset_urls"
#define PG_WORKER_FUNCTIONS \
	"salvage.now_ms, salvage.claim, salvage.renew, salvage.complete, salvage.give_back, salvage.enqueue," \
	" salvage.host_set_robots, salvage.host_cooldown, salvage.host_robots_failed, salvage.host_delay," \
	" salvage.robots_retry, salvage.landing_add, salvage.catalog_lock, salvage.datasets_put," \
	" salvage.catalog_begin, salvage.catalog_end"

static const char PG_FUNCTIONS[] =
	"CREATE FUNCTION salvage.now_ms() RETURNS bigint LANGUAGE sql VOLATILE AS"
	" $$SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint$$;"

	/* The holder's node (its name up to the first ':') was seen at p_now. A
	 * node's fetchers all claim and renew: the row is written at most once a
	 * second, and an UPDATE whose WHERE fails takes no lock, so they do not
	 * queue behind each other on it. */
	"CREATE FUNCTION salvage.seen(p_holder text, p_now bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
	"DECLARE v_name text := split_part(p_holder, ':', 1);\n"
	"BEGIN\n"
	" UPDATE salvage.nodes SET last_ms = p_now WHERE name = v_name AND last_ms <= p_now - 1000;\n"
	" IF NOT FOUND THEN\n"
	"  INSERT INTO salvage.nodes(name, last_ms) VALUES(v_name, p_now) ON CONFLICT (name) DO NOTHING;\n"
	" END IF;\n"
	"END$$;"

	/* The caller may act for the node of p_holder: the node is bound to the
	 * role that first used it (session_user: these functions run as their
	 * owner), and only that role, or the schema's owner (and superusers),
	 * may claim, renew, complete or give back for it. */
	"CREATE FUNCTION salvage.own_node(p_holder text) RETURNS void LANGUAGE plpgsql AS $$\n"
	"DECLARE v_name text := split_part(p_holder, ':', 1); v_role text;\n"
	"BEGIN\n"
	" SELECT role INTO v_role FROM salvage.nodes WHERE name = v_name;\n"
	" IF v_role IS NULL THEN\n"
	"  INSERT INTO salvage.nodes AS x(name, role) VALUES(v_name, session_user::text) ON CONFLICT (name)"
	"   DO UPDATE SET role = excluded.role WHERE x.role IS NULL;\n"
	"  SELECT role INTO v_role FROM salvage.nodes WHERE name = v_name;\n"
	" END IF;\n"
	" IF v_role <> session_user::text AND NOT pg_has_role(session_user, current_user, 'MEMBER') THEN\n"
	"  RAISE EXCEPTION 'node % belongs to another role', v_name USING ERRCODE = '42501';\n"
	" END IF;\n"
	"END$$;"

	/* Leases of p_node among p_ids renewed; a heartbeat even with none. */
	"CREATE FUNCTION salvage.renew(p_node text, p_ids bigint[], p_lease int, p_now bigint) RETURNS void"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE v_now bigint := coalesce(p_now, salvage.now_ms());\n"
	"BEGIN\n"
	" PERFORM salvage.own_node(p_node);\n"
	" UPDATE salvage.work SET lease_ms = v_now + p_lease WHERE id = ANY(p_ids) AND state = 1 AND node = p_node;\n"
	" PERFORM salvage.seen(p_node, v_now);\n"
	"END$$;"

	/* A host's robots.txt rules kept; its robots.txt failures forgotten. */
	"CREATE FUNCTION salvage.host_set_robots(p_host text, p_robots text, p_status int, p_delay int, p_now bigint)"
	" RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" INSERT INTO salvage.hosts AS h(host, robots, robots_status, crawl_delay_ms, robots_ms)"
	"  VALUES(p_host, p_robots, p_status, p_delay, coalesce(p_now, salvage.now_ms()))"
	"  ON CONFLICT (host) DO UPDATE SET robots = excluded.robots, robots_status = excluded.robots_status,"
	"  crawl_delay_ms = excluded.crawl_delay_ms, robots_ms = excluded.robots_ms, robots_tries = 0,"
	"  robots_error = NULL, robots_held = false, robots_claim_ms = 0;\n"
	"END$$;"

	/* A host rests until p_until (429/503, timeouts: p_timed_out counts them). */
	"CREATE FUNCTION salvage.host_cooldown(p_host text, p_until bigint, p_timed_out boolean) RETURNS void"
	" LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" INSERT INTO salvage.hosts AS h(host, cooldown_ms, timeouts) VALUES(p_host, p_until, p_timed_out::int)"
	"  ON CONFLICT (host) DO UPDATE SET cooldown_ms = greatest(h.cooldown_ms, excluded.cooldown_ms),"
	"  timeouts = CASE WHEN excluded.timeouts > 0 THEN h.timeouts + 1 ELSE 0 END;\n"
	"END$$;"

	/* A host's robots.txt failed: retried at p_retry, or held for this run (p_give_up). */
	"CREATE FUNCTION salvage.host_robots_failed(p_host text, p_reason text, p_retry bigint, p_give_up boolean)"
	" RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" INSERT INTO salvage.hosts AS h(host, robots_tries, robots_error, robots_held, cooldown_ms)"
	"  VALUES(p_host, 1, p_reason, p_give_up, CASE WHEN p_give_up THEN 0 ELSE p_retry END)"
	"  ON CONFLICT (host) DO UPDATE SET robots_tries = h.robots_tries + 1,"
	"  robots_error = excluded.robots_error, robots_held = excluded.robots_held,"
	"  cooldown_ms = greatest(h.cooldown_ms, excluded.cooldown_ms), robots_claim_ms = 0;\n"
	"END$$;"

	/* A host's Crawl-delay kept, its next request no sooner than the delay;
	 * returns the delay in force (NULL: no such host). */
	"CREATE FUNCTION salvage.host_delay(p_host text, p_crawl_delay int, p_now bigint, p_default int) RETURNS int"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE v_d int;\n"
	"BEGIN\n"
	" UPDATE salvage.hosts SET crawl_delay_ms = p_crawl_delay, next_ms = greatest(next_ms,"
	"  coalesce(p_now, salvage.now_ms()) + greatest(delay_ms, p_crawl_delay, p_default))"
	"  WHERE host = p_host RETURNING greatest(delay_ms, crawl_delay_ms, p_default) INTO v_d;\n"
	" RETURN v_d;\n"
	"END$$;"

	/* A new run: hosts whose robots.txt failed get their tries again; returns how many. */
	"CREATE FUNCTION salvage.robots_retry() RETURNS bigint LANGUAGE plpgsql AS $$\n"
	"DECLARE v_n bigint;\n"
	"BEGIN\n"
	" UPDATE salvage.hosts SET robots_tries = 0, robots_held = false, cooldown_ms = 0, robots_claim_ms = 0"
	"  WHERE robots_tries > 0 OR robots_held OR robots_claim_ms > 0;\n"
	" GET DIAGNOSTICS v_n = ROW_COUNT;\n"
	" RETURN v_n;\n"
	"END$$;"

	/* Where a seed row landed (its redirects' end). */
	"CREATE FUNCTION salvage.landing_add(p_seed bigint, p_url text) RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" INSERT INTO salvage.seed_landings(seed, url) VALUES(p_seed, p_url) ON CONFLICT (seed, (md5(url)::uuid)) DO NOTHING;\n"
	"END$$;"

	/* A crawl setting the coordinator holds for every worker (the schema's version is not one). */
	"CREATE FUNCTION salvage.setting_put(p_key text, p_value text) RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" IF p_key = 'schema' THEN RAISE EXCEPTION 'the schema version is not a setting' USING ERRCODE = '22023'; END IF;\n"
	" INSERT INTO salvage.meta(key, value) VALUES(p_key, p_value) ON CONFLICT (key) DO UPDATE SET value = excluded.value;\n"
	"END$$;"

	/* Per-host deltas (one entry per host): slots given back, URLs queued
	 * again; next_ms no later than p_next. */
	"CREATE FUNCTION salvage.hosts_adjust(p_ids bigint[], p_slots bigint[], p_again bigint[], p_next bigint)"
	" RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" IF coalesce(cardinality(p_ids), 0) = 0 THEN RETURN; END IF;\n"
	" PERFORM 1 FROM salvage.hosts h WHERE h.id = ANY(p_ids) ORDER BY h.id FOR UPDATE;\n"
	" UPDATE salvage.hosts h SET inflight = greatest(h.inflight - t.s, 0), queued = h.queued + t.a,"
	"  next_ms = least(h.next_ms, p_next)"
	"  FROM unnest(p_ids, p_slots, p_again) t(i, s, a) WHERE h.id = t.i;\n"
	"END$$;"

	/* Leases of p_node among p_ids: with p_again given back to the queue
	 * (no attempt counted), else only their host slots freed. */
	"CREATE FUNCTION salvage.give_back(p_node text, p_ids bigint[], p_again boolean) RETURNS bigint"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE v_h bigint[]; v_s bigint[]; v_a bigint[]; v_n bigint;\n"
	"BEGIN\n"
	" PERFORM salvage.own_node(p_node);\n"
	" WITH mine AS (SELECT w.id, w.host, w.slot FROM salvage.work w WHERE w.id = ANY(p_ids) AND w.state = 1"
	"   AND w.node = p_node AND (p_again OR w.slot) ORDER BY w.id FOR UPDATE),"
	"  upd AS (UPDATE salvage.work w SET slot = false,"
	"   state = CASE WHEN p_again THEN 0 ELSE w.state END, node = CASE WHEN p_again THEN NULL ELSE w.node END,"
	"   lease_ms = CASE WHEN p_again THEN NULL ELSE w.lease_ms END FROM mine WHERE w.id = mine.id RETURNING 1)"
	" SELECT array_agg(host ORDER BY host), array_agg(s ORDER BY host), array_agg(a ORDER BY host), sum(a)"
	"  INTO v_h, v_s, v_a, v_n FROM (SELECT host, sum(slot::int)::bigint s,"
	"   (count(*) * p_again::int)::bigint a FROM mine GROUP BY host) t;\n"
	" PERFORM salvage.hosts_adjust(v_h, v_s, v_a, 9223372036854775807);\n"
	" IF p_again AND coalesce(v_n, 0) > 0 THEN PERFORM pg_notify('salvage_work', ''); END IF;\n"
	" RETURN coalesce(v_n, 0);\n"
	"END$$;"

	/* Returns up to 1000 expired leases (SKIP LOCKED: claimers do not wait
	 * for each other here); a URL that lost p_max leases fails. */
	"CREATE FUNCTION salvage.expire(p_now bigint, p_max int) RETURNS bigint LANGUAGE plpgsql AS $$\n"
	"DECLARE v_h bigint[]; v_s bigint[]; v_a bigint[]; v_n bigint;\n"
	"BEGIN\n"
	/* The common case, nothing expired, costs one probe of work_leased: its
	 * first entry (in index order, so never a scan of the table, which an
	 * EXISTS's generic plan may choose); a plain index scan, not index-only,
	 * so that the dead entries of ended leases it passes are marked and
	 * skipped next time. */
	" IF coalesce((SELECT w.lease_ms FROM salvage.work w WHERE w.lease_ms IS NOT NULL AND w.state = 1"
	"  ORDER BY w.lease_ms LIMIT 1), p_now) >= p_now THEN RETURN 0; END IF;\n"
	" WITH ex AS (SELECT w.id, w.host, w.slot, w.expiries, w.attempts FROM salvage.work w"
	"   WHERE w.state = 1 AND w.lease_ms < p_now ORDER BY w.lease_ms LIMIT 1000 FOR UPDATE SKIP LOCKED),"
	"  dead AS (DELETE FROM salvage.work w USING ex WHERE w.id = ex.id AND ex.expiries + 1 >= p_max RETURNING ex.*),"
	"  failed AS (UPDATE salvage.urls u SET state = 3, attempts = dead.attempts, expiries = dead.expiries + 1,"
	"   reason = format('lease expired %s times (fetcher killed or stuck)', dead.expiries + 1), done_ms = p_now"
	"   FROM dead WHERE u.id = dead.id RETURNING 1),"
	"  back AS (UPDATE salvage.work w SET state = 0, expiries = w.expiries + 1, node = NULL, lease_ms = NULL,"
	"   slot = false FROM ex WHERE w.id = ex.id AND ex.expiries + 1 < p_max RETURNING 1)"
	" SELECT array_agg(host ORDER BY host), array_agg(s ORDER BY host), array_agg(a ORDER BY host), sum(a)"
	"  INTO v_h, v_s, v_a, v_n FROM (SELECT host, sum(slot::int)::bigint s,"
	"   sum((expiries + 1 < p_max)::int)::bigint a FROM ex GROUP BY host) t;\n"
	" PERFORM salvage.hosts_adjust(v_h, v_s, v_a, p_now);\n"
	" IF coalesce(v_n, 0) > 0 THEN PERFORM pg_notify('salvage_work', ''); END IF;\n"
	" RETURN coalesce(v_n, 0);\n"
	"END$$;"

	/* URLs just queued, counted per host and row (p_h, p_s, p_c, one entry
	 * each): their hosts' queued counts, priority and delay, and their rows'
	 * queued_total. */
	"CREATE FUNCTION salvage.queued_add(p_h bigint[], p_s bigint[], p_c bigint[]) RETURNS void"
	" LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" IF coalesce(cardinality(p_h), 0) = 0 THEN RETURN; END IF;\n"
	" PERFORM 1 FROM salvage.hosts h WHERE h.id IN (SELECT DISTINCT unnest(p_h)) ORDER BY h.id FOR UPDATE;\n"
	" UPDATE salvage.hosts h SET queued = h.queued + x.c, priority = greatest(h.priority, x.p),"
	"  delay_ms = greatest(h.delay_ms, x.d)"
	"  FROM (SELECT t.h, sum(t.c) c, max(s.priority) p, max(s.delay_ms) d FROM unnest(p_h, p_s, p_c) t(h, s, c)"
	"   JOIN salvage.seeds s ON s.id = t.s GROUP BY t.h) x WHERE h.id = x.h;\n"
	" UPDATE salvage.seeds s SET queued_total = s.queued_total + x.c"
	"  FROM (SELECT t.s, sum(t.c) c FROM unnest(p_s, p_c) t(s, c) GROUP BY t.s) x WHERE s.id = x.s;\n"
	"END$$;"

	/*
	 * Queues URLs not queued yet, within their rows' max_urls, in one
	 * statement for the whole batch; returns how many were added. Each URL
	 * may carry meta (handed back by claim), the key of a dataset of its row
	 * it belongs to (p_datasets, in role p_roles: linked in dataset_urls) and
	 * refresh: a URL that ended (done, failed, skipped) is queued again with
	 * this meta, its outcome and attempts forgotten (it counts as added), and
	 * a URL still queued gets this meta. p_metas, p_datasets, p_roles and
	 * p_refresh may be NULL (none has one), as they are for a page's links.
	 */
	"CREATE FUNCTION salvage.enqueue(p_urls text[], p_hosts text[], p_seeds bigint[], p_depths int[],"
	" p_kinds text[], p_vias text[], p_redirects int[], p_metas text[], p_datasets text[], p_roles text[],"
	" p_refresh boolean[]) RETURNS bigint LANGUAGE plpgsql AS $$\n"
	"DECLARE v_h bigint[]; v_s bigint[]; v_c bigint[]; v_n bigint; v_r bigint; v_bad bigint; v_capped boolean;\n"
	"BEGIN\n"
	" IF coalesce(cardinality(p_urls), 0) = 0 THEN RETURN 0; END IF;\n"
	" SELECT t.s INTO v_bad FROM (SELECT DISTINCT s FROM unnest(p_seeds) s) t"
	"  WHERE NOT EXISTS (SELECT 1 FROM salvage.seeds x WHERE x.id = t.s) LIMIT 1;\n"
	" IF FOUND THEN RAISE EXCEPTION 'no seed row %', v_bad USING ERRCODE = '22023'; END IF;\n"
	/* Rows with a cap are locked, so that two batches never pass it together. */
	" PERFORM 1 FROM salvage.seeds x WHERE x.id IN (SELECT DISTINCT unnest(p_seeds)) AND x.max_urls >= 0"
	"  ORDER BY x.id FOR UPDATE;\n"
	" v_capped := FOUND;\n"
	" INSERT INTO salvage.hosts(host) SELECT DISTINCT h FROM unnest(p_hosts) h"
	"  WHERE NOT EXISTS (SELECT 1 FROM salvage.hosts x WHERE x.host = h) ORDER BY h ON CONFLICT (host) DO NOTHING;\n"
	/* URLs already queued are skipped by ON CONFLICT (an index probe each).
	 * Without a capped row in the batch (the usual case), one pass: */
	" IF NOT v_capped THEN\n"
	" WITH ins AS (INSERT INTO salvage.urls(url, host, seed, depth, kind, via, redirects, meta)"
	"   SELECT t.url, h.id, t.seed, t.depth, t.kind, t.via, t.redirects, t.meta FROM unnest(p_urls, p_hosts, p_seeds,"
	"   p_depths, p_kinds, p_vias, p_redirects, p_metas) WITH ORDINALITY"
	"   t(url, host, seed, depth, kind, via, redirects, meta, ord)"
	"   JOIN salvage.hosts h ON h.host = t.host"
	"   ORDER BY t.ord ON CONFLICT ((md5(url)::uuid)) DO NOTHING RETURNING id, host, seed, kind),"
	"  w AS (INSERT INTO salvage.work(id, host, seed, priority)"
	"   SELECT i.id, i.host, i.seed, s.priority::bigint * 2 + (i.kind = 'dataset')::int"
	"   FROM ins i JOIN salvage.seeds s ON s.id = i.seed RETURNING host, seed)"
	" SELECT array_agg(host), array_agg(seed), array_agg(c), sum(c) INTO v_h, v_s, v_c, v_n"
	"  FROM (SELECT host, seed, count(*) c FROM w GROUP BY host, seed) g;\n"
	" ELSE\n"
	/* Rows of a row with a cap look their URLs up first, one probe each
	 * (LATERAL ... LIMIT 1: never a scan of urls), to count what they add. */
	" WITH inp AS (SELECT t.*, s.priority AS sprio, s.max_urls, s.queued_total FROM unnest(p_urls, p_hosts, p_seeds,"
	"   p_depths, p_kinds, p_vias, p_redirects, p_metas) WITH ORDINALITY"
	"   t(url, host, seed, depth, kind, via, redirects, meta, ord) JOIN salvage.seeds s ON s.id = t.seed),"
	"  capped AS (SELECT c.ord, row_number() OVER (PARTITION BY c.seed ORDER BY c.ord) AS rn"
	"   FROM (SELECT DISTINCT ON (md5(i.url)) i.ord, i.seed, i.url FROM inp i WHERE i.max_urls >= 0"
	"    ORDER BY md5(i.url), i.ord) c"
	"   LEFT JOIN LATERAL (SELECT 1 AS hit FROM salvage.urls x WHERE md5(x.url)::uuid = md5(c.url)::uuid"
	"    AND x.url = c.url LIMIT 1) e ON true WHERE e.hit IS NULL),"
	"  ins AS (INSERT INTO salvage.urls(url, host, seed, depth, kind, via, redirects, meta)"
	"   SELECT i.url, h.id, i.seed, i.depth, i.kind, i.via, i.redirects, i.meta FROM inp i"
	"   JOIN salvage.hosts h ON h.host = i.host LEFT JOIN capped c ON c.ord = i.ord"
	"   WHERE i.max_urls < 0 OR c.rn <= i.max_urls - i.queued_total"
	"   ORDER BY i.ord ON CONFLICT ((md5(url)::uuid)) DO NOTHING RETURNING id, host, seed, kind),"
	"  w AS (INSERT INTO salvage.work(id, host, seed, priority)"
	"   SELECT i.id, i.host, i.seed, s.priority::bigint * 2 + (i.kind = 'dataset')::int"
	"   FROM ins i JOIN salvage.seeds s ON s.id = i.seed RETURNING host, seed)"
	" SELECT array_agg(host), array_agg(seed), array_agg(c), sum(c) INTO v_h, v_s, v_c, v_n"
	"  FROM (SELECT host, seed, count(*) c FROM w GROUP BY host, seed) g;\n"
	" END IF;\n"
	" PERFORM salvage.queued_add(v_h, v_s, v_c);\n"
	" v_n := coalesce(v_n, 0);\n"
	/* Refreshed: each URL once (its last mention), one probe each. An
	 * ended one (no work row) is queued again, within its row's cap; the
	 * UPDATE's own state test, checked again on a row another session
	 * changed meanwhile, queues it once whoever else refreshes it. A queued
	 * one only takes the new meta. Leased and paused ones stay as they are. */
	" IF true = ANY(p_refresh) THEN\n"
	" WITH r AS (SELECT DISTINCT ON (md5(t.url)) t.url, t.seed, t.depth, t.kind, t.via, t.meta, t.ord"
	"   FROM unnest(p_urls, p_seeds, p_depths, p_kinds, p_vias, p_metas, p_refresh) WITH ORDINALITY"
	"   t(url, seed, depth, kind, via, meta, refresh, ord) WHERE t.refresh ORDER BY md5(t.url), t.ord DESC),"
	"  have AS (SELECT r.*, x.id, x.state, x.meta AS had FROM r CROSS JOIN LATERAL (SELECT u.id, u.state, u.meta"
	"   FROM salvage.urls u WHERE md5(u.url)::uuid = md5(r.url)::uuid AND u.url = r.url LIMIT 1) x),"
	"  ended AS (SELECT h.*, s.priority, s.max_urls, s.queued_total,"
	"   row_number() OVER (PARTITION BY h.seed ORDER BY h.ord) AS rn"
	"   FROM have h JOIN salvage.seeds s ON s.id = h.seed WHERE h.state IN (2, 3, 5)),"
	"  again AS (UPDATE salvage.urls u SET state = 0, attempts = 0, expiries = 0, status = NULL, bytes = NULL,"
	"   reason = NULL, done_ms = NULL, done_node = NULL, digest = NULL, meta = e.meta, seed = e.seed,"
	"   depth = e.depth, kind = e.kind, via = e.via"
	"   FROM ended e WHERE u.id = e.id AND u.state IN (2, 3, 5)"
	"   AND (e.max_urls < 0 OR e.rn <= e.max_urls - e.queued_total) RETURNING u.id, u.host, u.seed, u.kind, e.priority),"
	"  w AS (INSERT INTO salvage.work(id, host, seed, priority)"
	"   SELECT a.id, a.host, a.seed, a.priority::bigint * 2 + (a.kind = 'dataset')::int FROM again a"
	"   ON CONFLICT (id) DO NOTHING RETURNING host, seed),"
	"  m AS (UPDATE salvage.urls u SET meta = h.meta FROM have h JOIN salvage.work k ON k.id = h.id AND k.state = 0"
	"   WHERE u.id = h.id AND h.meta IS NOT NULL AND h.had IS DISTINCT FROM h.meta RETURNING 1)"
	" SELECT array_agg(host), array_agg(seed), array_agg(c), sum(c) INTO v_h, v_s, v_c, v_r"
	"  FROM (SELECT host, seed, count(*) c FROM w GROUP BY host, seed) g;\n"
	" PERFORM salvage.queued_add(v_h, v_s, v_c);\n"
	" v_n := v_n + coalesce(v_r, 0);\n"
	" END IF;\n"
	/* Each URL named with a dataset is linked to it (a dataset not kept: nothing). */
	" IF p_datasets IS NOT NULL THEN\n"
	"  INSERT INTO salvage.dataset_urls(dataset, url, role)"
	"   SELECT DISTINCT ON (d.id, x.id) d.id, x.id, t.role FROM unnest(p_urls, p_seeds, p_datasets, p_roles)"
	"   WITH ORDINALITY t(url, seed, dataset, role, ord)"
	"   CROSS JOIN LATERAL (SELECT y.id FROM salvage.datasets y WHERE y.seed = t.seed"
	"    AND md5(y.key)::uuid = md5(t.dataset)::uuid AND y.key = t.dataset LIMIT 1) d"
	"   CROSS JOIN LATERAL (SELECT u.id FROM salvage.urls u WHERE md5(u.url)::uuid = md5(t.url)::uuid"
	"    AND u.url = t.url LIMIT 1) x"
	"   WHERE t.dataset IS NOT NULL ORDER BY d.id, x.id, t.ord ON CONFLICT DO NOTHING;\n"
	" END IF;\n"
	" IF v_n > 0 THEN PERFORM pg_notify('salvage_work', ''); END IF;\n"
	" RETURN v_n;\n"
	"END$$;"

	/* The catalog writes of row p_seed (datasets_put, catalog_begin,
	 * catalog_end) one at a time, until the transaction ends: a lock keyed
	 * by the row, not the seeds row's own, which enqueue updates after
	 * locking hosts (taken first here, the two would wait on each other). */
	"CREATE FUNCTION salvage.catalog_lock(p_seed bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" PERFORM pg_advisory_xact_lock(hashtext('salvage catalog ' || p_seed));\n"
	" IF NOT EXISTS (SELECT 1 FROM salvage.seeds WHERE id = p_seed) THEN"
	"  RAISE EXCEPTION 'no seed row %', p_seed USING ERRCODE = '22023'; END IF;\n"
	"END$$;"

	/*
	 * Datasets listed in pass p_pass of row p_seed (p_keys...: one entry
	 * each, in the order listed) and their URLs (the arrays of enqueue, each
	 * with its dataset's key; p_uds: the 1-based entry of its dataset), in
	 * one transaction. A dataset is new, changed (another modified: its URLs
	 * are fetched again), unchanged, or repeated (listed again within the
	 * pass); an unchanged one whose modified cannot tell a change (none, or
	 * a repeating interval "R/...") is fetched again too. A dataset listed
	 * twice keeps what its last listing says. Returns the counts.
	 */
	"CREATE FUNCTION salvage.datasets_put(p_seed bigint, p_pass int, p_keys text[], p_idents text[], p_titles text[],"
	" p_pubs text[], p_mods text[], p_metas text[], p_uds int[], p_urls text[], p_hosts text[], p_seeds bigint[],"
	" p_depths int[], p_kinds text[], p_vias text[], p_redirects int[], p_umetas text[], p_datasets text[],"
	" p_roles text[], p_refresh boolean[],"
	" OUT added bigint, OUT changed bigint, OUT unchanged bigint, OUT repeated bigint) LANGUAGE plpgsql AS $$\n"
	"DECLARE v_again int[];\n"
	"BEGIN\n"
	" PERFORM salvage.catalog_lock(p_seed);\n"
	/* c: 0 new, 1 changed, 2 unchanged, 3 repeated. */
	" WITH inp AS (SELECT t.*, row_number() OVER (PARTITION BY t.key ORDER BY t.ord) AS k"
	"   FROM unnest(p_keys, p_mods) WITH ORDINALITY t(key, modified, ord)),"
	"  cls AS (SELECT i.ord, i.modified, CASE WHEN i.k > 1 THEN 3 WHEN d.id IS NULL THEN 0"
	"   WHEN d.last_pass = p_pass THEN 3 WHEN d.modified IS DISTINCT FROM i.modified THEN 1 ELSE 2 END AS c"
	"   FROM inp i LEFT JOIN LATERAL (SELECT y.id, y.modified, y.last_pass FROM salvage.datasets y"
	"    WHERE y.seed = p_seed AND md5(y.key)::uuid = md5(i.key)::uuid AND y.key = i.key LIMIT 1) d ON true)"
	" SELECT count(*) FILTER (WHERE c = 0), count(*) FILTER (WHERE c = 1), count(*) FILTER (WHERE c = 2),"
	"  count(*) FILTER (WHERE c = 3), array_agg(ord::int) FILTER (WHERE c = 1"
	"   OR (c = 2 AND (modified IS NULL OR left(modified, 2) = 'R/')))"
	"  INTO added, changed, unchanged, repeated, v_again FROM cls;\n"
	" INSERT INTO salvage.datasets AS d(seed, key, identifier, title, publisher, modified, meta, first_pass, last_pass)"
	"  SELECT DISTINCT ON (t.key) p_seed, t.key, t.identifier, t.title, t.publisher, t.modified, t.meta, p_pass, p_pass"
	"  FROM unnest(p_keys, p_idents, p_titles, p_pubs, p_mods, p_metas) WITH ORDINALITY"
	"   t(key, identifier, title, publisher, modified, meta, ord) ORDER BY t.key, t.ord DESC"
	"  ON CONFLICT (seed, (md5(key)::uuid)) DO UPDATE SET identifier = excluded.identifier, title = excluded.title,"
	"  publisher = excluded.publisher, modified = excluded.modified, meta = excluded.meta,"
	"  last_pass = excluded.last_pass, vanished_pass = 0;\n"
	" IF coalesce(cardinality(p_urls), 0) > 0 THEN\n"
	"  PERFORM salvage.enqueue(p_urls, p_hosts, p_seeds, p_depths, p_kinds, p_vias, p_redirects, p_umetas, p_datasets,"
	"   p_roles, (SELECT array_agg(coalesce(u.r, false) OR u.d = ANY(coalesce(v_again, '{}')) ORDER BY u.o)"
	"   FROM unnest(p_uds, p_refresh) WITH ORDINALITY u(d, r, o)));\n"
	" END IF;\n"
	"END$$;"

	/* Starts pass p_pass of row p_seed, its first request queued (the arrays
	 * of enqueue: one URL, or none), unless the row's pass is p_pass or later
	 * already: of workers that saw the same last pass and start at once, one
	 * starts it. Returns whether this call did. */
	"CREATE FUNCTION salvage.catalog_begin(p_seed bigint, p_pass int, p_urls text[], p_hosts text[], p_seeds bigint[],"
	" p_depths int[], p_kinds text[], p_vias text[], p_redirects int[], p_metas text[], p_datasets text[],"
	" p_roles text[], p_refresh boolean[]) RETURNS boolean LANGUAGE plpgsql AS $$\n"
	"BEGIN\n"
	" PERFORM salvage.catalog_lock(p_seed);\n"
	" IF (SELECT catalog_pass FROM salvage.seeds WHERE id = p_seed) >= p_pass THEN RETURN false; END IF;\n"
	" PERFORM salvage.enqueue(p_urls, p_hosts, p_seeds, p_depths, p_kinds, p_vias, p_redirects, p_metas, p_datasets,"
	"  p_roles, p_refresh);\n"
	" UPDATE salvage.seeds SET catalog_pass = p_pass WHERE id = p_seed;\n"
	" RETURN true;\n"
	"END$$;"

	/* The listing of pass p_pass of row p_seed was read to its end: the
	 * row's datasets not listed in it are marked vanished (once), the pass
	 * is done. The caller tells the datasets it marks first, reading them
	 * after catalog_lock in the same transaction. Returns how many. */
	"CREATE FUNCTION salvage.catalog_end(p_seed bigint, p_pass int) RETURNS bigint LANGUAGE plpgsql AS $$\n"
	"DECLARE v_n bigint;\n"
	"BEGIN\n"
	" PERFORM salvage.catalog_lock(p_seed);\n"
	" UPDATE salvage.datasets SET vanished_pass = p_pass WHERE seed = p_seed AND last_pass < p_pass"
	"  AND vanished_pass = 0 AND key NOT LIKE '" SV_QUEUE_UNREAD_PREFIX "%';\n"
	" GET DIAGNOSTICS v_n = ROW_COUNT;\n"
	" UPDATE salvage.seeds SET catalog_done_pass = p_pass WHERE id = p_seed AND catalog_done_pass < p_pass;\n"
	" RETURN v_n;\n"
	"END$$;"

	/* Moves the queued URLs of rows p_seeds to paused (p_pause) or back. */
	"CREATE FUNCTION salvage.set_paused(p_seeds bigint[], p_pause boolean) RETURNS void LANGUAGE plpgsql AS $$\n"
	"DECLARE v_h bigint[]; v_a bigint[];\n"
	"BEGIN\n"
	" IF coalesce(cardinality(p_seeds), 0) = 0 THEN RETURN; END IF;\n"
	" WITH moved AS (UPDATE salvage.work w SET state = CASE WHEN p_pause THEN 4 ELSE 0 END"
	"   WHERE w.seed = ANY(p_seeds) AND w.state = CASE WHEN p_pause THEN 0 ELSE 4 END RETURNING w.host)"
	" SELECT array_agg(host ORDER BY host), array_agg(c ORDER BY host) INTO v_h, v_a"
	"  FROM (SELECT host, count(*) * CASE WHEN p_pause THEN -1 ELSE 1 END c FROM moved GROUP BY host) t;\n"
	" PERFORM salvage.hosts_adjust(v_h, array_fill(0::bigint, ARRAY[coalesce(cardinality(v_h), 0)]), v_a,"
	"  9223372036854775807);\n"
	" UPDATE salvage.seeds SET active = NOT p_pause WHERE id = ANY(p_seeds);\n"
	" IF NOT p_pause AND v_h IS NOT NULL THEN PERFORM pg_notify('salvage_work', ''); END IF;\n"
	"END$$;"

	/* A sheet's rows, matched by URL; rows gone from it are paused; new
	 * rows' URLs queued in one batch, but a catalog row's (p_catalogs: its
	 * first request is queued when a pass starts, catalog_begin). */
	"CREATE FUNCTION salvage.add_sheet(p_name text, p_raw bytea, p_now bigint, p_urls text[], p_hosts text[],"
	" p_lines int[], p_prios int[], p_max bigint[], p_delays int[], p_params text[], p_metas text[], p_catalogs boolean[],"
	" OUT added bigint, OUT updated bigint, OUT unchanged bigint, OUT paused bigint) LANGUAGE plpgsql AS $$\n"
	"DECLARE v_back bigint[]; v_gone bigint[]; v_ids bigint[]; v_u text[]; v_h text[]; v_n int;\n"
	"BEGIN\n"
	" PERFORM pg_advisory_xact_lock(hashtext('salvage sheet ' || p_name));\n"
	" INSERT INTO salvage.sheets(name, raw, loaded_ms) VALUES(p_name, p_raw, coalesce(p_now, salvage.now_ms()))"
	"  ON CONFLICT (name) DO UPDATE SET raw = excluded.raw, loaded_ms = excluded.loaded_ms;\n"
	" CREATE TEMP TABLE IF NOT EXISTS sv_rows(url text, host text, line int, priority int, max_urls bigint,"
	"  delay_ms int, params text, meta text, catalog boolean, ord bigint, id bigint, same boolean, active boolean)"
	"  ON COMMIT DROP;\n"
	" DELETE FROM sv_rows;\n"
	" INSERT INTO sv_rows SELECT t.*, s.id, s.id IS NOT NULL AND s.line = t.line AND s.priority = t.priority"
	"   AND s.max_urls = t.max_urls AND s.delay_ms = t.delay_ms AND s.params IS NOT DISTINCT FROM t.params"
	"   AND s.meta IS NOT DISTINCT FROM t.meta, s.active"
	"  FROM unnest(p_urls, p_hosts, p_lines, p_prios, p_max, p_delays, p_params, p_metas, p_catalogs) WITH ORDINALITY"
	"   t(url, host, line, priority, max_urls, delay_ms, params, meta, catalog, ord)"
	"  LEFT JOIN salvage.seeds s ON s.sheet = p_name AND md5(s.url)::uuid = md5(t.url)::uuid AND s.url = t.url;\n"
	" SELECT count(*) FILTER (WHERE same AND active), array_agg(DISTINCT id) FILTER (WHERE NOT active)"
	"  INTO unchanged, v_back FROM sv_rows WHERE id IS NOT NULL;\n"
	" UPDATE salvage.seeds s SET line = r.line, priority = r.priority, max_urls = r.max_urls,"
	"  delay_ms = r.delay_ms, params = r.params, meta = r.meta, active = true"
	"  FROM (SELECT DISTINCT ON (id) * FROM sv_rows WHERE id IS NOT NULL AND NOT (same AND active) ORDER BY id, ord) r"
	"  WHERE s.id = r.id;\n"
	" GET DIAGNOSTICS v_n = ROW_COUNT; updated := v_n;\n"
	" PERFORM salvage.set_paused(v_back, false);\n"
	" WITH ins AS (INSERT INTO salvage.seeds(sheet, url, line, priority, max_urls, delay_ms, params, meta)"
	"   SELECT p_name, r.url, r.line, r.priority, r.max_urls, r.delay_ms, r.params, r.meta FROM sv_rows r"
	"   WHERE r.id IS NULL ORDER BY r.ord ON CONFLICT (sheet, (md5(url)::uuid)) DO NOTHING RETURNING id, url)"
	" SELECT array_agg(ins.id ORDER BY ins.id) FILTER (WHERE NOT r.catalog),"
	"  array_agg(r.url ORDER BY ins.id) FILTER (WHERE NOT r.catalog),"
	"  array_agg(r.host ORDER BY ins.id) FILTER (WHERE NOT r.catalog), count(*)"
	"  INTO v_ids, v_u, v_h, added FROM ins JOIN LATERAL (SELECT r.url, r.host, coalesce(r.catalog, false) AS catalog"
	"   FROM sv_rows r WHERE r.url = ins.url AND r.id IS NULL ORDER BY r.ord LIMIT 1) r ON true;\n"
	" v_n := coalesce(cardinality(v_ids), 0);\n"
	" IF v_n > 0 THEN\n"
	"  PERFORM salvage.enqueue(v_u, v_h, v_ids, array_fill(0, ARRAY[v_n]), array_fill('page'::text, ARRAY[v_n]),"
	"   array_fill(NULL::text, ARRAY[v_n]), array_fill(0, ARRAY[v_n]), NULL, NULL, NULL, NULL);\n"
	" END IF;\n"
	" SELECT array_agg(s.id ORDER BY s.id) INTO v_gone FROM salvage.seeds s WHERE s.sheet = p_name AND s.active"
	"  AND NOT EXISTS (SELECT 1 FROM sv_rows r WHERE r.url = s.url);\n"
	" paused := coalesce(cardinality(v_gone), 0);\n"
	" PERFORM salvage.set_paused(v_gone, true);\n"
	"END$$;"

	/*
	 * Leases up to p_max URLs to p_node: frees p_freed's slots, returns
	 * expired leases, then takes ready hosts (FOR UPDATE SKIP LOCKED: each is
	 * held by one claimer at a time), each with the room its counters leave,
	 * and their URLs, in a constant number of statements whatever the batch.
	 * Hosts are served in order and each takes what it has up to its room, as
	 * if one at a time, until p_max: those served and left with nothing ready
	 * sleep until their first retry time.
	 *
	 * Only the hosts whose room (no more than their queued URLs) reaches p_max
	 * are read for URLs, and those URLs are not locked before the UPDATE: the
	 * host's lock already keeps other claimers off its queued URLs, and the
	 * UPDATE's own "state = 0" is checked again on a row changed meanwhile
	 * (paused, settled), which is then not leased. Locking every host's room
	 * (up to p_cap x p_max rows) cost a row lock, a dirtied page and WAL for
	 * each, and was most of a claim's time (bench/pgqueue).
	 */
	"CREATE FUNCTION salvage.claim(p_node text, p_freed bigint[], p_max int, p_lease int, p_now bigint,"
	" p_cap int, p_delay int, p_node_max int, p_robots_first boolean, p_max_expiries int)"
	" RETURNS TABLE(o_id bigint, o_url text, o_host text, o_seed bigint, o_depth int, o_kind text, o_via text,"
	" o_attempts int, o_redirects int, o_meta text) LANGUAGE plpgsql AS $$\n"
	"DECLARE v_now bigint := coalesce(p_now, salvage.now_ms()); v_h bigint[]; v_room bigint[];"
	" v_unknown boolean[]; v_delay int[]; v_ids bigint[]; v_ords bigint[]; v_att int[]; v_last bigint;"
	" v_nodes int; v_share int;\n"
	"BEGIN\n"
	" PERFORM salvage.own_node(p_node);\n"
	" IF coalesce(cardinality(p_freed), 0) > 0 THEN PERFORM salvage.give_back(p_node, p_freed, false); END IF;\n"
	" PERFORM salvage.seen(p_node, v_now);\n"
	/* Expired leases are looked for at most once a second per session (the
	 * test clock, p_now, looks every time): the probe steps over the index
	 * entries of ended leases until vacuum takes them, which at bench rates
	 * (40,000 URLs/s) doubled its cost over 1,000,000 URLs. A lease is at
	 * least 3 s; it comes back at most a second later than it ends. */
	" IF p_now IS NOT NULL OR coalesce(current_setting('salvage.expire_next_ms', true), '') = ''"
	"  OR current_setting('salvage.expire_next_ms', true)::bigint <= v_now THEN\n"
	"  PERFORM set_config('salvage.expire_next_ms', (v_now + 1000)::text, false);\n"
	"  PERFORM salvage.expire(v_now, p_max_expiries);\n"
	" END IF;\n"
	/* Machines share a host's slots when hosts are scarce (fewer with queued
	 * URLs than the batch asks for: a crawl of one big site, say; counted
	 * without their locks, which claims at once would skip): with several nodes
	 * seen within a lease, one node then holds at most its share of the cap
	 * at a host, so that one worker (on a slow link, say) never takes every
	 * slot of a site while the others wait. Alone, a node may take them all;
	 * with hosts enough for everyone, each claim takes whole hosts (a share
	 * of 1 slot per host for each of 4 nodes cost half the bench's drain:
	 * four times the host rows locked and updated per claim). */
	" SELECT count(*) INTO v_nodes FROM salvage.nodes n WHERE n.last_ms >= v_now - greatest(p_lease, 1000);\n"
	" v_share := CASE WHEN v_nodes > 1 THEN (p_cap + v_nodes - 1) / v_nodes ELSE 0 END;\n"

	" WITH ready AS (SELECT x.id, x.inflight, x.queued, x.priority, x.next_ms, x.robots_ms IS NULL AS unknown,"
	"   greatest(x.delay_ms, x.crawl_delay_ms, p_delay) AS delay FROM salvage.hosts x"
	"   WHERE x.queued > 0 AND x.next_ms <= v_now AND x.cooldown_ms <= v_now AND x.inflight < p_cap"
	"   AND NOT x.robots_held AND x.robots_claim_ms <= v_now"
	"   ORDER BY x.priority DESC, x.next_ms LIMIT p_max FOR UPDATE SKIP LOCKED),"
	"  scarce AS (SELECT CASE WHEN v_share > 0 THEN (SELECT count(*) FROM (SELECT 1 FROM salvage.hosts x"
	"   WHERE x.queued > 0 LIMIT p_max) t) < p_max ELSE false END AS yes),"
	"  mine AS (SELECT w.host, count(*) FILTER (WHERE w.node = p_node) AS c,"
	"   count(*) FILTER (WHERE split_part(w.node, ':', 1) = split_part(p_node, ':', 1)) AS cn"
	"   FROM salvage.work w WHERE (p_node_max > 0 OR (SELECT yes FROM scarce)) AND w.slot"
	"   AND w.host IN (SELECT id FROM ready) GROUP BY w.host),"
	/* With a delay, one request per host per delay; without, up to the cap;
	 * robots.txt unknown (robots_first): one URL, and none while it is out. */
	"  base AS (SELECT r.*, row_number() OVER (ORDER BY r.priority DESC, r.next_ms) AS ord,"
	"   CASE WHEN p_robots_first AND r.unknown THEN (r.inflight = 0)::int WHEN r.delay > 0 THEN 1"
	"   ELSE p_cap - r.inflight END AS room0, coalesce(m.c, 0) AS mine, coalesce(m.cn, 0) AS mine_node"
	"   FROM ready r LEFT JOIN mine m ON m.host = r.id),"
	"  roomy AS (SELECT b.*, least(b.queued, CASE WHEN p_node_max > 0 AND b.delay <= 0"
	"   THEN least(b.room0, p_node_max - b.mine) ELSE b.room0 END,"
	"   CASE WHEN (SELECT yes FROM scarce) THEN v_share - b.mine_node ELSE b.room0 END) AS room FROM base b),"
	"  served AS (SELECT r.*, sum(r.room) OVER (ORDER BY r.ord) - r.room AS before FROM roomy r WHERE r.room > 0)"
	" SELECT array_agg(id ORDER BY ord), array_agg(room ORDER BY ord), array_agg(unknown ORDER BY ord),"
	"  array_agg(delay ORDER BY ord) INTO v_h, v_room, v_unknown, v_delay FROM served WHERE before < p_max;\n"
	" IF v_h IS NULL THEN RETURN; END IF;\n"
	" WITH cand AS (SELECT t.ord, p.id, p.priority FROM unnest(v_h, v_room) WITH ORDINALITY t(h, room, ord)"
	"   CROSS JOIN LATERAL (SELECT w.id, w.priority FROM salvage.work w WHERE w.host = t.h AND w.state = 0"
	"    AND w.not_before_ms <= v_now ORDER BY w.priority DESC, w.id LIMIT t.room) p),"
	"  pick AS (SELECT c.*, row_number() OVER (ORDER BY c.ord, c.priority DESC, c.id) AS rn FROM cand c),"
	"  upd AS (UPDATE salvage.work w SET state = 1, node = p_node, lease_ms = v_now + p_lease, slot = true"
	"   FROM pick WHERE w.id = pick.id AND pick.rn <= p_max AND w.state = 0 RETURNING w.id, w.attempts, pick.rn, pick.ord)"
	" SELECT array_agg(id ORDER BY rn), array_agg(ord ORDER BY rn), array_agg(attempts ORDER BY rn)"
	"  INTO v_ids, v_ords, v_att FROM upd;\n"
	/* Hosts after the one that filled the batch were not served. */
	" v_last := CASE WHEN coalesce(cardinality(v_ids), 0) >= p_max THEN v_ords[cardinality(v_ords)]"
	"  ELSE cardinality(v_h) END;\n"
	" WITH g AS (SELECT t.h, t.unknown, t.delay, coalesce(c.n, 0) AS got"
	"   FROM unnest(v_h, v_unknown, v_delay) WITH ORDINALITY t(h, unknown, delay, ord)"
	"   LEFT JOIN (SELECT o, count(*) AS n FROM unnest(v_ords) o GROUP BY o) c ON c.o = t.ord WHERE t.ord <= v_last),"
	"  nxt AS (SELECT w.host, min(w.not_before_ms) AS nb, count(*) AS cnt FROM salvage.work w WHERE w.state = 0"
	"   AND w.host IN (SELECT h FROM g WHERE got = 0) GROUP BY w.host)"
	" UPDATE salvage.hosts x SET inflight = x.inflight + g.got,"
	"  queued = CASE WHEN g.got > 0 THEN x.queued - g.got ELSE coalesce(nxt.cnt, 0) END,"
	"  next_ms = CASE WHEN g.got > 0 THEN v_now + greatest(g.delay, 0) ELSE coalesce(nxt.nb, v_now + 1000) END,"
	"  robots_claim_ms = CASE WHEN g.got > 0 AND p_robots_first AND g.unknown THEN v_now + p_lease"
	"   ELSE x.robots_claim_ms END"
	"  FROM g LEFT JOIN nxt ON nxt.host = g.h WHERE x.id = g.h;\n"
	" RETURN QUERY SELECT u.id, u.url, x.host, u.seed, u.depth, u.kind, u.via, t.a, u.redirects, u.meta"
	"  FROM unnest(v_ids, v_att) WITH ORDINALITY t(i, a, o) JOIN salvage.urls u ON u.id = t.i"
	"  JOIN salvage.hosts x ON x.id = u.host ORDER BY t.o;\n"
	"END$$;"

	/* Outcomes of p_node's leases; returns how many it held. An ended
	 * lease's work row is deleted without being locked first: the DELETE's
	 * own "state = 1 AND node = p_node", checked again on a row changed
	 * meanwhile (expired), decides, and what it returns drives the rest.
	 * Only retried leases (rare) are locked first, for their slot before the
	 * update (RETURNING sees only the new row). */
	"CREATE FUNCTION salvage.complete(p_node text, p_ids bigint[], p_kinds int[], p_retry bigint[],"
	" p_reasons text[], p_status int[], p_bytes bigint[], p_digests text[], p_now bigint) RETURNS bigint"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE v_now bigint := coalesce(p_now, salvage.now_ms()); v_h bigint[]; v_s bigint[]; v_a bigint[];"
	" v_n bigint; v_r bigint; v_end bigint[]; v_retry bigint[]; v_map jsonb;\n"
	"BEGIN\n"
	" PERFORM salvage.own_node(p_node);\n"
	/* The outcomes by URL id (the first of an id given twice), looked up
	 * through v_map rather than joined: a join of the batch with work or
	 * urls is planned on their statistics, and on a table that grew since
	 * it was last analyzed (every crawl's first minute) the planner chose a
	 * nested loop over the whole batch for each row, 2 s for 2,900 outcomes. */
	" SELECT coalesce(array_agg(od.id) FILTER (WHERE od.kind <> 1), '{}'),"
	"  coalesce(array_agg(od.id) FILTER (WHERE od.kind = 1), '{}'),"
	"  coalesce(jsonb_object_agg(od.id::text, jsonb_build_array(od.kind, od.retry_at, od.reason, od.status, od.bytes,"
	"   od.digest)), '{}')"
	"  INTO v_end, v_retry, v_map FROM (SELECT DISTINCT ON (t.id) t.* FROM unnest(p_ids, p_kinds, p_retry, p_reasons,"
	"   p_status, p_bytes, p_digests) WITH ORDINALITY t(id, kind, retry_at, reason, status, bytes, digest, ord)"
	"   ORDER BY t.id, t.ord) od;\n"
	" WITH fin AS (DELETE FROM salvage.work w WHERE w.id = ANY(v_end) AND w.state = 1 AND w.node = p_node"
	"   RETURNING w.id, w.host, w.slot, w.attempts, w.expiries, v_map->(w.id::text) AS o),"
	"  again AS (SELECT w.id, w.host, w.slot, (v_map->(w.id::text)->>1)::bigint AS retry_at FROM salvage.work w"
	"   WHERE w.id = ANY(v_retry) AND w.state = 1 AND w.node = p_node ORDER BY w.id FOR UPDATE OF w),"
	"  ended AS (UPDATE salvage.urls u SET state = CASE (m.o->>0)::int WHEN 0 THEN 2 WHEN 3 THEN 5 ELSE 3 END,"
	"   status = (m.o->>3)::int, bytes = CASE WHEN (m.o->>0)::int = 0 THEN (m.o->>4)::bigint ELSE u.bytes END,"
	"   reason = CASE WHEN (m.o->>0)::int = 0 THEN u.reason ELSE coalesce(m.o->>2, 'failed') END, done_ms = v_now,"
	"   attempts = m.attempts + ((m.o->>0)::int <> 0)::int, expiries = m.expiries,"
	"   done_node = CASE WHEN (m.o->>0)::int = 0 THEN split_part(p_node, ':', 1) END,"
	"   digest = CASE WHEN (m.o->>0)::int = 0 THEN m.o->>5 END"
	"   FROM fin m WHERE u.id = m.id RETURNING 1),"
	"  retried AS (UPDATE salvage.work w SET state = 0, attempts = w.attempts + 1, not_before_ms = m.retry_at,"
	"   node = NULL, lease_ms = NULL, slot = false FROM again m WHERE w.id = m.id RETURNING 1),"
	"  mine AS (SELECT host, slot, false AS back FROM fin UNION ALL SELECT host, slot, true FROM again)"
	" SELECT array_agg(host ORDER BY host), array_agg(s ORDER BY host), array_agg(a ORDER BY host), sum(n), sum(a)"
	"  INTO v_h, v_s, v_a, v_n, v_r FROM (SELECT host, sum(slot::int)::bigint s,"
	"   sum(back::int)::bigint a, count(*) n FROM mine GROUP BY host) t;\n"
	" PERFORM salvage.hosts_adjust(v_h, v_s, v_a, 9223372036854775807);\n"
	" IF coalesce(v_r, 0) > 0 THEN PERFORM pg_notify('salvage_work', ''); END IF;\n"
	" RETURN coalesce(v_n, 0);\n"
	"END$$;"

	/* Ends queued URL p_url as a crawl had ended it before (reindex --queue). */
	"CREATE FUNCTION salvage.settle(p_url text, p_kind int, p_reason text, p_status int, p_bytes bigint,"
	" p_now bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
	"DECLARE v_id bigint; v_host bigint; v_att int;\n"
	"BEGIN\n"
	" SELECT w.id, w.host, w.attempts INTO v_id, v_host, v_att FROM salvage.urls u JOIN salvage.work w ON w.id = u.id"
	"  WHERE md5(u.url)::uuid = md5(p_url)::uuid AND u.url = p_url AND w.state = 0 FOR UPDATE OF w;\n"
	" IF NOT FOUND THEN RETURN; END IF;\n"
	" DELETE FROM salvage.work WHERE id = v_id;\n"
	" UPDATE salvage.urls SET state = CASE p_kind WHEN 0 THEN 2 WHEN 3 THEN 5 ELSE 3 END, status = p_status,"
	"  bytes = CASE WHEN p_kind = 0 THEN p_bytes ELSE bytes END,"
	"  reason = CASE WHEN p_kind = 0 THEN reason ELSE p_reason END,"
	"  attempts = v_att + (p_kind <> 0)::int, done_ms = coalesce(p_now, salvage.now_ms()) WHERE id = v_id;\n"
	" UPDATE salvage.hosts SET queued = greatest(queued - 1, 0) WHERE id = v_host;\n"
	"END$$;";

#endif
