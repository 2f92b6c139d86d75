#!/usr/bin/env python3
"""tests/servers/catalogs.py -- open-data catalog APIs on 127.0.0.1 for tests.

    catalogs.py --port-file FILE [--pid-file FILE] [--log FILE] [--shared DIR]
                [scenario options]

A loopback HTTP server (Python 3.11 standard library only) that answers like
the catalog APIs salvage enumerates: DCAT-US data.json, CKAN's action API,
Socrata's Discovery API, ArcGIS REST feature services, ArcGIS Hub feeds and
data.gov's v4 Catalog API, plus the data files those catalogs point at and a
few hostile pages. Everything is deterministic (no clock, no unseeded
randomness in what it serves) so that tests can compare exact counts.

It listens on 127.0.0.1 on a free port and writes the port to --port-file
(FILE.tmp, then rename) once it accepts connections; --pid-file likewise gets
its pid. SIGTERM (or SIGINT) stops it. --log FILE gets one JSON line per
request, flushed at once:
    {"t": 1700000000.123, "method": "GET", "path": "/ckan/...?rows=10",
     "status": 200, "headers": {"User-Agent": "...", ...}}
where "headers" holds those present among X-App-Token, X-Api-Key, User-Agent,
If-None-Match, If-Modified-Since and Range.

Absolute URLs the server puts in its answers point back to itself and are
built from the request's Host header (so they stay right behind a proxy or a
redirect); without one, http://127.0.0.1:PORT. Real files served from
<shared> (the /dcat/ and /arcgis-hub/ routes) are served as they are, so the
URLs inside them point at real government sites: a test must not let salvage
follow those (only 127.0.0.1 may be contacted in this workplace).

The real responses are read at run time from --shared DIR (default: the
first `shared/catalogs` found walking up from this file; in a checkout that
is ../../../shared/catalogs from tests/servers/). Nothing is copied from
there into the repository.

bench/gen-datajson imports this file for its DcatGen generator.

Options (scenario)
------------------
  --ckan-packages N            CKAN packages (2500)
  --ckan-rows-max N            CKAN ckan.search.rows_max (1000)
  --mutate-after-requests K    CKAN changes after the K-th package_search (off)
  --socrata-mutate-after K     Socrata's catalog changes after its K-th Discovery
                               API request (off); /socrata/_expect tells its
                               stable ids as /ckan/_expect does
  --datagov-mutate-after K     the same for data.gov's /search (/datagov/_expect)
  --socrata-datasets N         Socrata datasets (12000); N//10 other assets too
  --socrata-token T            require X-App-Token T (else throttled, see below)
  --socrata-free-requests N    requests without the token before throttling (3)
  --socrata-retry-after S      Retry-After of the 429 answers (1)
  --arcgis-features N          features of Addresses/FeatureServer/0 (25000)
  --arcgis-max-record-count N  declared maxRecordCount (1000)
  --arcgis-lying-features N    features of the lying layer Addresses/.../1 (2345)
  --datagov-datasets N         data.gov v4 datasets (300)
  --datagov-key KEY            the api.data.gov key to require ("testkey")
  --datagov-rate-limit N       429 OVER_RATE_LIMIT after N keyed requests (0: off)
  --auto-datasets N            size of each /auto/ site's catalog (25)

Routes
------
/                              HTML index of the routes.

Data files (every catalog points at these):
/files/<path>                  deterministic body derived from <path> (a CSV
                               whose text includes the path, so two paths
                               differ). Type by extension: .csv text/csv, .json
                               application/json, .geojson application/geo+json,
                               .zip application/zip (a real zip holding a CSV),
                               .xlsx (a minimal real workbook), .pdf (a minimal
                               real PDF), .xml, .txt, .html; no extension
                               text/csv; anything else
                               application/octet-stream. ETag, Last-Modified,
                               Accept-Ranges: bytes; If-None-Match /
                               If-Modified-Since answer 304; one "bytes=a-b"
                               Range answers 206 (416 when unsatisfiable).
                               The query string is ignored (Hub URLs carry
                               ?outSR=...).
/files/big/<n>.csv?bytes=N     N bytes (default 1 MiB) of 64-byte CSV lines,
                               streamed with Content-Length; Range works too.
/broken/404.csv                404.
/broken/500.csv                500.
/broken/to-landing.csv         302 to /landing/to-landing.html.
/broken/<other>                404.
/landing/<x>.html              HTML landing page. It links (<a href>) to the
                               data file /files/landing/<x>.csv, except when
                               <x> starts with "nofile": then no data link.
/api/<x>                       a JSON API answer (application/json), not a file.
/js/<x>                        a JavaScript-only app shell: HTML with a
                               <script> and no links.

1. DCAT-US
/dcat/                         JSON list of the names under <shared>/dcat-us.
/dcat/<name>.json              <shared>/dcat-us/<name>.json as it is (200,
                               application/json, ETag, Last-Modified, 304 on
                               If-None-Match / If-Modified-Since).
/arcgis-hub/<name>/api/feed/dcat-us/1.1.json
                               <shared>/arcgis/<name>.json the same way.
/gen/data.json?n=N&seed=S&version=V&full=F
                               a generated DCAT-US 1.1 catalog of N datasets
                               (default 1000, seed 0, version 1, full 0),
                               streamed with chunked encoding (never built
                               whole). Each dataset: identifier (UUID-like,
                               from seed and index), title, description,
                               publisher {name}, contactPoint, keyword,
                               modified, accessLevel public, landingPage
                               /landing/gen-<i>.html, 1-3 distributions with
                               downloadURL <base>/files/gen/<i>-<j>.csv and
                               mediaType text/csv. full=1 adds ~3 KB of
                               realistic fields per dataset (what
                               bench/gen-datajson writes). Quirks at fixed
                               rates (see DcatGen): root-relative downloadURL,
                               missing mediaType, duplicate identifiers (one
                               in 1009), a distribution with neither URL,
                               accessURL-only
                               (to /landing/..., half of them "nofile-"),
                               modified "R/P1D" or null, an "hhttps://"
                               downloadURL, a title with the lone surrogate
                               escape \\udc92, downloadURLs to /broken/404.csv
                               and /broken/to-landing.csv. Response header
                               X-Gen-Counts is a JSON object with the exact
                               count of each (see DcatGen.counts). ETag and
                               Last-Modified depend on (n, seed, version,
                               full) and the ETag on Host too; 304 on a
                               match.
                               version V>=2: the datasets with index i%10==0
                               get a newer `modified` (a new one for every V)
                               and those with i%50==25 are gone, except
                               datasets with a quirky `modified` or involved
                               in the duplicate identifier, which never change.
/gen/expect?n=N&version=V&from=F&seed=S
                               JSON {changed, vanished, added} identifiers
                               between version F (default V-1, at least 1)
                               and V, plus both versions' counts.

2. CKAN (action API; also under /ckan/api/action/)
/ckan/api/3/action/status_show    a CKAN status answer.
/ckan/api/3/action/package_search q, fq, sort, rows, start, fl, facet.field
        (GET query or POST JSON/form). rows defaults to 10 and is silently
        capped at --ckan-rows-max (the answer just holds fewer rows, as CKAN
        does); count is the number matching q and fq. sort: comma-separated
        "field asc|desc" over id, name, title_string, metadata_modified,
        metadata_created, score (default "score desc, metadata_modified
        desc"); ties go in index order, as Solr's do, and a package indexed
        again (modified) goes last. q: empty or *:* is everything; with a
        ':' it is parsed like fq; else words that must all occur in title,
        name, notes, tags or organization. fq: a small recursive-descent
        parser of Solr's syntax: field:value, field:"quoted", field:prefix*,
        field:*, field:(a OR b), ranges [a TO b] {a TO b} [a TO *] {a TO *]
        (mixed brackets), AND/OR/NOT/&&/||, +/- prefixes, parentheses,
        juxtaposition meaning AND. Fields: id, name, title, notes, text,
        metadata_modified, metadata_created, organization, owner_org, tags,
        res_format, license_id, state, type, dataset_type, capacity,
        private, num_resources, num_tags, site_id. Dates must be Solr dates
        (2024-01-02T03:04:05[.fff]Z, NOW, NOW-3DAYS); the index keeps
        metadata_modified to the millisecond, as Solr does, while the package
        dicts show microseconds. Keyset paging: sort "id asc" with fq
        id:{<last id> TO *]. Anything it cannot parse (or an unknown field,
        stricter than CKAN, whose Solr has a catch-all dynamic field)
        answers 409 {"help","success":false,"error":{"__type":"Search Error",
        "message":...}}, as CKAN does for a Solr error; a bad sort answers
        400 "Search Query Error"; a bad rows/start 409 "Validation Error".
/ckan/api/3/action/package_show?id=ID|NAME   404 "Not Found Error" if unknown
        or deleted.
/ckan/api/3/action/package_list, organization_list   lists of names.
other actions                  400 "Bad request - Action name not known".
/ckan/_expect                  JSON {before, after, deleted, added, modified,
                               stable, mutated, package_search_requests,
                               mutate_after_requests}: ids sorted; stable =
                               before minus deleted (every one of them must be
                               listed exactly once by a correct enumeration).
/ckan/_mutate                  applies the mutation now (if not yet); answers
                               like /ckan/_expect.
Packages: --ckan-packages of them, ids UUID-like (sha1 of the index, so id
order is not index order), names, titles, notes, organization (12), tags,
metadata_created/modified, 1-3 resources with url <base>/files/ckan/<package
id>/<resource id>.<ext>; some resources point at /broken/404.csv,
/broken/to-landing.csv, /landing/nofile-ckan-<i>.html, /api/ckan-<i>,
/js/ckan-<i>; formats include '', 'csv' and 'dxf'. Shapes follow
<shared>/ckan/demo.ckan.org-package_search.json (the envelope
{help, success, result:{count, facets, results, sort, search_facets}}).
Changes while paging (--mutate-after-requests K): right after answering the
K-th package_search that did not fail, the catalog changes: 4 packages
deleted (the two newest, two in the middle of the id order), 5 added (ids
00000000-..., ffffffff-... and three in between; newest metadata_modified),
5 modified (the four oldest and one in the middle of the id order get the
newest metadata_modified). So keyset paging on id lists every stable package exactly
once, while offset paging under the default sort duplicates (the added and
modified ones push everything back) and misses (the modified ones jump to the
front, the deleted newest ones pull everything forward).

3. Socrata (Discovery API and views)
/socrata/api/catalog/v1?domains=D&search_context=D&only=T&q=&ids=&limit=L&offset=O&scroll_id=S
        domains / search_context: compared with the request's Host value
        ("127.0.0.1:PORT"; the host without the port is accepted too);
        another domain gives no results; absent, everything. only: types,
        comma-separated, singular or plural (dataset(s), file(s), story,
        stories, map(s), chart(s), href(s), filter(s)); absent, every type.
        limit default 100, at most 10000; offset+limit > 10000 answers 400
        {"error": "Sum of offset and limit cannot exceed 10000"} (cetera's
        message), so only scroll_id reaches further: with scroll_id (even
        empty) results are ordered by resource id, after S; offset>0 with
        scroll_id answers 400. Without scroll_id the order is page views
        descending, then id. resultSetSize is the number matching, capped at
        10000 as the real API reports for broad queries (so a client cannot
        learn a larger total: it must scroll until a page comes back short).
        results[] are shaped like <shared>/socrata/discovery-*.json (resource
        {id "abcd-2345", name, type, updatedAt, createdAt, columns_*, ...},
        classification, metadata {domain}, permalink <base>/socrata/d/<id>,
        link <base>/socrata/<Category>/<slug>/<id>, owner, creator);
        {results, resultSetSize, timings, warnings}.
/socrata/api/views/<id>.json (or without .json)   view metadata shaped like
        <shared>/socrata/views-*.json (epoch-second timestamps, columns...);
        404 {"code":"not_found","error":true,...} if unknown.
/socrata/api/views/<id>/rows.csv?accessType=DOWNLOAD   a CSV (datasets only).
/socrata/d/<id>, /socrata/<Category>/<slug>/<id>   HTML pages linking to it.
Token: with --socrata-token T, a request with header X-App-Token: T (or query
$$app_token=T) is never throttled; one with another token answers 403
{"code":"invalid_app_token",...}; one without a token is answered, but after
--socrata-free-requests of them every other tokenless request (the 1st, 3rd,
5th... past the free ones) answers 429 with Retry-After, deterministically.
Without --socrata-token nothing is throttled.

4. ArcGIS REST (under /arcgis/rest/)
/arcgis/rest/info?f=json                         server info.
/arcgis/rest/services?f=json                     {currentVersion, folders:
        ["Hosted"], services: [Addresses FeatureServer]};
/arcgis/rest/services/Hosted?f=json              {services: [Hosted/Trees]}.
<Svc>/FeatureServer?f=json                       service JSON with layers[].
<Svc>/FeatureServer/<n>?f=json                   layer JSON shaped like
        <shared>/arcgis/pyesridump-*-layer.json: name, type, geometryType,
        objectIdField, fields, maxRecordCount, advancedQueryCapabilities...
<Svc>/FeatureServer/<n>/query                    GET or POST (form-encoded):
        where, objectIds (comma list), outFields (default: only the object id
        field; * for all), returnGeometry, returnIdsOnly=true ({objectIdField
        Name, objectIds:[...]}, all of them, not capped), returnCountOnly=true
        ({count}), orderByFields, resultOffset/resultRecordCount, f=json |
        pjson | geojson. Never more than maxRecordCount features; when cut,
        "exceededTransferLimit": true (json) or properties.exceededTransferLimit
        (geojson); absent otherwise, as in the real answers. where: SQL-92
        subset: comparisons (= <> != < <= > >=) of fields, numbers and
        'strings', AND/OR/NOT, parentheses, IN (...), BETWEEN a AND b, IS
        [NOT] NULL, LIKE; so 1=1 and "OBJECTID >= a AND OBJECTID <= b" (with
        or without spaces) work. A query needs where or objectIds. Errors come
        as {"error":{"code":400,"message":"Unable to complete operation.",
        "details":[...]}} with HTTP 200, as ArcGIS Server sends them. No f (or
        f=html) gives an HTML page, like the real server; unknown paths give
        {"error":{"code":400,"message":"Invalid URL",...}} with HTTP 200.
Services and layers:
  Addresses/FeatureServer/0  "Address Points": --arcgis-features points,
        object ids not contiguous (start at 70193, gaps), maxRecordCount
        --arcgis-max-record-count.
  Addresses/FeatureServer/1  "Hydrants": --arcgis-lying-features points, object
        id field OBJECTID_1; declares the same maxRecordCount but answers at
        most half of it and never says exceededTransferLimit (the server lies;
        a client must count, e.g. against returnIdsOnly).
  Addresses/FeatureServer/2  "Parcel Statistics": its layer JSON is fine, but
        every query answers the error envelope with HTTP 200 (like
        <shared>/arcgis/pyesridump-kent-statistics-error.json).
  Hosted/Trees/FeatureServer/0  150 points, FID 1..150, maxRecordCount 2000.
Geometry is WGS84 (wkid 4326) whatever outSR asks.

5. data.gov v4 Catalog API (behind api.data.gov)
/datagov/search?q=&per_page=P&after=CURSOR&sort=&org_slug=&keyword=
        {sort, results:[{title, description, identifier, slug, publisher,
        keyword, organization, dcat:{DCAT-US dataset}, harvest_record, ...,
        _score, _sort}], after}; shapes from <shared>/datagov-v4/. per_page
        default 10, 1..1000 (else 422 "Validation error"). `after` is an
        opaque urlsafe-base64 JSON list (the last result's _sort), present
        only when another page exists (the real code asks for one more row),
        so it is absent on the last page; a bad cursor answers 400. sort:
        "relevance" (default: score, popularity, then id), "popularity",
        "last_harvested_date". q: words that must all occur in the title or
        keywords.
/datagov/organizations         {organizations:[...], total}.
/datagov/harvest_record/<id>[/raw]   harvest record / the raw DCAT dataset.
All need header X-Api-Key equal to --datagov-key (api.data.gov also takes
?api_key=): missing -> 403 {"error":{"code":"API_KEY_MISSING",...}}, wrong ->
403 API_KEY_INVALID (the shape of doc-error-rate-limit.json). Answers carry
X-RateLimit-Limit / X-RateLimit-Remaining.

6. Sites to probe (/auto/)
/auto/dcat/                    HTML home; /auto/dcat/data.json a small
                               generated DCAT-US catalog.
/auto/ckan/                    HTML home; the CKAN API (small catalog) under
                               /auto/ckan/api/3/action/ (status_show,
                               package_search, package_show...).
/auto/socrata/                 HTML home; /auto/socrata/api/catalog/v1 and
                               /auto/socrata/api/views/... (small catalog).
/auto/arcgis/                  HTML home; /auto/arcgis/api/feed/dcat-us/1.1.json
                               an ArcGIS Hub style feed (accessURL only, Hub
                               download URLs with ?outSR=, a GeoService link
                               to /arcgis/rest/services/Addresses/...).
Anything else under /auto/ (and any unknown path) answers a real 404 page
(text/html).

Choices where the real behaviour is uncertain (documented guesses)
------------------------------------------------------------------
- Socrata: the 400 status and {"error": ...} body of the offset+limit check,
  the scroll_id+offset refusal, the 429 body, and the 403 invalid_app_token
  body follow cetera's sources and Socrata's usual error shape, not a
  recorded answer.
- ArcGIS: default outFields is the object id field only; an empty
  returnIdsOnly answer is "objectIds": [].
- data.gov: the 400 body for a bad cursor ({"message": ...}) is a guess.
- Socrata: limit defaults to 100 and may not pass 10000 (cetera's docs);
  resultSetSize is capped at 10000 as in
  <shared>/socrata/discovery-only-dataset-story.json.
- CKAN: juxtaposed fq clauses mean AND (as with q.op=AND); unknown fq
  fields are refused (see above).
"""
import argparse
import base64
import bisect
import datetime as dt
import email.utils
import hashlib
import http.server
import io
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import zipfile

# ---------------------------------------------------------------- helpers

UTC = dt.timezone.utc
_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


_MASK = 0xFFFFFFFFFFFFFFFF
_salts = {}


def _salt(v):
    """A 64-bit hash of a non-integer part (cached while the cache is small)."""
    h = _salts.get(v)
    if h is None:
        h = int.from_bytes(hashlib.blake2b(repr(v).encode(), digest_size=8).digest(), "big")
        if len(_salts) < 50000:
            _salts[v] = h
    return h


def h64(*parts):
    """A deterministic 64-bit hash of the parts (ints, strings, tuples)."""
    x = 0x9E3779B97F4A7C15
    for v in parts:
        x ^= (v & _MASK) if isinstance(v, int) else _salt(v)
        x = (x * 0xBF58476D1CE4E5B9) & _MASK
        x ^= x >> 31
        x = (x * 0x94D049BB133111EB) & _MASK
        x ^= x >> 29
    return x


def det_uuid(s):
    """A UUID-like (version 4 shaped) string derived from s."""
    h = hashlib.sha1(s.encode()).hexdigest()
    return "%s-%s-4%s-%s%s-%s" % (h[0:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) % 4],
                                  h[17:20], h[20:32])


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def ts_of(y, m, d, hh=0, mm=0, ss=0):
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=UTC).timestamp()


def iso(ts, micro=True, z=False):
    t = dt.datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)
    s = t.isoformat(timespec="microseconds" if micro else "seconds")
    return s + "Z" if z else s


WORDS = ("air quality water monitoring budget spending permits inspections parcels zoning "
         "transit ridership crime incidents schools enrollment hospital capacity wildfire "
         "risk flood zones census tracts housing units energy consumption emissions traffic "
         "counts bridges condition pavement contracts grants employees salaries libraries "
         "circulation parks trees inventory restaurant licenses building footprints elections "
         "precincts broadband coverage drought index snowpack stream gauges fisheries landings "
         "vaccination rates unemployment claims tax revenue property assessments noise "
         "complaints street lights potholes recycling tonnage weather stations earthquakes "
         "airport delays port cargo farm subsidies crop yields soil survey wetlands habitat "
         "species occurrences").split()
AGENCIES = ("Department of Transportation", "Environmental Protection Agency", "Department of Energy",
            "Census Bureau", "National Park Service", "Department of Education",
            "Office of Management and Budget", "Department of Agriculture", "Geological Survey",
            "City of Example", "County of Sample", "State Data Office", "Bureau of Statistics",
            "Department of Health", "Fish and Wildlife Service", "Housing Authority",
            "Department of Labor")
THEMES = ("Transportation", "Environment", "Energy", "Health", "Education", "Finance",
          "Public Safety", "Agriculture", "Geospatial", "Housing")


def words(key, count, *salt):
    h = h64(key, *salt)
    out = []
    for _ in range(count):
        out.append(WORDS[h % len(WORDS)])
        h = (h * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return out


def safe_name(s):
    return bool(s) and re.fullmatch(r"[A-Za-z0-9._-]+", s) is not None and ".." not in s


# ---------------------------------------------------------------- DCAT-US generator

class DcatGen:
    """A deterministic DCAT-US 1.1 catalog of n datasets, streamed.

    Dataset i (0 <= i < n) uses k = i + (seed*131) % 997 to place its quirks:
      modified "R/P1D"           k % 41 == 7
      modified null              k % 43 == 11 (and not the above)
      lone surrogate in title    k % 149 == 17 (title ends with \\udc92)
      duplicate identifier       k % 1009 == 1008: reuses dataset i-1's
    Its first distribution (j=0) carries at most one quirk, the first that
    applies of:
      relative_downloadURL       k % 97 == 13: "/files/gen/<i>-0.csv"
      missing_mediaType          k % 89 == 21
      no_url                     k % 83 == 29: neither downloadURL nor accessURL
      accessURL_only             k % 79 == 31: accessURL <base>/landing/gen-<i>.html
                                 (nofile-gen-<i>.html when i is even)
      hhttps_typo                k % 73 == 37: "hhttps://<host>/files/gen/<i>-0.csv"
      broken_404                 k % 71 == 41: <base>/broken/404.csv
      redirect_to_landing        k % 67 == 43: <base>/broken/to-landing.csv
    Distributions: 1 + h(seed, i) % 3. Version rules: see the module docstring.

    counts() (the server's X-Gen-Counts header) has these keys:
      datasets, distributions     as emitted
      unique_identifiers          distinct identifiers
      downloadURL_absolute        distributions with an http:// downloadURL
                                  (the normal ones, missing_mediaType,
                                  broken_404 and redirect_to_landing)
      files_ok                    distributions whose downloadURL, absolute or
                                  root-relative, is a /files/gen/ file (200)
      relative_downloadURL ... redirect_to_landing   one per quirk above
      accessURL_only_nofile       those accessURL_only whose landing page
                                  links to no data file
      duplicate_identifier        datasets repeating an earlier identifier
      modified_repeating, modified_null, lone_surrogate
      changed_since_v1            datasets whose modified differs from v1's
      vanished_since_v1           v1 datasets this version drops
    """

    DIST_RULES = ((97, 13, "relative_downloadURL"), (89, 21, "missing_mediaType"),
                  (83, 29, "no_url"), (79, 31, "accessURL_only"), (73, 37, "hhttps_typo"),
                  (71, 41, "broken_404"), (67, 43, "redirect_to_landing"))
    COUNT_KEYS = ("datasets", "distributions", "unique_identifiers", "downloadURL_absolute",
                  "files_ok", "relative_downloadURL", "missing_mediaType", "no_url",
                  "accessURL_only", "accessURL_only_nofile", "hhttps_typo", "broken_404",
                  "redirect_to_landing", "duplicate_identifier", "modified_repeating",
                  "modified_null", "lone_surrogate", "changed_since_v1", "vanished_since_v1")

    def __init__(self, n, seed=0, version=1, base="http://127.0.0.1:1", full=False):
        self.n, self.seed, self.version = int(n), int(seed), max(1, int(version))
        self.base, self.full = base.rstrip("/"), bool(full)
        self.shift = (self.seed * 131) % 997
        self.host = urllib.parse.urlsplit(self.base).netloc

    # --- per-dataset facts (cheap; used both to generate and to count)
    def k(self, i):
        return i + self.shift

    def is_dup(self, i):
        return self.k(i) % 1009 == 1008

    def dup_involved(self, i):
        return self.k(i) % 1009 in (1007, 1008)

    def modified_kind(self, i):
        k = self.k(i)
        if k % 41 == 7:
            return "repeating"
        if k % 43 == 11:
            return "null"
        return "date"

    def surrogate(self, i):
        return self.k(i) % 149 == 17

    def stable(self, i):
        return self.modified_kind(i) == "date" and not self.dup_involved(i)

    def present(self, i, version=None):
        v = self.version if version is None else version
        return not (v >= 2 and i % 50 == 25 and not self.dup_involved(i))

    def changed(self, i, version=None):
        v = self.version if version is None else version
        return v >= 2 and i % 10 == 0 and self.stable(i)

    def ndist(self, i):
        return 1 + h64("nd", self.seed, i) % 3

    def dist_quirk(self, i):
        k = self.k(i)
        for p, r, name in self.DIST_RULES:
            if k % p == r:
                return name
        return None

    def identifier(self, i):
        j = i - 1 if self.is_dup(i) else i
        return det_uuid("gen:%d:%d" % (self.seed, j))

    def modified(self, i, version=None):
        v = self.version if version is None else version
        kind = self.modified_kind(i)
        if kind == "repeating":
            return "R/P1D"
        if kind == "null":
            return None
        d = dt.date(2019, 1, 1) + dt.timedelta(days=(self.k(i) * 37) % 1800)
        if self.changed(i, v):
            d = dt.date(2025, 1, 1) + dt.timedelta(days=v - 2 + (self.k(i) % 30) * 10)
        return d.isoformat()

    # --- counts
    def counts(self):
        c = dict.fromkeys(self.COUNT_KEYS, 0)
        seen = set()
        for i in range(self.n):
            if not self.present(i):
                continue
            c["datasets"] += 1
            if self.is_dup(i) and self.present(i - 1):
                c["duplicate_identifier"] += 1
            else:
                seen.add(i)
            kind = self.modified_kind(i)
            if kind == "repeating":
                c["modified_repeating"] += 1
            elif kind == "null":
                c["modified_null"] += 1
            if self.surrogate(i):
                c["lone_surrogate"] += 1
            if self.changed(i):
                c["changed_since_v1"] += 1
            nd = self.ndist(i)
            c["distributions"] += nd
            q = self.dist_quirk(i)
            ok = nd - 1
            absolute = nd - 1
            if q is None:
                ok += 1
                absolute += 1
            else:
                c[q] += 1
                if q == "relative_downloadURL":
                    ok += 1
                elif q == "missing_mediaType":
                    ok += 1
                    absolute += 1
                elif q in ("broken_404", "redirect_to_landing"):
                    absolute += 1
                elif q == "accessURL_only" and i % 2 == 0:
                    c["accessURL_only_nofile"] += 1
            c["downloadURL_absolute"] += absolute
            c["files_ok"] += ok
        if self.version >= 2:
            c["vanished_since_v1"] = sum(1 for i in range(self.n) if not self.present(i))
        c["unique_identifiers"] = len(seen)
        return c

    def expect(self, from_version):
        f, v = max(1, int(from_version)), self.version
        changed, vanished, added = [], [], []
        for i in range(self.n):
            pf, pv = self.present(i, f), self.present(i, v)
            if pf and not pv:
                vanished.append(self.identifier(i))
            elif pv and not pf:
                added.append(self.identifier(i))
            elif pf and self.modified(i, f) != self.modified(i, v):
                changed.append(self.identifier(i))
        return {"n": self.n, "seed": self.seed, "from": f, "version": v, "changed": changed,
                "vanished": vanished, "added": added}

    # --- generation
    _pools = {}

    def _sentences(self, i, count):
        """count sentences of a deterministic text, picked from a pool per seed."""
        pool = DcatGen._pools.get(self.seed)
        if pool is None:
            pool = []
            for s in range(4096):
                w = words(("pool", self.seed), 9 + s % 5, s)
                pool.append(w[0].capitalize() + " " + " ".join(w[1:]) + ".")
            DcatGen._pools[self.seed] = pool
        h = h64("text", self.seed, i)
        return " ".join(pool[((h >> (m % 7)) + m * 977) % 4096] for m in range(count))

    def dataset(self, i):
        b = self.base
        k = self.k(i)
        topic = words(("t", self.seed), 3, i)
        agency = AGENCIES[k % len(AGENCIES)]
        title = "%s %s %s (%d)" % (topic[0].capitalize(), topic[1], topic[2], i)
        if self.surrogate(i):
            title += " \udc92"
        d = {"@type": "dcat:Dataset", "identifier": self.identifier(i), "title": title}
        if self.full:
            d["description"] = self._sentences(i, 14)
        else:
            d["description"] = "Generated dataset %d about %s %s, published by the %s." % (
                i, topic[0], topic[1], agency)
        d["keyword"] = words(("kw", self.seed), 6 if self.full else 2, i)
        d["modified"] = self.modified(i)
        d["publisher"] = {"@type": "org:Organization", "name": agency}
        contact = "data.steward.%d" % (k % 50)
        d["contactPoint"] = {"@type": "vcard:Contact", "fn": "Data Steward %d" % (k % 50),
                             "hasEmail": "mailto:%s@example.gov" % contact}
        d["accessLevel"] = "public"
        d["landingPage"] = "%s/landing/gen-%d.html" % (b, i)
        if self.full:
            d["bureauCode"] = ["%03d:%02d" % (k % 30 + 1, k % 90 + 10)]
            d["programCode"] = ["%03d:%03d" % (k % 30 + 1, k % 17)]
            d["license"] = "https://creativecommons.org/publicdomain/zero/1.0/"
            d["rights"] = "No restrictions on public use."
            d["issued"] = (dt.date(2015, 1, 1) + dt.timedelta(days=(k * 11) % 1400)).isoformat()
            d["accrualPeriodicity"] = ("R/P1Y", "R/P1M", "R/P1W", "irregular")[k % 4]
            d["language"] = ["en-US"]
            d["theme"] = [THEMES[k % len(THEMES)], THEMES[(k // 3) % len(THEMES)]]
            x0, y0 = -124.7 + (k % 50) * 1.1, 24.5 + (k % 23)
            d["spatial"] = "%.4f,%.4f,%.4f,%.4f" % (x0, y0, x0 + 1.5, y0 + 1.2)
            y = 2000 + k % 20
            d["temporal"] = "%d-01-01T00:00:00Z/%d-12-31T23:59:59Z" % (y, y + 1 + k % 5)
            d["references"] = ["%s/landing/gen-%d-methodology.html" % (b, i),
                               "%s/api/gen-%d" % (b, i)]
            d["describedBy"] = "%s/files/gen/%d-dictionary.pdf" % (b, i)
            d["describedByType"] = "application/pdf"
            d["isPartOf"] = "collection-%d" % (k % 40)
            d["systemOfRecords"] = "https://www.federalregister.gov/documents/%d" % (1000 + k % 500)
        dists = []
        q = self.dist_quirk(i)
        for j in range(self.ndist(i)):
            dist = {"@type": "dcat:Distribution"}
            if self.full:
                dist["title"] = "%s %s, part %d" % (topic[0].capitalize(), topic[1], j + 1)
                dist["description"] = self._sentences(i * 7 + j + 1, 2)
                dist["format"] = "CSV"
            url = "%s/files/gen/%d-%d.csv" % (b, i, j)
            media = True
            if j == 0 and q is not None:
                if q == "relative_downloadURL":
                    url = "/files/gen/%d-%d.csv" % (i, j)
                elif q == "missing_mediaType":
                    media = False
                elif q == "no_url":
                    url = None
                elif q == "accessURL_only":
                    url = None
                    dist["accessURL"] = "%s/landing/%sgen-%d.html" % (
                        b, "nofile-" if i % 2 == 0 else "", i)
                    dist["mediaType"] = "text/html"
                    media = False
                elif q == "hhttps_typo":
                    url = "hhttps://%s/files/gen/%d-%d.csv" % (self.host, i, j)
                elif q == "broken_404":
                    url = b + "/broken/404.csv"
                elif q == "redirect_to_landing":
                    url = b + "/broken/to-landing.csv"
            if url is not None:
                dist["downloadURL"] = url
            if media:
                dist["mediaType"] = "text/csv"
            dists.append(dist)
        d["distribution"] = dists
        return d

    def head(self):
        return ('{"@context":"https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",'
                '"@id":%s,"@type":"dcat:Catalog",'
                '"conformsTo":"https://project-open-data.cio.gov/v1.1/schema",'
                '"describedBy":"https://project-open-data.cio.gov/v1.1/schema/catalog.json",'
                '"dataset":[\n' % _JSON.encode(self.base + "/gen/data.json"))

    def chunks(self, target=1 << 16):
        """Yields the catalog as bytes, about target bytes at a time."""
        enc = _JSON.encode
        buf, size, first = [self.head()], 0, True
        for i in range(self.n):
            if not self.present(i):
                continue
            s = enc(self.dataset(i))
            if not first:
                buf.append(",\n")
            first = False
            buf.append(s)
            size += len(s)
            if size >= target:
                yield "".join(buf).encode("ascii")
                buf, size = [], 0
        buf.append("\n]}\n")
        yield "".join(buf).encode("ascii")


_counts_cache = {}
_counts_lock = threading.Lock()


def gen_counts(n, seed, version):
    key = (n, seed, version)
    with _counts_lock:
        c = _counts_cache.get(key)
    if c is None:
        c = DcatGen(n, seed, version).counts()
        with _counts_lock:
            if len(_counts_cache) > 64:
                _counts_cache.clear()
            _counts_cache[key] = c
    return c


# ---------------------------------------------------------------- data files

def _zip(members):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return bio.getvalue()


def _pdf(text):
    text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = "BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>",
            "<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = "%PDF-1.4\n"
    offs = []
    for n, o in enumerate(objs, 1):
        offs.append(len(out))
        out += "%d 0 obj\n%s\nendobj\n" % (n, o)
    x = len(out)
    out += "xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += "".join("%010d 00000 n \n" % o for o in offs)
    out += "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
    return out.encode("latin-1", "replace")


def _xlsx(rows):
    def cell(r, c, v):
        ref = "%s%d" % ("ABCDEFGH"[c], r + 1)
        if isinstance(v, int):
            return '<c r="%s"><v>%d</v></c>' % (ref, v)
        v = v.replace("&", "&amp;").replace("<", "&lt;")
        return '<c r="%s" t="inlineStr"><is><t>%s</t></is></c>' % (ref, v)
    sheet = "".join('<row r="%d">%s</row>' % (r + 1, "".join(cell(r, c, v) for c, v in enumerate(row)))
                    for r, row in enumerate(rows))
    ns = "http://schemas.openxmlformats.org"
    return _zip([
        ("[Content_Types].xml",
         '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="%s/package/2006/content-types">'
         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
         '<Default Extension="xml" ContentType="application/xml"/>'
         '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
         'officedocument.spreadsheetml.sheet.main+xml"/>'
         '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
         'officedocument.spreadsheetml.worksheet+xml"/></Types>' % ns),
        ("_rels/.rels",
         '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="%s/package/2006/relationships">'
         '<Relationship Id="rId1" Type="%s/officeDocument/2006/relationships/officeDocument" '
         'Target="xl/workbook.xml"/></Relationships>' % (ns, ns)),
        ("xl/workbook.xml",
         '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="%s/spreadsheetml/2006/main" '
         'xmlns:r="%s/officeDocument/2006/relationships"><sheets><sheet name="data" sheetId="1" '
         'r:id="rId1"/></sheets></workbook>' % (ns, ns)),
        ("xl/_rels/workbook.xml.rels",
         '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="%s/package/2006/relationships">'
         '<Relationship Id="rId1" Type="%s/officeDocument/2006/relationships/worksheet" '
         'Target="worksheets/sheet1.xml"/></Relationships>' % (ns, ns)),
        ("xl/worksheets/sheet1.xml",
         '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="%s/spreadsheetml/2006/main">'
         '<sheetData>%s</sheetData></worksheet>' % (ns, sheet)),
    ])


FILE_TYPES = {".csv": "text/csv", ".json": "application/json", ".geojson": "application/geo+json",
              ".zip": "application/zip", ".pdf": "application/pdf",
              ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              ".xml": "application/xml", ".txt": "text/plain; charset=utf-8",
              ".html": "text/html; charset=utf-8", ".kml": "application/vnd.google-earth.kml+xml"}


def file_body(path):
    """(body, content type, last-modified ts) for /files/<path>: deterministic."""
    h = h64("file", path)
    ext = os.path.splitext(path)[1].lower()
    nrows = 5 + h % 20
    rows = [(r, "item %d" % r, (h >> (r % 50)) % 1000) for r in range(1, nrows + 1)]
    csv = "id,name,value,source\n" + "".join("%d,%s,%d,%s\n" % (a, b, c, path) for a, b, c in rows)
    lm = ts_of(2024, 1, 1) + (h % 365) * 86400
    if ext == ".json":
        body = json.dumps({"source": path, "rows": [{"id": a, "name": b, "value": c} for a, b, c in rows]},
                          indent=1).encode()
    elif ext == ".geojson":
        body = json.dumps({"type": "FeatureCollection", "name": path, "features": [
            {"type": "Feature", "properties": {"id": a, "name": b},
             "geometry": {"type": "Point", "coordinates": [-77.0 + a / 100.0, 38.9 + c / 10000.0]}}
            for a, b, c in rows]}).encode()
    elif ext == ".zip":
        body = _zip([("data.csv", csv), ("README.txt", "Generated for %s\n" % path)])
    elif ext == ".xlsx":
        body = _xlsx([("id", "name", "value", "source")] + [(a, b, c, path) for a, b, c in rows])
    elif ext == ".pdf":
        body = _pdf("Document for %s" % path)
    elif ext == ".xml":
        body = ('<?xml version="1.0"?><data source="%s">%s</data>\n' % (
            path.replace('"', "&quot;"), "".join('<row id="%d" value="%d"/>' % (a, c) for a, b, c in rows))).encode()
    elif ext in (".html", ".htm"):
        body = ("<!DOCTYPE html><html><head><title>%s</title></head><body><p>%s</p></body></html>\n" % (
            path, path)).encode()
    elif ext == ".csv" or ext == "":
        body = csv.encode()
    elif ext == ".txt":
        body = ("Text file %s\n" % path + csv).encode()
    else:
        body = (("binary %s\n" % path) + csv).encode()
    return body, FILE_TYPES.get(ext, "text/csv" if ext == "" else "application/octet-stream"), lm


BIG_LINE = 64


def big_line(name, n):
    if n == 0:
        s = "line,name,payload"
    else:
        s = "%012d,%s,%s" % (n, name, format(h64("big", name, n) & 0xFFFFFFFFFFFF, "012x"))
    return (s + "," + "x" * max(0, BIG_LINE - 2 - len(s)))[:BIG_LINE - 1] + "\n"


def big_chunks(name, start, end):
    """Bytes [start, end) of the big file `name` (lines of BIG_LINE bytes)."""
    pos = start
    while pos < end:
        line0 = pos // BIG_LINE
        nlines = min(1024, (end - line0 * BIG_LINE + BIG_LINE - 1) // BIG_LINE)
        block = "".join(big_line(name, line0 + j) for j in range(nlines)).encode()
        off = pos - line0 * BIG_LINE
        piece = block[off:off + (end - pos)]
        yield piece
        pos += len(piece)


# ---------------------------------------------------------------- CKAN

ORGS = [("city-of-example", "City of Example"), ("county-of-sample", "County of Sample"),
        ("state-data-office", "State Data Office"), ("dept-transportation", "Department of Transportation"),
        ("dept-health", "Department of Health"), ("environment-agency", "Environment Agency"),
        ("parks-recreation", "Parks and Recreation"), ("public-works", "Public Works"),
        ("finance-office", "Finance Office"), ("police-department", "Police Department"),
        ("school-district", "School District"), ("water-utility", "Water Utility")]
CKAN_FORMATS = (("CSV", "csv", "text/csv"), ("JSON", "json", "application/json"),
                ("ZIP", "zip", "application/zip"), ("PDF", "pdf", "application/pdf"),
                ("XLSX", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                ("csv", "csv", None), ("", "csv", None), ("GeoJSON", "geojson", "application/geo+json"),
                ("dxf", "zip", None))
CKAN_EPOCH = ts_of(2018, 1, 1)
MUTATION_TS = ts_of(2025, 6, 1, 12, 0, 0)


class SearchError(Exception):
    """A Solr-side error: CKAN answers 409 "Search Error"."""


class SortError(Exception):
    """CKAN answers 400 "Search Query Error"."""


class Pkg:
    __slots__ = ("idx", "id", "name", "title", "org", "created", "modified", "seq", "notes", "tags")


class CkanCatalog:
    def __init__(self, n, rows_max=1000, mutate_after=0, label="ckan"):
        self.rows_max = rows_max
        self.mutate_after = mutate_after
        self.label = label
        self.lock = threading.Lock()
        self.pkgs = {}
        self.seq = 0
        for i in range(n):
            self._add(self._make(i))
        self.before = sorted(self.pkgs)
        self.deleted, self.added, self.modified = [], [], []
        self.mutated = False
        self.search_requests = 0
        self.n = n

    def _make(self, i, pid=None):
        p = Pkg()
        p.idx = i
        p.id = pid or det_uuid("%s-pkg-%d" % (self.label, i))
        w = words(("ckan", self.label), 3, i)
        p.title = "%s %s %s" % (w[0].capitalize(), w[1], w[2])
        p.name = "%s-%s-%s-%05d" % (w[0], w[1], w[2], i)
        p.org = i % len(ORGS) if i % 23 != 5 else (h64("org", i) % len(ORGS))
        p.created = CKAN_EPOCH + (i * 7919 % 2000) * 86400 + i % 86400 + 0.000001 * (i % 999983)
        p.modified = p.created + (i * 104729 % 400) * 86400 + 3600 + 0.123456
        p.notes = "%s. Published by %s." % (" ".join(words(("notes", self.label), 12, i)).capitalize(),
                                            ORGS[p.org][1])
        p.tags = sorted(set(words(("tags", self.label), 2 + i % 3, i)))
        return p

    def _add(self, p):
        p.seq = self.seq
        self.seq += 1
        self.pkgs[p.id] = p

    # --- mutation
    def mutate(self):
        """The catalog changes as a harvested one does (called under self.lock)."""
        if self.mutated:
            return
        self.mutated = True
        by_id = sorted(self.pkgs)
        newest = [p.id for p in sorted(self.pkgs.values(), key=lambda p: (-self._mm(p), p.seq))]
        n = len(by_id)
        taken = set()

        def pick(start, order, step=1):
            """The first id of order from position start on not yet taken."""
            for j in range(len(order)):
                pid = order[(start + j * step) % len(order)]
                if pid not in taken:
                    taken.add(pid)
                    return [pid]
            return []
        deleted = []
        if n:
            deleted = pick(0, newest) + pick(0, newest)
            deleted += pick(int(n * 0.4), by_id) + pick(int(n * 0.8), by_id)
            modified = pick(n - 1, newest, -1) + pick(n - 1, newest, -1) + pick(n - 1, newest, -1)
            modified += pick(n - 1, newest, -1) + pick(n // 2, by_id)
        else:
            modified = []
        for pid in deleted:
            del self.pkgs[pid]
        for k, pid in enumerate(modified):
            p = self.pkgs.pop(pid)
            p.modified = MUTATION_TS + k * 60 + 0.5
            self._add(p)
        added_ids = ["00000000-0000-4000-8000-%012d" % 1, "ffffffff-ffff-4fff-bfff-%012d" % 999]
        added_ids += [det_uuid("%s-added-%d" % (self.label, k)) for k in range(3)]
        for k, pid in enumerate(added_ids):
            p = self._make(1000000 + k, pid)
            p.name = "added-package-%d" % k
            p.title = "Added package %d" % k
            p.created = p.modified = MUTATION_TS + 3600 + k * 60 + 0.25
            self._add(p)
        self.deleted, self.modified, self.added = sorted(deleted), sorted(modified), sorted(added_ids)

    def expect(self):
        with self.lock:
            after = sorted(self.pkgs)
            dele = set(self.deleted)
            return {"before": self.before, "after": after, "deleted": self.deleted,
                    "added": self.added, "modified": self.modified,
                    "stable": [i for i in self.before if i not in dele],
                    "mutated": self.mutated, "package_search_requests": self.search_requests,
                    "mutate_after_requests": self.mutate_after}

    # --- package dicts
    @staticmethod
    def _mm(p):
        """metadata_modified as Solr indexes it: milliseconds."""
        return int(p.modified * 1000) / 1000.0

    def resources(self, p, base, prefix):
        out = []
        i = p.idx
        for r in range(1 + i % 3):
            fmt, ext, mime = CKAN_FORMATS[(i + r * 4) % len(CKAN_FORMATS)]
            rid = det_uuid("%s-res-%d-%d" % (self.label, i, r))
            url = "%s/files/ckan/%s/%s.%s" % (base, p.id, rid, ext)
            name = "%s-%d.%s" % (p.name[:40], r, ext)
            if r == 0:
                if i % 97 == 0:
                    url, fmt, mime = base + "/broken/404.csv", "CSV", "text/csv"
                elif i % 89 == 1:
                    url, fmt, mime = base + "/broken/to-landing.csv", "CSV", "text/csv"
                elif i % 83 == 2:
                    url, fmt, mime = "%s/landing/nofile-%s-%d.html" % (base, self.label, i), "HTML", "text/html"
                elif i % 79 == 3:
                    url, fmt, mime = "%s/api/%s-%d" % (base, self.label, i), "API", None
                elif i % 73 == 4:
                    url, fmt, mime = "%s/js/%s-%d" % (base, self.label, i), "HTML", None
            out.append({
                "mimetype": mime, "cache_url": None, "hash": "", "description": "",
                "name": name, "format": fmt, "url": url, "datastore_active": False,
                "cache_last_updated": None, "package_id": p.id, "created": iso(p.created),
                "state": "active", "mimetype_inner": None, "last_modified": iso(p.modified),
                "position": r, "revision_id": det_uuid("rev-%s-%d" % (p.id, r)),
                "url_type": "upload" if r == 0 and "/files/" in url else None, "id": rid,
                "resource_type": None, "size": None if i % 5 else 1000 + i})
        return out

    def org_dict(self, o):
        slug, title = ORGS[o]
        return {"description": "%s publishes open data." % title, "created": "2017-03-01T10:00:00.000000",
                "title": title, "name": slug, "is_organization": True, "state": "active",
                "image_url": "", "revision_id": det_uuid("orgrev-%d" % o), "type": "organization",
                "id": det_uuid("org-%d" % o), "approval_status": "approved"}

    def package(self, p, base, prefix):
        res = self.resources(p, base, prefix)
        tags = [{"vocabulary_id": None, "state": "active", "display_name": t,
                 "id": det_uuid("tag-" + t), "name": t} for t in p.tags]
        return {
            "license_title": "Creative Commons Attribution", "maintainer": "Open Data Team",
            "relationships_as_object": [], "private": False, "maintainer_email": "opendata@example.gov",
            "num_tags": len(tags), "id": p.id, "metadata_created": iso(p.created),
            "metadata_modified": iso(p.modified), "author": ORGS[p.org][1], "author_email": "",
            "state": "active", "version": "", "creator_user_id": det_uuid("user-%d" % p.org),
            "type": "dataset", "resources": res, "num_resources": len(res), "tags": tags,
            "groups": [], "license_id": "cc-by", "relationships_as_subject": [],
            "organization": self.org_dict(p.org), "name": p.name, "isopen": True,
            "url": "", "notes": p.notes, "owner_org": det_uuid("org-%d" % p.org), "extras": [],
            "license_url": "http://www.opendefinition.org/licenses/cc-by", "title": p.title,
            "revision_id": det_uuid("rev-" + p.id)}

    # --- search
    def field_values(self, p, field):
        if field == "id":
            return [p.id]
        if field == "name":
            return [p.name]
        if field in ("title", "title_string"):
            return [p.title]
        if field == "notes":
            return [p.notes]
        if field == "text":
            return [p.title, p.name, p.notes] + p.tags + [ORGS[p.org][0]]
        if field == "metadata_modified":
            return [self._mm(p)]
        if field == "metadata_created":
            return [int(p.created * 1000) / 1000.0]
        if field == "organization":
            return [ORGS[p.org][0]]
        if field == "owner_org":
            return [det_uuid("org-%d" % p.org)]
        if field == "tags":
            return p.tags
        if field == "res_format":
            return [CKAN_FORMATS[(p.idx + r * 4) % len(CKAN_FORMATS)][0] for r in range(1 + p.idx % 3)]
        if field == "license_id":
            return ["cc-by"]
        if field == "state":
            return ["active"]
        if field in ("type", "dataset_type"):
            return ["dataset"]
        if field == "capacity":
            return ["public"]
        if field == "private":
            return ["false"]
        if field == "num_resources":
            return [1 + p.idx % 3]
        if field == "num_tags":
            return [len(p.tags)]
        if field == "site_id":
            return ["default"]
        raise SearchError("undefined field %s" % field)

    def search(self, params):
        """params: dict of single values. Returns the result dict (no envelope)."""
        q = (params.get("q") or "").strip()
        fq = (params.get("fq") or "").strip()
        sort = (params.get("sort") or "").strip() or "score desc, metadata_modified desc"
        keys = parse_sort(sort)
        scorer = None
        preds = []
        if q and q != "*:*":
            if ":" in q:
                preds.append(SolrParser(q, self).parse())
            else:
                terms = [t.lower() for t in q.split()]

                def scorer(p, terms=terms):
                    hay = " ".join([p.title, p.title, p.name, p.notes] + p.tags + [ORGS[p.org][0]]).lower()
                    s = 0
                    for t in terms:
                        c = hay.count(t)
                        if not c:
                            return 0
                        s += c
                    return s
        if fq:
            preds.append(SolrParser(fq, self).parse())
        with self.lock:
            hits = []
            for p in self.pkgs.values():
                if all(f(p) for f in preds):
                    sc = 1.0
                    if scorer is not None:
                        sc = scorer(p)
                        if not sc:
                            continue
                    hits.append((p, sc))
            total = len(hits)
            hits.sort(key=lambda t: t[0].seq)
            for field, desc in reversed(keys):
                if field == "score":
                    hits.sort(key=lambda t: t[1], reverse=desc)
                elif field == "metadata_modified":
                    hits.sort(key=lambda t: self._mm(t[0]), reverse=desc)
                elif field == "metadata_created":
                    hits.sort(key=lambda t: t[0].created, reverse=desc)
                else:
                    attr = {"id": "id", "name": "name", "title_string": "title"}[field]
                    hits.sort(key=lambda t: getattr(t[0], attr), reverse=desc)
            page = [t[0] for t in hits[params["start"]:params["start"] + params["rows"]]]
            self.search_requests += 1
            mutate_now = (self.mutate_after and not self.mutated
                          and self.search_requests >= self.mutate_after)
            facets = {}
            for ff in params.get("facet.field") or []:
                counts = {}
                for p, _ in hits:
                    try:
                        vals = self.field_values(p, ff)
                    except SearchError:
                        vals = []
                    for v in set(vals):
                        counts[v] = counts.get(v, 0) + 1
                lim = params.get("facet.limit", 50)
                facets[ff] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:lim])
        return total, page, sort, facets, mutate_now

    def after_search(self):
        with self.lock:
            self.mutate()

    def find(self, ref):
        with self.lock:
            p = self.pkgs.get(ref)
            if p is None:
                for x in self.pkgs.values():
                    if x.name == ref:
                        return x
            return p

    def names(self):
        with self.lock:
            return sorted(p.name for p in self.pkgs.values())


SORT_FIELDS = {"id", "name", "title_string", "metadata_modified", "metadata_created", "score"}


def parse_sort(s):
    out = []
    for part in s.split(","):
        bits = part.split()
        if len(bits) != 2 or bits[0] not in SORT_FIELDS or bits[1].lower() not in ("asc", "desc"):
            raise SortError('Invalid "sort" parameter')
        out.append((bits[0], bits[1].lower() == "desc"))
    return out


SOLR_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")
SOLR_NOW = re.compile(r"NOW(?:([+-])(\d+)(SECONDS?|MINUTES?|HOURS?|DAYS?|MONTHS?|YEARS?))?(?:/(DAY|HOUR))?")
DATE_FIELDS = {"metadata_modified", "metadata_created"}
NUM_FIELDS = {"num_resources", "num_tags"}


def solr_date(v):
    m = SOLR_DATE.fullmatch(v)
    if m:
        y, mo, d, hh, mi, ss, frac = m.groups()
        try:
            t = dt.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss), tzinfo=UTC).timestamp()
        except ValueError:
            raise SearchError("Invalid Date String:'%s'" % v)
        if frac:
            t += int(frac[:3].ljust(3, "0")) / 1000.0
        return t
    m = SOLR_NOW.fullmatch(v)
    if m:
        t = time.time()
        if m.group(1):
            n = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
            unit = m.group(3).rstrip("S")
            t += n * {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400, "MONTH": 2592000,
                      "YEAR": 31536000}[unit]
        if m.group(4):
            step = 86400 if m.group(4) == "DAY" else 3600
            t -= t % step
        return t
    raise SearchError("Invalid Date String:'%s'" % v)


def unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


class SolrParser:
    """A recursive-descent parser for the subset of Solr/Lucene syntax in the
    docstring. parse() returns a predicate over Pkg."""

    TOKEN = re.compile(r'\s*(?:([\[{])\s*("(?:[^"\\]|\\.)*"|[^\s\]}]+)\s+TO\s+("(?:[^"\\]|\\.)*"|[^\s\]}]+)'
                       r'\s*([\]}])|(\(|\)|&&|\|\|)|("(?:[^"\\]|\\.)*")|((?:[^\s()\[\]{}"\\:]|\\.)+)|(:))')

    def __init__(self, text, catalog):
        self.text = text
        self.cat = catalog
        self.toks = []
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            m = self.TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise SearchError("org.apache.solr.search.SyntaxError: Cannot parse '%s'" % text)
            if m.group(1):
                ends = []
                for e in (m.group(2), m.group(3)):
                    if e.startswith('"'):
                        ends.append(unescape(e[1:-1]))
                    else:
                        ends.append(None if e == "*" else unescape(e))
                self.toks.append(("range", (m.group(1), ends[0], ends[1], m.group(4))))
            elif m.group(6):
                self.toks.append(("str", unescape(m.group(6)[1:-1])))
            elif m.group(7):
                self.toks.append(("word", m.group(7)))
            else:
                self.toks.append(("op", m.group(5) or m.group(8)))
            pos = m.end()
        self.i = 0

    def err(self, why="Cannot parse"):
        return SearchError("org.apache.solr.search.SyntaxError: %s '%s'" % (why, self.text))

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def parse(self):
        if not self.toks:
            raise self.err()
        f = self.p_or(None)
        if self.i != len(self.toks):
            raise self.err()
        return f

    def p_or(self, field):
        parts = [self.p_and(field)]
        while self.peek() in (("word", "OR"), ("op", "||")):
            self.take()
            parts.append(self.p_and(field))
        if len(parts) == 1:
            return parts[0]
        return lambda p, parts=parts: any(f(p) for f in parts)

    def starts_clause(self):
        k, v = self.peek()
        if k is None:
            return False
        if k == "op":
            return v == "("
        if k == "range":
            return False
        if k == "word" and v in ("OR", "AND"):
            return False
        return True

    def p_and(self, field):
        parts = [self.p_unary(field)]
        while True:
            if self.peek() in (("word", "AND"), ("op", "&&")):
                self.take()
                parts.append(self.p_unary(field))
            elif self.starts_clause():
                parts.append(self.p_unary(field))
            else:
                break
        if len(parts) == 1:
            return parts[0]
        return lambda p, parts=parts: all(f(p) for f in parts)

    def p_unary(self, field):
        k, v = self.peek()
        if (k, v) == ("word", "NOT") or (k == "word" and v in ("-", "!")):
            self.take()
            f = self.p_unary(field)
            return lambda p, f=f: not f(p)
        if k == "word" and v == "+":
            self.take()
            return self.p_unary(field)
        if k == "word" and len(v) > 1 and v[0] in "+-!" and v[1] != ":":
            # "+field" or "-field": split the prefix off
            self.toks[self.i] = ("word", v[1:])
            neg = v[0] in "-!"
            f = self.p_unary(field)
            return (lambda p, f=f: not f(p)) if neg else f
        return self.p_primary(field)

    def p_primary(self, field):
        k, v = self.take()
        if k == "word" and v in ("AND", "OR", "NOT", "TO"):
            raise self.err("Encountered <%s>" % v)
        if (k, v) == ("op", "("):
            f = self.p_or(field)
            if self.take() != ("op", ")"):
                raise self.err()
            return f
        if k == "word" and v == "*" and self.peek() == ("op", ":"):
            self.take()
            if self.take() != ("word", "*"):
                raise self.err()
            return lambda p: True
        if k == "word" and self.peek() == ("op", ":"):
            self.take()
            fname = v.replace("\\", "")
            nk, nv = self.peek()
            if (nk, nv) == ("op", "("):
                self.take()
                f = self.p_or(fname)
                if self.take() != ("op", ")"):
                    raise self.err()
                return f
            if nk == "range":
                self.take()
                return self.p_range(fname, nv)
            if nk in ("word", "str"):
                self.take()
                return self.term(fname, nv, nk == "str")
            raise self.err()
        if k in ("word", "str") and field is not None:
            return self.term(field, v, k == "str")
        if k in ("word", "str") and field is None:
            # a bare word: default field "text"
            return self.term("text", v, k == "str")
        raise self.err()

    def p_range(self, field, rng):
        open_, lo, hi, close = rng
        self.check_field(field)
        lo_v = None if lo is None else self.conv(field, lo)
        hi_v = None if hi is None else self.conv(field, hi)
        inc_lo, inc_hi = open_ == "[", close == "]"
        cat = self.cat

        def f(p):
            for x in cat.field_values(p, field):
                if lo_v is not None and (x < lo_v or (x == lo_v and not inc_lo)):
                    continue
                if hi_v is not None and (x > hi_v or (x == hi_v and not inc_hi)):
                    continue
                return True
            return False
        return f

    def check_field(self, field):
        probe = Pkg()
        probe.idx, probe.id, probe.name, probe.title, probe.org = 0, "", "", "", 0
        probe.created = probe.modified = 0.0
        probe.notes, probe.tags = "", []
        self.cat.field_values(probe, field)

    def conv(self, field, v):
        if field in DATE_FIELDS:
            return solr_date(v)
        if field in NUM_FIELDS:
            try:
                return int(v)
            except ValueError:
                raise SearchError("Invalid Number: %s" % v)
        return v

    def term(self, field, v, quoted):
        self.check_field(field)
        cat = self.cat
        if not quoted and v == "*":
            return lambda p: bool(cat.field_values(p, field))
        if field in DATE_FIELDS or field in NUM_FIELDS:
            want = self.conv(field, v)
            return lambda p: want in cat.field_values(p, field)
        if field in ("title", "notes", "text"):
            needle = v.lower()
            if quoted:
                return lambda p: any(needle in str(x).lower() for x in cat.field_values(p, field))
            if needle.endswith("*"):
                pre = needle[:-1]
                return lambda p: any(w.startswith(pre) for x in cat.field_values(p, field)
                                     for w in re.findall(r"\w+", str(x).lower()))
            return lambda p: any(needle in re.findall(r"[\w-]+", str(x).lower()) or needle == str(x).lower()
                                 for x in cat.field_values(p, field))
        if not quoted and v.endswith("*") and len(v) > 1:
            pre = v[:-1]
            return lambda p: any(str(x).startswith(pre) for x in cat.field_values(p, field))
        return lambda p: v in [str(x) for x in cat.field_values(p, field)]


# ---------------------------------------------------------------- Socrata

SOC_ALPHA = "23456789abcdefghijkmnpqrstuvwxyz"
SOC_TYPES = {"dataset": "dataset", "datasets": "dataset", "file": "file", "files": "file",
             "story": "story", "stories": "story", "map": "map", "maps": "map", "chart": "chart",
             "charts": "chart", "href": "href", "hrefs": "href", "filter": "filter",
             "filters": "filter", "datalens": "datalens", "datalenses": "datalens",
             "calendar": "calendar", "calendars": "calendar", "form": "form", "forms": "form",
             "measure": "measure", "measures": "measure", "link": "href", "links": "href"}
SOC_OTHER = ("file", "story", "map", "chart", "href", "filter")
SOC_CATEGORIES = ("Transportation", "Public Safety", "Health", "Education", "Environment",
                  "Government & Finance", "Housing & Development", "Recreation")
SOC_COLTYPES = (("text", "Text"), ("number", "Number"), ("calendar_date", "Calendar date"),
                ("point", "Point"), ("checkbox", "Checkbox"), ("url", "URL"))
SOC_CAP = 10000


def soc_id(i):
    x = (i * 0x9E3779B1 + 0x1234567) % (1 << 40)
    s = ""
    for _ in range(8):
        s = SOC_ALPHA[x % 32] + s
        x //= 32
    return s[:4] + "-" + s[4:]


class SocAsset:
    __slots__ = ("idx", "id", "type", "name", "views", "updated", "created", "cat")


class SocrataCatalog:
    def __init__(self, n, label="soc", mutate_after=0):
        self.assets = []
        self.label = label
        self.mutate_after, self.requests, self.mutated = mutate_after, 0, False
        total = n + n // 10
        for i in range(total):
            self.assets.append(self.make(i, n))
        self.n, self.total = n, total
        self.index()
        self.before = sorted(a.id for a in self.assets if a.type == "dataset")
        self.lock = threading.Lock()
        self.unauth = 0

    def make(self, i, n):
        label = self.label
        a = SocAsset()
        a.idx = i
        a.id = soc_id(i)
        a.type = "dataset" if i < n else SOC_OTHER[i % len(SOC_OTHER)]
        w = words(("soc", label), 3, i)
        a.name = "%s %s %s %d" % (w[0].capitalize(), w[1], w[2], i)
        a.views = h64("views", label, i) % 100000
        a.created = ts_of(2012, 1, 1) + (i * 7919 % 4000) * 86400
        a.updated = a.created + (i * 104729 % 900) * 86400 + 3723
        a.cat = SOC_CATEGORIES[i % len(SOC_CATEGORIES)]
        return a

    def index(self):
        self.by_id = {a.id: a for a in self.assets}
        self.id_order = sorted(self.assets, key=lambda a: a.id)
        self.id_keys = [a.id for a in self.id_order]
        self.rel_order = sorted(self.assets, key=lambda a: (-a.views, a.id))

    def seen_request(self):
        """Counts a catalog request; after the mutate_after-th, the catalog changes
        (caller holds the lock): datasets deleted (idx % 97 == 5) and added (ids
        anywhere in the order, before and after any cursor)."""
        self.requests += 1
        if self.mutate_after and not self.mutated and self.requests > self.mutate_after:
            self.mutated = True
            self.assets = [a for a in self.assets if not (a.type == "dataset" and a.idx % 97 == 5)]
            extra = max(10, self.n // 50)
            self.assets += [self.make(self.total + k, self.total + extra) for k in range(extra)]
            self.index()

    def expect(self):
        after = sorted(a.id for a in self.assets if a.type == "dataset")
        return {"before": self.before, "after": after, "stable": sorted(set(self.before) & set(after)),
                "mutated": self.mutated, "requests": self.requests, "mutate_after_requests": self.mutate_after}

    @staticmethod
    def slug(a):
        return re.sub(r"[^A-Za-z0-9]+", "-", a.name).strip("-")

    def columns(self, a):
        nc = 3 + a.idx % 4
        cols = []
        for c in range(nc):
            ft, human = SOC_COLTYPES[(a.idx + c) % len(SOC_COLTYPES)]
            w = words(("col",), 2, a.idx, c)
            cols.append(("%s %s" % (w[0].capitalize(), w[1]), "%s_%s_%d" % (w[0], w[1], c), ft, human))
        return cols

    def result(self, a, base, prefix, domain):
        cols = self.columns(a) if a.type == "dataset" else []
        slug = self.slug(a)
        catpath = re.sub(r"[^A-Za-z0-9]+", "-", a.cat).strip("-")
        res = {
            "name": a.name, "id": a.id, "resource_name": None, "parent_fxf": [],
            "description": "Generated %s %s about %s." % (a.type, a.id, a.name.lower()),
            "attribution": ORGS[a.idx % len(ORGS)][1], "attribution_link": None,
            "contact_email": "opendata@example.gov", "type": a.type,
            "updatedAt": iso(a.updated, False, False)[:19] + ".000Z",
            "createdAt": iso(a.created, False, False)[:19] + ".000Z",
            "metadata_updated_at": iso(a.updated - 3, False, False)[:19] + ".000Z",
            "data_updated_at": iso(a.updated, False, False)[:19] + ".000Z" if a.type == "dataset" else None,
            "page_views": {"page_views_last_week": a.views % 700, "page_views_last_month": a.views % 3000,
                           "page_views_total": a.views, "page_views_last_week_log": 0.0,
                           "page_views_last_month_log": 0.0, "page_views_total_log": 0.0},
            "columns_name": [c[0] for c in cols], "columns_field_name": [c[1] for c in cols],
            "columns_datatype": [c[3] for c in cols], "columns_description": ["" for c in cols],
            "columns_format": [{} for c in cols], "download_count": a.views // 7,
            "provenance": "official", "lens_view_type": "tabular" if a.type == "dataset" else a.type,
            "lens_display_type": "table", "locked": False,
            "blob_mime_type": "application/pdf" if a.type == "file" else None,
            "hide_from_data_json": False,
            "publication_date": iso(a.created + 86400, False, False)[:19] + ".000Z"}
        meta = {"domain": domain}
        if a.idx % 4:
            meta["license"] = "Public Domain"
        return {
            "resource": res,
            "classification": {"categories": [], "tags": [], "domain_category": a.cat,
                               "domain_tags": words(("dtag",), 3, a.idx),
                               "domain_metadata": [{"key": "Common-Core_Publisher", "value": "City of Example"},
                                                   {"key": "Common-Core_Contact-Email",
                                                    "value": "opendata@example.gov"}]},
            "metadata": meta,
            "permalink": "%s%s/d/%s" % (base, prefix, a.id),
            "link": "%s%s/%s/%s/%s" % (base, prefix, catpath, slug, a.id),
            "owner": {"id": "ownr-0001", "user_type": "interactive", "display_name": "Open Data Team"},
            "creator": {"id": "ownr-0001", "user_type": "interactive", "display_name": "Open Data Team"}}

    def view(self, a, base, prefix):
        cols = self.columns(a) if a.type == "dataset" else []
        v = {
            "id": a.id, "name": a.name, "assetType": a.type, "attribution": ORGS[a.idx % len(ORGS)][1],
            "averageRating": 0, "category": a.cat, "createdAt": int(a.created),
            "description": "Generated %s %s." % (a.type, a.id), "displayType": "table",
            "downloadCount": a.views // 7, "hideFromCatalog": False, "hideFromDataJson": False,
            "indexUpdatedAt": int(a.updated) + 60, "newBackend": True, "numberOfComments": 0,
            "oid": 1000000 + a.idx, "provenance": "official", "publicationAppendEnabled": False,
            "publicationDate": int(a.created) + 86400, "publicationGroup": 2000000 + a.idx,
            "publicationStage": "published", "rowsUpdatedAt": int(a.updated),
            "rowsUpdatedBy": "ownr-0001", "tableId": 3000000 + a.idx, "totalTimesRated": 0,
            "viewCount": a.views, "viewLastModified": int(a.updated),
            "viewType": "tabular" if a.type == "dataset" else ("blobby" if a.type == "file" else "href"),
            "approvals": [{"reviewedAt": int(a.created) + 86400, "reviewedAutomatically": True,
                           "state": "approved", "submissionId": 500000 + a.idx,
                           "submissionObject": "public_audience_request",
                           "submissionOutcome": "change_audience", "submittedAt": int(a.created) + 86400,
                           "targetAudience": "public", "workflowId": 1674}],
            "clientContext": {"clientContextVariables": [], "inheritedVariables": {}},
            "columns": [{"id": 180000000 + a.idx * 10 + c, "name": col[0], "dataTypeName": col[2],
                         "fieldName": col[1], "position": c + 1, "renderTypeName": col[2],
                         "tableColumnId": 20000000 + a.idx * 10 + c, "width": 100, "format": {}}
                        for c, col in enumerate(cols)],
            "grants": [{"inherited": False, "type": "viewer", "flags": ["public"]}],
            "metadata": {"custom_fields": {"Common Core": {"Publisher": "City of Example"}},
                         "availableDisplayTypes": ["table", "fatrow", "page"], "rowLabel": "Row"},
            "owner": {"id": "ownr-0001", "displayName": "Open Data Team", "screenName": "Open Data Team",
                      "type": "interactive", "flags": ["mayBeStoriesCoOwner"]},
            "query": {}, "rights": ["read"],
            "tableAuthor": {"id": "ownr-0001", "displayName": "Open Data Team", "type": "interactive"},
            "tags": words(("dtag",), 3, a.idx),
            "flags": ["default", "ownerMayBeContacted", "restorable", "restorePossibleForType"]}
        if a.type == "file":
            v["blobId"] = det_uuid("blob-%d" % a.idx)
            v["blobFilename"] = "document-%d.pdf" % a.idx
            v["blobMimeType"] = "application/pdf"
        if a.type == "href":
            v["metadata"]["accessPoints"] = {"URL": "%s/landing/soc-href-%d.html" % (base, a.idx)}
        return v

    def rows_csv(self, a):
        cols = self.columns(a)
        lines = [",".join('"%s"' % c[0] for c in cols)]
        for r in range(10 + a.idx % 50):
            vals = []
            for c, col in enumerate(cols):
                ft = col[2]
                x = h64("cell", a.idx, r, c)
                if ft == "number":
                    vals.append(str(x % 10000))
                elif ft == "calendar_date":
                    vals.append(iso(ts_of(2020, 1, 1) + (x % 1500) * 86400, False)[:19] + ".000")
                elif ft == "point":
                    vals.append('"POINT (%.5f %.5f)"' % (-87.9 + (x % 1000) / 2000.0, 41.6 + (x % 777) / 2000.0))
                elif ft == "checkbox":
                    vals.append("true" if x % 2 else "false")
                elif ft == "url":
                    vals.append("https://example.gov/item/%d" % (x % 100000))
                else:
                    w = words(("cell",), 2, a.idx, r, c)
                    vals.append('"%s, %s ""%d"""' % (w[0], w[1], x % 100) if x % 7 == 0 else "%s %s" % (w[0], w[1]))
            lines.append(",".join(vals))
        return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- ArcGIS

class ArcError(Exception):
    def __init__(self, details, message="Unable to complete operation.", code=400):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class Layer:
    def __init__(self, lid, name, n, oid_field, declared_max, first_oid=1, gaps=False, lie=False,
                 error=False, label="L"):
        self.id, self.name, self.oid_field = lid, name, oid_field
        self.declared_max = declared_max
        self.cap = max(1, declared_max // 2) if lie else declared_max
        self.lie, self.error, self.label = lie, error, label
        oids, o = [], first_oid
        for k in range(n):
            oids.append(o)
            o += 1
            if gaps and k % 17 == 5:
                o += 1 + k % 3
            if gaps and k % 1000 == 999:
                o += 250
        self.oids = oids
        self.index = {o: k for k, o in enumerate(oids)}
        self.fields = [
            {"name": oid_field, "type": "esriFieldTypeOID", "alias": oid_field, "sqlType": "sqlTypeOther",
             "domain": None, "defaultValue": None},
            {"name": "ADDRESS", "type": "esriFieldTypeString", "alias": "Address", "sqlType": "sqlTypeOther",
             "length": 80, "domain": None, "defaultValue": None},
            {"name": "CITY", "type": "esriFieldTypeString", "alias": "City", "sqlType": "sqlTypeOther",
             "length": 40, "domain": None, "defaultValue": None},
            {"name": "ZIP", "type": "esriFieldTypeString", "alias": "ZIP Code", "sqlType": "sqlTypeOther",
             "length": 10, "domain": None, "defaultValue": None},
            {"name": "UNITS", "type": "esriFieldTypeInteger", "alias": "Units", "sqlType": "sqlTypeOther",
             "domain": None, "defaultValue": None},
            {"name": "STATUS", "type": "esriFieldTypeString", "alias": "Status", "sqlType": "sqlTypeOther",
             "length": 12, "domain": None, "defaultValue": None},
            {"name": "EDIT_DATE", "type": "esriFieldTypeDate", "alias": "Edit Date", "sqlType": "sqlTypeOther",
             "length": 8, "domain": None, "defaultValue": None}]
        self.field_names = [f["name"] for f in self.fields]
        self.upper = {f.upper(): f for f in self.field_names}

    def attr(self, k, name):
        oid = self.oids[k]
        if name == self.oid_field:
            return oid
        h = h64(self.label, k)
        if name == "ADDRESS":
            return "%d %s ST" % (100 + h % 9900, WORDS[h % len(WORDS)].upper())
        if name == "CITY":
            return ("SPRINGFIELD", "RIVERSIDE", "FAIRVIEW", "MADISON", "GEORGETOWN")[h % 5]
        if name == "ZIP":
            return "%05d" % (48000 + h % 900)
        if name == "UNITS":
            return 1 + h % 12
        if name == "STATUS":
            return None if h % 9 == 0 else ("ACTIVE", "RETIRED", "PENDING")[h % 3]
        if name == "EDIT_DATE":
            return int(ts_of(2015, 1, 1) * 1000) + (h % 300000000) * 1000
        raise KeyError(name)

    def xy(self, k):
        return round(-83.5 + (k % 500) * 0.001, 6), round(42.3 + (k // 500) * 0.001, 6)

    def layer_json(self):
        y0 = self.xy(0)[1]
        y1 = self.xy(len(self.oids) - 1)[1] if self.oids else y0
        return {
            "currentVersion": 10.81, "id": self.id, "name": self.name, "type": "Feature Layer",
            "description": "", "geometryType": "esriGeometryPoint", "sourceSpatialReference": {"wkid": 4326},
            "copyrightText": "", "parentLayer": None, "subLayers": [], "minScale": 0, "maxScale": 0,
            "defaultVisibility": True,
            "extent": {"xmin": -83.5, "ymin": min(y0, y1), "xmax": -83.001, "ymax": max(y0, y1),
                       "spatialReference": {"wkid": 4326, "latestWkid": 4326}},
            "hasAttachments": False, "htmlPopupType": "esriServerHTMLPopupTypeAsHTMLText",
            "displayField": "ADDRESS", "typeIdField": None, "subtypeFieldName": None,
            "subtypeField": None, "defaultSubtypeCode": None, "fields": self.fields,
            "geometryField": {"name": "Shape", "type": "esriFieldTypeGeometry", "alias": "Shape"},
            "indexes": [], "subtypes": [], "relationships": [], "canModifyLayer": False,
            "canScaleSymbols": False, "hasLabels": False, "capabilities": "Query",
            "maxRecordCount": self.declared_max, "supportsStatistics": True,
            "supportsAdvancedQueries": True, "supportedQueryFormats": "JSON, geoJSON, PBF",
            "isDataVersioned": False, "ownershipBasedAccessControlForFeatures": {"allowOthersToQuery": True},
            "useStandardizedQueries": True,
            "advancedQueryCapabilities": {"useStandardizedQueries": True, "supportsStatistics": True,
                                          "supportsHavingClause": True, "supportsOrderBy": True,
                                          "supportsDistinct": True, "supportsCountDistinct": True,
                                          "supportsPagination": True, "supportsTrueCurve": True,
                                          "supportsReturningQueryExtent": True,
                                          "supportsQueryWithDistance": True,
                                          "supportsSqlExpression": True},
            "objectIdField": self.oid_field,
            "uniqueIdField": {"name": self.oid_field, "isSystemMaintained": True},
            "globalIdField": "", "types": [], "templates": [], "hasZ": False, "hasM": False}


WHERE_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|('(?:[^']|'')*')|([A-Za-z_][A-Za-z0-9_.]*)|"
                         r"(<>|!=|<=|>=|=|<|>|\(|\)|,|-))")


class WhereParser:
    """where clauses: see the module docstring. compile() returns
    (predicate(k) or None for always-true, oid low bound, oid high bound)."""

    def __init__(self, text, layer):
        self.text, self.layer = text, layer
        self.toks, pos = [], 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            m = WHERE_TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ArcError(["Unable to perform query operation.", "Invalid query"])
            if m.group(1):
                v = m.group(1)
                self.toks.append(("num", float(v) if "." in v else int(v)))
            elif m.group(2):
                self.toks.append(("str", m.group(2)[1:-1].replace("''", "'")))
            elif m.group(3):
                w = m.group(3)
                if w.upper() in ("AND", "OR", "NOT", "IN", "BETWEEN", "IS", "NULL", "LIKE", "TRUE", "FALSE"):
                    self.toks.append(("kw", w.upper()))
                else:
                    self.toks.append(("id", w))
            else:
                self.toks.append(("op", m.group(4)))
            pos = m.end()
        self.i = 0

    def bad(self):
        return ArcError(["Unable to perform query operation.", "Invalid query"])

    def peek(self, o=0):
        return self.toks[self.i + o] if self.i + o < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def compile(self):
        if not self.toks:
            raise self.bad()
        node = self.p_or()
        if self.i != len(self.toks):
            raise self.bad()
        return node

    # nodes: ("and", [..]), ("or", [..]), ("not", n), ("cmp", op, a, b), ("in", a, [..], neg),
    # ("between", a, lo, hi, neg), ("null", a, neg), ("like", a, pat, neg); operands ("f", name) / ("v", value)
    def p_or(self):
        parts = [self.p_and()]
        while self.peek() == ("kw", "OR"):
            self.take()
            parts.append(self.p_and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def p_and(self):
        parts = [self.p_not()]
        while self.peek() == ("kw", "AND"):
            self.take()
            parts.append(self.p_not())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def p_not(self):
        if self.peek() == ("kw", "NOT"):
            self.take()
            return ("not", self.p_not())
        return self.p_pred()

    def operand(self):
        k, v = self.take()
        if k == "op" and v == "-":
            k2, v2 = self.take()
            if k2 != "num":
                raise self.bad()
            return ("v", -v2)
        if k in ("num", "str"):
            return ("v", v)
        if k == "id":
            name = self.layer.upper.get(v.upper())
            if name is None:
                raise ArcError(["Unable to perform query operation.", "Invalid field: %s" % v])
            return ("f", name)
        if k == "kw" and v in ("TRUE", "FALSE"):
            return ("v", 1 if v == "TRUE" else 0)
        raise self.bad()

    def p_pred(self):
        if self.peek() == ("op", "("):
            self.take()
            n = self.p_or()
            if self.take() != ("op", ")"):
                raise self.bad()
            return n
        a = self.operand()
        neg = False
        if self.peek() == ("kw", "NOT"):
            self.take()
            neg = True
        k, v = self.peek()
        if k == "op" and v in ("=", "<>", "!=", "<", "<=", ">", ">="):
            if neg:
                raise self.bad()
            self.take()
            return ("cmp", "<>" if v == "!=" else v, a, self.operand())
        if (k, v) == ("kw", "IN"):
            self.take()
            if self.take() != ("op", "("):
                raise self.bad()
            vals = [self.operand()]
            while self.peek() == ("op", ","):
                self.take()
                vals.append(self.operand())
            if self.take() != ("op", ")"):
                raise self.bad()
            return ("in", a, vals, neg)
        if (k, v) == ("kw", "BETWEEN"):
            self.take()
            lo = self.operand()
            if self.take() != ("kw", "AND"):
                raise self.bad()
            return ("between", a, lo, self.operand(), neg)
        if (k, v) == ("kw", "LIKE"):
            self.take()
            pat = self.operand()
            if pat[0] != "v" or not isinstance(pat[1], str):
                raise self.bad()
            rx = re.compile("".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
                                    for ch in pat[1]), re.S)
            return ("like", a, rx, neg)
        if (k, v) == ("kw", "IS"):
            self.take()
            n2 = False
            if self.peek() == ("kw", "NOT"):
                self.take()
                n2 = True
            if self.take() != ("kw", "NULL"):
                raise self.bad()
            return ("null", a, n2)
        raise self.bad()


def arc_eval(node, layer, k):
    t = node[0]
    if t == "and":
        return all(arc_eval(n, layer, k) for n in node[1])
    if t == "or":
        return any(arc_eval(n, layer, k) for n in node[1])
    if t == "not":
        r = arc_eval(node[1], layer, k)
        return None if r is None else not r

    def val(o):
        return layer.attr(k, o[1]) if o[0] == "f" else o[1]
    if t == "cmp":
        a, b = val(node[2]), val(node[3])
        if a is None or b is None:
            return False
        try:
            op = node[1]
            return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            raise ArcError(["Unable to perform query operation.", "Invalid query"])
    if t == "in":
        a = val(node[1])
        r = a in [val(o) for o in node[2]]
        return r != node[3]
    if t == "between":
        a = val(node[1])
        if a is None:
            return False
        try:
            r = val(node[2]) <= a <= val(node[3])
        except TypeError:
            raise ArcError(["Unable to perform query operation.", "Invalid query"])
        return r != node[4]
    if t == "null":
        return (val(node[1]) is None) != node[2]
    if t == "like":
        a = val(node[1])
        return a is not None and (node[2].fullmatch(str(a)) is not None) != node[3]
    raise ArcError(["Invalid query"])


def arc_bounds(node, oid_field):
    """(always_true, lo, hi) from the top-level AND conjuncts on the object id."""
    conj = node[1] if node[0] == "and" else [node]
    lo, hi, rest = None, None, []
    for c in conj:
        if c[0] == "cmp" and c[2] == ("v", 1) and c[3] == ("v", 1) and c[1] == "=":
            continue
        if c[0] == "cmp" and c[2][0] == "f" and c[2][1] == oid_field and c[3][0] == "v" \
                and isinstance(c[3][1], (int, float)):
            v, op = c[3][1], c[1]
            if op in (">=", ">"):
                b = v if op == ">=" else (int(v) + 1 if float(v).is_integer() else v)
                lo = b if lo is None else max(lo, b)
                if op == ">" and not float(v).is_integer():
                    rest.append(c)
                continue
            if op in ("<=", "<"):
                b = v if op == "<=" else (int(v) - 1 if float(v).is_integer() else v)
                hi = b if hi is None else min(hi, b)
                if op == "<" and not float(v).is_integer():
                    rest.append(c)
                continue
            if op == "=":
                lo = v if lo is None else max(lo, v)
                hi = v if hi is None else min(hi, v)
                continue
        rest.append(c)
    return rest, lo, hi


class ArcServer:
    def __init__(self, n_features, max_records, n_lying):
        self.services = {
            "Addresses": [
                Layer(0, "Address Points", n_features, "OBJECTID", max_records, first_oid=70193, gaps=True,
                      label="addr"),
                Layer(1, "Hydrants", n_lying, "OBJECTID_1", max_records, first_oid=1, gaps=True, lie=True,
                      label="hyd"),
                Layer(2, "Parcel Statistics", 500, "OBJECTID", max_records, error=True, label="stat")],
            "Hosted/Trees": [Layer(0, "Trees", 150, "FID", 2000, first_oid=1, label="trees")],
        }

    def service_json(self, name):
        layers = self.services[name]
        return {
            "currentVersion": 10.81, "serviceDescription": "", "hasVersionedData": False,
            "supportsDisconnectedEditing": False, "hasStaticData": False,
            "maxRecordCount": max(l.declared_max for l in layers), "supportedQueryFormats": "JSON, geoJSON, PBF",
            "capabilities": "Query", "description": "", "copyrightText": "",
            "spatialReference": {"wkid": 4326, "latestWkid": 4326},
            "initialExtent": {"xmin": -83.6, "ymin": 42.2, "xmax": -82.9, "ymax": 42.5,
                              "spatialReference": {"wkid": 4326}},
            "fullExtent": {"xmin": -83.6, "ymin": 42.2, "xmax": -82.9, "ymax": 42.5,
                           "spatialReference": {"wkid": 4326}},
            "allowGeometryUpdates": False, "units": "esriDecimalDegrees", "syncEnabled": False,
            "layers": [{"id": l.id, "name": l.name, "parentLayerId": -1, "defaultVisibility": True,
                        "subLayerIds": None, "minScale": 0, "maxScale": 0, "type": "Feature Layer",
                        "geometryType": "esriGeometryPoint"} for l in layers],
            "tables": [], "serviceItemId": det_uuid("svc-" + name).replace("-", "")}

    def query(self, layer, params):
        if layer.error:
            raise ArcError([])
        where = params.get("where")
        oids_param = params.get("objectIds")
        if (where is None or where.strip() == "") and not oids_param:
            raise ArcError(["'where' parameter is invalid"], "Unable to complete operation.")
        n = len(layer.oids)
        lo_k, hi_k = 0, n
        pred = None
        if where is not None and where.strip():
            node = WhereParser(where, layer).compile()
            rest, lo, hi = arc_bounds(node, layer.oid_field)
            if lo is not None:
                lo_k = bisect.bisect_left(layer.oids, lo)
            if hi is not None:
                hi_k = bisect.bisect_right(layer.oids, hi)
            if rest:
                pred = ("and", rest)
        if oids_param:
            try:
                want = sorted({int(x) for x in oids_param.split(",") if x.strip()})
            except ValueError:
                raise ArcError(["'objectIds' parameter is invalid"])
            ks = [layer.index[o] for o in want if o in layer.index]
            ks = [k for k in ks if lo_k <= k < hi_k]
        else:
            ks = range(lo_k, hi_k)
        if pred is not None:
            ks = [k for k in ks if arc_eval(pred, layer, k)]
        order = (params.get("orderByFields") or "").strip()
        if order:
            keys = []
            for part in order.split(","):
                bits = part.split()
                if not bits or bits[0].upper() not in layer.upper:
                    raise ArcError(["'orderByFields' parameter is invalid"])
                desc = len(bits) > 1 and bits[1].upper() == "DESC"
                keys.append((layer.upper[bits[0].upper()], desc))
            ks = list(ks)
            for fname, desc in reversed(keys):
                ks.sort(key=lambda k: (layer.attr(k, fname) is None, layer.attr(k, fname) or 0)
                        if fname in ("UNITS", "EDIT_DATE", layer.oid_field)
                        else (layer.attr(k, fname) is None, layer.attr(k, fname) or ""), reverse=desc)
        return ks

    def cut(self, layer, ks, params):
        try:
            off = int(params.get("resultOffset") or 0)
            rc = params.get("resultRecordCount")
            rc = int(rc) if rc not in (None, "") else None
        except ValueError:
            raise ArcError(["'resultOffset' or 'resultRecordCount' parameter is invalid"])
        if off < 0 or (rc is not None and rc < 0):
            raise ArcError(["'resultOffset' or 'resultRecordCount' parameter is invalid"])
        ks = list(ks)
        want = layer.declared_max if rc is None else min(rc, layer.declared_max)
        got = min(want, layer.cap)
        page = ks[off:off + got]
        return page, (off + len(page) < len(ks)) and not layer.lie


# ---------------------------------------------------------------- data.gov

DG_ORGS = [("nasa", "National Aeronautics and Space Administration", "Federal Government"),
           ("ed", "Department of Education", "Federal Government"),
           ("epa-gov", "Environmental Protection Agency", "Federal Government"),
           ("usda-gov", "Department of Agriculture", "Federal Government"),
           ("noaa-gov", "National Oceanic and Atmospheric Administration", "Federal Government"),
           ("city-of-example", "City of Example", "City Government"),
           ("state-of-sample", "State of Sample", "State Government")]


class DatagovCatalog:
    def __init__(self, n, mutate_after=0):
        self.items = [self.make(i) for i in range(n)]
        self.n = n
        self.mutate_after, self.requests, self.mutated = mutate_after, 0, False
        self.before = sorted(it["identifier"] for it in self.items)
        self.lock = threading.Lock()
        self.keyed = 0

    def seen_request(self):
        """Counts a search; after the mutate_after-th the catalog changes (caller
        holds the lock): items deleted (i % 23 == 7) and added (sorting anywhere)."""
        self.requests += 1
        if self.mutate_after and not self.mutated and self.requests > self.mutate_after:
            self.mutated = True
            self.items = [it for it in self.items if it["i"] % 23 != 7]
            self.items += [self.make(self.n + k) for k in range(max(5, self.n // 20))]

    def expect(self):
        after = sorted(it["identifier"] for it in self.items)
        return {"before": self.before, "after": after, "stable": sorted(set(self.before) & set(after)),
                "mutated": self.mutated, "requests": self.requests, "mutate_after_requests": self.mutate_after}

    def make(self, i):
        w = words(("dg",), 4, i)
        org = DG_ORGS[i % len(DG_ORGS)]
        return {
            "i": i, "id": hashlib.md5(("dg-%d" % i).encode()).hexdigest(), "identifier": det_uuid("dg-%d" % i),
            "title": "%s %s %s %s %d" % (w[0].capitalize(), w[1], w[2], w[3], i),
            "slug": "%s-%s-%s-%s-%d" % (w[0], w[1], w[2], w[3], i), "org": org,
            "popularity": h64("pop", i) % 50, "keyword": sorted(set(words(("dgkw",), 3, i))),
            "harvested": ts_of(2025, 8, 1) + (i % 97) * 3600}

    def doc(self, it, base, score):
        i = it["i"]
        org = it["org"]
        dists = []
        for j in range(1 + i % 3):
            dists.append({"@type": "dcat:Distribution", "title": "%s part %d" % (it["title"], j + 1),
                          "mediaType": "text/csv" if j != 1 else "application/json",
                          "downloadURL": "%s/files/datagov/%d-%d.%s" % (base, i, j, "json" if j == 1 else "csv")})
        if i % 11 == 4:
            dists.append({"@type": "dcat:Distribution", "title": "Landing page", "format": "HTML",
                          "accessURL": "%s/landing/nofile-dg-%d.html" % (base, i)})
        desc = "%s. %s." % (" ".join(words(("dgd",), 12, i)).capitalize(), org[1])
        dcat = {"@type": "dcat:Dataset", "title": it["title"], "description": desc,
                "accessLevel": "public", "accrualPeriodicity": "irregular", "bureauCode": ["018:50"],
                "contactPoint": {"@type": "vcard:Contact", "fn": "Data Steward",
                                 "hasEmail": "mailto:data@example.gov"},
                "distribution": dists, "identifier": it["identifier"],
                "issued": (dt.date(2014, 1, 1) + dt.timedelta(days=i * 13 % 3000)).isoformat(),
                "keyword": it["keyword"], "language": ["en-US"],
                "license": "https://creativecommons.org/publicdomain/zero/1.0/",
                "modified": (dt.date(2020, 1, 1) + dt.timedelta(days=i * 17 % 1900)).isoformat(),
                "programCode": ["018:000"], "publisher": {"@type": "org:Organization", "name": org[1]},
                "spatial": "United States", "temporal": "2012/2012"}
        hr = det_uuid("hr-%d" % i)
        return {
            "title": it["title"], "description": desc, "identifier": it["identifier"], "slug": it["slug"],
            "publisher": org[1], "keyword": it["keyword"], "has_spatial": i % 3 == 0,
            "popularity": it["popularity"], "last_harvested_date": iso(it["harvested"]),
            "distribution_titles": [d["title"] for d in dists], "theme": [],
            "spatial_centroid": None, "spatial_shape": None,
            "organization": {"id": det_uuid("dgorg-" + org[0]), "name": org[1], "slug": org[0],
                             "organization_type": org[2], "logo": "%s/files/logos/%s.png" % (base, org[0]),
                             "aliases": [org[0].split("-")[0]], "description": None},
            "dcat": dcat,
            "harvest_record": "%s/datagov/harvest_record/%s" % (base, hr),
            "harvest_record_raw": "%s/datagov/harvest_record/%s/raw" % (base, hr),
            "_score": score, "_sort": [score, it["popularity"], it["id"]]}


# ---------------------------------------------------------------- HTTP

class Config:
    pass


CFG = Config()
STATE = {}
LOG_LOCK = threading.Lock()
LOG_HEADERS = ("X-App-Token", "X-Api-Key", "User-Agent", "If-None-Match", "If-Modified-Since", "Range")


def html_page(title, body):
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title></head>"
            "<body>%s</body></html>\n" % (title, body)).encode()


class Done(Exception):
    """The response was sent."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "catalogs-test/1.0"

    def version_string(self):
        return self.server_version

    def log_message(self, *a):
        pass

    def log_request(self, code="-", size="-"):
        f = CFG.log_file
        if f is None:
            return
        hdrs = {}
        for h in LOG_HEADERS:
            v = self.headers.get(h) if self.headers else None
            if v is not None:
                hdrs[h] = v
        line = json.dumps({"t": round(time.time(), 6), "method": self.command,
                           "path": getattr(self, "path", None),
                           "status": int(code) if str(code).isdigit() else code, "headers": hdrs})
        with LOG_LOCK:
            f.write(line + "\n")
            f.flush()

    # --- plumbing
    def base(self):
        host = self.headers.get("Host") or ""
        if not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?", host):
            host = "127.0.0.1:%d" % self.server.server_address[1]
        return "http://" + host

    def host(self):
        return self.base()[len("http://"):]

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 64 << 20:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def dispatch(self):
        self.sent = False
        u = urllib.parse.urlsplit(self.path)
        self.upath = urllib.parse.unquote(u.path)
        self.qs = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.body = b""
        if self.command == "POST":
            try:
                self.body = self.read_body()
            except ValueError:
                self.close_connection = True
                return self.send_text(413, "too large")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype == "application/x-www-form-urlencoded":
                for k, v in urllib.parse.parse_qs(self.body.decode("utf-8", "replace"),
                                                  keep_blank_values=True).items():
                    self.qs.setdefault(k, []).extend(v)
        try:
            route(self)
        except Done:
            pass
        except ConnectionError:
            self.close_connection = True
        except Exception as e:  # a bug here: answer 500 with the trace
            import traceback
            traceback.print_exc()
            if not self.sent:
                self.send_text(500, "internal error: %r\n" % e)
            else:
                self.close_connection = True

    def q1(self, name, default=None):
        v = self.qs.get(name)
        return v[-1] if v else default

    def send(self, status, body, ctype, headers=None):
        self.sent = True
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
        raise Done()

    def send_json(self, obj, status=200, headers=None, pretty=False):
        body = json.dumps(obj, indent=2 if pretty else None).encode()
        self.send(status, body, "application/json; charset=utf-8", headers)

    def send_text(self, status, text, headers=None):
        self.send(status, text.encode(), "text/plain; charset=utf-8", headers)

    def send_html(self, status, title, body, headers=None):
        self.send(status, html_page(title, body), "text/html; charset=utf-8", headers)

    def not_found(self):
        self.send_html(404, "404 Not Found", "<h1>Not Found</h1><p>The requested URL %s was not found on "
                       "this server.</p>" % self.upath.replace("<", "&lt;"))

    def send_stream(self, chunks, ctype, headers=None, length=None, status=200):
        self.sent = True
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        chunked = length is None and self.request_version == "HTTP/1.1"
        if length is not None:
            self.send_header("Content-Length", str(length))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            raise Done()
        w = self.wfile
        for c in chunks:
            if not c:
                continue
            if chunked:
                w.write(b"%x\r\n" % len(c) + c + b"\r\n")
            else:
                w.write(c)
        if chunked:
            w.write(b"0\r\n\r\n")
        raise Done()

    def conditional(self, etag, lm):
        """Sends 304 when the request's validators match."""
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            if "*" in tags or etag in tags or ("W/" + etag) in tags or \
                    any(t.startswith("W/") and t[2:] == etag for t in tags):
                self.send(304, b"", "", {"ETag": etag, "Last-Modified": http_date(lm)})
            return
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError):
                return
            if int(lm) <= t:
                self.send(304, b"", "", {"ETag": etag, "Last-Modified": http_date(lm)})

    def send_entity(self, body, ctype, etag, lm, extra=None):
        """200 / 304 / 206 / 416 for a static body."""
        hdrs = {"ETag": etag, "Last-Modified": http_date(lm), "Accept-Ranges": "bytes"}
        hdrs.update(extra or {})
        self.conditional(etag, lm)
        rng = self.range_of(len(body), etag, lm)
        if rng is None:
            self.send(200, body, ctype, hdrs)
        a, b = rng
        hdrs["Content-Range"] = "bytes %d-%d/%d" % (a, b - 1, len(body))
        self.send(206, body[a:b], ctype, hdrs)

    def range_of(self, total, etag, lm):
        r = self.headers.get("Range")
        if not r or self.command not in ("GET", "HEAD"):
            return None
        ir = self.headers.get("If-Range")
        if ir and ir.strip() != etag and ir.strip() != http_date(lm):
            return None
        m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", r)
        if not m or (m.group(1) == "" and m.group(2) == ""):
            return None
        if m.group(1) == "":
            n = int(m.group(2))
            if n == 0:
                self.send(416, b"", "text/plain", {"Content-Range": "bytes */%d" % total})
            a, b = max(0, total - n), total
        else:
            a = int(m.group(1))
            b = int(m.group(2)) + 1 if m.group(2) else total
            b = min(b, total)
            if a >= total or b <= a:
                self.send(416, b"", "text/plain", {"Content-Range": "bytes */%d" % total})
        return a, b


# ---------------------------------------------------------------- routes

def route(r):
    p = r.upath
    if p == "/":
        return r.send_html(200, "Catalog test server", "<h1>Catalog test server</h1><pre>%s</pre>" % (
            __doc__.replace("&", "&amp;").replace("<", "&lt;")))
    if p.startswith("/files/"):
        return r_files(r, p[len("/files/"):])
    if p.startswith("/broken/"):
        return r_broken(r, p[len("/broken/"):])
    if p.startswith("/landing/"):
        return r_landing(r, p[len("/landing/"):])
    if p.startswith("/api/catalog/") or p.startswith("/api/views/") or p.startswith("/d/"):
        # A Socrata domain's own paths, at the root as on a real portal.
        return r_socrata(r, STATE["socrata"], "", p, CFG.socrata_token)
    if p.startswith("/api/"):
        x = p[len("/api/"):]
        return r.send_json({"api": x, "status": "ok", "note": "an API answer, not a data file",
                            "items": [{"id": k, "value": h64("api", x, k) % 1000} for k in range(3)]})
    if p.startswith("/js/"):
        return r.send_html(200, "Loading...", "<div id=\"root\"></div><noscript>You need to enable "
                           "JavaScript to run this app.</noscript><script>window.__APP__={path:%s};"
                           "document.getElementById('root').textContent='Loading data...';"
                           "fetch('/api/'+window.__APP__.path.split('/').pop());</script>" %
                           json.dumps(p))
    if p == "/dcat/" or p == "/dcat":
        return r_dcat_index(r)
    if p.startswith("/dcat/"):
        name = p[len("/dcat/"):]
        if name.endswith(".json") and safe_name(name[:-5]):
            return r_shared(r, "dcat-us", name[:-5])
        return r.not_found()
    m = re.fullmatch(r"/arcgis-hub/([^/]+)/api/feed/dcat-us/1\.1\.json", p)
    if m:
        if safe_name(m.group(1)):
            return r_shared(r, "arcgis", m.group(1))
        return r.not_found()
    if p == "/gen/data.json":
        return r_gen(r, "/gen")
    if p == "/gen/expect":
        return r_gen_expect(r)
    if p.startswith("/ckan/"):
        return r_ckan(r, STATE["ckan"], "/ckan", p[len("/ckan"):])
    if p.startswith("/socrata/"):
        return r_socrata(r, STATE["socrata"], "/socrata", p[len("/socrata"):], CFG.socrata_token)
    if p.startswith("/arcgis/rest"):
        return r_arcgis(r, p[len("/arcgis/rest"):])
    if p.startswith("/datagov/"):
        return r_datagov(r, p[len("/datagov"):])
    if p.startswith("/auto/"):
        return r_auto(r, p[len("/auto"):])
    return r.not_found()


def r_files(r, path):
    if not path:
        return r.not_found()
    m = re.fullmatch(r"big/([A-Za-z0-9._-]+)\.csv", path)
    if m:
        try:
            total = int(r.q1("bytes", str(1 << 20)))
        except ValueError:
            total = -1
        if total < 0 or total > (8 << 30):
            return r.send_text(400, "bad bytes=\n")
        name = m.group(1)
        etag = '"big-%s-%d"' % (name, total)
        lm = ts_of(2024, 6, 1) + h64("big", name) % 86400
        r.conditional(etag, lm)
        hdrs = {"ETag": etag, "Last-Modified": http_date(lm), "Accept-Ranges": "bytes"}
        rng = r.range_of(total, etag, lm)
        if rng is None:
            return r.send_stream(big_chunks(name, 0, total), "text/csv", hdrs, length=total)
        a, b = rng
        hdrs["Content-Range"] = "bytes %d-%d/%d" % (a, b - 1, total)
        return r.send_stream(big_chunks(name, a, b), "text/csv", hdrs, length=b - a, status=206)
    body, ctype, lm = file_body(path)
    etag = '"%s"' % hashlib.sha1(body).hexdigest()[:20]
    base = os.path.basename(path)
    return r.send_entity(body, ctype, etag, lm,
                         {"Content-Disposition": 'inline; filename="%s"' % base.replace('"', "")}
                         if base else None)


def r_broken(r, name):
    if name == "404.csv":
        return r.send_html(404, "404 Not Found", "<h1>Not Found</h1>")
    if name == "500.csv":
        return r.send_html(500, "500 Internal Server Error", "<h1>Internal Server Error</h1>")
    if name == "to-landing.csv":
        loc = r.base() + "/landing/to-landing.html"
        return r.send(302, html_page("Found", '<a href="%s">Moved</a>' % loc), "text/html; charset=utf-8",
                      {"Location": loc})
    return r.not_found()


def r_landing(r, name):
    m = re.fullmatch(r"([A-Za-z0-9._-]+)\.html", name)
    if not m:
        return r.not_found()
    x = m.group(1)
    links = '<p><a href="/">Home</a> | <a href="/landing/about.html">About this portal</a></p>'
    if not x.startswith("nofile"):
        links += ('<p>Download: <a href="/files/landing/%s.csv">%s.csv</a> (CSV)</p>' % (x, x))
    else:
        links += "<p>This dataset is available on request. Contact the data steward.</p>"
    return r.send_html(200, "Dataset %s" % x, "<h1>Dataset %s</h1><p>Landing page for %s.</p>%s" % (x, x, links))


# --- shared files

_shared_cache = {}


def shared_file(folder, name):
    path = os.path.join(CFG.shared, folder, name + ".json")
    key = path
    c = _shared_cache.get(key)
    if c is None:
        if not CFG.shared or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            data = f.read()
        sha = hashlib.sha256(data).hexdigest()
        c = (data, '"%s"' % sha[:24], ts_of(2025, 1, 1) + int(sha[:6], 16) % (365 * 86400))
        _shared_cache[key] = c
    return c


def r_shared(r, folder, name):
    c = shared_file(folder, name)
    if c is None:
        return r.not_found()
    data, etag, lm = c
    return r.send_entity(data, "application/json", etag, lm)


def r_dcat_index(r):
    d = os.path.join(CFG.shared or "", "dcat-us")
    names = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []
    return r.send_json(names)


# --- generated DCAT

def int_param(r, name, default, lo=None, hi=None):
    v = r.q1(name)
    if v is None or v == "":
        return default
    try:
        x = int(v)
    except ValueError:
        r.send_json({"error": "%s must be an integer" % name}, 400)
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        r.send_json({"error": "%s out of range" % name}, 400)
    return x


def r_gen(r, where, n=None, seed=None, version=None):
    n = int_param(r, "n", 1000, 0, 10000000) if n is None else n
    seed = int_param(r, "seed", 0, 0) if seed is None else seed
    version = int_param(r, "version", 1, 1, 100000) if version is None else version
    full = int_param(r, "full", 0, 0, 1)
    base = r.base()
    g = DcatGen(n, seed, version, base, full)
    counts = gen_counts(n, seed, version)
    etag = '"gen-%d-%d-%d-%d-%s"' % (n, seed, version, full, hashlib.sha1(base.encode()).hexdigest()[:8])
    lm = ts_of(2025, 1, 1) + (version - 1) * 86400
    hdrs = {"ETag": etag, "Last-Modified": http_date(lm), "X-Gen-Counts": json.dumps(counts, separators=(",", ":"))}
    r.conditional(etag, lm)
    return r.send_stream(g.chunks(), "application/json", hdrs)


def r_gen_expect(r):
    n = int_param(r, "n", 1000, 0, 10000000)
    seed = int_param(r, "seed", 0, 0)
    v = int_param(r, "version", 1, 1, 100000)
    f = int_param(r, "from", max(1, v - 1), 1, 100000)
    g = DcatGen(n, seed, v)
    out = g.expect(f)
    out["counts_from"] = gen_counts(n, seed, f)
    out["counts"] = gen_counts(n, seed, v)
    return r.send_json(out)


# --- CKAN

def ckan_err(r, status, help_url, err):
    r.send_json({"help": help_url, "success": False, "error": err}, status)


def ckan_params(r):
    """The action's parameters: query string, form body, or a JSON body."""
    params = {k: v[-1] for k, v in r.qs.items()}
    multi = dict(r.qs)
    if r.command == "POST" and r.body:
        ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            try:
                obj = json.loads(r.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return None, None
            if not isinstance(obj, dict):
                return None, None
            for k, v in obj.items():
                params[k] = v
                multi[k] = v if isinstance(v, list) else [v]
    return params, multi


def r_ckan(r, cat, prefix, rest):
    base = r.base()
    if rest in ("/_expect", "/_mutate"):
        if rest == "/_mutate":
            cat.after_search()
        return r.send_json(cat.expect())
    if rest in ("", "/"):
        return r.send_html(200, "CKAN", "<h1>Open data portal</h1><p>Powered by CKAN. API at "
                           "<a href=\"%s/api/3/action/status_show\">%s/api/3</a></p>" % (prefix, prefix))
    m = re.fullmatch(r"/api(?:/3)?/action/([A-Za-z0-9_]+)", rest)
    if not m:
        return r.not_found()
    action = m.group(1)
    help_url = "%s%s/api/3/action/help_show?name=%s" % (base, prefix, action)
    params, multi = ckan_params(r)
    if params is None:
        return ckan_err(r, 400, help_url, {"__type": "Bad Request", "message": "Bad request - JSON Error: "
                                           "Error decoding JSON data."})
    ok = lambda res: r.send_json({"help": help_url, "success": True, "result": res})
    if action == "status_show":
        return ok({"site_title": "Salvage test CKAN (%s)" % cat.label, "site_description": "",
                   "site_url": base + prefix, "ckan_version": "2.10.4", "error_emails_to": None,
                   "locale_default": "en", "extensions": ["envvars", "stats", "text_view",
                                                          "image_view", "datastore", "dcat", "harvest",
                                                          "ckan_harvester", "activity"]})
    if action == "package_show":
        ref = params.get("id") or params.get("name_or_id")
        if not ref:
            return ckan_err(r, 409, help_url, {"__type": "Validation Error", "id": ["Missing value"]})
        p = cat.find(ref)
        if p is None:
            return ckan_err(r, 404, help_url, {"__type": "Not Found Error", "message": "Not found"})
        return ok(cat.package(p, base, prefix))
    if action == "package_list":
        names = cat.names()
        try:
            off = int(params.get("offset") or 0)
            lim = params.get("limit")
            lim = int(lim) if lim not in (None, "") else None
        except (TypeError, ValueError):
            return ckan_err(r, 409, help_url, {"__type": "Validation Error", "limit": ["Invalid integer"]})
        return ok(names[off:] if lim is None else names[off:off + lim])
    if action == "organization_list":
        return ok(sorted(o[0] for o in ORGS))
    if action == "package_search":
        return ckan_search(r, cat, base, prefix, help_url, params, multi)
    return ckan_err(r, 400, help_url, {"__type": "Bad Request",
                                       "message": "Bad request - Action name not known: %s" % action})


def ckan_search(r, cat, base, prefix, help_url, params, multi):
    sp = {"q": params.get("q"), "fq": params.get("fq"), "sort": params.get("sort")}
    errs = {}
    for name, default in (("rows", 10), ("start", 0)):
        v = params.get(name)
        if v is None or v == "":
            sp[name] = default
            continue
        try:
            x = int(v)
        except (TypeError, ValueError):
            errs[name] = ["Invalid integer"]
            continue
        if x < 0:
            errs[name] = ["Must be a natural number"]
            continue
        sp[name] = x
    if errs:
        errs["__type"] = "Validation Error"
        return ckan_err(r, 409, help_url, errs)
    sp["rows"] = min(sp["rows"], cat.rows_max)
    ff = multi.get("facet.field")
    if ff:
        fields = []
        for v in ff:
            if isinstance(v, str) and v.startswith("["):
                try:
                    fields.extend(json.loads(v))
                except ValueError:
                    return ckan_err(r, 409, help_url, {"__type": "Validation Error",
                                                       "facet.field": ["Invalid JSON"]})
            elif isinstance(v, list):
                fields.extend(v)
            else:
                fields.append(v)
        sp["facet.field"] = [str(f) for f in fields]
        try:
            sp["facet.limit"] = int(params.get("facet.limit") or 50)
        except (TypeError, ValueError):
            sp["facet.limit"] = 50
    try:
        total, page, sort, facets, mutate_now = cat.search(sp)
    except SortError as e:
        return ckan_err(r, 400, help_url, {"__type": "Search Query Error",
                                           "message": "Search Query is invalid: %r" % ((str(e),),)})
    except SearchError as e:
        query = {k: v for k, v in (("q", sp.get("q") or "*:*"), ("fq", sp.get("fq") or ""),
                                   ("rows", sp["rows"]), ("start", sp["start"]))}
        return ckan_err(r, 409, help_url, {
            "__type": "Search Error",
            "message": "Search error: %r" % (("SOLR returned an error running query: %r Error: %r" % (
                query, "SolrError: Solr responded with an error (HTTP 400): [Reason: %s]" % e)),)})
    results = [cat.package(p, base, prefix) for p in page]
    fl = params.get("fl")
    if isinstance(fl, str) and fl.strip() and fl.strip() != "*":
        keep = [f.strip() for f in fl.replace(" ", ",").split(",") if f.strip()]
        results = [{k: d.get(k) for k in keep} for d in results]
    search_facets = {f: {"title": f, "items": [{"name": str(k), "display_name": str(k), "count": c}
                                               for k, c in v.items()]} for f, v in facets.items()}
    body = {"help": help_url, "success": True,
            "result": {"count": total, "facets": facets, "results": results, "sort": sort,
                       "search_facets": search_facets}}
    if mutate_now:
        cat.after_search()
    return r.send_json(body)


# --- Socrata

def socrata_gate(r, cat, token):
    """False when the request was answered (403/429) instead."""
    if not token:
        return True
    got = r.headers.get("X-App-Token") or r.q1("$$app_token")
    if got == token:
        return True
    if got:
        r.send_json({"code": "invalid_app_token", "error": True, "message": "Invalid app_token specified"}, 403)
    with cat.lock:
        cat.unauth += 1
        k = cat.unauth
    past = k - CFG.socrata_free_requests
    if past > 0 and past % 2 == 1:
        r.send_json({"code": "too_many_requests", "error": True,
                     "message": "Too many requests from this IP without an app token; "
                                "use an X-App-Token header"}, 429,
                    {"Retry-After": str(CFG.socrata_retry_after)})
    return True


def r_socrata(r, cat, prefix, rest, token):
    base = r.base()
    socrata_gate(r, cat, token)
    if rest in ("", "/"):
        return r.send_html(200, "Open Data Portal", "<h1>Open Data Portal</h1><p>Powered by Socrata. "
                           "<a href=\"%s/browse\">Browse</a></p>" % prefix)
    if rest == "/api/catalog/v1":
        return socrata_catalog(r, cat, base, prefix)
    if rest == "/_expect":
        with cat.lock:
            return r.send_json(cat.expect())
    m = re.fullmatch(r"/api/views/([a-z0-9]{4}-[a-z0-9]{4})(\.json)?", rest)
    if m:
        a = cat.by_id.get(m.group(1))
        if a is None:
            return r.send_json({"code": "not_found", "error": True,
                                "message": "Cannot find view with id %s" % m.group(1)}, 404)
        return r.send_json(cat.view(a, base, prefix), pretty=True)
    m = re.fullmatch(r"/api/views/([a-z0-9]{4}-[a-z0-9]{4})/rows\.csv", rest)
    if m:
        a = cat.by_id.get(m.group(1))
        if a is None or a.type != "dataset":
            return r.send_json({"code": "not_found", "error": True,
                                "message": "Cannot find view with id %s" % m.group(1)}, 404)
        body = cat.rows_csv(a)
        etag = '"%s"' % hashlib.sha1(body).hexdigest()[:16]
        return r.send_entity(body, "text/csv; charset=utf-8", etag, a.updated,
                             {"Content-Disposition": "attachment; filename=%s.csv" % cat.slug(a)})
    m = re.fullmatch(r"/(?:d|[A-Za-z0-9-]+/[A-Za-z0-9-]+)/([a-z0-9]{4}-[a-z0-9]{4})", rest)
    if m and m.group(1) in cat.by_id:
        a = cat.by_id[m.group(1)]
        link = ""
        if a.type == "dataset":
            link = '<p><a href="%s/api/views/%s/rows.csv?accessType=DOWNLOAD">Export CSV</a></p>' % (prefix, a.id)
        return r.send_html(200, a.name, "<h1>%s</h1><p>%s</p>%s" % (a.name, a.type, link))
    return r.not_found()


def socrata_catalog(r, cat, base, prefix):
    with cat.lock:
        cat.seen_request()
    host = r.host()
    mine = {host, host.split(":")[0]} if not host.startswith("[") else {host}
    for name in ("domains", "search_context"):
        v = r.q1(name)
        if v is not None and v != "":
            if not (set(x.strip() for x in v.split(",")) & mine):
                return r.send_json({"results": [], "resultSetSize": 0,
                                    "timings": {"serviceMillis": 3, "searchMillis": [1, 1]}, "warnings": []})
    types = None
    only = r.qs.get("only")
    if only:
        types = set()
        for v in only:
            for t in v.split(","):
                t = t.strip().lower()
                if not t:
                    continue
                if t not in SOC_TYPES:
                    return r.send_json({"error": "Invalid value for only: %s" % t}, 400)
                types.add(SOC_TYPES[t])
    try:
        limit = int(r.q1("limit") or 100)
        offset = int(r.q1("offset") or 0)
    except ValueError:
        return r.send_json({"error": "limit and offset must be integers"}, 400)
    if limit < 0 or offset < 0:
        return r.send_json({"error": "limit and offset must be non-negative"}, 400)
    if limit > SOC_CAP:
        return r.send_json({"error": "limit must be less than or equal to %d" % SOC_CAP}, 400)
    if offset + limit > SOC_CAP:
        return r.send_json({"error": "Sum of offset and limit cannot exceed %d" % SOC_CAP}, 400)
    ids = set()
    for v in r.qs.get("ids", []) + r.qs.get("ids[]", []):
        ids.update(x.strip() for x in v.split(",") if x.strip())
    q = (r.q1("q") or "").lower().split()

    def match(a):
        if types is not None and a.type not in types:
            return False
        if ids and a.id not in ids:
            return False
        if q:
            low = a.name.lower()
            return all(t in low for t in q)
        return True
    scroll = r.qs.get("scroll_id")
    if scroll is not None:
        if offset:
            return r.send_json({"error": "offset cannot be used with scroll_id"}, 400)
        sid = scroll[-1]
        start = bisect.bisect_right(cat.id_keys, sid) if sid else 0
        total = sum(1 for a in cat.id_order if match(a)) if (types or ids or q) else len(cat.id_order)
        page = []
        for a in cat.id_order[start:]:
            if len(page) >= limit:
                break
            if match(a):
                page.append(a)
    else:
        hits = [a for a in cat.rel_order if match(a)]
        total = len(hits)
        page = hits[offset:offset + limit]
    dom = host
    return r.send_json({"results": [cat.result(a, base, prefix, dom) for a in page],
                        "resultSetSize": min(total, SOC_CAP),
                        "timings": {"serviceMillis": 12, "searchMillis": [2, 5]}, "warnings": []})


# --- ArcGIS

def arc_send(r, obj, f):
    if f == "pjson":
        return r.send(200, json.dumps(obj, indent=2).encode(), "text/plain; charset=utf-8")
    if f == "geojson":
        return r.send(200, json.dumps(obj).encode(), "application/geo+json; charset=utf-8")
    return r.send(200, json.dumps(obj, separators=(",", ":")).encode(), "application/json; charset=utf-8")


def arc_error(r, code, message, details, f="json"):
    return arc_send(r, {"error": {"code": code, "message": message, "details": details}},
                    "json" if f == "geojson" else f)


def r_arcgis(r, rest):
    arc = STATE["arcgis"]
    f = (r.q1("f") or "html").lower()
    if f == "html":
        return r.send_html(200, "ArcGIS REST Services Directory",
                           "<h2>ArcGIS REST Services Directory</h2><p>Path: %s</p><p>Formats: "
                           "<a href=\"?f=pjson\">JSON</a></p>" % ("/arcgis/rest" + rest).replace("<", "&lt;"))
    if f not in ("json", "pjson", "geojson"):
        return arc_error(r, 400, "Invalid or missing input parameters.", ["Format '%s' is not supported" % f])
    rest = rest.rstrip("/")
    if rest == "/info":
        return arc_send(r, {"currentVersion": 10.81, "fullVersion": "10.8.1", "soapUrl": None,
                            "secureSoapUrl": None, "owningSystemUrl": None,
                            "authInfo": {"isTokenBasedSecurity": False}}, f)
    if rest == "/services":
        return arc_send(r, {"currentVersion": 10.81, "folders": ["Hosted"],
                            "services": [{"name": "Addresses", "type": "FeatureServer"}]}, f)
    if rest == "/services/Hosted":
        return arc_send(r, {"currentVersion": 10.81, "folders": [],
                            "services": [{"name": "Hosted/Trees", "type": "FeatureServer"}]}, f)
    m = re.fullmatch(r"/services/(.+?)/FeatureServer(?:/(\d+)(/query)?)?", rest)
    if not m or m.group(1) not in arc.services:
        return arc_error(r, 400, "Invalid URL", ["Invalid URL"], f)
    layers = arc.services[m.group(1)]
    if m.group(2) is None:
        return arc_send(r, arc.service_json(m.group(1)), f)
    lid = int(m.group(2))
    if lid >= len(layers):
        return arc_error(r, 400, "Invalid or missing input parameters.", ["Invalid layer id"], f)
    layer = layers[lid]
    if not m.group(3):
        return arc_send(r, layer.layer_json(), f)
    params = {k: v[-1] for k, v in r.qs.items()}
    try:
        ks = arc.query(layer, params)
        truthy = lambda name: (params.get(name) or "").lower() == "true"
        if truthy("returnCountOnly"):
            return arc_send(r, {"count": len(ks)}, f)
        if truthy("returnIdsOnly"):
            ids = [layer.oids[k] for k in ks]
            return arc_send(r, {"objectIdFieldName": layer.oid_field, "objectIds": ids}, f)
        of = params.get("outFields")
        if of is None or of.strip() == "":
            names = [layer.oid_field]
        elif of.strip() == "*":
            names = list(layer.field_names)
        else:
            names = []
            for x in of.split(","):
                x = x.strip()
                if x not in layer.field_names and x.upper() not in layer.upper:
                    raise ArcError(["Invalid field: %s" % x], "Failed to execute query.")
                names.append(layer.upper[x.upper()])
        geom = (params.get("returnGeometry") or "true").lower() != "false"
        page, exceeded = arc.cut(layer, ks, params)
    except ArcError as e:
        return arc_error(r, e.code, e.message, e.details, f)
    if f == "geojson":
        feats = []
        for k in page:
            x, y = layer.xy(k)
            feats.append({"type": "Feature", "id": layer.oids[k],
                          "geometry": {"type": "Point", "coordinates": [x, y]} if geom else None,
                          "properties": {nm: layer.attr(k, nm) for nm in names}})
        out = {"type": "FeatureCollection", "features": feats}
        if exceeded:
            out["properties"] = {"exceededTransferLimit": True}
        return arc_send(r, out, f)
    feats = []
    for k in page:
        ft = {"attributes": {nm: layer.attr(k, nm) for nm in names}}
        if geom:
            x, y = layer.xy(k)
            ft["geometry"] = {"x": x, "y": y}
        feats.append(ft)
    out = {"objectIdFieldName": layer.oid_field,
           "uniqueIdField": {"name": layer.oid_field, "isSystemMaintained": True},
           "globalIdFieldName": "", "geometryType": "esriGeometryPoint",
           "spatialReference": {"wkid": 4326, "latestWkid": 4326},
           "fields": [dict((k2, v) for k2, v in fd.items()) for fd in layer.fields if fd["name"] in names]}
    if exceeded:
        out["exceededTransferLimit"] = True
    out["features"] = feats
    return arc_send(r, out, f)


# --- data.gov

def r_datagov(r, rest):
    cat = STATE["datagov"]
    base = r.base()
    key = r.headers.get("X-Api-Key") or r.q1("api_key")
    if not key:
        return r.send_json({"error": {"code": "API_KEY_MISSING",
                                      "message": "No api_key was supplied. Get one at https://api.data.gov:443"}},
                           403)
    if key != CFG.datagov_key:
        return r.send_json({"error": {"code": "API_KEY_INVALID",
                                      "message": "An invalid api_key was supplied. Get one at "
                                                 "https://api.data.gov:443"}}, 403)
    with cat.lock:
        cat.keyed += 1
        used = cat.keyed
    limit = CFG.datagov_rate_limit or 1000
    hdrs = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used))}
    if CFG.datagov_rate_limit and used > CFG.datagov_rate_limit:
        return r.send_json({"error": {"code": "OVER_RATE_LIMIT",
                                      "message": "You have exceeded your rate limit. Try again later."}},
                           429, {**hdrs, "Retry-After": "3600"})
    if rest == "/organizations":
        counts = {}
        for it in cat.items:
            counts[it["org"][0]] = counts.get(it["org"][0], 0) + 1
        orgs = [{"id": det_uuid("dgorg-" + o[0]), "name": o[1], "slug": o[0], "organization_type": o[2],
                 "aliases": [""], "dataset_count": counts.get(o[0], 0)} for o in DG_ORGS]
        return r.send_json({"organizations": orgs, "total": len(orgs)}, headers=hdrs)
    m = re.fullmatch(r"/harvest_record/([0-9a-f-]{36})(/raw)?", rest)
    if m:
        for it in cat.items:
            if det_uuid("hr-%d" % it["i"]) == m.group(1):
                doc = cat.doc(it, base, 1.0)
                if m.group(2):
                    return r.send_json(doc["dcat"], headers=hdrs)
                return r.send_json({"id": m.group(1), "identifier": it["identifier"], "status": "success",
                                    "action": "create", "date_created": iso(it["harvested"] - 600),
                                    "date_finished": iso(it["harvested"]),
                                    "harvest_job_id": det_uuid("job-%d" % (it["i"] % 5)),
                                    "harvest_source_id": det_uuid("src-" + it["org"][0]),
                                    "source_hash": hashlib.sha256(it["identifier"].encode()).hexdigest(),
                                    "source_raw": json.dumps(doc["dcat"]), "source_transform": None,
                                    "ckan_id": None, "ckan_name": None, "parent_identifier": None},
                                   headers=hdrs)
        return r.send_json({"error": "Not found"}, 404, hdrs)
    if rest == "/_expect":
        with cat.lock:
            return r.send_json(cat.expect())
    if rest != "/search":
        return r.send_json({"error": "Not found"}, 404, hdrs)
    with cat.lock:
        cat.seen_request()
    pp = r.q1("per_page")
    try:
        per_page = 10 if pp in (None, "") else int(pp)
    except ValueError:
        per_page = -1
    if not 1 <= per_page <= 1000:
        return r.send_json({"detail": {"query": {"per_page": ["Must be greater than or equal to 1 and less "
                                                              "than or equal to 1000."]}},
                            "message": "Validation error"}, 422, hdrs)
    sort = r.q1("sort") or "relevance"
    if sort not in ("relevance", "popularity", "last_harvested_date", "distance"):
        return r.send_json({"detail": {"query": {"sort": ["Must be one of: relevance, popularity, distance, "
                                                          "last_harvested_date."]}},
                            "message": "Validation error"}, 422, hdrs)
    after = r.q1("after")
    cursor = None
    if after:
        try:
            cursor = json.loads(base64.urlsafe_b64decode(after.encode() + b"=" * (-len(after) % 4)))
            if not isinstance(cursor, list) or len(cursor) != 3:
                raise ValueError("expected list")
        except (ValueError, UnicodeDecodeError, TypeError) as e:
            return r.send_json({"message": "Invalid cursor format: %s" % e}, 400, hdrs)
    q = (r.q1("q") or "").lower().split()
    org = r.q1("org_slug")
    kws = [k.lower() for k in r.qs.get("keyword", [])]
    hits = []
    for it in cat.items:
        if org and it["org"][0] != org:
            continue
        if kws and not all(k in it["keyword"] for k in kws):
            continue
        score = 1.0
        if q:
            hay = (it["title"] + " " + " ".join(it["keyword"])).lower()
            c = [hay.count(t) for t in q]
            if not all(c):
                continue
            score = round(1.0 + sum(c) * 1.5, 5)
        if sort == "popularity":
            key = [it["popularity"], score, it["id"]]
        elif sort == "last_harvested_date":
            key = [int(it["harvested"] * 1000), score, it["id"]]
        else:
            key = [score, it["popularity"], it["id"]]
        hits.append((key, it))
    hits.sort(key=lambda t: (-t[0][0], -t[0][1], t[0][2]))
    if cursor is not None:
        try:
            ck = (-float(cursor[0]), -float(cursor[1]), str(cursor[2]))
        except (TypeError, ValueError):
            return r.send_json({"message": "Invalid cursor format"}, 400, hdrs)
        hits = [t for t in hits if (-t[0][0], -t[0][1], t[0][2]) > ck]
    page = hits[:per_page + 1]
    nxt = None
    if len(page) > per_page:
        page = page[:per_page]
        nxt = base64.urlsafe_b64encode(json.dumps(page[-1][0], separators=(",", ":")).encode()).decode()
    results = []
    for key, it in page:
        d = cat.doc(it, base, key[0] if sort == "relevance" else key[1])
        d["_sort"] = key
        results.append(d)
    out = {"sort": sort, "results": results}
    if nxt:
        out["after"] = nxt
    return r.send_json(out, headers=hdrs)


# --- /auto

def r_auto(r, rest):
    base = r.base()
    if rest in ("/dcat", "/dcat/"):
        return r.send_html(200, "City of Example Open Data", "<h1>City of Example Open Data</h1>"
                           "<p>Our catalog: <a href=\"/auto/dcat/data.json\">data.json</a></p>")
    if rest == "/dcat/data.json":
        return r_gen(r, "/auto/dcat", CFG.auto_datasets, 7, 1)
    if rest == "/ckan" or rest.startswith("/ckan/"):
        return r_ckan(r, STATE["auto_ckan"], "/auto/ckan", rest[len("/ckan"):])
    if rest == "/socrata" or rest.startswith("/socrata/"):
        return r_socrata(r, STATE["auto_socrata"], "/auto/socrata", rest[len("/socrata"):], None)
    if rest in ("/arcgis", "/arcgis/"):
        return r.send_html(200, "County of Sample GIS Hub", "<h1>County of Sample GIS Hub</h1>"
                           "<div id=\"ember-app\"></div><script src=\"/js/hub.js\"></script>")
    if rest == "/arcgis/api/feed/dcat-us/1.1.json":
        return r.send_json(hub_feed(base, CFG.auto_datasets))
    return r.not_found()


def hub_feed(base, n):
    outsr = "?outSR=%7B%22latestWkid%22%3A3857%2C%22wkid%22%3A102100%7D"
    ds = []
    for i in range(n):
        item = hashlib.md5(("hub-%d" % i).encode()).hexdigest()
        w = words(("hub",), 3, i)
        page = "%s/landing/hub-%s_0.html" % (base, item)
        dists = [{"@type": "dcat:Distribution", "title": "ArcGIS Hub Dataset", "format": "Web Page",
                  "mediaType": "text/html", "accessURL": page},
                 {"@type": "dcat:Distribution", "title": "ArcGIS GeoService",
                  "format": "ArcGIS GeoServices REST API", "mediaType": "application/json",
                  "accessURL": "%s/arcgis/rest/services/Addresses/FeatureServer/0" % base}]
        for fmt, ext, mt in (("GeoJSON", "geojson", "application/vnd.geo+json"), ("CSV", "csv", "text/csv"),
                             ("KML", "kml", "application/vnd.google-earth.kml+xml"),
                             ("ZIP", "zip", "application/zip")):
            dists.append({"@type": "dcat:Distribution", "title": "Shapefile" if ext == "zip" else fmt,
                          "format": fmt, "mediaType": mt,
                          "accessURL": "%s/files/hub/%s_0.%s%s" % (base, item, ext, outsr)})
        ds.append({"@type": "dcat:Dataset",
                   "identifier": "https://www.arcgis.com/home/item.html?id=%s&sublayer=0" % item,
                   "license": "<span style='font-size:large'>Public use; no warranty.</span>" if i % 3 == 0
                   else "No license provided. Request permission to use.",
                   "landingPage": page, "title": "%s %s %s" % (w[0].capitalize(), w[1], w[2]),
                   "description": "<p>%s</p>" % " ".join(words(("hubd",), 10, i)),
                   "keyword": words(("hubk",), 2, i),
                   "issued": iso(ts_of(2021, 1, 29) + i * 86400, False)[:19] + ".000Z",
                   "modified": iso(ts_of(2024, 7, 27) + i * 3600, False)[:19] + ".000Z",
                   "publisher": {"name": "County of Sample GIS"},
                   "contactPoint": {"@type": "vcard:Contact", "fn": "gis_admin",
                                    "hasEmail": "mailto:gis@example.gov"},
                   "accessLevel": "public", "distribution": dists,
                   "spatial": "-83.5000,42.3000,-83.0010,42.3500" if i % 4 else "", "theme": ["geospatial"]})
    return {"@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld", "@type": "dcat:Catalog",
            "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
            "describedBy": "https://project-open-data.cio.gov/v1.1/schema/catalog.json", "dataset": ds}


# ---------------------------------------------------------------- main

def find_shared():
    d = os.path.dirname(os.path.abspath(__file__))
    while True:
        c = os.path.join(d, "shared", "catalogs")
        if os.path.isdir(c):
            return c
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description="Open-data catalog APIs on 127.0.0.1 for tests.")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--pid-file")
    ap.add_argument("--log")
    ap.add_argument("--shared")
    ap.add_argument("--socrata-mutate-after", type=int, default=0)
    ap.add_argument("--datagov-mutate-after", type=int, default=0)
    ap.add_argument("--ckan-packages", type=int, default=2500)
    ap.add_argument("--ckan-rows-max", type=int, default=1000)
    ap.add_argument("--mutate-after-requests", type=int, default=0)
    ap.add_argument("--socrata-datasets", type=int, default=12000)
    ap.add_argument("--socrata-token")
    ap.add_argument("--socrata-free-requests", type=int, default=3)
    ap.add_argument("--socrata-retry-after", type=int, default=1)
    ap.add_argument("--arcgis-features", type=int, default=25000)
    ap.add_argument("--arcgis-max-record-count", type=int, default=1000)
    ap.add_argument("--arcgis-lying-features", type=int, default=2345)
    ap.add_argument("--datagov-datasets", type=int, default=300)
    ap.add_argument("--datagov-key", default="testkey")
    ap.add_argument("--datagov-rate-limit", type=int, default=0)
    ap.add_argument("--auto-datasets", type=int, default=25)
    a = ap.parse_args(argv)

    CFG.shared = a.shared or find_shared()
    if not CFG.shared or not os.path.isdir(CFG.shared):
        print("catalogs.py: no shared/catalogs folder found (use --shared DIR); the /dcat/ and "
              "/arcgis-hub/ routes will answer 404", file=sys.stderr)
        CFG.shared = CFG.shared or ""
    CFG.log_file = open(a.log, "a", buffering=1) if a.log else None
    CFG.socrata_token = a.socrata_token
    CFG.socrata_free_requests = a.socrata_free_requests
    CFG.socrata_retry_after = a.socrata_retry_after
    CFG.datagov_key = a.datagov_key
    CFG.datagov_rate_limit = a.datagov_rate_limit
    CFG.auto_datasets = a.auto_datasets

    STATE["ckan"] = CkanCatalog(a.ckan_packages, a.ckan_rows_max, a.mutate_after_requests, "ckan")
    STATE["auto_ckan"] = CkanCatalog(a.auto_datasets, a.ckan_rows_max, 0, "autockan")
    STATE["socrata"] = SocrataCatalog(a.socrata_datasets, "soc", a.socrata_mutate_after)
    STATE["auto_socrata"] = SocrataCatalog(a.auto_datasets, "autosoc")
    STATE["arcgis"] = ArcServer(a.arcgis_features, a.arcgis_max_record_count, a.arcgis_lying_features)
    STATE["datagov"] = DatagovCatalog(a.datagov_datasets, a.datagov_mutate_after)

    srv = Server(("127.0.0.1", 0), Handler)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.pid_file:
        write_atomic(a.pid_file, "%d\n" % os.getpid())
    write_atomic(a.port_file, str(srv.server_address[1]))
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()
        if CFG.log_file:
            CFG.log_file.flush()
        sys.stderr.flush()
        # Threads may still be streaming an answer: drop them with the
        # process rather than wait for them in the interpreter's teardown.
        os._exit(0)


if __name__ == "__main__":
    main()
