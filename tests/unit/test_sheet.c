/*
 * tests/unit/test_sheet.c -- the seed sheet: what Excel, LibreOffice and
 * Google Sheets export reads back as the rows a volunteer typed, and every
 * mistake is reported at the line and column (in characters) a user would
 * look at, with the value named.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../seeds/sheet.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

/* The repository root, from where this file was compiled (make runs from the root). */
static void src_path(char *buf, size_t cap, const char *rel)
{
	const char *self = __FILE__;
	size_t n = strlen(self) - strlen("tests/unit/test_sheet.c");
	snprintf(buf, cap, "%.*s%s", (int)n, self, rel);
}

static sv_sheet *parse_len(const char *csv, size_t len, int want_rc)
{
	sv_sheet *s = NULL;
	int rc = sv_sheet_parse(&s, "t.csv", csv, len);
	cr_assert_eq(rc, want_rc, "sv_sheet_parse gave %d (%s), wanted %d", rc, sv_error_last(), want_rc);
	cr_assert_not_null(s);
	return s;
}

static sv_sheet *parse(const char *csv, int want_rc)
{
	return parse_len(csv, strlen(csv), want_rc);
}

static void assert_error(const sv_sheet *s, size_t i, unsigned line, unsigned column, const char *message)
{
	cr_assert_gt(s->nerrors, i, "wanted error %zu (%u:%u: %s), the sheet has %zu", i, line, column,
		     message, s->nerrors);
	cr_assert_str_eq(s->errors[i].message, message);
	cr_assert_eq(s->errors[i].line, line, "'%s' at line %u, wanted %u", message, s->errors[i].line, line);
	cr_assert_eq(s->errors[i].column, column, "'%s' at column %u, wanted %u", message, s->errors[i].column,
		     column);
}

/* The one error of a sheet that is refused, and the message for FILE:LINE:COLUMN. */
static void assert_fatal(const char *csv, size_t len, unsigned line, unsigned column, const char *message)
{
	char want[512];
	sv_sheet *s = parse_len(csv, len, SV_EINVAL);
	cr_assert_eq(s->nrows, 0);
	cr_assert_null(s->rows);
	cr_assert_eq(s->nerrors, 1);
	cr_assert_eq(s->total_errors, 1);
	assert_error(s, 0, line, column, message);
	snprintf(want, sizeof(want), "t.csv:%u:%u: %s", line, column, message);
	cr_assert_str_eq(sv_error_last(), want);
	sv_sheet_free(s);
}

/* For literals and arrays: NULs inside count. */
#define FATAL(csv, line, column, message) assert_fatal(csv, sizeof(csv) - 1, line, column, message)

static const char *meta(const sv_sheet_row *r, const char *key)
{
	for (size_t i = 0; i < r->nmeta; i++)
		if (strcmp(r->meta[i].key, key) == 0)
			return r->meta[i].value;
	return NULL;
}

/* ---- the CSV dialects ---- */

Test(format, excel_bom_crlf)
{
	sv_sheet *s = parse("\xEF\xBB\xBFurl,Agency,depth\r\n"
			    "https://www.epa.gov/,EPA,2\r\n"
			    "https://www.noaa.gov/,\"NOAA, Commerce\",\r\n",
			    0);
	cr_assert_eq(s->total_errors, 0);
	cr_assert_eq(s->nrows, 2);
	cr_assert_str_eq(s->rows[0].url, "https://www.epa.gov/");
	cr_assert_eq(s->rows[0].line, 2);
	cr_assert_eq(s->rows[0].depth, 2);
	cr_assert_str_eq(meta(&s->rows[1], "Agency"), "NOAA, Commerce");
	cr_assert_eq(s->rows[1].line, 3);
	cr_assert_eq(s->rows[1].depth, -1);
	sv_sheet_free(s);
}

Test(format, bom_takes_no_column)
{
	sv_sheet *s = parse("\xEF\xBB\xBFurl,URL\r\nhttps://a.gov/,x\r\n", 0);
	assert_error(s, 0, 1, 5, "duplicate column 'URL' in the header");
	sv_sheet_free(s);
}

Test(format, lf_without_final_line_end)
{
	sv_sheet *s = parse("url,scope\nhttps://a.gov/,host\nhttps://b.gov/,page", 0);
	cr_assert_eq(s->total_errors, 0);
	cr_assert_eq(s->nrows, 2);
	cr_assert_eq(s->rows[1].line, 3);
	cr_assert_eq(s->rows[1].scope, SV_SCOPE_PAGE);
	sv_sheet_free(s);
}

Test(format, old_mac_cr_line_ends)
{
	sv_sheet *s = parse("url,scope\rhttps://a.gov/,host\rhttps://b.gov/,site\r", 0);
	cr_assert_eq(s->nrows, 1);
	assert_error(s, 0, 3, 16, "unknown scope 'site' (page, prefix, host or domain)");
	sv_sheet_free(s);
}

Test(format, quoted_cells)
{
	sv_sheet *s = parse("url,notes,title\n"
			    "https://a.gov/,\"one, two \"\"three\"\"\nfour\nfive\",\"plain\"\n"
			    "https://b.gov/,\"x\r\ny\",t\n"
			    "ftp://c.gov/,after,both\n",
			    0);
	cr_assert_eq(s->nrows, 2);
	cr_assert_str_eq(meta(&s->rows[0], "notes"), "one, two \"three\"\nfour\nfive");
	cr_assert_str_eq(meta(&s->rows[0], "title"), "plain");
	cr_assert_eq(s->rows[0].line, 2);
	/* the row after a three-line cell starts on line 5, and CRLF in a cell is one line end */
	cr_assert_eq(s->rows[1].line, 5);
	cr_assert_str_eq(meta(&s->rows[1], "notes"), "x\r\ny");
	cr_assert_eq(s->rows[1].url_line, 5);
	cr_assert_eq(s->rows[1].url_column, 1);
	assert_error(s, 0, 7, 1, "'ftp://c.gov/' is not an http or https URL");
	sv_sheet_free(s);
}

Test(format, spaces_around_cells)
{
	sv_sheet *s = parse("url,notes,scope\n  https://a.gov/ , \"  kept inside  \" ,  nope\n", 0);
	cr_assert_eq(s->nrows, 0);
	/* the column of a cell is that of its first character after the spaces */
	assert_error(s, 0, 2, 41, "unknown scope 'nope' (page, prefix, host or domain)");
	sv_sheet_free(s);
	s = parse("url,notes\n  https://a.gov/ , \"  kept inside  \" \n", 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_str_eq(s->rows[0].url, "https://a.gov/");
	cr_assert_str_eq(meta(&s->rows[0], "notes"), "kept inside");
	sv_sheet_free(s);
}

/* ---- the header ---- */

Test(header, case_and_spaces)
{
	sv_sheet *s = parse("  URL ,Scope ,\" DEPTH\",Robots,DataSets, Agency Name \n"
			    "https://a.gov/,HOST,3,Ignore,No,EPA\n",
			    0);
	cr_assert_eq(s->total_errors, 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(s->rows[0].scope, SV_SCOPE_HOST);
	cr_assert_eq(s->rows[0].depth, 3);
	cr_assert_eq(s->rows[0].robots, 0);
	cr_assert_eq(s->rows[0].datasets, 0);
	cr_assert_eq(s->rows[0].nmeta, 1);
	cr_assert_str_eq(s->rows[0].meta[0].key, "Agency Name");
	sv_sheet_free(s);
}

Test(header, duplicate)
{
	sv_sheet *s = parse("url,Agency,notes,AGENCY\nhttps://a.gov/,EPA,n,second\n", 0);
	cr_assert_eq(s->total_errors, 1);
	assert_error(s, 0, 1, 18, "duplicate column 'AGENCY' in the header");
	/* the first of the two is used */
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(s->rows[0].nmeta, 2);
	cr_assert_str_eq(meta(&s->rows[0], "Agency"), "EPA");
	sv_sheet_free(s);
}

Test(header, no_url_column)
{
	FATAL("agency,title\nEPA,x\n", 1, 1, "no 'url' column in the header");
	FATAL("urls\n", 1, 1, "no 'url' column in the header");
}

Test(header, empty_sheet)
{
	FATAL("", 1, 1, "the sheet is empty (no header row)");
	FATAL("\r\n\r\n", 1, 1, "the sheet is empty (no header row)");
	FATAL(",,,\r\n , ,\r\n", 1, 1, "the sheet is empty (no header row)");
	FATAL("\xEF\xBB\xBF", 1, 1, "the sheet is empty (no header row)");
}

Test(header, only_header)
{
	sv_sheet *s = parse("url,agency\n", 0);
	cr_assert_eq(s->nrows, 0);
	cr_assert_eq(s->total_errors, 0);
	sv_sheet_free(s);
}

Test(header, blank_rows_before_it)
{
	sv_sheet *s = parse(",,\n\nurl,agency\nhttps://a.gov/,EPA\n", 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(s->rows[0].line, 4);
	sv_sheet_free(s);
}

/* ---- every column ---- */

Test(columns, defaults)
{
	sv_sheet *s = parse("url\nhttps://a.gov/\n", 0);
	const sv_sheet_row *r = &s->rows[0];
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(r->line, 2);
	cr_assert_eq(r->scope, SV_SCOPE_PREFIX);
	cr_assert_eq(r->depth, -1);
	cr_assert_eq(r->priority, 0);
	cr_assert_null(r->include);
	cr_assert_null(r->exclude);
	cr_assert_eq(r->robots, 1);
	cr_assert_eq(r->delay_ms, -1);
	cr_assert_eq(r->max_urls, -1);
	cr_assert_eq(r->max_bytes, -1);
	cr_assert_eq(r->datasets, 1);
	cr_assert_eq(r->nmeta, 0);
	sv_sheet_free(s);
}

Test(columns, empty_cells_are_defaults)
{
	sv_sheet *s = parse("url,scope,depth,priority,include,exclude,robots,delay,max_urls,max_bytes,datasets\n"
			    "https://a.gov/,,,,,,,,,, \n",
			    0);
	const sv_sheet_row *r = &s->rows[0];
	cr_assert_eq(s->total_errors, 0);
	cr_assert_eq(r->scope, SV_SCOPE_PREFIX);
	cr_assert_eq(r->depth, -1);
	cr_assert_eq(r->priority, 0);
	cr_assert_null(r->include);
	cr_assert_null(r->exclude);
	cr_assert_eq(r->robots, 1);
	cr_assert_eq(r->delay_ms, -1);
	cr_assert_eq(r->max_urls, -1);
	cr_assert_eq(r->max_bytes, -1);
	cr_assert_eq(r->datasets, 1);
	sv_sheet_free(s);
}

typedef struct {
	char column[16];
	char cell[48];   /* as it is in the CSV file */
	long long want;  /* the parsed value, when message is empty */
	char message[128];
	unsigned column_no; /* where the error is, when not 16 (the cell after "https://a.gov/,") */
} value_case;

static long long value_of(const sv_sheet_row *r, const char *column)
{
	if (strcmp(column, "scope") == 0)
		return r->scope;
	if (strcmp(column, "depth") == 0)
		return r->depth;
	if (strcmp(column, "priority") == 0)
		return r->priority;
	if (strcmp(column, "robots") == 0)
		return r->robots;
	if (strcmp(column, "delay") == 0)
		return r->delay_ms;
	if (strcmp(column, "max_urls") == 0)
		return r->max_urls;
	if (strcmp(column, "max_bytes") == 0)
		return r->max_bytes;
	if (strcmp(column, "datasets") == 0)
		return r->datasets;
	cr_assert_fail("no column %s", column);
	return 0;
}

ParameterizedTestParameters(columns, values)
{
	static value_case cases[] = {
		{"scope", "page", SV_SCOPE_PAGE, "", 0},
		{"scope", "prefix", SV_SCOPE_PREFIX, "", 0},
		{"scope", "host", SV_SCOPE_HOST, "", 0},
		{"scope", "domain", SV_SCOPE_DOMAIN, "", 0},
		{"scope", " Domain ", SV_SCOPE_DOMAIN, "", 0},
		{"scope", "HOST", SV_SCOPE_HOST, "", 0},
		{"scope", "", SV_SCOPE_PREFIX, "", 0},
		{"scope", "site", 0, "unknown scope 'site' (page, prefix, host or domain)", 0},
		{"scope", "  site", 0, "unknown scope 'site' (page, prefix, host or domain)", 18},
		{"scope", "\"a, b\"", 0, "unknown scope 'a, b' (page, prefix, host or domain)", 0},
		{"depth", "0", 0, "", 0},
		{"depth", "2", 2, "", 0},
		{"depth", " 3 ", 3, "", 0},
		{"depth", "", -1, "", 0},
		{"depth", "2147483647", 2147483647, "", 0},
		{"depth", "two", 0, "depth 'two' is not a whole number", 0},
		{"depth", "1.5", 0, "depth '1.5' is not a whole number", 0},
		{"depth", "-1", 0, "depth '-1' is negative (leave it empty for no limit)", 0},
		{"depth", "2147483648", 0, "depth '2147483648' is too large", 0},
		{"priority", "0", 0, "", 0},
		{"priority", "10", 10, "", 0},
		{"priority", "-5", -5, "", 0},
		{"priority", "+3", 3, "", 0},
		{"priority", "", 0, "", 0},
		{"priority", "-2147483648", -2147483647LL - 1, "", 0},
		{"priority", "high", 0, "priority 'high' is not a whole number", 0},
		{"priority", "1.5", 0, "priority '1.5' is not a whole number", 0},
		{"priority", "-", 0, "priority '-' is not a whole number", 0},
		{"priority", "2147483648", 0, "priority '2147483648' is too large", 0},
		{"robots", "respect", 1, "", 0},
		{"robots", "ignore", 0, "", 0},
		{"robots", "IGNORE ", 0, "", 0},
		{"robots", "", 1, "", 0},
		{"robots", "no", 0, "robots 'no' is not respect or ignore", 0},
		{"delay", "1.5", 1500, "", 0},
		{"delay", "0", 0, "", 0},
		{"delay", "0.25", 250, "", 0},
		{"delay", ".5", 500, "", 0},
		{"delay", "5.", 5000, "", 0},
		{"delay", "0.0005", 1, "", 0},
		{"delay", "0.0004", 0, "", 0},
		{"delay", "3600", 3600000, "", 0},
		{"delay", "3600.000", 3600000, "", 0},
		{"delay", "", -1, "", 0},
		{"delay", "3600.001", 0, "delay '3600.001' is more than 3600 seconds", 0},
		{"delay", "99999999999999999999", 0, "delay '99999999999999999999' is more than 3600 seconds", 0},
		{"delay", "-1", 0, "delay '-1' is negative", 0},
		{"delay", "-0.5", 0, "delay '-0.5' is negative", 0},
		{"delay", "fast", 0, "delay 'fast' is not a number of seconds", 0},
		{"delay", "1.5s", 0, "delay '1.5s' is not a number of seconds", 0},
		{"delay", "\"1,5\"", 0, "delay '1,5' is not a number of seconds", 0},
		{"delay", ".", 0, "delay '.' is not a number of seconds", 0},
		{"delay", "1.2.3", 0, "delay '1.2.3' is not a number of seconds", 0},
		{"max_urls", "1", 1, "", 0},
		{"max_urls", "100000", 100000, "", 0},
		{"max_urls", "", -1, "", 0},
		{"max_urls", "9223372036854775807", 9223372036854775807LL, "", 0},
		{"max_urls", "0", 0, "max_urls '0' must be at least 1", 0},
		{"max_urls", "-1", 0, "max_urls '-1' must be at least 1", 0},
		{"max_urls", "lots", 0, "max_urls 'lots' is not a whole number", 0},
		{"max_urls", "1e6", 0, "max_urls '1e6' is not a whole number", 0},
		{"max_urls", "9223372036854775808", 0, "max_urls '9223372036854775808' is too large", 0},
		{"max_bytes", "123", 123, "", 0},
		{"max_bytes", "1k", 1024, "", 0},
		{"max_bytes", "500M", 500LL << 20, "", 0},
		{"max_bytes", "500m", 500LL << 20, "", 0},
		{"max_bytes", "2 G", 2LL << 30, "", 0},
		{"max_bytes", "1T", 1LL << 40, "", 0},
		{"max_bytes", "8388607T", 8388607LL << 40, "", 0},
		{"max_bytes", "9223372036854775807", 9223372036854775807LL, "", 0},
		{"max_bytes", "", -1, "", 0},
		{"max_bytes", "0", 0, "max_bytes '0' must be at least 1", 0},
		{"max_bytes", "0K", 0, "max_bytes '0K' must be at least 1", 0},
		{"max_bytes", "-5", 0, "max_bytes '-5' must be at least 1", 0},
		{"max_bytes", "8388608T", 0, "max_bytes '8388608T' is too large", 0},
		{"max_bytes", "9223372036854775808", 0, "max_bytes '9223372036854775808' is too large", 0},
		{"max_bytes", "5MB", 0,
		 "max_bytes '5MB' is not a size (a whole number, optionally followed by K, M, G or T)", 0},
		{"max_bytes", "1.5G", 0,
		 "max_bytes '1.5G' is not a size (a whole number, optionally followed by K, M, G or T)", 0},
		{"max_bytes", "M", 0, "max_bytes 'M' is not a size (a whole number, optionally followed by K, M, G or T)",
		 0},
		{"max_bytes", "big", 0,
		 "max_bytes 'big' is not a size (a whole number, optionally followed by K, M, G or T)", 0},
		{"datasets", "yes", 1, "", 0},
		{"datasets", "no", 0, "", 0},
		{"datasets", "TRUE", 1, "", 0},
		{"datasets", "False", 0, "", 0},
		{"datasets", "1", 1, "", 0},
		{"datasets", "0", 0, "", 0},
		{"datasets", " No ", 0, "", 0},
		{"datasets", "", 1, "", 0},
		{"datasets", "maybe", 0, "datasets 'maybe' is not yes or no", 0},
	};
	return cr_make_param_array(value_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(value_case *c, columns, values)
{
	char csv[256];
	sv_sheet *s;
	snprintf(csv, sizeof(csv), "url,%s\nhttps://a.gov/,%s\n", c->column, c->cell);
	s = parse(csv, 0);
	if (c->message[0]) {
		cr_assert_eq(s->nrows, 0, "the row with %s '%s' was kept", c->column, c->cell);
		cr_assert_eq(s->total_errors, 1);
		assert_error(s, 0, 2, c->column_no ? c->column_no : 16, c->message);
	} else {
		cr_assert_eq(s->total_errors, 0, "%s '%s': %s", c->column, c->cell, s->errors[0].message);
		cr_assert_eq(s->nrows, 1);
		cr_assert_eq(value_of(&s->rows[0], c->column), c->want, "%s '%s' gave %lld, wanted %lld", c->column,
			     c->cell, value_of(&s->rows[0], c->column), c->want);
	}
	sv_sheet_free(s);
}

Test(columns, include_exclude_as_written)
{
	sv_sheet *s = parse("url,Include,EXCLUDE\n"
			    "https://a.gov/,\"/Data/*, /docs/*\",  *.PDF  \n"
			    "https://b.gov/,,\n",
			    0);
	cr_assert_eq(s->nrows, 2);
	cr_assert_str_eq(s->rows[0].include, "/Data/*, /docs/*");
	cr_assert_str_eq(s->rows[0].exclude, "*.PDF");
	cr_assert_null(s->rows[1].include);
	cr_assert_null(s->rows[1].exclude);
	sv_sheet_free(s);
}

typedef struct {
	char cell[64]; /* the url cell as in the CSV, before ",EPA" */
	char url[64];  /* what rows[0].url is, when message is empty */
	char message[200];
} url_case;

ParameterizedTestParameters(columns, url)
{
	static url_case cases[] = {
		{"https://www.epa.gov/", "https://www.epa.gov/", ""},
		{"HTTP://A.GOV", "HTTP://A.GOV", ""},
		{"http://a.gov:8080/x?y#z", "http://a.gov:8080/x?y#z", ""},
		{"https://[2001:db8::1]/", "https://[2001:db8::1]/", ""},
		{"  https://a.gov/  ", "https://a.gov/", ""},
		{"\"https://a.gov/?q=a,b\"", "https://a.gov/?q=a,b", ""},
		{"https://a.gov/\xC2\xA0", "https://a.gov/", ""},
		{"", "", "the url is empty"},
		{"\"  \"", "", "the url is empty"},
		{"ftp://x.gov/", "", "'ftp://x.gov/' is not an http or https URL"},
		{"mailto:data@a.gov", "", "'mailto:data@a.gov' is not an http or https URL"},
		{"http:/a.gov/", "", "'http:/a.gov/' is not an http or https URL"},
		{"www.epa.gov/x", "", "'www.epa.gov/x' is not an http or https URL (did you mean 'https://www.epa.gov/x'?)"},
		{"https:///x", "", "'https:///x' has no host"},
		{"https://", "", "'https://' has no host"},
		{"https://:80/", "", "'https://:80/' has no host"},
		{"https://user@/", "", "credentials in a URL would be published with the ledger; remove them from the sheet and name a netrc file holding them in salvage.conf (crawl.netrcFile)"},
		{"https://user@a.gov/", "", "credentials in a URL would be published with the ledger; remove them from the sheet and name a netrc file holding them in salvage.conf (crawl.netrcFile)"},
		{"http://alice:S3cretPW@a.gov/x", "", "credentials in a URL would be published with the ledger; remove them from the sheet and name a netrc file holding them in salvage.conf (crawl.netrcFile)"},
		{"ftp://alice:S3cretPW@a.gov/", "", "credentials in a URL would be published with the ledger; remove them from the sheet and name a netrc file holding them in salvage.conf (crawl.netrcFile)"},
		{"\"http://alice:S3cretPW@a.gov/\n\"", "", "credentials in a URL would be published with the ledger; remove them from the sheet and name a netrc file holding them in salvage.conf (crawl.netrcFile)"},
		{"\"https://a.gov/\nhttps://b.gov/\"", "",
		 "url 'https://a.gov/\\nhttps://b.gov/' has a line break or control character in it (one url per row)"},
	};
	return cr_make_param_array(url_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(url_case *c, columns, url)
{
	char csv[256];
	sv_sheet *s;
	snprintf(csv, sizeof(csv), "url,agency\n%s,EPA\n", c->cell);
	s = parse(csv, 0);
	if (c->message[0]) {
		cr_assert_eq(s->nrows, 0);
		cr_assert_eq(s->total_errors, 1);
		assert_error(s, 0, 2, 1 + (unsigned)strspn(c->cell, " "), c->message);
	} else {
		cr_assert_eq(s->total_errors, 0, "%s", s->errors[0].message);
		cr_assert_str_eq(s->rows[0].url, c->url);
	}
	sv_sheet_free(s);
}

Test(columns, url_position)
{
	/* the url cell after a two-line cell: a later error about the url points at it */
	sv_sheet *s = parse("notes,url\n\"two\nlines\",  https://a.gov/\n", 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(s->rows[0].line, 2);
	cr_assert_eq(s->rows[0].url_line, 3);
	cr_assert_eq(s->rows[0].url_column, 10);
	sv_sheet_free(s);
}

Test(columns, url_cell_missing)
{
	/* the row ends before the url column: the error is where the cell would be */
	sv_sheet *s = parse("agency,url\nEPA\nNOAA,https://a.gov/\n", 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(s->total_errors, 1);
	assert_error(s, 0, 2, 4, "the url is empty");
	sv_sheet_free(s);
}

Test(columns, long_values_are_cut_in_messages)
{
	char csv[1024];
	sv_sheet *s;
	snprintf(csv, sizeof(csv), "url,scope\nhttps://a.gov/,%0300d\n", 7);
	s = parse(csv, 0);
	cr_assert_eq(s->total_errors, 1);
	cr_assert(strstr(s->errors[0].message, "...' (page, prefix, host or domain)") != NULL, "%s",
		  s->errors[0].message);
	cr_assert_lt(strlen(s->errors[0].message), 200);
	sv_sheet_free(s);
}

/* ---- metadata ---- */

Test(metadata, kept_with_header_as_written)
{
	sv_sheet *s = parse("url,Agency,Title,nominated_by,Notes\n"
			    "https://a.gov/,EPA,,  Ana Lopez ,\"Two\nlines\"\n",
			    0);
	const sv_sheet_row *r = &s->rows[0];
	cr_assert_eq(r->nmeta, 3);
	cr_assert_str_eq(r->meta[0].key, "Agency");
	cr_assert_str_eq(r->meta[0].value, "EPA");
	cr_assert_str_eq(r->meta[1].key, "nominated_by");
	cr_assert_str_eq(r->meta[1].value, "Ana Lopez");
	cr_assert_str_eq(r->meta[2].key, "Notes");
	cr_assert_str_eq(r->meta[2].value, "Two\nlines");
	cr_assert_null(meta(r, "Title"));
	sv_sheet_free(s);
}

/* ---- rows ---- */

Test(rows, blank_rows_skipped)
{
	sv_sheet *s = parse("url,a,b\r\nhttps://a.gov/,,\r\n,,\r\n , , \r\n\r\n\"\",,\r\nhttps://b.gov/,,\r\n,,,,\r\n,,,,\r\n",
			    0);
	cr_assert_eq(s->total_errors, 0, "%s", s->errors[0].message);
	cr_assert_eq(s->nrows, 2);
	cr_assert_eq(s->rows[1].line, 7);
	sv_sheet_free(s);
}

Test(rows, duplicate_url)
{
	sv_sheet *s = parse("url\nhttps://a.gov/\nhttps://A.gov/\n  https://a.gov/  \n", 0);
	cr_assert_eq(s->nrows, 2);
	cr_assert_eq(s->total_errors, 1);
	assert_error(s, 0, 4, 3, "url 'https://a.gov/' already listed on line 2");
	sv_sheet_free(s);
}

Test(rows, extra_cells)
{
	sv_sheet *s = parse("url,agency\nhttps://a.gov/,EPA,,\nhttps://b.gov/,EPA,x,y\nhttps://c.gov/,,,z\n", 0);
	/* empty cells past the header are fine; one error per row, at the first extra cell */
	cr_assert_eq(s->nrows, 1);
	cr_assert_eq(s->total_errors, 2);
	assert_error(s, 0, 3, 20, "'x' is past the last column of the header (2 columns)");
	assert_error(s, 1, 4, 18, "'z' is past the last column of the header (2 columns)");
	sv_sheet_free(s);
}

Test(rows, data_under_empty_header)
{
	sv_sheet *s = parse("url,,agency,\nhttps://a.gov/,,EPA,\nhttps://b.gov/,stray,EPA,\n", 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_str_eq(s->rows[0].url, "https://a.gov/");
	assert_error(s, 0, 3, 16, "'stray' is in a column with no header");
	sv_sheet_free(s);
}

Test(rows, all_errors_of_a_row_in_order)
{
	sv_sheet *s = parse("url,scope,depth,robots\nftp://a.gov/,site,x,no\nhttps://b.gov/,host,1,ignore\n", 0);
	cr_assert_eq(s->nrows, 1);
	cr_assert_str_eq(s->rows[0].url, "https://b.gov/");
	cr_assert_eq(s->total_errors, 4);
	assert_error(s, 0, 2, 1, "'ftp://a.gov/' is not an http or https URL");
	assert_error(s, 1, 2, 14, "unknown scope 'site' (page, prefix, host or domain)");
	assert_error(s, 2, 2, 19, "depth 'x' is not a whole number");
	assert_error(s, 3, 2, 21, "robots 'no' is not respect or ignore");
	sv_sheet_free(s);
}

Test(rows, more_errors_than_kept)
{
	size_t cap = 70 * 40, len = 0;
	char *csv = malloc(cap);
	sv_sheet *s;
	len += (size_t)snprintf(csv + len, cap - len, "url,scope\n");
	for (int i = 0; i < 60; i++)
		len += (size_t)snprintf(csv + len, cap - len, "https://a.gov/%d,site\n", i);
	len += (size_t)snprintf(csv + len, cap - len, "https://a.gov/ok,host\n");
	s = parse(csv, 0);
	cr_assert_eq(s->nerrors, SV_SHEET_MAX_ERRORS);
	cr_assert_eq(s->total_errors, 60);
	cr_assert_eq(s->nrows, 1);
	assert_error(s, 0, 2, 17, "unknown scope 'site' (page, prefix, host or domain)");
	assert_error(s, 49, 51, 18, "unknown scope 'site' (page, prefix, host or domain)");
	free(csv);
	sv_sheet_free(s);
}

/* ---- sheets that are refused ---- */

Test(fatal, unterminated_quote)
{
	static const char csv[] = "url,notes\nhttps://a.gov/,\"ok\nstill ok\"\nhttps://b.gov/,\"never\nclosed,\nhttps://c.gov/,x\n";
	FATAL(csv, 4, 16, "unterminated quoted field");
	/* characters, not bytes, before the quote */
	FATAL("url,notes,x\nhttps://\xC3\xA9.gov/,\xE6\x97\xA5\xE6\x9C\xAC,\"x", 2, 19, "unterminated quoted field");
}

Test(fatal, stray_quotes)
{
	FATAL("url,notes\nhttps://a.gov/,12\" monitor\n", 2, 18,
		     "quote inside a cell that does not start with a quote (quote the whole cell and write the quote as \"\")");
	FATAL("url,notes\nhttps://a.gov/,\"say \"hi\" now\"\n", 2, 22,
		     "text after the closing quote of a quoted cell (write a quote inside a cell as \"\")");
}

typedef struct {
	char bytes[64];
	unsigned line, column;
	char message[96];
} utf8_case;

ParameterizedTestParameters(fatal, invalid_utf8)
{
	static utf8_case cases[] = {
		/* 日本 are two characters (six bytes) before the bad byte */
		{"url,notes\nhttps://a.gov/,\xE6\x97\xA5\xE6\x9C\xAC \xFF\n", 2, 19,
		 "invalid UTF-8 byte 0xff (save the sheet as CSV UTF-8)"},
		/* Latin-1: "été" */
		{"url,notes\nhttps://a.gov/,caf\xC3\xA9 \xE9t\xE9\n", 2, 21,
		 "invalid UTF-8 byte 0xe9 (save the sheet as CSV UTF-8)"},
		{"\xEF\xBB\xBFurl,n\r\nhttps://a.gov/,\"a\nb\xC3\xA9\x80\"\r\n", 3, 3,
		 "invalid UTF-8 byte 0x80 (save the sheet as CSV UTF-8)"},
		{"url\nhttps://a.gov/\xC0\x80\n", 2, 15, "invalid UTF-8 byte 0xc0 (save the sheet as CSV UTF-8)"},
		{"url\nhttps://a.gov/\xED\xA0\x80\n", 2, 15, "invalid UTF-8 byte 0xed (save the sheet as CSV UTF-8)"},
		{"url\nhttps://a.gov/\xF4\x90\x80\x80\n", 2, 15, "invalid UTF-8 byte 0xf4 (save the sheet as CSV UTF-8)"},
		{"url\nhttps://a.gov/\xE6\x97", 2, 15, "invalid UTF-8 byte 0xe6 (save the sheet as CSV UTF-8)"},
		{"\xFF\xFEu\0r\0l\0", 1, 1, "the sheet is UTF-16 (save it as CSV UTF-8)"},
		{"PK\x03\x04\x14\0\x06\0", 1, 1, "this is a spreadsheet file, not CSV (save it as CSV UTF-8)"},
	};
	return cr_make_param_array(utf8_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(utf8_case *c, fatal, invalid_utf8)
{
	/* the UTF-16 and zip cases hold NULs: their length is up to the last non-NUL byte */
	size_t len = sizeof(c->bytes);
	while (len && !c->bytes[len - 1])
		len--;
	assert_fatal(c->bytes, len, c->line, c->column, c->message);
}

Test(fatal, nul_byte)
{
	FATAL("url\nhttps://a.gov/\0x\n", 2, 15, "NUL byte in the sheet (save it as CSV UTF-8)");
}

Test(fatal, fatal_error_replaces_row_errors)
{
	static const char csv[] = "url,scope\nftp://a.gov/,site\nhttps://b.gov/,\"host\n";
	FATAL(csv, 3, 16, "unterminated quoted field");
}

Test(fatal, too_large)
{
	size_t len = (size_t)SV_SHEET_MAX_BYTES + 1;
	char *big = calloc(1, len);
	sv_sheet *s;
	cr_assert_not_null(big);
	s = parse_len(big, len, SV_EINVAL);
	assert_error(s, 0, 1, 1, "the sheet is larger than the limit of 64 MiB");
	cr_assert_null(s->raw);
	sv_sheet_free(s);
	free(big);
}

/* ---- names, bytes, files ---- */

typedef struct {
	char path[64];
	char name[32];
} name_case;

ParameterizedTestParameters(files, name)
{
	static name_case cases[] = {
		{"Agencies.CSV", "Agencies"}, {"dir/x.csv", "x"},       {"noext", "noext"},
		{"a.b.csv", "a.b"},           {"/abs/dir/Seeds.Csv", "Seeds"}, {"x.csv.bak", "x.csv.bak"},
		{".csv", ".csv"},             {"dir.csv/sheet", "sheet"},
	};
	return cr_make_param_array(name_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(name_case *c, files, name)
{
	sv_sheet *s = NULL;
	cr_assert_eq(sv_sheet_parse(&s, c->path, "url\n", 4), 0);
	cr_assert_str_eq(s->path, c->path);
	cr_assert_str_eq(s->name, c->name);
	sv_sheet_free(s);
}

Test(files, raw_bytes_kept)
{
	static const char csv[] = "\xEF\xBB\xBF URL ,x\r\n\"https://a.gov/\" ,\"a\"\"b\"\r\n,,\r\n";
	sv_sheet *s = parse(csv, 0);
	cr_assert_eq(s->raw_len, sizeof(csv) - 1);
	cr_assert(memcmp(s->raw, csv, sizeof(csv) - 1) == 0);
	sv_sheet_free(s);
}

Test(files, load_keeps_raw_and_path)
{
	char dir[4096], path[4200];
	static const char csv[] = "url,Agency\r\nhttps://a.gov/,EPA\r\n";
	sv_sheet *s = NULL;
	FILE *f;
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/Seeds.CSV", dir);
	cr_assert_not_null(f = fopen(path, "wb"));
	fwrite(csv, 1, sizeof(csv) - 1, f);
	fclose(f);
	cr_assert_eq(sv_sheet_load(&s, path), 0, "%s", sv_error_last());
	cr_assert_str_eq(s->path, path);
	cr_assert_str_eq(s->name, "Seeds");
	cr_assert_eq(s->raw_len, sizeof(csv) - 1);
	cr_assert(memcmp(s->raw, csv, sizeof(csv) - 1) == 0);
	cr_assert_eq(s->nrows, 1);
	sv_sheet_free(s);
	th_rmrf(dir);
}

Test(files, cannot_read)
{
	char dir[4096], path[4200], want[4400];
	sv_sheet *s = (sv_sheet *)1;
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/missing.csv", dir);
	cr_assert_eq(sv_sheet_load(&s, path), SV_EINVAL);
	cr_assert_null(s);
	snprintf(want, sizeof(want), "cannot read '%s': No such file or directory", path);
	cr_assert_str_eq(sv_error_last(), want);
	s = (sv_sheet *)1;
	cr_assert_eq(sv_sheet_load(&s, dir), SV_EINVAL);
	cr_assert_null(s);
	if (geteuid() != 0) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/locked.csv", dir);
		cr_assert_not_null(f = fopen(path, "w"));
		fclose(f);
		chmod(path, 0);
		cr_assert_eq(sv_sheet_load(&s, path), SV_EINVAL);
		cr_assert_null(s);
	}
	th_rmrf(dir);
}

Test(files, load_too_large)
{
	char dir[4096], path[4200];
	sv_sheet *s = NULL;
	int fd;
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/huge.csv", dir);
	cr_assert_geq(fd = open(path, O_WRONLY | O_CREAT, 0644), 0);
	cr_assert_eq(ftruncate(fd, (off_t)SV_SHEET_MAX_BYTES + 4096), 0);
	close(fd);
	cr_assert_eq(sv_sheet_load(&s, path), SV_EINVAL);
	cr_assert_not_null(s);
	assert_error(s, 0, 1, 1, "the sheet is larger than the limit of 64 MiB");
	sv_sheet_free(s);
	th_rmrf(dir);
}

/* ---- the fixtures and the example ---- */

Test(fixtures, excel_export)
{
	char path[4200];
	sv_sheet *s = NULL;
	src_path(path, sizeof(path), "tests/fixtures/sheets/excel.csv");
	cr_assert_eq(sv_sheet_load(&s, path), 0, "%s", sv_error_last());
	cr_assert_eq(s->raw[0], 0xEF);
	cr_assert_eq(s->total_errors, 0, "%u:%u: %s", s->errors[0].line, s->errors[0].column, s->errors[0].message);
	cr_assert_eq(s->nrows, 4);
	cr_assert_str_eq(s->name, "excel");
	cr_assert_eq(s->rows[0].priority, 10);
	cr_assert_str_eq(meta(&s->rows[0], "Notes"), "Figures and data downloads; check the \"Download the data\" links");
	cr_assert_eq(s->rows[1].scope, SV_SCOPE_HOST);
	cr_assert_eq(s->rows[1].depth, 2);
	cr_assert_str_eq(meta(&s->rows[1], "Notes"), "Very large.\nStart with the access pages, datasets from there.");
	cr_assert_str_eq(meta(&s->rows[1], "Nominated By"), "Ana Lopez");
	/* after the two-line note */
	cr_assert_eq(s->rows[2].line, 5);
	cr_assert_str_eq(meta(&s->rows[3], "Title"), "Solar Energy Technologies Office, EERE");
	sv_sheet_free(s);
}

Test(fixtures, google_sheets_export)
{
	char path[4200];
	sv_sheet *s = NULL;
	src_path(path, sizeof(path), "tests/fixtures/sheets/google.csv");
	cr_assert_eq(sv_sheet_load(&s, path), 0, "%s", sv_error_last());
	cr_assert_eq(s->total_errors, 0, "%u:%u: %s", s->errors[0].line, s->errors[0].column, s->errors[0].message);
	cr_assert_eq(s->nrows, 4);
	cr_assert_str_eq(s->rows[0].url, "https://data.ca.gov/");
	cr_assert_eq(s->rows[0].delay_ms, 1500);
	cr_assert_eq(s->rows[0].max_urls, 50000);
	cr_assert_eq(s->rows[0].max_bytes, 200LL << 30);
	cr_assert_eq(s->rows[1].scope, SV_SCOPE_PAGE);
	cr_assert_eq(s->rows[1].datasets, 0);
	cr_assert_eq(s->rows[2].robots, 0);
	cr_assert_eq(s->rows[2].scope, SV_SCOPE_DOMAIN);
	cr_assert_eq(s->rows[3].line, 5);
	cr_assert_eq(s->rows[3].max_bytes, 500LL << 20);
	sv_sheet_free(s);
}

Test(fixtures, bad_rows)
{
	char path[4200];
	sv_sheet *s = NULL;
	src_path(path, sizeof(path), "tests/fixtures/sheets/bad_rows.csv");
	cr_assert_eq(sv_sheet_load(&s, path), 0, "%s", sv_error_last());
	cr_assert_eq(s->nrows, 2);
	cr_assert_eq(s->total_errors, 4);
	assert_error(s, 0, 3, 1,
		     "'www.usgs.gov/special-topics/water-science-school' is not an http or https URL "
		     "(did you mean 'https://www.usgs.gov/special-topics/water-science-school'?)");
	assert_error(s, 1, 4, 22, "unknown scope 'site' (page, prefix, host or domain)");
	assert_error(s, 2, 4, 27, "depth 'two' is not a whole number");
	assert_error(s, 3, 6, 1,
		     "url 'https://www.usgs.gov/programs/water-resources-mission-area' already listed on line 2");
	sv_sheet_free(s);
}

Test(fixtures, broken)
{
	char path[4200], want[4400];
	sv_sheet *s = NULL;
	src_path(path, sizeof(path), "tests/fixtures/sheets/broken.csv");
	cr_assert_eq(sv_sheet_load(&s, path), SV_EINVAL);
	cr_assert_not_null(s);
	cr_assert_eq(s->nrows, 0);
	assert_error(s, 0, 3, 60, "unterminated quoted field");
	snprintf(want, sizeof(want), "%s:3:60: unterminated quoted field", path);
	cr_assert_str_eq(sv_error_last(), want);
	sv_sheet_free(s);
}

Test(fixtures, example_agencies)
{
	char path[4200];
	sv_sheet *s = NULL;
	size_t host = 0, ignore = 0, deep = 0;
	src_path(path, sizeof(path), "seeds/examples/agencies.csv");
	cr_assert_eq(sv_sheet_load(&s, path), 0, "%s", sv_error_last());
	cr_assert_eq(s->total_errors, 0, "%u:%u: %s", s->errors[0].line, s->errors[0].column, s->errors[0].message);
	cr_assert_geq(s->nrows, 10);
	cr_assert_leq(s->nrows, 15);
	for (size_t i = 0; i < s->nrows; i++) {
		host += s->rows[i].scope == SV_SCOPE_HOST;
		ignore += s->rows[i].robots == 0;
		deep += s->rows[i].depth == 2;
		cr_assert_not_null(meta(&s->rows[i], "agency"));
		cr_assert_not_null(meta(&s->rows[i], "title"));
		cr_assert_not_null(meta(&s->rows[i], "nominated_by"));
	}
	cr_assert_gt(host, 0);
	cr_assert_gt(ignore, 0);
	cr_assert_gt(deep, 0);
	sv_sheet_free(s);
}

/* ---- size ---- */

/* A large sheet parses whole, with every line number right. (Speed is for bench/.) */
Test(files, ten_megabytes, .timeout = 60)
{
	size_t cap = (10u << 20) + 4096, len = 0, n = 0;
	char *csv = malloc(cap);
	sv_sheet *s;
	len += (size_t)snprintf(csv, cap, "\xEF\xBB\xBFurl,scope,depth,priority,agency,notes\r\n");
	while (len < (10u << 20)) {
		len += (size_t)snprintf(csv + len, cap - len,
					"https://data%zu.example.gov/path/%zu,host,%zu,%zu,Agency %zu,"
					"\"notes, \"\"quoted\"\"\nsecond line\"\r\n",
					n, n, n % 5, n % 7, n);
		n++;
	}
	s = parse_len(csv, len, 0);
	cr_assert_eq(s->total_errors, 0);
	cr_assert_eq(s->nrows, n);
	cr_assert_eq(s->rows[n - 1].line, 2 + 2 * (unsigned)(n - 1));
	sv_sheet_free(s);
	free(csv);
}
