# End to end: workers on a PostgreSQL queue against a site that behaves like
# an agency's, not like a test server. Two workers, each its own archive, on
# one throwaway cluster, rescue a row whose seed is a plain-http address
# answering 301 to https (the tests' own CA, HTTP/2, through nginx), where a
# bot manager's cookie check stands in front of every path (robots.txt
# included), robots.txt disallows a folder, a dataset is sent gzip-compressed
# unasked, another answers 503 once with Retry-After as an HTTP date, and a
# page in Windows-1252 links a file by a non-ASCII name. The same site, the
# same outcomes as `salvage crawl` gives (tests/e2e/test_https.sh,
# test_cookies.sh, test_crawl.sh), whichever machine fetched each URL.
# Run: SALVAGE=... BUILD=... bash tests/e2e/runner.sh tests/e2e/test_worker_web.sh
# shellcheck shell=bash
# shellcheck disable=SC2154 # $out, $err and $status are set by sv

WW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/servers/postgres.sh
. "$WW_ROOT/tests/servers/postgres.sh"

ww_cleanup() {
	local p
	for p in "${wk_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ -f tls/nginx.pid ] && sv_nginx_stop tls
	testservers_stop
	sv_pg_stop "$PWD/pg" >/dev/null 2>&1
	wait 2>/dev/null || true
}

test_workers_on_postgres_rescue_an_agency_like_site() {
	trap ww_cleanup EXIT
	chmod 0755 "$PWD" # the cluster's owner (postgres) reaches ./pg
	sv_pg_start "$PWD/pg" >pg.start 2>&1 || fail "postgres did not start: $(cat pg.start)"
	Q=$SV_PG_URL

	# The site, behind a cookie check on every path, and the TLS front before it.
	mkdir -p www/data www/private www/gen
	printf 'User-agent: *\nDisallow: /private/\n' >www/robots.txt
	echo '<html><body>page one</body></html>' >www/p1.html
	echo '<html><body>not for robots</body></html>' >www/private/secret.html
	seq 1 2000 | sed 's/$/,alpha,beta/' >www/data/d.csv
	seq 1 3000 | sed 's/$/,compressed by the server/' >www/data/g.csv
	seq 1 100 | sed 's/$/,late/' >www/data/late.csv
	printf 'commune,valeur\nBr\xc3\xa9st,1\n' >"www/data/donn$(printf '\xc3\xa9')es.csv"
	printf '<html><head><meta charset="windows-1252"><title>R\xe9gions</title></head><body>\n<a href="/data/donn\xe9es.csv?r\xe9gion=1">donn\xe9es</a></body></html>\n' >www/regions.asp
	testserver_start up www --cookie-check
	# shellcheck source=tests/servers/nginx.sh
	. "$WW_ROOT/tests/servers/nginx.sh"
	SV_SERVER_OWNER_PID=$BASHPID sv_nginx_start tls "$(cat up.port)" >/dev/null ||
		fail "nginx did not start: $(cat tls/error.log 2>/dev/null)"
	local good=https://127.0.0.1:$SV_NGINX_PORT
	# The address the volunteers wrote down: plain http, moved for good.
	mkdir -p front
	testserver_start front front
	local seed="http://127.0.0.1:$(cat front.port)/redirect?to=$good/index.html&code=301"

	# Retry-After as an HTTP date 8 s ahead: whichever worker retries must wait for it.
	local when when_epoch
	when_epoch=$(($(date +%s) + 8))
	when=$(date -u -d "@$when_epoch" '+%a, %d %b %Y %H:%M:%S GMT' | sed 's/ /%20/g; s/,/%2C/g')
	local late="/status/503/data/late.csv?retry_after=$when&times=1"
	cat >www/index.html <<-EOF
		<html><body><a href="/p1.html">p1</a> <a href="/data/d.csv">d</a>
		<a href="/gzip/data/g.csv">g</a> <a href="$late">late</a>
		<a href="/regions.asp">regions</a> <a href="/private/secret.html">secret</a></body></html>
	EOF

	local d
	for d in c w1 w2; do
		sv init "$d"
		expect_status 0
		git config -f "$d/salvage.conf" crawl.caFile "$SV_NGINX_CA"
		git config -f "$d/salvage.conf" crawl.allowPrivate "127.0.0.1:$SV_NGINX_PORT"
		[ "$d" = c ] || git config -f "$d/salvage.conf" node.name "$d"
	done
	git config -f c/salvage.conf crawl.hostConnections 2
	printf 'url,scope\n"%s",host\n' "$seed" >sheet.csv
	sv -C c seed --queue "$Q" ../sheet.csv
	expect_status 0

	wk_worker w1 --queue "$Q" --jobs 1 --transfers 2
	wk_worker w2 --queue "$Q" --jobs 1 --transfers 2
	wk_exited w1
	wk_exited w2

	sv status --queue "$Q" --json
	expect_status 0
	echo "$out" >status.json
	"$SALVAGE" -C w1 ls --json >w1.ls
	"$SALVAGE" -C w2 ls --json >w2.ls
	sha256sum www/data/d.csv www/data/late.csv "www/data/donn$(printf '\xc3\xa9')es.csv" >want.sha
	python3 - "$good" "$late" <<-'EOF' || fail "the rescue through the workers is not what salvage crawl gives"
		import json, sys
		good, late = sys.argv[1], sys.argv[2]
		st = json.load(open("status.json"))
		t = st["total"]
		assert t["queued"] == 0 and t["leased"] == 0 and t["failed"] == 0, t
		caps = []
		for n in ("w1", "w2"):
		    caps += [dict(json.loads(l), node=n) for l in open(n + ".ls") if l.strip()]
		def final(u):
		    m = [c for c in caps if c.get("url") == u and c.get("status") not in (301, 302, 503)]
		    assert len(m) == 1, ("not one final capture", u, [(c["node"], c.get("status")) for c in caps if c.get("url") == u])
		    return m[0]
		sha = {}
		for l in open("want.sha"):
		    h, p = l.split(None, 1)
		    sha[p.strip()] = h
		donnees = good + "/data/donn%C3%A9es.csv?r%E9gion=1"
		robots = [c for c in caps if c.get("url") == good + "/robots.txt" and c.get("status") == 200]
		assert robots and all(c["headers"].startswith("HTTP/2 200") for c in robots), robots
		for u in ("/index.html", "/p1.html", "/data/d.csv", "/gzip/data/g.csv", late, "/regions.asp"):
		    c = final(good + u)
		    assert c["status"] == 200 and c["headers"].startswith("HTTP/2 200"), (u, c.get("status"), c.get("headers", "")[:40])
		    assert "tls_unverified" not in c, c
		c = final(donnees)
		assert c["status"] == 200 and c["sha256"] == sha["www/data/données.csv"], c
		assert final(good + "/data/d.csv")["sha256"] == sha["www/data/d.csv"]
		assert final(good + late)["sha256"] == sha["www/data/late.csv"]
		assert final(good + "/gzip/data/g.csv").get("content_encoding") == "gzip"
		assert final(good + "/data/d.csv")["kind"] == "dataset"
		# The disallowed page is recorded as skipped (no response), never fetched.
		private = [c for c in caps if "/private/" in c["url"]]
		assert private and all(c.get("status") == 0 for c in private), ("a disallowed path fetched", private)
		# The cookie check's 302s are captures of their own, setting the cookie. There are none
		# when the worker that fetched the pages got the cookie through robots.txt's redirects
		# first (robots.txt follows them): which worker does what is the queue's choice.
		checks = [c for c in caps if c.get("status") == 302]
		assert all("set-cookie: sv_check=ok" in c["headers"].lower() for c in checks), checks
		# Each URL of the site done once, by one node; both nodes took part in the crawl (a slow
		# one, a sanitizer build's, may find the work done by the other: 10 URLs take seconds).
		ok = [c["url"] for c in caps if c.get("status") == 200 and c.get("kind") != "robots"]
		assert len(ok) == len(set(ok)), "a URL captured twice"
		nodes = {n["node"]: n for n in st["nodes"]}
		assert set(nodes) == {"w1", "w2"} and sum(n["done"] for n in nodes.values()) >= len(ok), nodes
	EOF

	# The gzip body as sent, which gunzips to the file.
	local hex
	hex=$(python3 -c 'import json,sys
for n in ("w1.ls", "w2.ls"):
    for l in open(n):
        c = json.loads(l)
        if c["url"] == sys.argv[1] and c.get("status") == 200:
            print(n[:2], c["sha256"])' "$good/gzip/data/g.csv")
	"$SALVAGE" -C "${hex%% *}" cat "${hex#* }" | gzip -dc | cmp -s - www/data/g.csv ||
		fail "the gzip payload does not gunzip to the file"

	# Nothing under /private/ reached the server; the cookie came back; the
	# dataset's 503 was retried only after its Retry-After date.
	! grep -q ' /private/' up.log || fail "robots.txt was not obeyed: $(grep /private/ up.log)"
	grep -q 'cookie=sv_check=ok' up.log || fail "the cookie was never sent back: $(cat up.log)"
	python3 - "$late" "$when_epoch" <<-'EOF' || fail "the 503's Retry-After date was not held: $(grep /status/503 up.log)"
		import sys
		late, when = sys.argv[1], int(sys.argv[2])
		gets = [(float(f[0]), f[3]) for f in (l.split() for l in open("up.log"))
		        if f[1] == "GET" and f[2].startswith(late.split("?")[0]) and f[3] != "302"]
		print("GETs of the late dataset:", gets, "date", when)
		assert [s for _, s in gets] == ["503", "200"], gets
		assert gets[0][0] < when, ("inconclusive: the 503 came after its date", gets)
		assert gets[1][0] >= when - 1, ("retried before the Retry-After date", gets)
	EOF
	# Every request went over HTTP/2.
	! grep -v ' HTTP/2.0 ' "$SV_NGINX_LOG" | grep -q salvage || fail "a request not in HTTP/2: $(cat "$SV_NGINX_LOG")"
	for d in w1 w2; do
		sv -C "$d" verify
		expect_status 0
	done
}
