/*
 * tests/unit/test_scope.c -- scope rules: each scope kind, depth, include and
 * exclude patterns (and their errors), datasets and requisites one hop out
 * and no further, traps, dataset recognition by URL and by Content-Type.
 *
 * Parameter structs hold inline arrays: Criterion re-runs the parameter
 * function in each worker, and pointers would not survive the trip.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/scope.h"

/* ---- decisions ---- */

enum { PAGE_LINK = 0, REQUISITE_LINK = 1 };
enum { FROM_OUT = 0, FROM_IN = 1 };
enum { NO = 0, FOLLOW = 1 };
enum { OUT = 0, IN = 1 };

typedef struct {
	char seed[100];
	sv_scope scope;
	int depth;
	char include[100];
	char exclude[100];
	int datasets;
	char url[300];
	int from_depth;
	int source_in_scope;
	int requisite;
	/* expected */
	int follow;
	sv_scope_kind kind;
	int in_scope;
	char reason[48]; /* "" when followed */
} decide_case;

#define EX "https://www.example.gov/data/index.html"
#define P SV_SCOPE_PREFIX
#define H SV_SCOPE_HOST
#define D SV_SCOPE_DOMAIN
#define PG SV_SCOPE_PAGE
#define PAGE SV_SCOPE_AS_PAGE
#define DATA SV_SCOPE_AS_DATASET
#define REQ SV_SCOPE_AS_REQUISITE

/* A page link found on the seed page, no patterns, unlimited depth. */
#define PLAIN(seed, scope, url) seed, scope, -1, "", "", 1, url, 0, FROM_IN, PAGE_LINK

static decide_case decisions[] = {
	/* page: the seed URL itself and nothing else */
	{PLAIN(EX, PG, EX), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, PG, "https://www.example.gov/data/other.html"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, PG, "http://www.example.gov/data/index.html"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, PG, "https://www.example.gov/data/index.html?x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	/* ...its datasets and requisites still come */
	{PLAIN(EX, PG, "https://www.example.gov/data/table.csv"), FOLLOW, DATA, OUT, ""},
	{EX, PG, -1, "", "", 1, "https://www.example.gov/style.css", 0, FROM_IN, REQUISITE_LINK, FOLLOW, REQ, OUT, ""},
	/* prefix: same host and port, http or https, under the seed's folder */
	{PLAIN(EX, P, EX), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/other.html"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/sub/deeper/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/?page=2"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "http://www.example.gov/data/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://WWW.EXAMPLE.GOV/data/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov./data/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://www.example.gov/datasets/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://www.example.gov/Data/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://www.example.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://www.example.gov:8443/data/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://example.gov/data/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://data.example.gov/data/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://www.example.gov.evil.com/data/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	/* ...a seed without a final '/' has the folder above it (README: "the URL's folder") */
	{PLAIN("https://www.epa.gov/climate-indicators", P, "https://www.epa.gov/climate-indicators/x"), FOLLOW, PAGE,
	 IN, ""},
	{PLAIN("https://www.epa.gov/climate-indicators", P, "https://www.epa.gov/other"), FOLLOW, PAGE, IN, ""},
	{PLAIN("https://www.epa.gov/climate-indicators/", P, "https://www.epa.gov/other"), NO, PAGE, OUT,
	 SV_SCOPE_WHY_OUT},
	{PLAIN("https://www.epa.gov/a/b?c=/d/", P, "https://www.epa.gov/a/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN("https://www.epa.gov/a/b?c=/d/", P, "https://www.epa.gov/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	/* ...ports are part of it */
	{PLAIN("http://localhost:8080/a/", P, "http://localhost:8080/a/b"), FOLLOW, PAGE, IN, ""},
	{PLAIN("http://localhost:8080/a/", P, "http://localhost/a/b"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("http://localhost:8080/a/", P, "http://localhost:8081/a/b"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("http://[::1]:8080/a/", P, "http://[::1]:8080/a/b"), FOLLOW, PAGE, IN, ""},
	{PLAIN("http://[::1]:8080/a/", P, "http://[::1]/a/b"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	/* host: same host name and port (another port is another server), http or https */
	{PLAIN(EX, H, "https://www.example.gov/"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, H, "https://www.example.gov/other/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, H, "http://www.example.gov:8080/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, H, "https://data.example.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, H, "https://example.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, H, "https://www.example.gov.evil.com/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("http://[::1]:8080/a/", H, "http://[::1]/x"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("http://[::1]:8080/a/", H, "http://[::1]:8080/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN("http://[::1]:8080/a/", H, "http://[::2]:8080/a/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	/* domain: the seed host without "www.", and everything under it */
	{PLAIN(EX, D, "https://www.example.gov/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, D, "https://example.gov/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, D, "https://data.example.gov/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, D, "http://a.b.example.gov:81/"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, D, "https://badexample.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, D, "https://example.gov.evil.com/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, D, "https://other.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, D, "https://gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("https://data.ca.gov/", D, "https://sub.data.ca.gov/x"), FOLLOW, PAGE, IN, ""},
	{PLAIN("https://data.ca.gov/", D, "https://ca.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("https://data.ca.gov/", D, "https://www.ca.gov/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("https://www.com/", D, "https://x.com/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN("https://www.com/", D, "https://a.www.com/"), FOLLOW, PAGE, IN, ""},

	/* depth: pages within it; datasets and requisites one hop past it */
	{EX, P, 2, "", "", 1, "https://www.example.gov/data/a", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{EX, P, 2, "", "", 1, "https://www.example.gov/data/a", 1, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{EX, P, 2, "", "", 1, "https://www.example.gov/data/a", 2, FROM_IN, PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_DEPTH},
	{EX, P, 0, "", "", 1, "https://www.example.gov/data/a", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_DEPTH},
	{EX, P, -1, "", "", 1, "https://www.example.gov/data/a", 100000, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{EX, P, 2, "", "", 1, "https://www.example.gov/data/a.csv", 2, FROM_IN, PAGE_LINK, FOLLOW, DATA, IN, ""},
	{EX, P, 0, "", "", 1, "https://www.example.gov/data/a.csv", 0, FROM_IN, PAGE_LINK, FOLLOW, DATA, IN, ""},
	{EX, P, 2, "", "", 1, "https://www.example.gov/data/a.png", 2, FROM_IN, REQUISITE_LINK, FOLLOW, REQ, IN, ""},
	/* ...depth is checked after scope: an out-of-scope page says so */
	{EX, P, 0, "", "", 1, "https://other.org/", 0, FROM_IN, PAGE_LINK, NO, PAGE, OUT, SV_SCOPE_WHY_OUT},

	/* datasets: from anywhere, one hop out */
	{PLAIN(EX, P, "https://files.other.org/x.csv"), FOLLOW, DATA, OUT, ""},
	{PLAIN(EX, P, "https://www.example.gov/download.php?file=report.xlsx"), FOLLOW, DATA, OUT, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/api?format=csv"), FOLLOW, DATA, IN, ""},
	{EX, P, -1, "", "", 1, "https://files.other.org/x.csv", 1, FROM_OUT, PAGE_LINK, NO, DATA, OUT,
	 SV_SCOPE_WHY_SOURCE},
	{EX, P, -1, "", "", 1, "https://www.example.gov/data/x.csv", 1, FROM_OUT, PAGE_LINK, NO, DATA, IN,
	 SV_SCOPE_WHY_SOURCE},
	{EX, P, -1, "", "", 1, "https://www.example.gov/data/page.html", 1, FROM_OUT, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_SOURCE},
	/* ...unless the row does not want them */
	{EX, P, -1, "", "", 0, "https://www.example.gov/data/x.csv", 0, FROM_IN, PAGE_LINK, NO, DATA, IN,
	 SV_SCOPE_WHY_NO_DATASETS},
	{EX, P, -1, "", "", 0, "https://www.example.gov/data/page.html", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{EX, P, -1, "", "", 0, "https://www.example.gov/data/manifest.json", 0, FROM_IN, REQUISITE_LINK, FOLLOW, REQ,
	 IN, ""},
	/* requisites: from anywhere, one hop out, whatever their extension */
	{EX, P, -1, "", "", 1, "https://cdn.other.org/style.css", 0, FROM_IN, REQUISITE_LINK, FOLLOW, REQ, OUT, ""},
	{EX, P, -1, "", "", 1, "https://cdn.other.org/chart.json", 0, FROM_IN, REQUISITE_LINK, FOLLOW, REQ, OUT, ""},
	{EX, P, -1, "", "", 1, "https://cdn.other.org/style.css", 0, FROM_OUT, REQUISITE_LINK, NO, REQ, OUT,
	 SV_SCOPE_WHY_SOURCE},
	{EX, PG, -1, "", "", 1, "https://www.example.gov/data/index.html", 0, FROM_IN, REQUISITE_LINK, FOLLOW, REQ, IN,
	 ""},
	/* out-of-scope pages are not fetched at all */
	{PLAIN(EX, P, "https://other.org/page.html"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},
	{PLAIN(EX, P, "https://other.org/"), NO, PAGE, OUT, SV_SCOPE_WHY_OUT},

	/* exclude: every kind of link; include: pages only */
#define GHG "https://www.epa.gov/ghgemissions/"
	{GHG, P, -1, "", "*/es/*", 1, GHG "es/page", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "*/es/*", 1, GHG "page", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "*/es/*", 1, GHG "esx/page", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "*/es/*", 1, GHG "es", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "*/es/*", 1, "https://other.gov/es/data.csv", 0, FROM_IN, PAGE_LINK, NO, DATA, OUT,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "*/es/*", 1, GHG "es/logo.png", 0, FROM_IN, REQUISITE_LINK, NO, REQ, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "*/ES/*", 1, GHG "es/page", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "*.pdf$", 1, GHG "a.pdf", 0, FROM_IN, PAGE_LINK, NO, DATA, IN, SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "*.pdf", 1, GHG "a.pdf?download=1", 0, FROM_IN, PAGE_LINK, FOLLOW, DATA, IN, ""},
	{GHG, P, -1, "", "*.pdf*", 1, GHG "a.pdf?download=1", 0, FROM_IN, PAGE_LINK, NO, DATA, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "/ghgemissions/private/*", 1, GHG "private/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "https://www.epa.gov/ghgemissions/old*", 1, GHG "old/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "https://www.epa.gov/ghgemissions/old*", 1, "http://www.epa.gov/ghgemissions/old/x", 0,
	 FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "*://www.epa.gov/ghgemissions/old*", 1, "http://www.epa.gov/ghgemissions/old/x", 0, FROM_IN,
	 PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "WWW.EPA.GOV/ghgemissions/old*", 1, "http://www.epa.gov/ghgemissions/old/x", 0, FROM_IN,
	 PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "*?sort=*", 1, GHG "list?sort=asc", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "*?sort=*", 1, GHG "list/sort=asc", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "  */a/*  |  */b/* \n */c/*", 1, GHG "b/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "  */a/*  |  */b/* \n */c/*", 1, GHG "c/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "  */a/*  |  */b/* \n */c/*", 1, GHG "d/x", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "", "/ghgemissions/caf\xC3\xA9/*", 1, GHG "caf%C3%A9/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "", "/ghgemissions/%7euser/*", 1, GHG "~user/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "/ghgemissions/data/*", "", 1, GHG "data/x", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "/ghgemissions/data/*", "", 1, GHG "other", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_NOT_INCLUDED},
	{GHG, P, -1, "/ghgemissions/data/*", "", 1, GHG "other/x.csv", 0, FROM_IN, PAGE_LINK, FOLLOW, DATA, IN, ""},
	{GHG, P, -1, "/ghgemissions/data/*", "", 1, GHG "other/site.css", 0, FROM_IN, REQUISITE_LINK, FOLLOW, REQ, IN,
	 ""},
	{GHG, P, -1, "/ghgemissions/data/*", "", 1, "https://other.gov/data/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, OUT,
	 SV_SCOPE_WHY_OUT},
	{GHG, P, -1, "*.html", "", 1, GHG "x.html", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{GHG, P, -1, "*.html", "", 1, GHG "x.htm", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_NOT_INCLUDED},
	{GHG, P, -1, "/ghgemissions/list?page=*", "", 1, GHG "list?page=2", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN,
	 ""},
	{GHG, P, -1, "/ghgemissions/list?page=*", "", 1, GHG "listXpage=2", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_NOT_INCLUDED},
	{GHG, P, -1, "/ghgemissions/**", "*/es/*", 1, GHG "es/x", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN,
	 SV_SCOPE_WHY_EXCLUDED},
	{GHG, P, -1, "/ghgemissions/**", "*/es/*", 1, GHG "en/x", 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	/* ...the sheet example: catalog.data.gov, host scope, two hops, dataset pages only */
	{"https://catalog.data.gov/", H, 2, "/dataset/*", "*/organization/*", 1, "https://catalog.data.gov/dataset/x",
	 0, FROM_IN, PAGE_LINK, FOLLOW, PAGE, IN, ""},
	{"https://catalog.data.gov/", H, 2, "/dataset/*", "*/organization/*", 1,
	 "https://catalog.data.gov/organization/epa", 0, FROM_IN, PAGE_LINK, NO, PAGE, IN, SV_SCOPE_WHY_EXCLUDED},
	{"https://catalog.data.gov/", H, 2, "/dataset/*", "*/organization/*", 1,
	 "https://s3.amazonaws.com/bucket/data.zip", 2, FROM_IN, PAGE_LINK, FOLLOW, DATA, OUT, ""},

	/* traps and bad URLs, for every kind of link */
	{PLAIN(EX, P, "https://www.example.gov/data/a/b/a/b/a/b/"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://www.example.gov/data/x/x/x/"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://www.example.gov/data/x/x/x"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://www.example.gov/data/a/b/c/a/b/c/a/b/c/d"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://www.example.gov/data/a//////"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://www.example.gov/data/data/data/"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://www.example.gov/data/x/x/"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/x/y/x/y/"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/a/x/a/y/a/"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/2020/01/01/report"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/a//b//c"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/?a/a/a/a/a"), FOLLOW, PAGE, IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20"), FOLLOW, PAGE,
	 IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/"), FOLLOW, PAGE,
	 IN, ""},
	{PLAIN(EX, P, "https://www.example.gov/data/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21"), NO, PAGE,
	 OUT, SV_SCOPE_WHY_SEGMENTS},
	{EX, P, -1, "", "", 1, "https://cdn.other.org/x/x/x/a.css", 0, FROM_IN, REQUISITE_LINK, NO, REQ, OUT,
	 SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "https://files.other.org/d/d/d/x.csv"), NO, PAGE, OUT, SV_SCOPE_WHY_REPEATS},
	{PLAIN(EX, P, "ftp://www.example.gov/data/x.csv"), NO, PAGE, OUT, SV_SCOPE_WHY_NOT_HTTP},
	{PLAIN(EX, P, "mailto:data@example.gov"), NO, PAGE, OUT, SV_SCOPE_WHY_NOT_HTTP},
	{PLAIN(EX, P, "javascript:void(0)"), NO, PAGE, OUT, SV_SCOPE_WHY_NOT_HTTP},
	{PLAIN(EX, P, "/data/relative"), NO, PAGE, OUT, SV_SCOPE_WHY_NOT_HTTP},
	{PLAIN(EX, P, "https:///data/"), NO, PAGE, OUT, SV_SCOPE_WHY_NOT_HTTP},
	{PLAIN(EX, P, ""), NO, PAGE, OUT, SV_SCOPE_WHY_NOT_HTTP},
};

static sv_scope_compiled *compile_case(const decide_case *c)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	sv_scope_compiled *s = NULL;
	rules.scope = c->scope;
	rules.depth = c->depth;
	rules.include = c->include;
	rules.exclude = c->exclude;
	rules.datasets = c->datasets;
	rules.seed_url = c->seed;
	cr_assert_eq(sv_scope_compile(&s, &rules), 0, "compile: %s", sv_error_last());
	return s;
}

ParameterizedTestParameters(scope, decide)
{
	return cr_make_param_array(decide_case, decisions, sizeof(decisions) / sizeof(decisions[0]));
}

ParameterizedTest(decide_case *c, scope, decide)
{
	sv_scope_compiled *s = compile_case(c);
	sv_scope_decision d;
	cr_assert_eq(sv_scope_decide(s, c->url, c->from_depth, c->source_in_scope, c->requisite, &d), 0);
	cr_assert_eq(d.follow, c->follow, "%s (%s, seed %s): follow %d, reason %s", c->url, sv_scope_name(c->scope),
		     c->seed, d.follow, d.reason ? d.reason : "none");
	if (c->follow)
		cr_assert_null(d.reason, "%s: reason '%s' while followed", c->url, d.reason);
	else
		cr_assert_str_eq(d.reason, c->reason, "%s", c->url);
	cr_assert_eq(d.kind, c->kind, "%s: kind %s", c->url, sv_scope_kind_name(d.kind));
	cr_assert_eq(d.in_scope, c->in_scope, "%s: in_scope %d", c->url, d.in_scope);
	cr_assert_eq(d.depth, c->from_depth + 1);
	sv_scope_free(s);
}

/* ---- where the seed lands ---- */

/* A seed that redirects to another host: each scope is taken from the landing too. */
Test(scope, landing_rebases_each_scope)
{
	static const struct {
		sv_scope scope;
		const char *in, *out;
	} cases[] = {
		{SV_SCOPE_HOST, "http://localhost:8081/any/page.html", "http://localhost:8082/"},
		{SV_SCOPE_PREFIX, "http://localhost:8081/site/p.html", "http://localhost:8081/other.html"},
		{SV_SCOPE_DOMAIN, "http://data.example.gov/x", "http://example.org/"},
		{SV_SCOPE_PAGE, "http://localhost:8081/site/", "http://localhost:8081/site/p.html"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sv_scope_rules rules = SV_SCOPE_RULES_INIT;
		sv_scope_compiled *s;
		sv_scope_decision d;
		const char *landing = cases[i].scope == SV_SCOPE_DOMAIN ? "https://www.example.gov/" : "http://localhost:8081/site/";
		rules.scope = cases[i].scope;
		rules.seed_url = "http://127.0.0.1:8080/start";
		cr_assert_eq(sv_scope_compile(&s, &rules), 0, "%s", sv_error_last());
		cr_assert_eq(sv_scope_decide(s, cases[i].in, 0, 1, 0, &d), 0);
		cr_assert_eq(d.follow, 0, "case %zu: followed before the landing", i);
		cr_assert_eq(sv_scope_add_landing(s, landing), 0, "%s", sv_error_last());
		cr_assert_eq(sv_scope_add_landing(s, landing), 0); /* twice: once */
		cr_assert_eq(sv_scope_decide(s, cases[i].in, 0, 1, 0, &d), 0);
		cr_assert_eq(d.follow, 1, "case %zu: %s", i, d.reason);
		cr_assert_eq(sv_scope_decide(s, cases[i].out, 0, 1, 0, &d), 0);
		cr_assert_eq(d.follow, 0, "case %zu: %s followed", i, cases[i].out);
		/* The seed's own scope still holds. */
		cr_assert_eq(sv_scope_decide(s, "http://127.0.0.1:8080/start", 0, 1, 0, &d), 0);
		cr_assert_eq(d.follow, 1);
		cr_assert_eq(sv_scope_add_landing(s, "ftp://x/"), SV_EINVAL);
		sv_scope_free(s);
	}
}

/* ---- URL length ---- */

Test(scope, url_length_limit)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	sv_scope_compiled *s;
	sv_scope_decision d;
	char url[SV_SCOPE_URL_MAX_DEFAULT + 2];
	size_t head = strlen("https://a.example/");

	rules.seed_url = "https://a.example/";
	cr_assert_eq(sv_scope_compile(&s, &rules), 0, "%s", sv_error_last());
	memcpy(url, "https://a.example/", head);
	memset(url + head, 'x', sizeof(url) - head);
	url[SV_SCOPE_URL_MAX_DEFAULT] = '\0';
	cr_assert_eq(sv_scope_decide(s, url, 0, 1, 0, &d), 0);
	cr_assert_eq(d.follow, 1, "%s", d.reason);
	url[SV_SCOPE_URL_MAX_DEFAULT] = 'x';
	url[SV_SCOPE_URL_MAX_DEFAULT + 1] = '\0';
	cr_assert_eq(sv_scope_decide(s, url, 0, 1, 0, &d), 0);
	cr_assert_eq(d.follow, 0);
	cr_assert_str_eq(d.reason, SV_SCOPE_WHY_TOO_LONG);
	/* datasets and requisites too */
	memcpy(url + SV_SCOPE_URL_MAX_DEFAULT - 3, "csv", 3);
	cr_assert_eq(sv_scope_decide(s, url, 0, 1, 1, &d), 0);
	cr_assert_str_eq(d.reason, SV_SCOPE_WHY_TOO_LONG);
	sv_scope_free(s);

	rules.max_url_length = 30;
	cr_assert_eq(sv_scope_compile(&s, &rules), 0, "%s", sv_error_last());
	cr_assert_eq(sv_scope_decide(s, "https://a.example/123456789012", 0, 1, 0, &d), 0);
	cr_assert_eq(d.follow, 1, "%s", d.reason);
	cr_assert_eq(sv_scope_decide(s, "https://a.example/1234567890123", 0, 1, 0, &d), 0);
	cr_assert_str_eq(d.reason, SV_SCOPE_WHY_TOO_LONG);
	sv_scope_free(s);
}

/* ---- compile errors ---- */

typedef struct {
	char seed[60];
	char include[80];
	char exclude[80];
	char message[100]; /* "" = compiles */
} compile_case_t;

static compile_case_t compiles[] = {
	{"https://a.example/", "", "", ""},
	{"https://a.example/", "   \t\n | ", "||", ""},
	{"https://a.example/", "*://a.example/* /x/* x.example/*", "*.pdf$ *.zip", ""},
	{"HTTPS://A.Example:443/x/../y", "", "", ""},
	{"https://a.example/", "", "/\\.csv$/", "exclude pattern '/\\.csv$/': '\\' cannot stand in a URL"},
	{"https://a.example/", "", "/\\.csv$/", "not regular expressions"},
	{"https://a.example/", "^https://a", "", "include pattern '^https://a': '^'"},
	{"https://a.example/", "/ok/* /data/{a,b}/*", "", "include pattern '/data/{a,b}/*': '{'"},
	{"https://a.example/", "/a/*", "*<b>*", "exclude pattern '*<b>*': '<'"},
	{"https://a.example/", "/page#section", "", "include pattern '/page#section': '#' never matches"},
	{"https://a.example/", "ftp://a.example/*", "", "include pattern 'ftp://a.example/*': only http and https"},
	{"https://a.example/", "", "file:///etc/*", "exclude pattern 'file:///etc/*': only http and https"},
	{"ftp://a.example/", "", "", "seed URL: 'ftp://a.example/' is not an http or https URL"},
	{"not a url", "", "", "seed URL"},
	{"", "", "", "seed URL"},
};

ParameterizedTestParameters(scope, compile)
{
	return cr_make_param_array(compile_case_t, compiles, sizeof(compiles) / sizeof(compiles[0]));
}

ParameterizedTest(compile_case_t *c, scope, compile)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	sv_scope_compiled *s = (sv_scope_compiled *)1;
	int rc;
	rules.seed_url = c->seed;
	rules.include = c->include;
	rules.exclude = c->exclude;
	rc = sv_scope_compile(&s, &rules);
	if (!c->message[0]) {
		cr_assert_eq(rc, 0, "%s", sv_error_last());
		cr_assert_not_null(s);
		sv_scope_free(s);
	} else {
		cr_assert_eq(rc, SV_EINVAL, "'%s' '%s' gave %d", c->include, c->exclude, rc);
		cr_assert_null(s);
		cr_assert(strstr(sv_error_last(), c->message), "message '%s' lacks '%s'", sv_error_last(), c->message);
	}
}

Test(scope, overlong_pattern_is_refused)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	sv_scope_compiled *s;
	char *p = malloc(5001);
	cr_assert_not_null(p);
	memset(p, 'a', 5000);
	p[0] = '/';
	p[5000] = '\0';
	rules.seed_url = "https://a.example/";
	rules.include = p;
	cr_assert_eq(sv_scope_compile(&s, &rules), SV_EINVAL);
	cr_assert(strstr(sv_error_last(), "include pattern '/aaa"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "longer than"), "%s", sv_error_last());
	free(p);
}

/* Sitemaps: on a server the scope covers, never in page scope, within depth and SV_SCOPE_SITEMAP_LEVELS. */
Test(scope, sitemaps)
{
	static const struct {
		sv_scope scope;
		int depth;
		const char *url;
		int at;
		const char *why; /* NULL: read */
	} cases[] = {
		{P, -1, "https://www.example.gov/sitemap.xml", 0, NULL}, /* prefix: the whole server's map */
		{P, -1, "https://www.example.gov:8443/sitemap.xml", 0, SV_SCOPE_WHY_OUT},
		{P, -1, "https://other.gov/sitemap.xml", 0, SV_SCOPE_WHY_OUT},
		{H, -1, "https://www.example.gov/maps/a.xml", 2, NULL},
		{H, -1, "https://example.gov/sitemap.xml", 0, SV_SCOPE_WHY_OUT},
		{D, -1, "https://data.example.gov/sitemap.xml", 1, NULL},
		{D, -1, "https://example.org/sitemap.xml", 0, SV_SCOPE_WHY_OUT},
		{PG, -1, "https://www.example.gov/sitemap.xml", 0, SV_SCOPE_WHY_PAGE_SITEMAP},
		{PG, 0, EX, 0, SV_SCOPE_WHY_PAGE_SITEMAP},
		{H, 0, "https://www.example.gov/sitemap.xml", 0, NULL},
		{H, 0, "https://www.example.gov/maps/a.xml", 1, SV_SCOPE_WHY_DEPTH},
		{H, 1, "https://www.example.gov/maps/a.xml", 1, NULL},
		{H, -1, "https://www.example.gov/maps/a.xml", SV_SCOPE_SITEMAP_LEVELS - 1, NULL},
		{H, -1, "https://www.example.gov/maps/a.xml", SV_SCOPE_SITEMAP_LEVELS, SV_SCOPE_WHY_NESTING},
		{H, 99, "https://www.example.gov/maps/a.xml", 50, SV_SCOPE_WHY_NESTING},
		{H, -1, "https://www.example.gov/private/map.xml", 0, SV_SCOPE_WHY_EXCLUDED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sv_scope_rules r = SV_SCOPE_RULES_INIT;
		sv_scope_compiled *s = NULL;
		sv_scope_decision d;
		r.scope = cases[i].scope;
		r.depth = cases[i].depth;
		r.seed_url = EX;
		r.include = "/data/only/*";
		r.exclude = "/private/*";
		cr_assert_eq(sv_scope_compile(&s, &r), 0, "%s", sv_error_last());
		cr_assert_eq(sv_scope_decide_sitemap(s, cases[i].url, cases[i].at, &d), 0);
		cr_assert_eq(d.follow, cases[i].why == NULL, "case %zu: %s", i, cases[i].url);
		cr_assert_eq(d.kind, PAGE, "case %zu", i);
		cr_assert_eq(d.depth, cases[i].at, "case %zu", i);
		if (cases[i].why)
			cr_assert_str_eq(d.reason, cases[i].why, "case %zu", i);
		sv_scope_free(s);
	}
}

Test(scope, missing_arguments)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	sv_scope_compiled *s;
	sv_scope_decision d;
	cr_assert_eq(sv_scope_compile(&s, &rules), SV_EINVAL); /* no seed */
	cr_assert_eq(sv_scope_compile(&s, NULL), SV_EINVAL);
	rules.seed_url = "https://a.example/";
	cr_assert_eq(sv_scope_compile(&s, &rules), 0);
	cr_assert_eq(sv_scope_decide(s, NULL, 0, 1, 0, &d), SV_EINVAL);
	cr_assert_eq(sv_scope_decide(NULL, "https://a.example/x", 0, 1, 0, &d), SV_EINVAL);
	cr_assert_eq(sv_scope_decide(s, "https://a.example/x", 0, 1, 0, NULL), SV_EINVAL);
	sv_scope_free(s);
	sv_scope_free(NULL);
}

Test(scope, kind_names)
{
	cr_assert_str_eq(sv_scope_kind_name(SV_SCOPE_AS_PAGE), "page");
	cr_assert_str_eq(sv_scope_kind_name(SV_SCOPE_AS_DATASET), "dataset");
	cr_assert_str_eq(sv_scope_kind_name(SV_SCOPE_AS_REQUISITE), "requisite");
}

/* Junk in, a decision out: no crash, and never a junk URL followed. */
Test(scope, random_urls)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	sv_scope_compiled *s;
	uint64_t state = 42;
	rules.seed_url = "https://a.example/d/";
	rules.include = "/d/* */x/*";
	rules.exclude = "*/es/*";
	cr_assert_eq(sv_scope_compile(&s, &rules), 0, "%s", sv_error_last());
	for (int i = 0; i < 2000; i++) {
		char url[300];
		sv_scope_decision d;
		size_t head = i % 2 ? 0 : (size_t)sprintf(url, "https://a.example/d/");
		th_fill((unsigned char *)url + head, sizeof(url) - head - 1, &state, i % 3 != 0);
		url[sizeof(url) - 1 - (size_t)(i % 200)] = '\0';
		cr_assert_eq(sv_scope_decide(s, url, i % 5, i % 7 != 0, i % 11 == 0, &d), 0);
		cr_assert(d.follow == 0 || d.follow == 1);
		cr_assert(d.follow ? d.reason == NULL : d.reason != NULL);
		if (d.follow)
			cr_assert(strncmp(url, "http", 4) == 0, "%s", url);
	}
	sv_scope_free(s);
}

/* ---- dataset recognition by URL ---- */

typedef struct {
	char url[200];
	int dataset;
} url_case;

static url_case urls[] = {
	{"https://a/data.csv", 1},
	{"https://a/DATA.CSV", 1},
	{"https://a/x/table.tsv", 1},
	{"https://a/book.xlsx", 1},
	{"https://a/book.xls", 1},
	{"https://a/sheet.ods", 1},
	{"https://a/api/items.json", 1},
	{"https://a/places.geojson", 1},
	{"https://a/feed.xml", 1},
	{"https://a/bundle.zip", 1},
	{"https://a/dump.tar.gz", 1},
	{"https://a/dump.tgz", 1},
	{"https://a/x.bz2", 1},
	{"https://a/x.xz", 1},
	{"https://a/x.7z", 1},
	{"https://a/x.rar", 1},
	{"https://a/report.pdf", 1},
	{"https://a/letter.docx", 1},
	{"https://a/roads.shp", 1},
	{"https://a/roads.dbf", 1},
	{"https://a/map.kmz", 1},
	{"https://a/track.gpx", 1},
	{"https://a/sst.nc", 1},
	{"https://a/sst.nc4", 1},
	{"https://a/model.h5", 1},
	{"https://a/t.parquet", 1},
	{"https://a/survey.sav", 1},
	{"https://a/survey.dta", 1},
	{"https://a/survey.sas7bdat", 1},
	{"https://a/analysis.RData", 1},
	{"https://a/analysis.rds", 1},
	{"https://a/db.sqlite", 1},
	{"https://a/old.mdb", 1},
	{"https://a/readme.txt", 1},
	{"https://a/values.dat", 1},
	{"https://a/data.csv?version=2", 1},
	{"https://a/data.csv;jsessionid=ABC", 1},
	{"https://a/download.php?file=x.csv", 1},
	{"https://a/download?id=7&name=report%20final.XLSX", 1},
	{"https://a/get?path=files%2Fa.zip", 1},
	{"https://a/export?format=csv", 1},
	{"https://a/query?where=1&f=geojson", 1},
	{"https://a/export?outputFormat=JSON", 1},
	{"https://a/", 0},
	{"https://a/index.html", 0},
	{"https://a/page.php", 0},
	{"https://a/page.aspx?id=4", 0},
	{"https://a/style.css", 0},
	{"https://a/app.js", 0},
	{"https://a/logo.png", 0},
	{"https://a/csv", 0},
	{"https://a/data.csv/", 0},
	{"https://a/data.csv/view", 0},
	{"https://a/x.csvx", 0},
	{"https://a/.csv.html", 0},
	{"https://a/v1.2/", 0},
	{"https://a/search?q=climate", 0},
	{"https://a/export?format=html", 0},
	{"https://a/x?csv", 0},
	{"https://a/x?title=csv", 0},
	{"https://a.csv/", 0},
	{"ftp://a/data.csv", 0},
	{"data.csv", 0},
};

ParameterizedTestParameters(scope, url_is_dataset)
{
	return cr_make_param_array(url_case, urls, sizeof(urls) / sizeof(urls[0]));
}

ParameterizedTest(url_case *c, scope, url_is_dataset)
{
	cr_assert_eq(sv_scope_url_is_dataset(c->url), c->dataset, "%s", c->url);
}

/* ---- dataset recognition by response ---- */

typedef struct {
	char type[100];   /* "-" = no header */
	char url[100];
	char disposition[100]; /* "-" = no header */
	int dataset;
} type_case;

static type_case types[] = {
	{"text/csv", "https://a/x", "-", 1},
	{"text/csv; charset=utf-8", "https://a/x", "-", 1},
	{"TEXT/CSV ; charset=UTF-8", "https://a/x", "-", 1},
	{"text/tab-separated-values", "https://a/x", "-", 1},
	{"application/vnd.ms-excel", "https://a/x", "-", 1},
	{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "https://a/x", "-", 1},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "https://a/x", "-", 1},
	{"application/vnd.oasis.opendocument.spreadsheet", "https://a/x", "-", 1},
	{"application/vnd.ms-excel.sheet.macroEnabled.12", "https://a/x", "-", 1},
	{"application/zip", "https://a/x", "-", 1},
	{"application/x-zip-compressed", "https://a/x", "-", 1},
	{"application/gzip", "https://a/x", "-", 1},
	{"application/x-tar", "https://a/x", "-", 1},
	{"application/x-7z-compressed", "https://a/x", "-", 1},
	{"application/pdf", "https://a/x", "-", 1},
	{"application/json", "https://a/x", "-", 1},
	{"application/geo+json", "https://a/x", "-", 1},
	{"application/vnd.geo+json", "https://a/x", "-", 1},
	{"application/xml", "https://a/x", "-", 1},
	{"text/xml", "https://a/x", "-", 1},
	{"application/vnd.google-earth.kml+xml", "https://a/x", "-", 1},
	{"application/vnd.google-earth.kmz", "https://a/x", "-", 1},
	{"application/x-netcdf", "https://a/x", "-", 1},
	{"application/x-hdf5", "https://a/x", "-", 1},
	{"application/vnd.apache.parquet", "https://a/x", "-", 1},
	{"application/x-sqlite3", "https://a/x", "-", 1},
	{"application/msword", "https://a/x", "-", 1},
	/* generic types: the URL or the file name decides */
	{"application/octet-stream", "https://a/data.csv", "-", 1},
	{"application/octet-stream", "https://a/download.php?file=x.shp", "-", 1},
	{"application/octet-stream", "https://a/download?id=3", "-", 0},
	{"application/octet-stream", "https://a/data/bulk/sensor-readings.bin", "-", 1},
	{"application/octet-stream", "https://a/model/run-7.raw", "-", 1},
	{"application/octet-stream", "https://a/download?id=3", "attachment; filename=\"roads.zip\"", 1},
	{"application/octet-stream", "https://a/download?id=3", "attachment; filename=roads.ZIP", 1},
	{"application/octet-stream", "https://a/download?id=3", "attachment;filename=roads.zip;size=3", 1},
	{"application/octet-stream", "https://a/download?id=3", "attachment; filename*=UTF-8''caf%C3%A9.xlsx", 1},
	{"application/octet-stream", "https://a/download?id=3",
	 "attachment; filename=\"x.bin\"; filename*=UTF-8''x.csv", 1},
	{"application/octet-stream", "https://a/download?id=3", "attachment; filename=\"setup.exe\"", 0},
	{"application/octet-stream", "https://a/download?id=3", "attachment; name=\"x.csv\"", 0},
	{"binary/octet-stream", "https://a/x.parquet", "-", 1},
	{"application/force-download", "https://a/x.xlsx", "-", 1},
	{"text/plain", "https://a/data.csv", "-", 1},
	{"text/plain; charset=us-ascii", "https://a/values.txt", "-", 1},
	{"text/plain", "https://a/notes", "-", 0},
	{"-", "https://a/data.csv", "-", 1},
	{"", "https://a/data.csv", "-", 1},
	{"-", "https://a/page", "-", 0},
	/* pages and requisites are not datasets, whatever the URL says... */
	{"text/html", "https://a/x", "-", 0},
	{"text/html; charset=utf-8", "https://a/download.php?file=x.csv", "-", 0},
	{"application/xhtml+xml", "https://a/data.xml", "-", 0},
	{"text/css", "https://a/x.css", "-", 0},
	{"image/png", "https://a/x.png", "-", 0},
	{"application/javascript", "https://a/x.js", "-", 0},
	/* ...unless the server names the file as one */
	{"text/html", "https://a/x", "attachment; filename=\"table.csv\"", 1},
	{"-", "-", "-", 0},
};

ParameterizedTestParameters(scope, dataset_type)
{
	return cr_make_param_array(type_case, types, sizeof(types) / sizeof(types[0]));
}

ParameterizedTest(type_case *c, scope, dataset_type)
{
	const char *type = strcmp(c->type, "-") ? c->type : NULL;
	const char *url = strcmp(c->url, "-") ? c->url : NULL;
	const char *cd = strcmp(c->disposition, "-") ? c->disposition : NULL;
	cr_assert_eq(sv_scope_is_dataset_type(type, url, cd), c->dataset, "type '%s', url %s, disposition '%s'",
		     c->type, c->url, c->disposition);
}
