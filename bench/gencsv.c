/*
 * gencsv — write a deterministic, government-dataset-like CSV to stdout.
 *
 *   gencsv BYTES [SEED]
 *
 * BYTES is the exact output size (a plain number, or with a K/M/G suffix,
 * powers of 1024).  SEED (default 1) drives a xorshift64* PRNG, so the same
 * arguments always give the same bytes.  Columns: record id, ISO date, agency
 * (~50), county, state, category, two amounts with 2 decimals, lat/lon,
 * free-text description from a word list, a boolean.  Agency names that
 * contain commas are quoted as RFC 4180 requires.  The last row is cut so
 * that the output is exactly BYTES long and, when BYTES > 0, ends in '\n'.
 *
 * Built for the object-store benchmark (bench/run): fast (formats by hand,
 * writes 4 MiB blocks) and compressible like real open data (zstd -3 gives
 * roughly 3-5x, not 100x).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const agencies[] = {
    "Environmental Protection Agency",
    "\"Department of Agriculture, Forest Service\"",
    "National Oceanic and Atmospheric Administration",
    "Centers for Disease Control and Prevention",
    "Department of Energy",
    "\"Department of the Interior, Bureau of Land Management\"",
    "U.S. Geological Survey",
    "National Park Service",
    "Fish and Wildlife Service",
    "Federal Emergency Management Agency",
    "Department of Transportation",
    "Federal Highway Administration",
    "Federal Aviation Administration",
    "Department of Education",
    "National Center for Education Statistics",
    "Department of Housing and Urban Development",
    "Census Bureau",
    "Bureau of Labor Statistics",
    "Bureau of Economic Analysis",
    "Social Security Administration",
    "Centers for Medicare & Medicaid Services",
    "Food and Drug Administration",
    "National Institutes of Health",
    "\"Department of Health and Human Services, Office of the Secretary\"",
    "Department of Veterans Affairs",
    "Department of Justice",
    "Bureau of Justice Statistics",
    "Federal Bureau of Investigation",
    "Department of Homeland Security",
    "U.S. Coast Guard",
    "Department of Commerce",
    "National Institute of Standards and Technology",
    "Small Business Administration",
    "Department of the Treasury",
    "Internal Revenue Service",
    "Department of Labor",
    "Occupational Safety and Health Administration",
    "Mine Safety and Health Administration",
    "Nuclear Regulatory Commission",
    "Federal Communications Commission",
    "Federal Energy Regulatory Commission",
    "Department of State",
    "U.S. Agency for International Development",
    "General Services Administration",
    "Office of Personnel Management",
    "National Science Foundation",
    "National Aeronautics and Space Administration",
    "Army Corps of Engineers",
    "Bureau of Reclamation",
    "\"Natural Resources Conservation Service, USDA\"",
    "Tennessee Valley Authority",
    "Consumer Product Safety Commission",
};

static const char *const counties[] = {
    "Los Angeles", "Cook", "Harris", "Maricopa", "San Diego", "Orange",
    "Miami-Dade", "Dallas", "Kings", "Riverside", "Clark", "Queens",
    "King", "San Bernardino", "Tarrant", "Bexar", "Broward", "Santa Clara",
    "Wayne", "Alameda", "Middlesex", "Philadelphia", "Sacramento",
    "Suffolk", "Palm Beach", "Bronx", "Hillsborough", "Franklin",
    "Cuyahoga", "Hennepin", "Allegheny", "Oakland", "Travis", "Salt Lake",
    "Contra Costa", "Fairfax", "Montgomery", "Wake", "Mecklenburg",
    "Fulton", "Pima", "St. Louis", "Honolulu", "Jefferson", "Marion",
    "Shelby", "Duval", "Baltimore", "Pinellas", "Bernalillo", "Douglas",
    "Polk", "Lee", "Washington", "Adams", "Madison", "Lincoln", "Jackson",
    "Clay", "Union", "Greene", "Monroe", "Carroll", "Benton",
};

static const char *const states[] = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID",
    "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS",
    "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK",
    "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR",
};

static const char *const categories[] = {
    "Air Quality", "Water Quality", "Grant Award", "Contract Obligation",
    "Inspection", "Violation", "Enforcement Action", "Permit Issued",
    "Permit Renewal", "Public Comment", "Incident Report", "Disaster Declaration",
    "Loan Disbursement", "Research Funding", "Facility Registration",
    "Emissions Estimate", "Monitoring Station", "Survey Response",
    "Hazardous Waste", "Land Use", "Wildfire", "Flood Event", "Drought Index",
    "Health Outcome", "Vaccination", "Hospital Capacity", "School Enrollment",
    "Housing Assistance", "Transit Ridership", "Bridge Condition",
    "Energy Consumption", "Species Observation",
};

static const char *const words[] = {
    "the", "of", "and", "to", "in", "for", "on", "at", "by", "with", "from",
    "site", "facility", "county", "state", "federal", "local", "annual",
    "quarterly", "monthly", "report", "data", "sample", "samples", "measured",
    "reported", "estimated", "observed", "total", "average", "maximum",
    "minimum", "level", "levels", "exceeded", "below", "above", "standard",
    "limit", "program", "project", "grant", "funding", "award", "contract",
    "inspection", "completed", "pending", "closed", "open", "review",
    "compliance", "violation", "notice", "issued", "resolved", "water",
    "air", "soil", "groundwater", "surface", "river", "lake", "stream",
    "watershed", "basin", "wetland", "forest", "habitat", "species",
    "population", "survey", "census", "household", "income", "employment",
    "wage", "workers", "school", "students", "enrollment", "hospital",
    "patients", "cases", "rate", "per", "capita", "cost", "costs", "budget",
    "expenditure", "revenue", "tax", "loan", "assistance", "housing",
    "rental", "units", "road", "bridge", "highway", "transit", "route",
    "station", "monitor", "sensor", "reading", "readings", "temperature",
    "precipitation", "ozone", "particulate", "nitrogen", "sulfur", "lead",
    "arsenic", "mercury", "nitrate", "phosphorus", "turbidity", "flow",
    "discharge", "permit", "emissions", "release", "spill", "cleanup",
    "remediation", "restoration", "damage", "flood", "fire", "storm",
    "drought", "heat", "event", "emergency", "response", "recovery",
    "plan", "update", "revised", "preliminary", "final", "draft", "new",
    "existing", "proposed", "approved", "denied", "rural", "urban",
    "tribal", "coastal", "northern", "southern", "eastern", "western",
    "district", "region", "area", "zone", "unit", "phase", "year",
    "fiscal", "calendar", "baseline", "trend", "increase", "decrease",
    "change", "no", "not", "available", "see", "attached", "notes",
    "contact", "office", "agency", "staff", "field", "lab", "analysis",
    "method", "quality", "assurance", "control", "verified", "flagged",
};

/* xorshift64* (Vigna): tiny, fast, good enough for synthetic data. */
static uint64_t rng_state;

static inline uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform-ish in [0, n): multiply-shift, no division. */
static inline uint32_t below(uint32_t n)
{
    return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

static inline char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

/* Decimal, no sign. */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Zero-padded to width digits. */
static inline char *put_u64_w(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Fixed point: v / 10^dec with dec decimals, optional minus sign. */
static inline char *put_fixed(char *p, int64_t v, int dec)
{
    uint64_t scale = 1;
    for (int i = 0; i < dec; i++)
        scale *= 10;
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    p = put_u64(p, (uint64_t)v / scale);
    *p++ = '.';
    return put_u64_w(p, (uint64_t)v % scale, dec);
}

/* Amount in cents with a roughly log-uniform spread, from $1 to ~$10M. */
static inline uint64_t amount_cents(void)
{
    static const uint64_t mag[] = {100, 1000, 10000, 100000, 1000000, 10000000,
                                   100000000, 1000000000};
    uint32_t m = below(7);
    uint64_t lo = mag[m], span = mag[m + 1] - lo;
    uint64_t v = lo + (rnd() >> 11) % span;
    /* Real ledgers are full of round numbers. */
    if (below(4) == 0)
        v -= v % (m >= 3 ? 10000 : 100);
    return v;
}

static const char header[] =
    "record_id,report_date,agency,county,state,category,amount_usd,"
    "adjusted_amount_usd,latitude,longitude,description,is_verified\n";

#define MAX_ROW 1024

/* Write one data row at p; return the end. */
static char *make_row(char *p, uint64_t id)
{
    /* record id: prefix plus zero-padded sequence */
    p = put_str(p, "SLV-");
    p = put_u64_w(p, id, 10);
    *p++ = ',';

    /* ISO date 2000-01-01 .. 2024-12-28 */
    p = put_u64_w(p, 2000 + below(25), 4);
    *p++ = '-';
    p = put_u64_w(p, 1 + below(12), 2);
    *p++ = '-';
    p = put_u64_w(p, 1 + below(28), 2);
    *p++ = ',';

    /* Skewed pick: a few agencies dominate, like real portals. */
    uint32_t a = below(COUNT(agencies));
    if (below(2) == 0)
        a = a % 8;
    p = put_str(p, agencies[a]);
    *p++ = ',';

    p = put_str(p, counties[below(COUNT(counties))]);
    *p++ = ',';
    p = put_str(p, states[below(COUNT(states))]);
    *p++ = ',';
    p = put_str(p, categories[below(COUNT(categories))]);
    *p++ = ',';

    uint64_t amt = amount_cents();
    p = put_fixed(p, (int64_t)amt, 2);
    *p++ = ',';
    /* adjusted amount: often empty, else a near copy of amount */
    if (below(3) != 0)
        p = put_fixed(p, (int64_t)(amt + amt / 50 * below(8) / 4), 2);
    *p++ = ',';

    /* lat/lon inside the continental US, 6 decimals; some missing */
    if (below(20) != 0) {
        p = put_fixed(p, 24500000 + (int64_t)below(24900000), 6);
        *p++ = ',';
        p = put_fixed(p, -66900000 - (int64_t)below(57800000), 6);
    } else {
        *p++ = ',';
    }
    *p++ = ',';

    /* description: 3..14 words, sometimes with a number, capitalised */
    uint32_t nw = 3 + below(12);
    char *start = p;
    for (uint32_t i = 0; i < nw; i++) {
        if (i)
            *p++ = ' ';
        if (below(16) == 0)
            p = put_u64(p, below(1000));
        else
            p = put_str(p, words[below(COUNT(words))]);
    }
    if (*start >= 'a' && *start <= 'z')
        *start = (char)(*start - 'a' + 'A');
    *p++ = ',';

    p = put_str(p, below(5) ? "true" : "false");
    *p++ = '\n';
    return p;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ULL << 10; end++; break;
    case 'm': case 'M': mul = 1ULL << 20; end++; break;
    case 'g': case 'G': mul = 1ULL << 30; end++; break;
    default: return -1;
    }
    if (*end != '\0' || (v && mul > UINT64_MAX / v))
        return -1;
    *out = (uint64_t)v * mul;
    return 0;
}

#define BUF_SIZE (4u << 20)

int main(int argc, char **argv)
{
    uint64_t total, seed = 1;
    if (argc < 2 || argc > 3 || parse_size(argv[1], &total) != 0 ||
        (argc == 3 && parse_size(argv[2], &seed) != 0)) {
        fprintf(stderr, "usage: gencsv BYTES[K|M|G] [SEED]\n");
        return 2;
    }
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    if (rng_state == 0)
        rng_state = 1;

    char *buf = malloc(BUF_SIZE + MAX_ROW + sizeof header);
    if (!buf) {
        fprintf(stderr, "gencsv: out of memory\n");
        return 3;
    }

    uint64_t left = total, id = 1;
    char *p = put_str(buf, header);
    while (left > 0) {
        while ((size_t)(p - buf) < BUF_SIZE)
            p = make_row(p, id++);
        size_t n = (size_t)(p - buf);
        if (n >= left) {
            n = (size_t)left;
            buf[n - 1] = '\n'; /* cut the last row cleanly */
        }
        if (fwrite(buf, 1, n, stdout) != n) {
            fprintf(stderr, "gencsv: write: %s\n", strerror(errno));
            return 3;
        }
        left -= n;
        /* carry the overflow of the block into the next one */
        size_t rest = (size_t)(p - buf) - n;
        memmove(buf, buf + n, rest);
        p = buf + rest;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gencsv: write: %s\n", strerror(errno));
        return 3;
    }
    free(buf);
    return 0;
}
