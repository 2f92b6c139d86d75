#!/usr/bin/env bash
# tests/servers/catalogs_selfcheck.sh -- checks tests/servers/catalogs.py by hand
# (not part of tests/run): starts it on 127.0.0.1, walks every catalog the way a
# client would, and prints "N passed, N failed". Takes about a minute.
#   bash tests/servers/catalogs_selfcheck.sh [--quick]   (--quick: skip N=100000)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/catsrv.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

# start NAME ARGS...: a server whose port lands in $work/NAME.port
start() {
	local name=$1
	shift
	python3 "$here/catalogs.py" --port-file "$work/$name.port" --pid-file "$work/$name.pid" \
		--log "$work/$name.log" "$@" 2>"$work/$name.err" &
	pids+=($!)
	for _ in $(seq 200); do [ -f "$work/$name.port" ] && return 0; sleep 0.05; done
	echo "server $name did not start"; cat "$work/$name.err"; exit 1
}
t0=$(date +%s.%N)
start main --mutate-after-requests 5 --ckan-rows-max 100 --socrata-token tok
t1=$(date +%s.%N)
start offset --mutate-after-requests 5 --ckan-rows-max 100
echo "startup: $(python3 -c "print(round($t1-$t0,2))") s"

WORK=$work QUICK=${1:-} python3 - <<'EOF'
import base64, json, os, re, threading, time, urllib.error, urllib.parse, urllib.request
W = os.environ["WORK"]
port = lambda n: int(open("%s/%s.port" % (W, n)).read())
B = "http://127.0.0.1:%d" % port("main")
BO = "http://127.0.0.1:%d" % port("offset")
ok = bad = 0

def check(cond, what):
    global ok, bad
    if cond:
        ok += 1
    else:
        bad += 1
        print("FAIL:", what)

def get(url, data=None, headers=None, method=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()

def js(url, **kw):
    s, h, b = get(url, **kw)
    return s, h, json.loads(b)

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a):
        return None

# --- files and hostile paths
s, h, b = get(B + "/files/a/b.csv")
s2, _, b2 = get(B + "/files/a/c.csv")
check(s == 200 and h["Content-Type"] == "text/csv" and b"a/b.csv" in b and b != b2, "files csv")
check(get(B + "/files/a/b.csv", headers={"If-None-Match": h["ETag"]})[0] == 304, "files 304 etag")
check(get(B + "/files/a/b.csv", headers={"If-Modified-Since": h["Last-Modified"]})[0] == 304, "files 304 ims")
s, hr, part = get(B + "/files/a/b.csv", headers={"Range": "bytes=5-9"})
check(s == 206 and part == b[5:10], "files range")
for ext, ct in ((".zip", "application/zip"), (".json", "application/json"), (".pdf", "application/pdf"),
                (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")):
    s, h, b = get(B + "/files/x/y" + ext)
    check(s == 200 and h["Content-Type"] == ct, "files " + ext)
s, h, b = get(B + "/files/big/7.csv?bytes=3000000")
check(s == 200 and len(b) == 3000000, "big file")
s, h, p2 = get(B + "/files/big/7.csv?bytes=3000000", headers={"Range": "bytes=1000000-1000099"})
check(s == 206 and p2 == b[1000000:1000100], "big file range")
check(get(B + "/broken/404.csv")[0] == 404, "404")
try:
    urllib.request.build_opener(NoRedirect).open(B + "/broken/to-landing.csv")
    check(False, "302")
except urllib.error.HTTPError as e:
    check(e.code == 302 and e.headers["Location"].endswith("/landing/to-landing.html"), "302")
s, h, b = get(B + "/landing/x1.html")
check(b'href="/files/landing/x1.csv"' in b, "landing with file")
s, h, b = get(B + "/landing/nofile-x1.html")
check(b"/files/" not in b, "landing without file")
s, h, b = get(B + "/api/thing")
check(h["Content-Type"].startswith("application/json") and json.loads(b)["api"] == "thing", "api")
s, h, b = get(B + "/js/app")
check(b"<script>" in b and b"href" not in b, "js shell")
s, h, b = get(B + "/nowhere")
check(s == 404 and h["Content-Type"].startswith("text/html"), "404 page")

# --- DCAT from shared, conditional GET
s, h, b = get(B + "/dcat/usaid.json")
check(s == 200 and b"\\udc92" in b, "dcat usaid as is")
check(get(B + "/dcat/usaid.json", headers={"If-None-Match": h["ETag"]})[0] == 304, "dcat 304")
check(get(B + "/dcat/usaid.json", headers={"If-Modified-Since": h["Last-Modified"]})[0] == 304, "dcat 304 ims")
s, h, d = js(B + "/arcgis-hub/sce-drpep-hub-dcat-us-1.1/api/feed/dcat-us/1.1.json")
check(s == 200 and len(d["dataset"]) == 47, "hub feed")
check(get(B + "/dcat/../x.json")[0] == 404, "dcat traversal")

# --- generated DCAT: counts against a recount, versions and expect
def recount(d, base):
    c = {}
    inc = lambda k: c.__setitem__(k, c.get(k, 0) + 1)
    seen = set()
    for x in d["dataset"]:
        inc("datasets")
        if x["identifier"] in seen:
            inc("duplicate_identifier")
        seen.add(x["identifier"])
        if x["modified"] is None:
            inc("modified_null")
        elif x["modified"].startswith("R/"):
            inc("modified_repeating")
        if "\udc92" in x["title"]:
            inc("lone_surrogate")
        for di in x["distribution"]:
            inc("distributions")
            u = di.get("downloadURL")
            if u is None:
                inc("accessURL_only" if "accessURL" in di else "no_url")
            elif u.startswith("/files/"):
                inc("relative_downloadURL")
            elif u.startswith("hhttps://"):
                inc("hhttps_typo")
            elif u == base + "/broken/404.csv":
                inc("broken_404")
            elif u == base + "/broken/to-landing.csv":
                inc("redirect_to_landing")
            if u and "mediaType" not in di:
                inc("missing_mediaType")
    return c

s, h, b = get(B + "/gen/data.json?n=5000&seed=3")
d = json.loads(b)
counts = json.loads(h["X-Gen-Counts"])
rc = recount(d, B)
check(all(counts[k] == v for k, v in rc.items()) and counts["datasets"] == 5000, "gen counts %s %s" % (rc, counts))
check(all(counts[k] > 0 for k in rc), "every quirk present")
check(get(B + "/gen/data.json?n=5000&seed=3", headers={"If-None-Match": h["ETag"]})[0] == 304, "gen 304")
v1 = {x["identifier"]: x["modified"] for x in d["dataset"]}
s, h, b = get(B + "/gen/data.json?n=5000&seed=3&version=2")
v2 = {x["identifier"]: x["modified"] for x in json.loads(b)["dataset"]}
s, _, exp = js(B + "/gen/expect?n=5000&seed=3&version=2")
changed = sorted(i for i in v2 if i in v1 and v1[i] != v2[i])
vanished = sorted(i for i in v1 if i not in v2)
check(sorted(exp["changed"]) == changed and len(changed) > 400, "expect changed %d" % len(changed))
check(sorted(exp["vanished"]) == vanished and len(vanished) > 80, "expect vanished %d" % len(vanished))
s, h, b = get(B + "/gen/data.json?n=3&full=1")
check(len(b) > 7000 and json.loads(b)["dataset"][0]["temporal"], "gen full")

if not os.environ.get("QUICK"):
    pid = int(open(W + "/main.pid").read())
    peak = [0]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            for line in open("/proc/%d/status" % pid):
                if line.startswith("VmRSS"):
                    peak[0] = max(peak[0], int(line.split()[1]))
            time.sleep(0.05)
    th = threading.Thread(target=sample)
    th.start()
    t = time.time()
    s, h, b = get(B + "/gen/data.json?n=100000")
    el = time.time() - t
    stop.set()
    th.join()
    d = json.loads(b)
    print("gen N=100000: %.2f s, %.1f MB, server peak RSS %.1f MB" % (el, len(b) / 1e6, peak[0] / 1024))
    check(len(d["dataset"]) == 100000 and el < 10 and peak[0] < 150 * 1024, "gen 100000")
    counts = json.loads(h["X-Gen-Counts"])
    check(all(counts[k] == v for k, v in recount(d, B).items()), "gen 100000 counts")
    del d, b

# --- CKAN: keyset under mutation lists each stable package once; offset does not
def ckan(base, **p):
    return js(base + "/ckan/api/3/action/package_search?" + urllib.parse.urlencode(p))

s, _, r = js(B + "/ckan/api/3/action/status_show")
check(r["success"] and r["result"]["ckan_version"], "status_show")
seen, last, n = [], None, 0
while True:
    p = {"sort": "id asc", "rows": 1000}
    if last:
        p["fq"] = "id:{%s TO *]" % last
    s, _, r = ckan(B, **p)
    n += 1
    res = r["result"]["results"]
    check(len(res) <= 100, "rows capped")
    if not res:
        break
    seen += [x["id"] for x in res]
    last = res[-1]["id"]
s, _, e = js(B + "/ckan/_expect")
check(e["mutated"] and len(e["deleted"]) == 4 and len(e["added"]) == 5 and len(e["modified"]) == 5, "mutation")
stable = set(e["stable"])
check(all(seen.count(i) == 1 for i in stable), "keyset: every stable package once")
check(len(seen) == len(set(seen)), "keyset: no duplicates")
print("keyset: %d requests, %d listed, %d stable" % (n, len(seen), len(stable)))
seen, start = [], 0
while True:
    s, _, r = ckan(BO, rows=100, start=start)
    res = r["result"]["results"]
    if not res:
        break
    seen += [x["id"] for x in res]
    start += 100
s, _, e = js(BO + "/ckan/_expect")
stable = set(e["stable"])
dups = sum(1 for i in set(seen) if seen.count(i) > 1)
missed = len(stable - set(seen))
print("offset: %d listed, %d duplicated, %d stable missed" % (len(seen), dups, missed))
check(dups > 0 and missed > 0, "offset paging duplicates and misses")
s, _, r = ckan(B, rows=5)
check(len(r["result"]["results"]) == 5 and r["result"]["count"] == 2501, "count after mutation")
s, _, r = ckan(B)
check(len(r["result"]["results"]) == 10, "default rows 10")
mm = r["result"]["results"][3]["metadata_modified"]
s, _, r2 = ckan(B, fq="metadata_modified:[%sZ TO *] AND (organization:city-of-example OR organization:public-works)" % mm)
check(s == 200 and r2["result"]["count"] > 0 and all(x["organization"]["name"] in ("city-of-example", "public-works")
      and x["metadata_modified"][:23] >= mm[:23] for x in r2["result"]["results"]), "fq date AND (OR)")
s, _, r = ckan(B, fq="id:{%s TO *" % last)
check(s == 409 and r["success"] is False and r["error"]["__type"] == "Search Error", "bad fq 409")
s, _, r = ckan(B, fq="metadata_modified:[2020-01-01T00:00:00 TO *]")
check(s == 409, "date without Z 409")
s, _, r = ckan(B, sort="nonsense")
check(s == 400 and r["error"]["__type"] == "Search Query Error", "bad sort 400")
s, _, r = ckan(B, rows="x")
check(s == 409 and r["error"]["__type"] == "Validation Error", "bad rows 409")
s, _, r = js(B + "/ckan/api/3/action/package_search", data=json.dumps({"rows": 3, "q": "water"}).encode(),
             headers={"Content-Type": "application/json"})
check(s == 200 and 0 < len(r["result"]["results"]) <= 3, "package_search POST json q")
pid_ = r["result"]["results"][0]["id"]
s, _, r = js(B + "/ckan/api/3/action/package_show?id=" + pid_)
check(s == 200 and r["result"]["id"] == pid_ and r["result"]["resources"], "package_show")
s, _, r = js(B + "/ckan/api/3/action/package_show?id=" + e["deleted"][0])
check(s == 404, "package_show deleted")

# --- Socrata: offset stops at 10000, scroll_id goes on; token throttling
tok = {"X-App-Token": "tok"}
def soc(base=B, headers=tok, **p):
    return js(base + "/socrata/api/catalog/v1?" + urllib.parse.urlencode(p), headers=headers)
dom = "127.0.0.1:%d" % port("main")
s, _, r = soc(domains=dom, only="datasets", limit=1000, offset=9000)
check(s == 200 and len(r["results"]) == 1000 and r["resultSetSize"] == 10000, "offset 9000")
s, _, r = soc(domains=dom, only="datasets", limit=1000, offset=10000)
check(s == 400 and "cannot exceed" in r["error"], "offset past 10000 refused")
s, _, r = soc(domains="data.other.gov", limit=10)
check(s == 200 and r["resultSetSize"] == 0, "other domain")
ids, sid = [], ""
while True:
    s, _, r = soc(domains=dom, only="datasets", limit=1000, scroll_id=sid)
    res = r["results"]
    ids += [x["resource"]["id"] for x in res]
    if len(res) < 1000:
        break
    sid = res[-1]["resource"]["id"]
check(len(ids) == 12000 and len(set(ids)) == 12000 and ids == sorted(ids), "scroll_id reaches all 12000")
s, _, v = js(B + "/socrata/api/views/%s.json" % ids[5], headers=tok)
check(s == 200 and v["id"] == ids[5] and v["columns"], "views")
s, h, b = get(B + "/socrata/api/views/%s/rows.csv?accessType=DOWNLOAD" % ids[5], headers=tok)
check(s == 200 and h["Content-Type"].startswith("text/csv") and b.count(b"\n") > 5, "rows.csv")
answers = [get(B + "/socrata/api/views/%s.json" % ids[1]) for _ in range(10)]
codes = [a[0] for a in answers]
check(codes == [200] * 3 + [429, 200] * 3 + [429], "throttled without token %s" % codes)
check(all(a[1].get("Retry-After") == "1" for a in answers if a[0] == 429), "429 Retry-After")
codes = [get(B + "/socrata/api/views/%s.json" % ids[1], headers=tok)[0] for _ in range(10)]
check(codes == [200] * 10, "never throttled with token")
check(get(B + "/socrata/api/views/%s.json" % ids[1], headers={"X-App-Token": "bad"})[0] == 403, "wrong token 403")

# --- ArcGIS: ids, batches, lying layer, error envelope, POST
L0 = B + "/arcgis/rest/services/Addresses/FeatureServer/0"
s, _, svc = js(B + "/arcgis/rest/services?f=json")
check("Hosted" in svc["folders"] and svc["services"][0]["type"] == "FeatureServer", "services directory")
s, _, lay = js(L0 + "?f=json")
check(lay["maxRecordCount"] == 1000 and lay["objectIdField"] == "OBJECTID", "layer json")
s, _, r = js(L0 + "/query?where=1%3D1&returnIdsOnly=true&f=json")
oids = r["objectIds"]
check(len(oids) == 25000 and oids[0] != 1 and oids[-1] - oids[0] + 1 > 25000, "ids not contiguous")
s, _, r = js(L0 + "/query?where=1%3D1&returnCountOnly=true&f=json")
check(r["count"] == 25000, "count")
s, _, r = js(L0 + "/query?where=1%3D1&outFields=*&f=json")
check(len(r["features"]) == 1000 and r["exceededTransferLimit"] is True, "cut at maxRecordCount")
got = []
for k in range(0, len(oids), 1000):
    a, b_ = oids[k], oids[min(k + 999, len(oids) - 1)]
    w = "OBJECTID>=%d AND OBJECTID<=%d" % (a, b_) if k % 2000 else "OBJECTID >= %d AND OBJECTID <= %d" % (a, b_)
    s, _, r = js(L0 + "/query?" + urllib.parse.urlencode({"where": w, "outFields": "*", "f": "json"}))
    check(len(r["features"]) <= 1000 and "exceededTransferLimit" not in r, "batch")
    got += [f_["attributes"]["OBJECTID"] for f_ in r["features"]]
check(got == oids, "all features by id batches")
body = urllib.parse.urlencode({"objectIds": ",".join(map(str, oids[:700])), "outFields": "OBJECTID,ZIP",
                               "f": "geojson"}).encode()
s, _, r = js(L0 + "/query", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
check(r["type"] == "FeatureCollection" and len(r["features"]) == 700 and "properties" not in r, "POST objectIds geojson")
s, _, r = js(L0 + "/query?where=1%3D1&f=geojson")
check(r["properties"]["exceededTransferLimit"] is True, "geojson exceeded")
L1 = B + "/arcgis/rest/services/Addresses/FeatureServer/1"
s, _, r = js(L1 + "/query?where=1%3D1&returnCountOnly=true&f=json")
total1 = r["count"]
naive, off = [], 0
while True:
    s, _, r = js(L1 + "/query?where=1%%3D1&outFields=*&resultOffset=%d&resultRecordCount=1000&f=json" % off)
    naive += r["features"]
    if not r.get("exceededTransferLimit"):
        break
    off += len(r["features"])
check(len(naive) == 500 and total1 == 2345, "lying layer fools a naive client")
counted, off = [], 0
while off < total1:
    s, _, r = js(L1 + "/query?where=1%%3D1&outFields=*&resultOffset=%d&resultRecordCount=1000&f=json" % off)
    counted += r["features"]
    off += len(r["features"])
check(len(counted) == total1, "counting client gets all of the lying layer")
s, _, r = js(B + "/arcgis/rest/services/Addresses/FeatureServer/2/query?where=1%3D1&f=json")
check(s == 200 and r["error"]["code"] == 400, "error envelope with HTTP 200")
s, _, r = js(L0 + "/query?where=NOPE%3D1&f=json")
check(s == 200 and "error" in r, "bad where")
s, _, r = js(B + "/arcgis/rest/services/Hosted/Trees/FeatureServer/0/query?where=FID%3C%3D10&returnIdsOnly=true&f=json")
check(r["objectIds"] == list(range(1, 11)), "Hosted/Trees")

# --- data.gov v4
DG = B + "/datagov/search?per_page=50"
s, _, r = js(DG)
check(s == 403 and r["error"]["code"] == "API_KEY_MISSING", "no key 403")
s, _, r = js(DG, headers={"X-Api-Key": "nope"})
check(s == 403 and r["error"]["code"] == "API_KEY_INVALID", "bad key 403")
seen, after, pages = [], None, 0
while True:
    s, h, r = js(DG + ("&after=" + after if after else ""), headers={"X-Api-Key": "testkey"})
    pages += 1
    seen += [x["identifier"] for x in r["results"]]
    check(all(x["dcat"]["distribution"] for x in r["results"]), "dcat")
    after = r.get("after")
    if not after:
        break
check(len(seen) == 300 and len(set(seen)) == 300 and pages == 6, "after cursor pages=%d" % pages)
s, _, r = js(B + "/datagov/organizations", headers={"X-Api-Key": "testkey"})
check(r["total"] == len(r["organizations"]) and sum(o["dataset_count"] for o in r["organizations"]) == 300, "orgs")

# --- /auto
for path, ok_ in (("/auto/dcat/data.json", 200), ("/auto/ckan/api/3/action/status_show", 200),
                  ("/auto/ckan/api/3/action/package_search", 200), ("/auto/socrata/api/catalog/v1", 200),
                  ("/auto/arcgis/api/feed/dcat-us/1.1.json", 200), ("/auto/dcat/other.json", 404),
                  ("/auto/nothing", 404)):
    s, h, b = get(B + path)
    check(s == ok_ and (s != 200 or json.loads(b) is not None) and (s != 404 or "text/html" in h["Content-Type"]),
          "auto " + path)

# --- the log
lines = [json.loads(l) for l in open(W + "/main.log")]
check(len(lines) > 100 and all({"t", "method", "path", "status", "headers"} <= set(l) for l in lines), "log lines")
check(any(l["headers"].get("X-Api-Key") == "nope" for l in lines), "log headers")
print("%d passed, %d failed" % (ok, bad))
raise SystemExit(1 if bad else 0)
EOF
