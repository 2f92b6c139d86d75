/*
 * crawler/scope.c -- scope rules (see scope.h).
 *
 * sv_scope_compile does the work that can be done once per seed row: it
 * normalises the seed URL, cuts out the parts each scope compares (host,
 * port, folder, domain) and normalises every include and exclude pattern.
 * sv_scope_decide then only reads the URL in place: no allocation, and every
 * loop is bounded by the URL's length or by SV_SCOPE_MAX_SEGMENTS.
 *
 * What must stay true: the checks run in one order (the URL's own faults,
 * then where it was found, then exclude, then what its kind requires), so a
 * URL gets the same reason in the log whichever page linked it; and nothing
 * here decides by fetching or by resolving names.
 */
#include "scope.h"

#include "robots.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where a pattern is matched. */
enum { ON_PATH, ON_URL, ON_REST };

typedef struct {
	char *glob; /* normalised, runs of '*' collapsed */
	size_t len;
	int target; /* ON_PATH: path and query; ON_URL: the whole URL; ON_REST: the URL after "scheme://" */
} pattern;

/* The parts of an absolute http(s) URL, pointing into it. */
typedef struct {
	const char *url;
	const char *rest;  /* after "scheme://" */
	const char *host;  /* without the port or a final '.' */
	size_t host_len;
	const char *port;  /* after ':', or "" */
	size_t port_len;
	const char *path;  /* from its '/' up to '?' (or the end) */
	size_t path_len;
	const char *query; /* after '?', or NULL */
	size_t len;        /* of the whole URL */
} parts;

/* A starting point of the scope: the seed, or a URL its redirects reached. */
typedef struct {
	char *url;          /* normalised */
	parts p;            /* into url */
	size_t folder_len;  /* its path up to and including its last '/' */
	const char *domain; /* into url: its host without a leading "www." */
	size_t domain_len;
} base;

struct sv_scope_compiled {
	sv_scope scope;
	int depth;
	int datasets;
	size_t max_url_length;
	base *bases;      /* the seed first, then where its redirects landed */
	size_t nbases;
	pattern *include, *exclude;
	size_t ninclude, nexclude;
};

/* Extensions of data files, in lower case. */
static const char *const DATASET_EXTS[] = {
	/* tables and spreadsheets */
	"csv", "tsv", "tab", "psv", "xls", "xlsx", "xlsm", "xlsb", "ods", "txt", "dat", "sql",
	/* structured data */
	"json", "jsonl", "ndjson", "geojson", "topojson", "jsonld", "xml", "rdf", "ttl", "nt", "nq",
	/* archives and compression */
	"zip", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "lz", "lzma", "tar", "7z", "rar",
	/* documents */
	"pdf", "doc", "docx", "odt", "rtf", "ppt", "pptx", "odp",
	/* GIS */
	"shp", "shx", "dbf", "prj", "cpg", "sbn", "sbx", "kml", "kmz", "gpx", "gml", "gpkg", "gdb", "mbtiles",
	"tif", "tiff", "geotiff", "asc", "las", "laz", "dem",
	/* scientific */
	"nc", "nc4", "cdf", "hdf", "hdf4", "hdf5", "h4", "h5", "he5", "grib", "grib2", "grb", "grb2", "mat", "fits",
	/* columnar and statistics packages */
	"parquet", "feather", "arrow", "avro", "orc", "sav", "zsav", "por", "dta", "sas7bdat", "xpt", "rdata",
	"rda", "rds",
	/* databases */
	"sqlite", "sqlite3", "db", "mdb", "accdb",
	/* raw binary data dumps (instrument readings, model output) */
	"bin", "raw",
};

/* Query parameters whose value names a format (?format=csv). */
static const char *const FORMAT_KEYS[] = {"format", "fmt", "f", "output", "outputformat", "filetype"};

/* Content-Types of data, exactly (lower case, without parameters). */
static const char *const DATASET_TYPES[] = {
	"text/csv", "text/x-csv", "application/csv", "application/x-csv", "text/comma-separated-values",
	"text/tab-separated-values", "application/vnd.ms-excel", "application/msexcel", "application/x-msexcel",
	"application/x-excel", "application/excel", "application/msword", "application/vnd.ms-powerpoint",
	"application/rtf", "text/rtf", "application/zip", "application/x-zip", "application/x-zip-compressed",
	"application/gzip", "application/x-gzip", "application/x-gtar", "application/x-tar", "application/x-bzip",
	"application/x-bzip2", "application/x-xz", "application/x-7z-compressed", "application/vnd.rar",
	"application/x-rar", "application/x-rar-compressed", "application/zstd", "application/x-lzma",
	"application/pdf", "application/x-pdf", "application/json", "application/x-ndjson", "application/ndjson",
	"application/jsonl", "application/xml", "text/xml", "application/vnd.google-earth.kml+xml",
	"application/vnd.google-earth.kmz", "application/gpx+xml", "application/gml+xml",
	"application/geopackage+sqlite3", "application/x-netcdf", "application/netcdf", "application/x-hdf",
	"application/x-hdf5", "application/x-parquet", "application/vnd.apache.parquet",
	"application/vnd.apache.arrow.file", "application/vnd.apache.arrow.stream", "application/x-sqlite3",
	"application/vnd.sqlite3", "application/x-spss-sav", "application/x-stata-dta", "application/x-sas-data",
	"application/x-dbf", "application/dbf", "application/x-shapefile", "application/x-msaccess",
	"application/vnd.ms-access", "application/rdf+xml", "text/turtle", "application/n-triples",
	"application/n-quads", "application/sql",
};

/* Families of data Content-Types: a prefix, or a structured-syntax suffix. */
static const char *const DATASET_TYPE_PREFIXES[] = {
	"application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
	"application/vnd.ms-excel.",
};
static const char *const DATASET_TYPE_SUFFIXES[] = {"+json", "+zip"};

/* Content-Types that say nothing: the URL or the file name decides. */
static const char *const GENERIC_TYPES[] = {
	"", "application/octet-stream", "binary/octet-stream", "application/x-download", "application/download",
	"application/force-download", "application/unknown", "application/binary", "text/plain",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

sv_kind sv_scope_kind_to_kind(sv_scope_kind kind)
{
	switch (kind) {
	case SV_SCOPE_AS_DATASET:
		return SV_KIND_DATASET;
	case SV_SCOPE_AS_REQUISITE:
		return SV_KIND_REQUISITE;
	default:
		return SV_KIND_PAGE;
	}
}

const char *sv_scope_kind_name(sv_scope_kind kind)
{
	return sv_kind_name(sv_scope_kind_to_kind(kind));
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int in_list(const char *const *list, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncasecmp(list[i], s, len) == 0)
			return 1;
	return 0;
}

/* Whether the name s[0..n) (a path segment, a file name) ends in a dataset extension. */
static int has_dataset_ext(const char *s, size_t n)
{
	const char *dot = NULL, *end = s + n;

	for (const char *p = s; p < end; p++) {
		if (*p == '/')
			dot = NULL;
		else if (*p == '.')
			dot = p;
		else if (*p == ';')
			end = p; /* a path parameter: "data.csv;jsessionid=..." */
	}
	return dot && dot < end && in_list(DATASET_EXTS, COUNT(DATASET_EXTS), dot + 1, (size_t)(end - dot - 1));
}

/* Splits url into its parts; -1 when it is not an absolute http(s) URL. */
static int split_url(parts *u, const char *url)
{
	const char *p, *auth_end, *colon = NULL;

	if (strncasecmp(url, "http://", 7) == 0)
		u->rest = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		u->rest = url + 8;
	else
		return -1;
	u->url = url;
	auth_end = u->rest + strcspn(u->rest, "/?#");
	p = u->rest;
	if (*p == '[') {
		while (p < auth_end && *p != ']')
			p++;
		if (p < auth_end)
			p++;
	} else {
		while (p < auth_end && *p != ':')
			p++;
	}
	if (p < auth_end && *p == ':')
		colon = p;
	u->host = u->rest;
	u->host_len = (size_t)(p - u->rest);
	if (u->host_len > 0 && u->host[u->host_len - 1] == '.')
		u->host_len--;
	if (u->host_len == 0)
		return -1;
	u->port = colon ? colon + 1 : "";
	u->port_len = colon ? (size_t)(auth_end - colon - 1) : 0;
	u->path = auth_end;
	u->path_len = strcspn(auth_end, "?#");
	u->query = auth_end[u->path_len] == '?' ? auth_end + u->path_len + 1 : NULL;
	u->len = strlen(url);
	return 0;
}

/*
 * Whether the path is a crawler trap: more than SV_SCOPE_MAX_SEGMENTS
 * segments, or a run of segments repeated SV_SCOPE_MAX_REPEATS times in a row
 * (/x/x/x/, /a/b/a/b/a/b/). A final empty segment (a trailing '/') does not
 * count. Returns the reason or NULL.
 */
static const char *path_trap(const char *path, size_t len)
{
	const char *seg[SV_SCOPE_MAX_SEGMENTS + 1];
	size_t seg_len[SV_SCOPE_MAX_SEGMENTS + 1], k = 0, i = 1;

	if (len == 0 || path[0] != '/')
		return NULL;
	while (i <= len) {
		size_t e = i;
		while (e < len && path[e] != '/')
			e++;
		if (e == len && e == i)
			break; /* the trailing '/' */
		if (k == SV_SCOPE_MAX_SEGMENTS)
			return SV_SCOPE_WHY_SEGMENTS;
		seg[k] = path + i;
		seg_len[k++] = e - i;
		i = e + 1;
	}
	/* run[j]: segment j equals segment j + p; a block of p repeats r times when (r-1)*p of them hold in a row */
	for (size_t p = 1; p * SV_SCOPE_MAX_REPEATS <= k; p++) {
		size_t run = 0;
		for (size_t j = 0; j + p < k; j++) {
			if (seg_len[j] == seg_len[j + p] && memcmp(seg[j], seg[j + p], seg_len[j]) == 0)
				run++;
			else
				run = 0;
			if (run >= (SV_SCOPE_MAX_REPEATS - 1) * p)
				return SV_SCOPE_WHY_REPEATS;
		}
	}
	return NULL;
}

static int same_host(const parts *a, const parts *b)
{
	return a->host_len == b->host_len && strncasecmp(a->host, b->host, a->host_len) == 0;
}

/* Same host and port: another port is another server (normalised URLs have no default port). */
static int same_authority(const parts *a, const parts *b)
{
	return same_host(a, b) && a->port_len == b->port_len && memcmp(a->port, b->port, a->port_len) == 0;
}

static int in_scope_of(sv_scope scope, const base *b, const parts *u)
{
	switch (scope) {
	case SV_SCOPE_PAGE:
		return strcmp(u->url, b->url) == 0;
	case SV_SCOPE_PREFIX:
		return same_authority(u, &b->p) && u->path_len >= b->folder_len &&
		       memcmp(u->path, b->p.path, b->folder_len) == 0;
	case SV_SCOPE_HOST:
		return same_authority(u, &b->p);
	case SV_SCOPE_DOMAIN:
		if (u->host_len == b->domain_len)
			return strncasecmp(u->host, b->domain, b->domain_len) == 0;
		return u->host_len > b->domain_len && u->host[u->host_len - b->domain_len - 1] == '.' &&
		       strncasecmp(u->host + u->host_len - b->domain_len, b->domain, b->domain_len) == 0;
	}
	return 0;
}

/* In the scope of the seed or of any place it landed (a handful: one loop). */
static int in_scope(const sv_scope_compiled *s, const parts *u)
{
	for (size_t i = 0; i < s->nbases; i++)
		if (in_scope_of(s->scope, &s->bases[i], u))
			return 1;
	return 0;
}

static int matches_any(const pattern *pats, size_t n, const parts *u)
{
	for (size_t i = 0; i < n; i++) {
		const char *subject = pats[i].target == ON_PATH ? u->path : pats[i].target == ON_URL ? u->url : u->rest;
		size_t len = u->len - (size_t)(subject - u->url);
		if (sv_robots_match(pats[i].glob, pats[i].len, 1, subject, len))
			return 1;
	}
	return 0;
}

static int url_is_dataset(const parts *u)
{
	const char *q, *end;

	if (has_dataset_ext(u->path, u->path_len))
		return 1;
	if (!u->query)
		return 0;
	end = u->query + strcspn(u->query, "#");
	for (q = u->query; q < end;) {
		const char *amp = q, *eq;
		while (amp < end && *amp != '&' && *amp != ';')
			amp++;
		eq = memchr(q, '=', (size_t)(amp - q));
		if (eq) {
			size_t vlen = (size_t)(amp - eq - 1);
			if (has_dataset_ext(eq + 1, vlen))
				return 1;
			if (in_list(FORMAT_KEYS, COUNT(FORMAT_KEYS), q, (size_t)(eq - q)) &&
			    in_list(DATASET_EXTS, COUNT(DATASET_EXTS), eq + 1, vlen))
				return 1;
		}
		q = amp + 1;
	}
	return 0;
}

int sv_scope_url_is_dataset(const char *url)
{
	parts u;
	return url && split_url(&u, url) == 0 && url_is_dataset(&u);
}

static int decline(sv_scope_decision *out, const char *why)
{
	out->follow = 0;
	out->reason = why;
	return 0;
}

/* The URL's own faults, checked first whatever found it: why it is not followed, or NULL (u then holds it). */
static const char *url_fault(const sv_scope_compiled *s, const char *url, parts *u)
{
	if (split_url(u, url) < 0)
		return SV_SCOPE_WHY_NOT_HTTP;
	if (u->len > s->max_url_length)
		return SV_SCOPE_WHY_TOO_LONG;
	return path_trap(u->path, u->path_len);
}

int sv_scope_decide(const sv_scope_compiled *s, const char *url, int from_depth, int source_in_scope,
		    int link_is_requisite, sv_scope_decision *out)
{
	const char *fault;
	parts u;

	if (!s || !url || !out)
		return sv_error_set(SV_EINVAL, "scope decision without rules, URL or result");
	*out = (sv_scope_decision){
		.follow = 1,
		.kind = link_is_requisite ? SV_SCOPE_AS_REQUISITE : SV_SCOPE_AS_PAGE,
		.depth = from_depth < 0 ? 1 : from_depth == INT_MAX ? from_depth : from_depth + 1,
	};
	if ((fault = url_fault(s, url, &u)))
		return decline(out, fault);
	if (!link_is_requisite && url_is_dataset(&u))
		out->kind = SV_SCOPE_AS_DATASET;
	out->in_scope = in_scope(s, &u);
	if (!source_in_scope)
		return decline(out, SV_SCOPE_WHY_SOURCE);
	if (matches_any(s->exclude, s->nexclude, &u))
		return decline(out, SV_SCOPE_WHY_EXCLUDED);
	switch (out->kind) {
	case SV_SCOPE_AS_REQUISITE:
		return 0;
	case SV_SCOPE_AS_DATASET:
		return s->datasets ? 0 : decline(out, SV_SCOPE_WHY_NO_DATASETS);
	case SV_SCOPE_AS_PAGE:
		if (!out->in_scope)
			return decline(out, SV_SCOPE_WHY_OUT);
		if (s->ninclude && !matches_any(s->include, s->ninclude, &u))
			return decline(out, SV_SCOPE_WHY_NOT_INCLUDED);
		if (s->depth >= 0 && out->depth > s->depth)
			return decline(out, SV_SCOPE_WHY_DEPTH);
		return 0;
	}
	return 0;
}

const char *sv_scope_catalog_refuses(const sv_scope_compiled *s, const char *url)
{
	const char *fault;
	parts u;
	if (!s || !url)
		return SV_SCOPE_WHY_NOT_HTTP;
	if ((fault = url_fault(s, url, &u)))
		return fault;
	if (matches_any(s->exclude, s->nexclude, &u))
		return SV_SCOPE_WHY_EXCLUDED;
	if (s->ninclude && !matches_any(s->include, s->ninclude, &u))
		return SV_SCOPE_WHY_NOT_INCLUDED;
	return NULL;
}

int sv_scope_decide_sitemap(const sv_scope_compiled *s, const char *url, int depth, sv_scope_decision *out)
{
	const char *fault;
	sv_scope server;
	parts u;

	if (!s || !url || !out)
		return sv_error_set(SV_EINVAL, "scope decision without rules, URL or result");
	*out = (sv_scope_decision){.follow = 1, .kind = SV_SCOPE_AS_PAGE, .depth = depth < 0 ? 0 : depth};
	if ((fault = url_fault(s, url, &u)))
		return decline(out, fault);
	if (s->scope == SV_SCOPE_PAGE)
		return decline(out, SV_SCOPE_WHY_PAGE_SITEMAP);
	/* A sitemap maps its whole server: prefix compares the server, and its entries the folder. */
	server = s->scope == SV_SCOPE_PREFIX ? SV_SCOPE_HOST : s->scope;
	for (size_t i = 0; i < s->nbases && !out->in_scope; i++)
		out->in_scope = in_scope_of(server, &s->bases[i], &u);
	if (!out->in_scope)
		return decline(out, SV_SCOPE_WHY_OUT);
	if (matches_any(s->exclude, s->nexclude, &u))
		return decline(out, SV_SCOPE_WHY_EXCLUDED);
	if (s->depth >= 0 && out->depth > s->depth)
		return decline(out, SV_SCOPE_WHY_DEPTH);
	if (out->depth >= SV_SCOPE_SITEMAP_LEVELS)
		return decline(out, SV_SCOPE_WHY_NESTING);
	return 0;
}

/* Checks and normalises one pattern t[0..n) of the list named which. */
static int compile_pattern(pattern *out, const char *which, const char *t, size_t n)
{
	const char *sep;
	size_t host_end = 0, len, k = 0;
	char *tmp, *g;
	int target;

	if (n > SV_URL_MAX)
		return sv_error_set(SV_EINVAL, "%s pattern '%.60s...' is longer than %d bytes", which, t, SV_URL_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == '#')
			return sv_error_set(SV_EINVAL, "%s pattern '%.*s': '#' never matches: URLs are queued without their fragment",
					    which, (int)n, t);
		if (c < 0x20 || c == 0x7f || strchr("\"<>\\^`{}", c))
			return sv_error_set(SV_EINVAL,
					    "%s pattern '%.*s': '%c' cannot stand in a URL (patterns are globs with '*', not regular expressions)",
					    which, (int)n, t, c >= 0x20 && c != 0x7f ? c : '?');
	}
	if (n > 1 && t[n - 1] == '$')
		n--;
	sep = memmem(t, n, "://", 3);
	if (t[0] == '/') {
		target = ON_PATH;
	} else if (sep) {
		size_t slen = (size_t)(sep - t);
		if (!memchr(t, '*', slen) && !(slen == 4 && strncasecmp(t, "http", 4) == 0) &&
		    !(slen == 5 && strncasecmp(t, "https", 5) == 0))
			return sv_error_set(SV_EINVAL, "%s pattern '%.*s': only http and https URLs are crawled", which,
					    (int)n, t);
		target = ON_URL;
		host_end = (size_t)(sep + 3 - t);
		while (host_end < n && t[host_end] != '/')
			host_end++;
	} else {
		/* "www.Example.gov/X": the host, up to the first '/', unless a '?' shows it is not one */
		const char *slash = memchr(t, '/', n);
		target = ON_REST;
		if (slash && !memchr(t, '?', (size_t)(slash - t)))
			host_end = (size_t)(slash - t);
	}
	if (!(tmp = malloc(n + 1)) || !(g = malloc(3 * n + 1))) {
		free(tmp);
		return sv_error_set(SV_EIO, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		tmp[i] = i < host_end ? lower(t[i]) : t[i];
	len = sv_robots_normalize_escapes(g, tmp, n);
	free(tmp);
	for (size_t i = 0; i < len; i++)
		if (!(g[i] == '*' && k > 0 && g[k - 1] == '*'))
			g[k++] = g[i];
	g[k] = '\0';
	*out = (pattern){g, k, target};
	return 0;
}

/* Compiles the list (spaces, tabs, newlines or '|' between patterns) into *out. */
static int compile_list(pattern **out, size_t *n, const char *which, const char *list)
{
	static const char SEP[] = " \t\r\n\v\f|";
	size_t cap = 0;
	const char *p = list;
	int rc;

	*out = NULL;
	*n = 0;
	if (!list)
		return 0;
	for (p += strspn(p, SEP); *p; p += strspn(p, SEP)) {
		size_t len = strcspn(p, SEP);
		if (*n == cap) {
			pattern *grown = realloc(*out, (cap ? 2 * cap : 4) * sizeof(pattern));
			if (!grown)
				return sv_error_set(SV_EIO, "out of memory");
			*out = grown;
			cap = cap ? 2 * cap : 4;
		}
		if ((rc = compile_pattern(&(*out)[*n], which, p, len)) < 0)
			return rc;
		(*n)++;
		p += len;
	}
	return 0;
}

/* Adds url (normalised here) as a starting point; what is refused is named by what. */
static int add_base(sv_scope_compiled *s, const char *url, const char *what)
{
	base *b, *more;
	char *n = NULL;
	int rc;
	if ((rc = sv_url_normalize(&n, url, NULL)) < 0) {
		sv_error_prefix(what);
		return rc;
	}
	for (size_t i = 0; i < s->nbases; i++)
		if (!strcmp(s->bases[i].url, n)) {
			free(n);
			return 0;
		}
	if (!(more = realloc(s->bases, (s->nbases + 1) * sizeof(*more)))) {
		free(n);
		return sv_error_set(SV_EIO, "out of memory");
	}
	s->bases = more;
	b = &s->bases[s->nbases];
	memset(b, 0, sizeof(*b));
	b->url = n;
	if (split_url(&b->p, n) < 0) {
		rc = sv_error_set(SV_EINVAL, "%s '%s' is not an http or https URL", what, n);
		free(n);
		return rc;
	}
	s->nbases++;
	for (size_t i = 0; i < b->p.path_len; i++)
		if (b->p.path[i] == '/')
			b->folder_len = i + 1;
	b->domain = b->p.host;
	b->domain_len = b->p.host_len;
	/* "www.com" stays whole: what is left must still be a name with a dot */
	if (b->domain_len > 4 && strncasecmp(b->domain, "www.", 4) == 0 && memchr(b->domain + 4, '.', b->domain_len - 4)) {
		b->domain += 4;
		b->domain_len -= 4;
	}
	return 0;
}

int sv_scope_compile(sv_scope_compiled **out, const sv_scope_rules *rules)
{
	sv_scope_compiled *s;
	int rc;

	*out = NULL;
	if (!rules || !rules->seed_url)
		return sv_error_set(SV_EINVAL, "scope rules without a seed URL");
	if (!(s = calloc(1, sizeof(*s))))
		return sv_error_set(SV_EIO, "out of memory");
	s->scope = rules->scope;
	s->depth = rules->depth < 0 ? -1 : rules->depth;
	s->datasets = rules->datasets;
	s->max_url_length = rules->max_url_length > 0 ? (size_t)rules->max_url_length : SV_SCOPE_URL_MAX_DEFAULT;
	if ((rc = add_base(s, rules->seed_url, "seed URL")) < 0)
		goto fail;
	if ((rc = compile_list(&s->include, &s->ninclude, "include", rules->include)) < 0 ||
	    (rc = compile_list(&s->exclude, &s->nexclude, "exclude", rules->exclude)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	sv_scope_free(s);
	return rc;
}

int sv_scope_add_landing(sv_scope_compiled *s, const char *url)
{
	if (!s || !url)
		return sv_error_set(SV_EINVAL, "a landing without rules or URL");
	return add_base(s, url, "landing URL");
}

const char *sv_scope_seed_url(const sv_scope_compiled *s)
{
	return s->bases[0].url;
}

void sv_scope_free(sv_scope_compiled *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ninclude; i++)
		free(s->include[i].glob);
	for (size_t i = 0; i < s->nexclude; i++)
		free(s->exclude[i].glob);
	free(s->include);
	free(s->exclude);
	for (size_t i = 0; i < s->nbases; i++)
		free(s->bases[i].url);
	free(s->bases);
	free(s);
}

/* The value of the filename (or filename*) parameter of a Content-Disposition, or NULL; its length in *n. */
static const char *disposition_filename(const char *cd, size_t *n)
{
	const char *p, *v = NULL;

	for (p = cd; (p = strcasestr(p, "filename")); p += 8) {
		const char *q = p + 8;
		int extended = *q == '*';
		if (p > cd && !strchr("; \t", p[-1]))
			continue;
		q += extended;
		q += strspn(q, " \t");
		if (*q != '=')
			continue;
		q++;
		q += strspn(q, " \t");
		if (extended) {
			/* RFC 5987: charset'language'value */
			const char *end = q + strcspn(q, ";"), *tick = q;
			for (const char *t = q; t < end; t++)
				if (*t == '\'')
					tick = t + 1;
			*n = (size_t)(end - tick);
			return tick; /* the extended form wins over the plain one */
		}
		if (*q == '"') {
			q++;
			*n = strcspn(q, "\"");
		} else {
			*n = strcspn(q, "; \t");
		}
		v = q;
	}
	return v;
}

int sv_scope_is_dataset_type(const char *content_type, const char *url, const char *content_disposition)
{
	char type[128];
	size_t n = 0, len;
	const char *name;

	if (content_disposition && (name = disposition_filename(content_disposition, &len)) &&
	    has_dataset_ext(name, len))
		return 1;
	if (content_type) {
		const char *p = content_type + strspn(content_type, " \t");
		while (*p && *p != ';' && n + 1 < sizeof(type))
			type[n++] = lower(*p++);
		while (n > 0 && (type[n - 1] == ' ' || type[n - 1] == '\t'))
			n--;
	}
	type[n] = '\0';
	if (in_list(DATASET_TYPES, COUNT(DATASET_TYPES), type, n))
		return 1;
	for (size_t i = 0; i < COUNT(DATASET_TYPE_PREFIXES); i++)
		if (strncmp(type, DATASET_TYPE_PREFIXES[i], strlen(DATASET_TYPE_PREFIXES[i])) == 0)
			return 1;
	for (size_t i = 0; i < COUNT(DATASET_TYPE_SUFFIXES); i++) {
		size_t sl = strlen(DATASET_TYPE_SUFFIXES[i]);
		if (n > sl && strcmp(type + n - sl, DATASET_TYPE_SUFFIXES[i]) == 0)
			return 1;
	}
	return in_list(GENERIC_TYPES, COUNT(GENERIC_TYPES), type, n) && url && sv_scope_url_is_dataset(url);
}

int sv_scope_follow_found(const sv_scope_compiled *s, const char *url, int depth, int in_scope, int found_sitemap,
			  int requisite, int *depth_out, sv_kind *kind_out)
{
	sv_scope_decision d;
	if (!s || !in_scope)
		return 0;
	if (found_sitemap) {
		if (sv_scope_decide_sitemap(s, url, depth + 1, &d) != 0 || !d.follow)
			return 0;
		*kind_out = SV_KIND_SITEMAP;
	} else {
		if (sv_scope_decide(s, url, depth, 1, requisite, &d) != 0 || !d.follow)
			return 0;
		*kind_out = sv_scope_kind_to_kind(d.kind);
	}
	*depth_out = d.depth;
	return 1;
}

int sv_scope_item_in_scope(const sv_scope_compiled *s, const char *url, int depth, int is_sitemap)
{
	sv_scope_decision d;
	if (!s)
		return 0;
	if (is_sitemap)
		return sv_scope_decide_sitemap(s, url, depth, &d) == 0 && d.follow;
	return sv_scope_decide(s, url, depth > 0 ? depth - 1 : 0, 1, 0, &d) == 0 && d.in_scope;
}

int sv_scope_follow_redirect(const sv_scope_compiled *s, const char *target, int depth, sv_kind kind)
{
	sv_scope_decision d;
	return s && sv_scope_decide(s, target, depth > 0 ? depth - 1 : 0, 1, kind != SV_KIND_PAGE, &d) == 0 && d.follow;
}
