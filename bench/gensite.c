/*
 * gensite — write a deterministic static web site of an agency's open-data
 * portal, for the crawl benchmark (bench/crawl).
 *
 *   gensite DIR [SCALE]
 *
 * SCALE (default 1) multiplies the counts and the large files' sizes; 0.05
 * gives a site of 1/20 the size for a quick test. At SCALE 1 the site has:
 *
 *   - 20,000 HTML pages (the home page / and 19,999 under /p/<dept>/), each
 *     8–30 KB of English-like text, with 10–20 links to other pages and to
 *     datasets, written in the ways real sites write them: root-relative
 *     (/p/x/y.html), relative (y.html, ../x/y.html, ../../data/...), with a
 *     "./" or a #fragment;
 *   - 2,500 small CSV datasets (10–100 KB, log-uniform) under /data/<dept>/;
 *   - 20 medium datasets (5–20 MB): half CSV, half ZIP archives holding one
 *     deflated CSV (so they do not compress again, like real ZIPs);
 *   - 2 large datasets under /data/bulk/: a 120 MB CSV and a 100 MB binary
 *     file of fixed-size sensor records;
 *   - robots.txt allowing everything.
 *
 * About 900 MB in all. Every page is reachable from / through a binary tree
 * of links (page i links to 2i+1 and 2i+2, so the link depth is about 15),
 * and every dataset is linked from a page of its own; the other links are
 * random. The program checks this with a breadth-first walk from /.
 *
 * Output: DIR/www/ (the document root) and DIR/manifest.tsv, one line per URL
 * reachable from / (robots.txt excluded): "path<TAB>bytes<TAB>page|dataset",
 * with the home page as "/". The same arguments always give the same bytes
 * (xorshift64* seeded from each file's index). Needs zlib (-lz).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MB 1000000ULL

static const char *const depts[] = {
    "air-quality", "water-programs", "forest-service", "land-management", "geological-survey",
    "park-service", "fish-wildlife", "emergency-management", "highways", "aviation",
    "education-statistics", "housing", "census", "labor-statistics", "economic-analysis",
    "social-security", "medicare", "food-drug", "health-research", "veterans",
    "justice-statistics", "homeland-security", "coast-guard", "commerce", "standards",
    "small-business", "treasury", "revenue", "occupational-safety", "mine-safety",
    "nuclear-regulatory", "communications", "energy-regulatory", "international-development",
    "general-services", "personnel", "science-foundation", "space", "engineers", "reclamation",
};

static const char *const agencies[] = {
    "Environmental Protection Agency", "Department of Agriculture, Forest Service",
    "National Oceanic and Atmospheric Administration", "Centers for Disease Control and Prevention",
    "Department of Energy", "Bureau of Land Management", "U.S. Geological Survey",
    "National Park Service", "Fish and Wildlife Service", "Federal Emergency Management Agency",
    "Federal Highway Administration", "Federal Aviation Administration",
    "National Center for Education Statistics", "Department of Housing and Urban Development",
    "Census Bureau", "Bureau of Labor Statistics", "Bureau of Economic Analysis",
    "Social Security Administration", "Centers for Medicare & Medicaid Services",
    "Food and Drug Administration", "National Institutes of Health",
    "Department of Veterans Affairs", "Bureau of Justice Statistics",
    "Department of Homeland Security", "U.S. Coast Guard", "Department of Commerce",
    "National Institute of Standards and Technology", "Small Business Administration",
    "Department of the Treasury", "Internal Revenue Service",
    "Occupational Safety and Health Administration", "Mine Safety and Health Administration",
    "Nuclear Regulatory Commission", "Federal Communications Commission",
    "Federal Energy Regulatory Commission", "U.S. Agency for International Development",
    "General Services Administration", "Office of Personnel Management",
    "National Science Foundation", "National Aeronautics and Space Administration",
};

static const char *const counties[] = {
    "Los Angeles", "Cook", "Harris", "Maricopa", "San Diego", "Orange", "Miami-Dade", "Dallas",
    "Kings", "Riverside", "Clark", "Queens", "King", "San Bernardino", "Tarrant", "Bexar",
    "Broward", "Santa Clara", "Wayne", "Alameda", "Middlesex", "Philadelphia", "Sacramento",
    "Suffolk", "Palm Beach", "Bronx", "Hillsborough", "Franklin", "Cuyahoga", "Hennepin",
    "Allegheny", "Oakland", "Travis", "Salt Lake", "Contra Costa", "Fairfax", "Montgomery",
    "Wake", "Mecklenburg", "Fulton", "Pima", "St. Louis", "Honolulu", "Jefferson", "Marion",
};

static const char *const states[] = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY", "DC", "PR",
};

static const char *const categories[] = {
    "Air Quality", "Water Quality", "Grant Award", "Contract Obligation", "Inspection",
    "Violation", "Enforcement Action", "Permit Issued", "Permit Renewal", "Public Comment",
    "Incident Report", "Disaster Declaration", "Loan Disbursement", "Research Funding",
    "Facility Registration", "Emissions Estimate", "Monitoring Station", "Survey Response",
    "Hazardous Waste", "Land Use", "Wildfire", "Flood Event", "Drought Index",
    "Health Outcome", "Hospital Capacity", "School Enrollment", "Housing Assistance",
    "Transit Ridership", "Bridge Condition", "Energy Consumption", "Species Observation",
};

static const char *const pollutants[] = {
    "PM2.5", "PM10", "Ozone", "NO2", "SO2", "CO", "Lead", "Benzene", "Nitrate", "Arsenic",
};

static const char *const words[] = {
    "the", "of", "and", "to", "in", "for", "on", "at", "by", "with", "from", "the", "of",
    "and", "to", "a", "is", "are", "was", "were", "this", "that", "these", "which", "under",
    "site", "facility", "county", "state", "federal", "local", "annual", "quarterly",
    "monthly", "report", "data", "sample", "samples", "measured", "reported", "estimated",
    "observed", "total", "average", "maximum", "minimum", "level", "levels", "exceeded",
    "below", "above", "standard", "limit", "program", "project", "grant", "funding", "award",
    "contract", "inspection", "completed", "pending", "closed", "open", "review",
    "compliance", "violation", "notice", "issued", "resolved", "water", "air", "soil",
    "groundwater", "surface", "river", "lake", "stream", "watershed", "basin", "wetland",
    "forest", "habitat", "species", "population", "survey", "census", "household", "income",
    "employment", "wage", "workers", "school", "students", "enrollment", "hospital",
    "patients", "cases", "rate", "per", "capita", "cost", "costs", "budget", "expenditure",
    "revenue", "tax", "loan", "assistance", "housing", "rental", "units", "road", "bridge",
    "highway", "transit", "route", "station", "monitor", "sensor", "reading", "readings",
    "temperature", "precipitation", "ozone", "particulate", "nitrogen", "sulfur", "lead",
    "arsenic", "mercury", "nitrate", "phosphorus", "turbidity", "flow", "discharge",
    "permit", "emissions", "release", "spill", "cleanup", "remediation", "restoration",
    "damage", "flood", "fire", "storm", "drought", "heat", "event", "emergency", "response",
    "recovery", "plan", "update", "revised", "preliminary", "final", "draft", "new",
    "existing", "proposed", "approved", "rural", "urban", "tribal", "coastal", "northern",
    "southern", "eastern", "western", "district", "region", "area", "zone", "unit", "phase",
    "year", "fiscal", "calendar", "baseline", "trend", "increase", "decrease", "change",
    "available", "methodology", "public", "records", "guidance", "regulation", "rule",
    "office", "agency", "staff", "field", "laboratory", "analysis", "method", "quality",
    "assurance", "control", "verified", "flagged", "published", "dataset", "download",
    "archive", "historical", "series", "estimates", "indicators", "statistics", "summary",
};

/* ------------------------------------------------------------ randomness */

typedef struct {
    uint64_t s;
} rng;

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static rng rng_for(uint64_t kind, uint64_t index)
{
    rng r = {splitmix(kind * 0x100000001B3ULL + index) | 1};
    return r;
}

static inline uint64_t rnd(rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint32_t below(rng *r, uint32_t n)
{
    return (uint32_t)(((rnd(r) >> 32) * (uint64_t)n) >> 32);
}

static double unit(rng *r)
{
    return (double)(rnd(r) >> 11) / 9007199254740992.0;
}

/* log-uniform in [lo, hi] */
static uint64_t loguni(rng *r, uint64_t lo, uint64_t hi)
{
    return (uint64_t)exp(log((double)lo) + unit(r) * (log((double)hi) - log((double)lo)));
}

#define PICK(r, a) ((a)[below((r), COUNT(a))])

/* ------------------------------------------------------------ output buffer */

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void need(buf *b, size_t more)
{
    if (b->n + more <= b->cap)
        return;
    while (b->n + more > b->cap)
        b->cap = b->cap ? b->cap * 2 : 65536;
    b->p = realloc(b->p, b->cap);
    if (!b->p) {
        perror("gensite: realloc");
        exit(1);
    }
}

static void bput(buf *b, const char *s)
{
    size_t l = strlen(s);
    need(b, l);
    memcpy(b->p + b->n, s, l);
    b->n += l;
}

static void bputc(buf *b, char c)
{
    need(b, 1);
    b->p[b->n++] = c;
}

static void bu64(buf *b, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    need(b, (size_t)n);
    while (n)
        b->p[b->n++] = tmp[--n];
}

static void bu64w(buf *b, uint64_t v, int w)
{
    need(b, (size_t)w);
    for (int i = w - 1; i >= 0; i--) {
        b->p[b->n + (size_t)i] = (char)('0' + v % 10);
        v /= 10;
    }
    b->n += (size_t)w;
}

/* v / 10^dec with dec decimals */
static void bfixed(buf *b, int64_t v, int dec)
{
    uint64_t scale = 1, u;
    for (int i = 0; i < dec; i++)
        scale *= 10;
    if (v < 0) {
        bputc(b, '-');
        u = (uint64_t)(-v);
    } else
        u = (uint64_t)v;
    bu64(b, u / scale);
    bputc(b, '.');
    bu64w(b, u % scale, dec);
}

/* ------------------------------------------------------------ files */

static const char *root;
static FILE *manifest_tmp;

static void mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST) {
                fprintf(stderr, "gensite: mkdir %s: %s\n", tmp, strerror(errno));
                exit(1);
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) {
        fprintf(stderr, "gensite: mkdir %s: %s\n", tmp, strerror(errno));
        exit(1);
    }
}

static FILE *open_url(const char *urlpath)
{
    char path[4096], dir[4096];
    snprintf(path, sizeof(path), "%s/www%s", root, urlpath);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gensite: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    return f;
}

static void close_file(FILE *f, const char *what)
{
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "gensite: writing %s: %s\n", what, strerror(errno));
        exit(1);
    }
}

static void flush_buf(FILE *f, buf *b)
{
    if (b->n && fwrite(b->p, 1, b->n, f) != b->n) {
        perror("gensite: fwrite");
        exit(1);
    }
    b->n = 0;
}

/* ------------------------------------------------------------ the site's shape */

static uint32_t npages, nsmall, nmedium, ndata; /* ndata = nsmall + nmedium + 2 */
static uint64_t large_csv_bytes, large_bin_bytes;

/* Datasets: 0..nsmall-1 small CSV; then medium (even: csv, odd: zip); then
   the large CSV and the large binary file. */
enum { D_SMALL, D_MEDIUM_CSV, D_MEDIUM_ZIP, D_LARGE_CSV, D_LARGE_BIN };

static int data_kind(uint32_t j)
{
    if (j < nsmall)
        return D_SMALL;
    if (j < nsmall + nmedium)
        return (j - nsmall) % 2 ? D_MEDIUM_ZIP : D_MEDIUM_CSV;
    return j == nsmall + nmedium ? D_LARGE_CSV : D_LARGE_BIN;
}

static void slug(rng *r, char *out, size_t cap, int nwords)
{
    size_t n = 0;
    for (int i = 0; i < nwords; i++) {
        const char *w;
        do
            w = PICK(r, words);
        while (strlen(w) < 4);
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "-" : "", w);
    }
}

/* URL path of page i (0 = the home page, "/"). */
static void page_path(uint32_t i, char *out, size_t cap)
{
    if (i == 0) {
        snprintf(out, cap, "/");
        return;
    }
    rng r = rng_for(1, i);
    char s[128];
    slug(&r, s, sizeof(s), 2 + (int)below(&r, 2));
    snprintf(out, cap, "/p/%s/%s-%u.html", depts[i % COUNT(depts)], s, i);
}

static void data_path(uint32_t j, char *out, size_t cap)
{
    rng r = rng_for(2, j);
    char s[128];
    slug(&r, s, sizeof(s), 2 + (int)below(&r, 2));
    switch (data_kind(j)) {
    case D_SMALL:
        snprintf(out, cap, "/data/%s/%s-%u.csv", depts[j % COUNT(depts)], s, j);
        break;
    case D_MEDIUM_CSV:
        snprintf(out, cap, "/data/%s/%s-full-%u.csv", depts[j % COUNT(depts)], s, j);
        break;
    case D_MEDIUM_ZIP:
        snprintf(out, cap, "/data/%s/%s-archive-%u.zip", depts[j % COUNT(depts)], s, j);
        break;
    case D_LARGE_CSV:
        snprintf(out, cap, "/data/bulk/facility-measurements-2000-2024.csv");
        break;
    default:
        snprintf(out, cap, "/data/bulk/sensor-network-readings.bin");
        break;
    }
}

/* Target ids: 0..npages-1 pages, npages + j dataset j. */
static void target_path(uint32_t t, char *out, size_t cap)
{
    if (t < npages)
        page_path(t, out, cap);
    else
        data_path(t - npages, out, cap);
}

/* ------------------------------------------------------------ CSV rows */

static void csv_header(buf *b, int schema)
{
    static const char *const h[] = {
        "record_id,report_date,agency,county,state,category,amount_obligated,amount_spent,"
        "latitude,longitude,description,verified\n",
        "station_id,sample_date,sample_time,pollutant,value,unit,method_code,qualifier,county,"
        "state,latitude,longitude\n",
        "inspection_id,facility_name,inspection_date,county,state,inspector_id,violations,"
        "penalty_usd,status,notes\n",
    };
    bput(b, h[schema]);
}

static void csv_row(buf *b, rng *r, int schema, uint64_t n)
{
    uint32_t y = 2000 + below(r, 25), m = 1 + below(r, 12), d = 1 + below(r, 28);
    switch (schema) {
    case 0: {
        bu64(b, 100000 + n);
        bputc(b, ',');
        bu64w(b, y, 4), bputc(b, '-'), bu64w(b, m, 2), bputc(b, '-'), bu64w(b, d, 2);
        bput(b, ",\""), bput(b, PICK(r, agencies)), bput(b, "\",");
        bput(b, PICK(r, counties)), bputc(b, ','), bput(b, PICK(r, states)), bputc(b, ',');
        bput(b, PICK(r, categories)), bputc(b, ',');
        int64_t amt = (int64_t)loguni(r, 100, 500000000);
        bfixed(b, amt, 2), bputc(b, ',');
        bfixed(b, amt - (int64_t)below(r, (uint32_t)(amt / 3 + 1)), 2), bputc(b, ',');
        bfixed(b, 2500000 + (int64_t)below(r, 2400000), 5), bputc(b, ',');
        bfixed(b, -(int64_t)(7000000 + below(r, 5000000)), 5), bputc(b, ',');
        uint32_t nw = 4 + below(r, 12);
        for (uint32_t i = 0; i < nw; i++)
            bput(b, i ? " " : ""), bput(b, PICK(r, words));
        bput(b, below(r, 4) ? ",true\n" : ",false\n");
        break;
    }
    case 1: {
        bputc(b, 'S'), bu64w(b, 1000 + (n * 7) % 900, 5), bputc(b, ',');
        bu64w(b, y, 4), bputc(b, '-'), bu64w(b, m, 2), bputc(b, '-'), bu64w(b, d, 2);
        bputc(b, ','), bu64w(b, below(r, 24), 2), bputc(b, ':'), bu64w(b, below(r, 4) * 15, 2);
        bputc(b, ','), bput(b, PICK(r, pollutants)), bputc(b, ',');
        bfixed(b, (int64_t)loguni(r, 1, 200000), 3);
        bput(b, below(r, 2) ? ",ug/m3," : ",ppb,");
        bu64(b, 100 + below(r, 30)), bputc(b, ',');
        bput(b, below(r, 10) ? "" : (below(r, 2) ? "BDL" : "EST")), bputc(b, ',');
        bput(b, PICK(r, counties)), bputc(b, ','), bput(b, PICK(r, states)), bputc(b, ',');
        bfixed(b, 2500000 + (int64_t)below(r, 2400000), 5), bputc(b, ',');
        bfixed(b, -(int64_t)(7000000 + below(r, 5000000)), 5), bputc(b, '\n');
        break;
    }
    default: {
        bput(b, "INS-"), bu64w(b, 1000000 + n, 8), bputc(b, ',');
        bput(b, PICK(r, counties)), bputc(b, ' '), bput(b, PICK(r, words)), bput(b, " Plant,");
        bu64w(b, y, 4), bputc(b, '-'), bu64w(b, m, 2), bputc(b, '-'), bu64w(b, d, 2), bputc(b, ',');
        bput(b, PICK(r, counties)), bputc(b, ','), bput(b, PICK(r, states)), bputc(b, ',');
        bu64(b, 10000 + below(r, 800)), bputc(b, ',');
        uint32_t v = below(r, 8) ? 0 : 1 + below(r, 9);
        bu64(b, v), bputc(b, ',');
        bu64(b, v ? v * (500 + below(r, 20000)) : 0), bputc(b, ',');
        bput(b, v ? (below(r, 2) ? "open" : "resolved") : "closed"), bput(b, ",\"");
        uint32_t nw = below(r, 16);
        for (uint32_t i = 0; i < nw; i++)
            bput(b, i ? " " : ""), bput(b, PICK(r, words));
        bput(b, "\"\n");
        break;
    }
    }
}

/* A CSV of at least `bytes` bytes (whole rows). */
static uint64_t write_csv(FILE *f, rng *r, int schema, uint64_t bytes)
{
    buf b = {0};
    uint64_t total = 0, n = 0;
    csv_header(&b, schema);
    while (total + b.n < bytes) {
        csv_row(&b, r, schema, n++);
        if (b.n >= (1 << 20)) {
            total += b.n;
            flush_buf(f, &b);
        }
    }
    total += b.n;
    flush_buf(f, &b);
    free(b.p);
    return total;
}

/* ------------------------------------------------------------ ZIP with one deflated CSV */

static void le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
    le16(p, v & 0xffff), le16(p + 2, v >> 16);
}

/* A ZIP archive of about `bytes` bytes holding one CSV compressed with deflate. */
static void write_zip(FILE *f, rng *r, const char *inner, uint64_t bytes)
{
    unsigned char hdr[30], cd[46], end[22];
    size_t nlen = strlen(inner);
    memset(hdr, 0, sizeof(hdr));
    fwrite(hdr, 1, sizeof(hdr), f); /* placeholder, patched below */
    fwrite(inner, 1, nlen, f);

    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fprintf(stderr, "gensite: deflateInit2 failed\n");
        exit(1);
    }
    static unsigned char out[1 << 18];
    buf b = {0};
    uLong crc = crc32(0, NULL, 0);
    uint64_t raw = 0, comp = 0, n = 0;
    csv_header(&b, 1);
    int finishing = 0;
    for (;;) {
        if (!finishing) {
            while (b.n < (1 << 16))
                csv_row(&b, r, 1, n++);
            /* deflate's output lags its input by up to a block: stop feeding
               a little early */
            if (z.total_out + (1 << 16) >= bytes)
                finishing = 1;
        }
        crc = crc32(crc, (const Bytef *)b.p, (uInt)b.n);
        raw += b.n;
        z.next_in = (Bytef *)b.p;
        z.avail_in = (uInt)b.n;
        int rc;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            rc = deflate(&z, finishing ? Z_FINISH : Z_NO_FLUSH);
            size_t have = sizeof(out) - z.avail_out;
            if (have && fwrite(out, 1, have, f) != have) {
                perror("gensite: fwrite");
                exit(1);
            }
        } while (z.avail_out == 0 || (finishing && rc != Z_STREAM_END));
        b.n = 0;
        if (finishing)
            break;
    }
    comp = z.total_out;
    deflateEnd(&z);
    free(b.p);
    if (raw > 0xffffffffULL || comp > 0xffffffffULL) {
        fprintf(stderr, "gensite: zip member too large\n");
        exit(1);
    }
    /* DOS time 2024-06-01 12:00 */
    unsigned dtime = 12u << 11, ddate = ((2024u - 1980u) << 9) | (6u << 5) | 1u;
    le32(hdr, 0x04034b50), le16(hdr + 4, 20), le16(hdr + 6, 0), le16(hdr + 8, 8);
    le16(hdr + 10, dtime), le16(hdr + 12, ddate), le32(hdr + 14, (uint32_t)crc);
    le32(hdr + 18, (uint32_t)comp), le32(hdr + 22, (uint32_t)raw), le16(hdr + 26, (unsigned)nlen);
    le16(hdr + 28, 0);
    uint64_t cd_off = 30 + nlen + comp;
    memset(cd, 0, sizeof(cd));
    le32(cd, 0x02014b50), le16(cd + 4, 20), le16(cd + 6, 20), le16(cd + 8, 0), le16(cd + 10, 8);
    le16(cd + 12, dtime), le16(cd + 14, ddate), le32(cd + 16, (uint32_t)crc);
    le32(cd + 20, (uint32_t)comp), le32(cd + 24, (uint32_t)raw), le16(cd + 28, (unsigned)nlen);
    le32(cd + 38, 0644u << 16), le32(cd + 42, 0);
    fwrite(cd, 1, sizeof(cd), f);
    fwrite(inner, 1, nlen, f);
    memset(end, 0, sizeof(end));
    le32(end, 0x06054b50), le16(end + 8, 1), le16(end + 10, 1);
    le32(end + 12, (uint32_t)(46 + nlen)), le32(end + 16, (uint32_t)cd_off);
    fwrite(end, 1, sizeof(end), f);
    if (fseek(f, 0, SEEK_SET) || fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
        perror("gensite: patching zip header");
        exit(1);
    }
}

/* ------------------------------------------------------------ binary records */

/* 16-byte little-endian records: u32 time, u16 station, u16 flags, f32 a, f32 b. */
static void write_bin(FILE *f, rng *r, uint64_t bytes)
{
    static unsigned char blk[1 << 20];
    uint32_t t = 946684800; /* 2000-01-01 */
    float a[64], bb[64];
    for (int s = 0; s < 64; s++)
        a[s] = 10.0f + (float)below(r, 200) / 10.0f, bb[s] = 1000.0f + (float)below(r, 50);
    uint64_t done = 0;
    while (done < bytes) {
        size_t n = 0;
        while (n + 16 <= sizeof(blk)) {
            uint16_t st = (uint16_t)below(r, 64);
            a[st] += ((float)below(r, 201) - 100.0f) / 400.0f;
            if (below(r, 8) == 0)
                bb[st] += ((float)below(r, 3) - 1.0f) * 0.25f;
            uint16_t flags = below(r, 50) ? 0 : (uint16_t)(1u << below(r, 4));
            t += below(r, 3);
            memcpy(blk + n, &t, 4), memcpy(blk + n + 4, &st, 2), memcpy(blk + n + 6, &flags, 2);
            memcpy(blk + n + 8, &a[st], 4), memcpy(blk + n + 12, &bb[st], 4);
            n += 16;
        }
        if (n > bytes - done)
            n = (size_t)(bytes - done);
        if (fwrite(blk, 1, n, f) != n) {
            perror("gensite: fwrite");
            exit(1);
        }
        done += n;
    }
}

/* ------------------------------------------------------------ pages */

static uint32_t *links; /* npages x MAXL, each target id; UINT32_MAX ends a list */
#define MAXL 20

static uint32_t assigned_page(uint32_t j, uint32_t p)
{
    return 1 + (uint32_t)(((uint64_t)j * p) % (npages - 1));
}

static void plan_links(void)
{
    links = malloc(sizeof(uint32_t) * MAXL * npages);
    uint32_t *nl = calloc(npages, sizeof(uint32_t));
    if (!links || !nl) {
        perror("gensite: malloc");
        exit(1);
    }
    /* every dataset gets a page of its own: j -> 1 + j*P mod (npages-1),
       P coprime with npages-1 so that no two datasets share a page */
    uint32_t P = 7919;
    for (;;) {
        uint32_t a = P, b = npages - 1;
        while (b)
            a %= b, a ^= b, b ^= a, a ^= b;
        if (a == 1)
            break;
        P++;
    }
    uint32_t *owned = malloc(sizeof(uint32_t) * npages);
    for (uint32_t i = 0; i < npages; i++)
        owned[i] = UINT32_MAX;
    for (uint32_t j = 0; j < ndata; j++)
        owned[assigned_page(j, P)] = j;

    for (uint32_t i = 0; i < npages; i++) {
        rng r = rng_for(3, i);
        uint32_t want = 10 + below(&r, 11), *l = links + (size_t)i * MAXL, n = 0;
        if (i)
            l[n++] = 0;                      /* home */
        if (i)
            l[n++] = (i - 1) / 2;            /* up */
        if (2 * i + 1 < npages)
            l[n++] = 2 * i + 1;              /* the tree that reaches every page */
        if (2 * i + 2 < npages)
            l[n++] = 2 * i + 2;
        if (owned[i] != UINT32_MAX)
            l[n++] = npages + owned[i];
        while (n < want) {
            uint32_t t;
            if (below(&r, 10) < 7)
                t = below(&r, npages);
            else
                t = npages + below(&r, nsmall); /* extra links go to small datasets */
            int dup = t == i;
            for (uint32_t k = 0; k < n && !dup; k++)
                dup = l[k] == t;
            if (!dup)
                l[n++] = t;
        }
        nl[i] = n;
        if (n < MAXL)
            l[n] = UINT32_MAX;
    }
    free(nl);
    free(owned);
}

static uint32_t nlinks(uint32_t i)
{
    uint32_t n = 0;
    while (n < MAXL && links[(size_t)i * MAXL + n] != UINT32_MAX)
        n++;
    return n;
}

/* The href for target path `to` as written on the page at path `from`. */
static void href(rng *r, const char *from, const char *to, char *out, size_t cap)
{
    uint32_t style = below(r, 20);
    const char *frag = style == 19 ? "#details" : style == 18 ? "#top" : "";
    if (style < 10 || !strcmp(to, "/")) {
        snprintf(out, cap, "%s%s", to, frag);
        return;
    }
    /* relative: strip the common directory prefix */
    const char *fs = strrchr(from, '/');
    size_t fdir = (size_t)(fs - from) + 1; /* "/p/x/" */
    if (!strncmp(from, to, fdir) && !strchr(to + fdir, '/')) {
        snprintf(out, cap, "%s%s%s", style % 3 == 0 ? "./" : "", to + fdir, frag);
        return;
    }
    /* up as many levels as `from` has directories, then down */
    size_t ups = 0;
    for (const char *p = from + 1; p < fs + 1; p++)
        ups += *p == '/';
    size_t n = 0;
    for (size_t k = 0; k < ups; k++)
        n += (size_t)snprintf(out + n, cap - n, "../");
    snprintf(out + n, cap - n, "%s%s", to + 1, frag);
}

static void sentence(buf *b, rng *r)
{
    uint32_t nw = 8 + below(r, 14);
    for (uint32_t k = 0; k < nw; k++) {
        const char *w = PICK(r, words);
        if (k == 0) {
            bputc(b, (char)(w[0] - 'a' + 'A'));
            bput(b, w + 1);
        } else {
            bputc(b, ' ');
            bput(b, w);
        }
        if (k + 1 < nw && below(r, 12) == 0)
            bputc(b, ',');
    }
    bput(b, ". ");
}

static void title_words(buf *b, rng *r, int n)
{
    for (int k = 0; k < n; k++) {
        const char *w;
        do
            w = PICK(r, words);
        while (strlen(w) < 4);
        if (k)
            bputc(b, ' ');
        bputc(b, (char)(w[0] - 'a' + 'A'));
        bput(b, w + 1);
    }
}

static const char *kind_label(uint32_t t, uint64_t *size_hint, rng *r)
{
    if (t < npages)
        return NULL;
    switch (data_kind(t - npages)) {
    case D_SMALL:
        *size_hint = 10 + below(r, 90);
        return "CSV, KB";
    case D_MEDIUM_CSV:
        *size_hint = 5 + below(r, 15);
        return "CSV, MB";
    case D_MEDIUM_ZIP:
        *size_hint = 5 + below(r, 15);
        return "ZIP, MB";
    case D_LARGE_CSV:
        *size_hint = large_csv_bytes / MB;
        return "CSV, MB";
    default:
        *size_hint = large_bin_bytes / MB;
        return "binary, MB";
    }
}

static void write_page(uint32_t i, buf *b)
{
    char self[512], to[512], h[1200];
    rng r = rng_for(4, i);
    uint64_t target = 8000 + below(&r, 22001);
    uint32_t n = nlinks(i), next = 0;
    const char *agency = agencies[i % COUNT(agencies)];
    page_path(i, self, sizeof(self));
    b->n = 0;

    bput(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    size_t t0 = b->n;
    if (i == 0)
        bput(b, "Open Data Portal");
    else
        title_words(b, &r, 3 + (int)below(&r, 4));
    size_t tlen = b->n - t0;
    char title[256];
    snprintf(title, sizeof(title), "%.*s", (int)(tlen < 255 ? tlen : 255), b->p + t0);
    bput(b, " | "), bput(b, agency);
    bput(b, "</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"description\" content=\"");
    sentence(b, &r);
    bput(b, "\">\n</head>\n<body>\n<header class=\"site-header\">\n<p class=\"agency\">");
    bput(b, agency);
    bput(b, "</p>\n<nav aria-label=\"Main\"><ul>\n");
    /* the first links (home, up) go into the navigation */
    for (; next < n && next < 2 && links[(size_t)i * MAXL + next] < npages && i; next++) {
        uint32_t t = links[(size_t)i * MAXL + next];
        target_path(t, to, sizeof(to));
        href(&r, self, to, h, sizeof(h));
        bput(b, "<li><a href=\""), bput(b, h), bput(b, "\">");
        bput(b, next == 0 ? "Home" : "Up one level");
        bput(b, "</a></li>\n");
    }
    bput(b, "</ul></nav>\n</header>\n<main id=\"content\">\n<h1>");
    bput(b, title);
    bput(b, "</h1>\n");

    /* body: paragraphs, one inline link in most until the links run out,
       text until the page reaches its size */
    uint32_t para = 0;
    while (b->n + 1500 < target || (next < n && para < 40)) {
        if (para % 5 == 0) {
            bput(b, "<h2>");
            title_words(b, &r, 2 + (int)below(&r, 3));
            bput(b, "</h2>\n");
        }
        bput(b, "<p>");
        uint32_t ns = 3 + below(&r, 5);
        for (uint32_t s = 0; s < ns; s++) {
            sentence(b, &r);
            if (s == ns / 2 && next < n && below(&r, 4)) {
                uint32_t t = links[(size_t)i * MAXL + next++];
                uint64_t sz = 0;
                const char *kl = kind_label(t, &sz, &r);
                target_path(t, to, sizeof(to));
                href(&r, self, to, h, sizeof(h));
                bput(b, "See <a href=\""), bput(b, h), bput(b, "\">");
                title_words(b, &r, 2 + (int)below(&r, 3));
                bput(b, "</a>");
                if (kl) {
                    bput(b, " ("), bu64(b, sz);
                    bput(b, kl[0] == 'C' ? (kl[5] == 'K' ? " KB CSV" : " MB CSV")
                                         : kl[0] == 'Z' ? " MB ZIP" : " MB binary");
                    bputc(b, ')');
                }
                bput(b, ". ");
            }
        }
        bput(b, "</p>\n");
        if (para % 7 == 3) {
            bput(b, "<table>\n<tr><th>Year</th><th>County</th><th>Value</th></tr>\n");
            uint32_t rows = 3 + below(&r, 6);
            for (uint32_t k = 0; k < rows; k++) {
                bput(b, "<tr><td>"), bu64(b, 2010 + below(&r, 15)), bput(b, "</td><td>");
                bput(b, PICK(&r, counties)), bput(b, "</td><td>");
                bfixed(b, (int64_t)below(&r, 10000000), 2), bput(b, "</td></tr>\n");
            }
            bput(b, "</table>\n");
        }
        para++;
    }
    if (next < n) {
        bput(b, "<h2>Related</h2>\n<ul class=\"related\">\n");
        for (; next < n; next++) {
            uint32_t t = links[(size_t)i * MAXL + next];
            target_path(t, to, sizeof(to));
            href(&r, self, to, h, sizeof(h));
            bput(b, "<li><a href=\""), bput(b, h), bput(b, "\">");
            title_words(b, &r, 2 + (int)below(&r, 4));
            bput(b, "</a></li>\n");
        }
        bput(b, "</ul>\n");
    }
    bput(b, "</main>\n<footer>\n<p>Last reviewed ");
    bu64(b, 2020 + below(&r, 5)), bputc(b, '-'), bu64w(b, 1 + below(&r, 12), 2), bput(b, "-");
    bu64w(b, 1 + below(&r, 28), 2);
    bput(b, ". Questions about this page: contact the ");
    bput(b, agency);
    bput(b, " data office.</p>\n</footer>\n</body>\n</html>\n");
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gensite DIR [SCALE]\n");
        return 2;
    }
    root = argv[1];
    double scale = argc == 3 ? strtod(argv[2], NULL) : 1.0;
    if (!(scale > 0 && scale <= 10)) {
        fprintf(stderr, "gensite: SCALE must be in (0, 10]\n");
        return 2;
    }
    npages = (uint32_t)llround(20000 * scale);
    if (npages < 20)
        npages = 20;
    nsmall = (uint32_t)llround(2500 * scale);
    if (nsmall < 2)
        nsmall = 2;
    nmedium = (uint32_t)llround(20 * scale);
    if (nmedium < 2)
        nmedium = 2;
    ndata = nsmall + nmedium + 2;
    if (ndata > npages - 1) {
        fprintf(stderr, "gensite: too few pages for the datasets\n");
        return 2;
    }
    large_csv_bytes = (uint64_t)(120 * MB * scale);
    large_bin_bytes = (uint64_t)(100 * MB * scale);
    if (large_csv_bytes < MB)
        large_csv_bytes = MB;
    if (large_bin_bytes < MB)
        large_bin_bytes = MB;

    mkdirs(root);
    char mpath[4096], mtmp[4096];
    snprintf(mpath, sizeof(mpath), "%s/manifest.tsv", root);
    snprintf(mtmp, sizeof(mtmp), "%s/manifest.tsv.tmp", root);
    manifest_tmp = fopen(mtmp, "w");
    if (!manifest_tmp) {
        perror(mtmp);
        return 1;
    }

    plan_links();

    /* reachability from the home page */
    uint32_t total = npages + ndata, *queue = malloc(sizeof(uint32_t) * total), qh = 0, qt = 0;
    unsigned char *seen = calloc(total, 1);
    seen[0] = 1, queue[qt++] = 0;
    while (qh < qt) {
        uint32_t u = queue[qh++];
        if (u >= npages)
            continue;
        for (uint32_t k = 0, n = nlinks(u); k < n; k++) {
            uint32_t t = links[(size_t)u * MAXL + k];
            if (!seen[t])
                seen[t] = 1, queue[qt++] = t;
        }
    }
    if (qt != total) {
        fprintf(stderr, "gensite: only %u of %u URLs reachable\n", qt, total);
        return 1;
    }

    char path[512];
    uint64_t bytes_pages = 0, bytes_data = 0;
    buf b = {0};
    FILE *f = open_url("/robots.txt");
    fputs("# everything may be crawled\nUser-agent: *\nAllow: /\n", f);
    close_file(f, "robots.txt");

    for (uint32_t i = 0; i < npages; i++) {
        page_path(i, path, sizeof(path));
        write_page(i, &b);
        f = open_url(i ? path : "/index.html");
        flush_buf(f, &b);
        bytes_pages += (uint64_t)ftell(f);
        fprintf(manifest_tmp, "%s\t%ld\tpage\n", path, ftell(f));
        close_file(f, path);
    }
    free(b.p);

    for (uint32_t j = 0; j < ndata; j++) {
        rng r = rng_for(5, j);
        data_path(j, path, sizeof(path));
        f = open_url(path);
        switch (data_kind(j)) {
        case D_SMALL:
            write_csv(f, &r, (int)(j % 3), loguni(&r, 10000, 100000));
            break;
        case D_MEDIUM_CSV:
            write_csv(f, &r, (int)(j % 3), loguni(&r, 5 * MB, 20 * MB));
            break;
        case D_MEDIUM_ZIP: {
            char inner[256];
            const char *base = strrchr(path, '/') + 1;
            snprintf(inner, sizeof(inner), "%.*s.csv", (int)(strlen(base) - 4), base);
            write_zip(f, &r, inner, loguni(&r, 5 * MB, 20 * MB));
            break;
        }
        case D_LARGE_CSV:
            write_csv(f, &r, 0, large_csv_bytes);
            break;
        default:
            write_bin(f, &r, large_bin_bytes);
            break;
        }
        fflush(f);
        if (fseek(f, 0, SEEK_END)) {
            perror("gensite: fseek");
            return 1;
        }
        long sz = ftell(f);
        bytes_data += (uint64_t)sz;
        fprintf(manifest_tmp, "%s\t%ld\tdataset\n", path, sz);
        close_file(f, path);
    }

    if (fclose(manifest_tmp) || rename(mtmp, mpath)) {
        perror(mpath);
        return 1;
    }
    fprintf(stderr,
            "gensite: %u pages (%.1f MB), %u datasets (%u small, %u medium, 2 large; %.1f MB), "
            "%.1f MB in all; all %u URLs reachable from /\n",
            npages, bytes_pages / 1e6, ndata, nsmall, nmedium, bytes_data / 1e6,
            (bytes_pages + bytes_data) / 1e6, total);
    return 0;
}
