/*
 * tests/unit/test_robots.c -- robots.txt: the examples of RFC 9309 (sections
 * 2.2.2, 2.2.3 and 5), Google's documented matching examples, group
 * selection, fetch statuses, Crawl-delay, Sitemap lines, malformed and hostile
 * files (huge, many rules, long and pathological patterns, random bytes).
 *
 * Parameter structs hold inline arrays: Criterion re-runs the parameter
 * function in each worker, and pointers would not survive the trip.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/robots.h"

#define AGENT "salvage/0.1 (+https://example.org/salvage)"

/* Parses body (NUL-terminated) as a 200 answer for agent. */
static sv_robots *parse_as(const char *body, const char *agent)
{
	sv_robots *r = NULL;
	int rc = sv_robots_parse(&r, body, strlen(body), 200, agent);
	cr_assert_eq(rc, 0, "parse: %s", sv_error_last());
	cr_assert_not_null(r);
	return r;
}

static int allowed_in(const char *body, const char *agent, const char *url)
{
	sv_robots *r = parse_as(body, agent);
	int ok = sv_robots_allowed(r, url);
	sv_robots_free(r);
	return ok;
}

/* ---- whole files, several agents and URLs ---- */

typedef struct {
	char body[600];
	char agent[64];
	char url[200];
	int allowed;
} file_case;

/* RFC 9309 5.1, as printed (the "EOF" line included: it is not a record). */
#define RFC_SIMPLE                                                                                                     \
	"User-Agent: *\n"                                                                                              \
	"Disallow: *.gif$\n"                                                                                           \
	"Disallow: /example/\n"                                                                                        \
	"Allow: /publications/\n"                                                                                      \
	"\n"                                                                                                           \
	"User-Agent: foobot\n"                                                                                         \
	"Disallow:/\n"                                                                                                 \
	"Allow:/example/page.html\n"                                                                                   \
	"Allow:/example/allowed.gif\n"                                                                                 \
	"\n"                                                                                                           \
	"User-Agent: barbot\n"                                                                                         \
	"User-Agent: bazbot\n"                                                                                         \
	"Disallow: /example/page.html\n"                                                                               \
	"\n"                                                                                                           \
	"User-Agent: quxbot\n"                                                                                         \
	"\n"                                                                                                           \
	"EOF\n"

/* RFC 9309 5.2 */
#define RFC_LONGEST                                                                                                    \
	"User-Agent: foobot\n"                                                                                         \
	"Allow: /example/page/\n"                                                                                      \
	"Disallow: /example/page/disallowed.gif\n"

#define SPECIFIC "User-agent: *\nDisallow: /\n\nUser-agent: salvage\nDisallow: /private\n"
#define MERGED                                                                                                         \
	"User-agent: salvage\nDisallow: /a\n\nUser-agent: other\nDisallow: /b\n\n"                                     \
	"user-agent: SALVAGE\ndisallow: /c\n\nUser-agent: *\nDisallow: /d\n"
#define HIERARCHY "User-agent: *\nDisallow: /\n\nUser-agent: salvage\nDisallow: /s\n"

static file_case files[] = {
	/* RFC 9309 5.1: foobot obeys its own group */
	{RFC_SIMPLE, "foobot", "/example/page.html", 1},
	{RFC_SIMPLE, "foobot", "/example/allowed.gif", 1},
	{RFC_SIMPLE, "foobot", "/example/other.html", 0},
	{RFC_SIMPLE, "foobot", "/", 0},
	{RFC_SIMPLE, "foobot", "/publications/", 0},
	{RFC_SIMPLE, "FooBot/2.1", "/example/page.html", 1},
	{RFC_SIMPLE, "FooBot/2.1", "/other", 0},
	/* ...barbot and bazbot share one group */
	{RFC_SIMPLE, "barbot", "/example/page.html", 0},
	{RFC_SIMPLE, "barbot", "/example/page.html?x=1", 0},
	{RFC_SIMPLE, "barbot", "/example/page.htm", 1},
	{RFC_SIMPLE, "barbot", "/example/other", 1},
	{RFC_SIMPLE, "barbot", "/x.gif", 1},
	{RFC_SIMPLE, "bazbot", "/example/page.html", 0},
	{RFC_SIMPLE, "bazbot", "/publications/", 1},
	/* ...quxbot's group is empty: everything is allowed, "*" does not apply */
	{RFC_SIMPLE, "quxbot", "/example/page.html", 1},
	{RFC_SIMPLE, "quxbot", "/x.gif", 1},
	/* ...everyone else obeys "*" */
	{RFC_SIMPLE, "otherbot", "/x.gif", 0},
	{RFC_SIMPLE, "otherbot", "/a/b/c.gif", 0},
	{RFC_SIMPLE, "otherbot", "/x.gif?size=2", 1},
	{RFC_SIMPLE, "otherbot", "/x.gifs", 1},
	{RFC_SIMPLE, "otherbot", "/example/", 0},
	{RFC_SIMPLE, "otherbot", "/example/x.html", 0},
	{RFC_SIMPLE, "otherbot", "/example", 1},
	{RFC_SIMPLE, "otherbot", "/publications/", 1},
	{RFC_SIMPLE, "otherbot", "/publications/cover.gif", 1}, /* longest match: 14 bytes beat 5 */
	{RFC_SIMPLE, "otherbot", "/", 1},
	{RFC_SIMPLE, AGENT, "https://example.com/example/page.html", 0},
	/* RFC 9309 5.2 */
	{RFC_LONGEST, "foobot", "/example/page/", 1},
	{RFC_LONGEST, "foobot", "/example/page/disallowed.gif", 0},
	{RFC_LONGEST, "foobot", "/example/page/allowed.gif", 1},
	{RFC_LONGEST, "foobot", "/example/", 1},
	/* RFC 9309 2.2.3: '#', '$' and '*' */
	{"User-agent: *\nDisallow: /\nallow: / # comment in line\n", AGENT, "/x", 1},
	{"# comment on its own line\nUser-agent: *\nDisallow: /a # not part of /a\n", AGENT, "/a", 0},
	{"User-agent: *\nDisallow: /a # not part of /a\n", AGENT, "/b", 1},
	{"User-agent: *\nDisallow: /\nallow: /this/path/exactly$\n", AGENT, "/this/path/exactly", 1},
	{"User-agent: *\nDisallow: /\nallow: /this/path/exactly$\n", AGENT, "/this/path/exactly/more", 0},
	{"User-agent: *\nDisallow: /\nallow: /this/path/exactly$\n", AGENT, "/this/path/exactly?q", 0},
	{"User-agent: *\nDisallow: /\nallow: /this/*/exactly\n", AGENT, "/this/a/b/exactly", 1},
	{"User-agent: *\nDisallow: /\nallow: /this/*/exactly\n", AGENT, "/this/exactly", 0},
	/* longest match, Allow wins a tie (Google's documented cases) */
	{"User-agent: *\nAllow: /p\nDisallow: /\n", AGENT, "/page", 1},
	{"User-agent: *\nAllow: /folder\nDisallow: /folder\n", AGENT, "/folder/page", 1},
	{"User-agent: *\nDisallow: /folder\nAllow: /folder\n", AGENT, "/folder/page", 1},
	{"User-agent: *\nAllow: /page\nDisallow: /*.htm\n", AGENT, "/page.htm", 0},
	{"User-agent: *\nAllow: /$\nDisallow: /\n", AGENT, "/", 1},
	{"User-agent: *\nAllow: /$\nDisallow: /\n", AGENT, "/page.htm", 0},
	{"User-agent: *\nDisallow: /a**b\n", AGENT, "/axxb", 0},
	/* group selection: ours beats "*" */
	{SPECIFIC, AGENT, "/x", 1},
	{SPECIFIC, AGENT, "/private/x", 0},
	{SPECIFIC, "otherbot", "/x", 0},
	/* ...case-insensitively, product token only */
	{"USER-AGENT: SaLvAgE\nDisallow: /x\n", AGENT, "/x", 0},
	{"User-agent: salvage/2.0 (compatible)\nDisallow: /x\n", AGENT, "/x", 0},
	{"User-agent: salvagebot\nDisallow: /x\n", AGENT, "/x", 1},
	{"User-agent: salv\nDisallow: /x\n", AGENT, "/x", 1},
	/* ...groups that name us are merged; "*" is not */
	{MERGED, AGENT, "/a", 0},
	{MERGED, AGENT, "/b", 1},
	{MERGED, AGENT, "/c", 0},
	{MERGED, AGENT, "/d", 1},
	/* ...a hyphenated token falls back to its leading name, longest first */
	{HIERARCHY, "salvage-images", "/s", 0},
	{HIERARCHY, "salvage-images", "/t", 1},
	{HIERARCHY "\nUser-agent: salvage-images\nDisallow: /i\n", "salvage-images", "/s", 1},
	{HIERARCHY "\nUser-agent: salvage-images\nDisallow: /i\n", "salvage-images", "/i", 0},
	{HIERARCHY, "salvager", "/t", 0},
	/* ...consecutive User-agent lines share a group; a Sitemap line does not end it */
	{"User-agent: a\nUser-agent: salvage\nUser-agent: b\nDisallow: /x\n", AGENT, "/x", 0},
	{"User-agent: a\nSitemap: https://e/s.xml\nUser-agent: salvage\nDisallow: /x\n", AGENT, "/x", 0},
	/* ...a User-agent line after rules starts a new group */
	{"User-agent: salvage\nDisallow: /x\nUser-agent: other\nDisallow: /y\n", AGENT, "/y", 1},
	{"User-agent: salvage\nDisallow: /x\nUser-agent: other\nDisallow: /y\n", AGENT, "/x", 0},
	/* ...a group named both "*" and us is ours */
	{"User-agent: *\nUser-agent: salvage\nDisallow: /x\n\nUser-agent: *\nDisallow: /y\n", AGENT, "/y", 1},
	{"User-agent: *\nUser-agent: salvage\nDisallow: /x\n\nUser-agent: *\nDisallow: /y\n", AGENT, "/x", 0},
	/* ...no group for us and no "*": no rules */
	{"User-agent: other\nDisallow: /\n", AGENT, "/x", 1},
	{"", AGENT, "/x", 1},
	/* rules outside any group are ignored */
	{"Disallow: /x\nUser-agent: *\nDisallow: /y\n", AGENT, "/x", 1},
	/* an empty Disallow allows everything */
	{"User-agent: *\nDisallow:\n", AGENT, "/x", 1},
	{"User-agent: *\nDisallow:\nDisallow: /x\n", AGENT, "/x", 0},
	{"User-agent: *\nDisallow:    # nothing\n", AGENT, "/", 1},
	/* /robots.txt is always allowed */
	{"User-agent: *\nDisallow: /\n", AGENT, "/robots.txt", 1},
	{"User-agent: *\nDisallow: /\n", AGENT, "https://example.com/robots.txt", 1},
	{"User-agent: *\nDisallow: /\n", AGENT, "/robots.txt.bak", 0},
	{"User-agent: *\nDisallow: /robots.txt\n", AGENT, "/robots.txt", 1},
	/* URL forms: the path and query of an absolute URL */
	{"User-agent: *\nDisallow: /a?b\n", AGENT, "https://example.com/a?b=1", 0},
	{"User-agent: *\nDisallow: /a?b\n", AGENT, "https://example.com:8080/a", 1},
	{"User-agent: *\nDisallow: /$\n", AGENT, "http://example.com", 0},
	{"User-agent: *\nDisallow: /?\n", AGENT, "http://example.com?x", 0},
	{"User-agent: *\nDisallow: /a\n", AGENT, "http://example.com/b#/a", 1},
	{"User-agent: *\nDisallow: /a\n", AGENT, "/go?to=http://example.com/a", 1},
	{"User-agent: *\nDisallow: /go?to=http\n", AGENT, "/go?to=http://example.com/a", 0},
	/* a pattern without a leading '/' is read as if it had one */
	{"User-agent: *\nDisallow: private\n", AGENT, "/private/x", 0},
	/* lenient reading: BOM, line ends, spaces, typos, a missing colon */
	{"\xEF\xBB\xBFUser-agent: *\r\nDisallow: /a\r\n", AGENT, "/a", 0},
	{"\xEF\xBBUser-agent: *\nDisallow: /a\n", AGENT, "/a", 0},  /* the start of a BOM, as Google reads it */
	{"\xEFUser-agent: *\nDisallow: /a\n", AGENT, "/a", 0},
	{"\xEF\x11\xBFUser-agent: *\nDisallow: /a\n", AGENT, "/a", 1}, /* not a BOM: a line of garbage */
	{"User-agent: *\rDisallow: /a\rDisallow: /b", AGENT, "/b", 0},
	{"User-agent: *\n\rDisallow: /a\n", AGENT, "/a", 0},
	{"   User-agent :  *  \n\t Disallow\t:\t/a  \n", AGENT, "/a", 0},
	{"useragent: *\ndisalow: /a\n", AGENT, "/a", 0},
	{"User agent: *\nDissallow: /a\n", AGENT, "/a", 0},
	{"User-agent *\nDisallow /a\n", AGENT, "/a", 0},
	{"User-agent: *\nDisallow: /a:b\n", AGENT, "/a:b", 0},
	{"User-agent: *\nDisallow: /a:b\n", AGENT, "/a", 1},
	{"User-agent: *\nDisallow /a junk\n", AGENT, "/a", 1},
	{"User-agent: *\nNoindex: /a\nHost: example.com\nClean-param: x /a\n", AGENT, "/a", 1},
	{"User-agent: *\nDisallow\n", AGENT, "/a", 1},
	{"<html><body><h1>Welcome</h1><p>Disallow: /</p></body></html>\n", AGENT, "/a", 1},
};

ParameterizedTestParameters(robots, files)
{
	return cr_make_param_array(file_case, files, sizeof(files) / sizeof(files[0]));
}

ParameterizedTest(file_case *c, robots, files)
{
	int got = allowed_in(c->body, c->agent, c->url);
	cr_assert_eq(got, c->allowed, "agent %s, %s: got %s\n---\n%s---", c->agent, c->url,
		     got ? "allowed" : "disallowed", c->body);
}

/* ---- one Disallow pattern against one path ---- */

typedef struct {
	char pattern[100];
	char path[120];
	int match;
} pattern_case;

static pattern_case patterns[] = {
	/* RFC 9309 2.2.2: percent-encoding, both ways; reserved characters stay apart */
	{"/foo/bar?baz=quz", "/foo/bar?baz=quz", 1},
	{"/foo/bar/\xE3\x83\x84", "/foo/bar/%E3%83%84", 1},
	{"/foo/bar/\xE3\x83\x84", "/foo/bar/%e3%83%84", 1},
	{"/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84", 1},
	{"/foo/bar/%e3%83%84", "/foo/bar/\xE3\x83\x84", 1},
	{"/foo/bar/%62%61%7A", "/foo/bar/baz", 1},
	{"/foo/bar/baz", "/foo/bar/%62%61%7A", 1},
	{"/%7Euser", "/~user", 1},
	{"/~user", "/%7euser", 1},
	{"/a%2Fb", "/a/b", 0},
	{"/a/b", "/a%2Fb", 0},
	{"/a%2fb", "/a%2Fb", 1},
	{"/a%3Fb", "/a?b", 0},
	{"/a%2A", "/a%2A", 1},
	{"/a%2A", "/abc", 0},
	{"/a b", "/a%20b", 1},
	{"/100%", "/100%25", 1},
	/* Google's documented examples */
	{"/fish", "/fish", 1},
	{"/fish", "/fish.html", 1},
	{"/fish", "/fish/salmon.html", 1},
	{"/fish", "/fishheads", 1},
	{"/fish", "/fishheads/yummy.html", 1},
	{"/fish", "/fish.php?id=anything", 1},
	{"/fish", "/Fish.asp", 0},
	{"/fish", "/catfish", 0},
	{"/fish", "/?id=fish", 0},
	{"/fish", "/desert/fish", 0},
	{"/fish*", "/fish", 1},
	{"/fish*", "/fishheads/yummy.html", 1},
	{"/fish*", "/Fish.asp", 0},
	{"/fish/", "/fish/", 1},
	{"/fish/", "/fish/?id=anything", 1},
	{"/fish/", "/fish/salmon.htm", 1},
	{"/fish/", "/fish", 0},
	{"/fish/", "/fish.html", 0},
	{"/fish/", "/animals/fish/", 0},
	{"/fish/", "/Fish/Salmon.asp", 0},
	{"/*.php", "/index.php", 1},
	{"/*.php", "/folder/filename.php", 1},
	{"/*.php", "/folder/filename.php?parameters", 1},
	{"/*.php", "/folder/any.php.file.html", 1},
	{"/*.php", "/filename.php/", 1},
	{"/*.php", "/", 0},
	{"/*.php", "/windows.PHP", 0},
	{"/*.php$", "/filename.php", 1},
	{"/*.php$", "/folder/filename.php", 1},
	{"/*.php$", "/filename.php?parameters", 0},
	{"/*.php$", "/filename.php/", 0},
	{"/*.php$", "/filename.php5", 0},
	{"/*.php$", "/windows.PHP", 0},
	{"/fish*.php", "/fish.php", 1},
	{"/fish*.php", "/fishheads/catfish.php?parameters", 1},
	{"/fish*.php", "/Fish.PHP", 0},
	/* wildcards at the edges, '$' in the middle is literal */
	{"*", "/anything", 1},
	{"/*", "/", 1},
	{"/*$", "/x", 1},
	{"/a$b", "/a$b", 1},
	{"/a$b", "/a", 0},
	{"/a$b", "/a%24b", 1},
	/* an escaped '*' or '$' is that character, no wildcard or anchor (RFC 9309 2.2.3) */
	{"/path/file-with-a-%2A.html", "/path/file-with-a-*.html", 1},
	{"/path/file-with-a-%2A.html", "/path/file-with-a-%2a.html", 1},
	{"/path/file-with-a-%2A.html", "/path/file-with-a-x.html", 0},
	{"/path/foo-%24", "/path/foo-$", 1},
	{"/path/foo-%24", "/path/foo-", 0},
	{"/a-%2a*-%24$", "/a-*b*-$", 1},
	{"/a-%2a*-%24$", "/a-b-$", 0},
	{"/*", "/*", 1},
	{"/*/*/*/x$", "/1/2/3/x", 1},
	{"/*/*/*/x$", "/1/2/x", 0},
};

ParameterizedTestParameters(robots, patterns)
{
	return cr_make_param_array(pattern_case, patterns, sizeof(patterns) / sizeof(patterns[0]));
}

ParameterizedTest(pattern_case *c, robots, patterns)
{
	char body[200];
	snprintf(body, sizeof(body), "User-agent: *\nDisallow: %s\n", c->pattern);
	cr_assert_eq(!allowed_in(body, AGENT, c->path), c->match, "pattern '%s', path '%s'", c->pattern, c->path);
}

/* ---- fetch statuses (RFC 9309 2.3.1) ---- */

typedef struct {
	int status;
	char url[40];
	int allowed;
} status_case;

static status_case statuses[] = {
	{200, "/private", 0}, {200, "/public", 1},   {203, "/private", 0}, {301, "/private", 1},
	{400, "/private", 1}, {401, "/private", 1},  {403, "/private", 1}, {404, "/private", 1},
	{410, "/private", 1}, {429, "/public", 0},   {500, "/public", 0},  {502, "/public", 0},
	{503, "/public", 0},  {0, "/public", 0},     {0, "/robots.txt", 1}, {503, "/robots.txt", 1},
	{100, "/public", 0},  {600, "/public", 0},   {-1, "/public", 0},
};

ParameterizedTestParameters(robots, statuses)
{
	return cr_make_param_array(status_case, statuses, sizeof(statuses) / sizeof(statuses[0]));
}

ParameterizedTest(status_case *c, robots, statuses)
{
	static const char body[] = "User-agent: *\nDisallow: /private\nCrawl-delay: 5\nSitemap: https://e/s.xml\n";
	const char *const *maps;
	sv_robots *r;
	cr_assert_eq(sv_robots_parse(&r, body, strlen(body), c->status, AGENT), 0, "%s", sv_error_last());
	cr_assert_eq(sv_robots_allowed(r, c->url), c->allowed, "status %d, %s", c->status, c->url);
	if (c->status < 200 || c->status > 299) {
		/* the body of an error page is not robots.txt */
		cr_assert_eq(sv_robots_crawl_delay_ms(r), -1);
		cr_assert_eq(sv_robots_sitemaps(r, &maps), 0);
	}
	sv_robots_free(r);
}

/* ---- Crawl-delay ---- */

typedef struct {
	char body[200];
	int ms;
} delay_case;

static delay_case delays[] = {
	{"User-agent: salvage\nCrawl-delay: 10\n", 10000},
	{"User-agent: salvage\nCrawl-delay: 2.5\n", 2500},
	{"User-agent: salvage\nCrawl-delay: .5\n", 500},
	{"User-agent: salvage\nCrawl-delay: 5.\n", 5000},
	{"User-agent: salvage\nCrawl-delay: 1.2345\n", 1234},
	{"User-agent: salvage\nCrawl-delay: 0\n", 0},
	{"User-agent: salvage\nCrawl-delay: 60\n", 60000},
	{"User-agent: salvage\nCrawl-delay: 61\n", 60000},
	{"User-agent: salvage\nCrawl-delay: 86400\n", 60000},
	{"User-agent: salvage\nCrawl-delay: 99999999999999999999999999\n", 60000},
	{"User-agent: salvage\ncrawl-delay:7 # seconds\n", 7000},
	{"User-agent: salvage\nCrawl-delay: abc\n", -1},
	{"User-agent: salvage\nCrawl-delay: -1\n", -1},
	{"User-agent: salvage\nCrawl-delay: 1,5\n", -1},
	{"User-agent: salvage\nCrawl-delay: 3s\n", -1},
	{"User-agent: salvage\nCrawl-delay:\n", -1},
	{"User-agent: salvage\nCrawl-delay: .\n", -1},
	{"User-agent: salvage\nDisallow: /x\n", -1},
	/* only the group we obey counts */
	{"User-agent: *\nCrawl-delay: 3\n", 3000},
	{"User-agent: *\nCrawl-delay: 3\n\nUser-agent: salvage\nDisallow: /x\n", -1},
	{"User-agent: other\nCrawl-delay: 3\n", -1},
	{"Crawl-delay: 3\nUser-agent: *\n", -1},
	/* merged groups: the slowest */
	{"User-agent: salvage\nCrawl-delay: 2\n\nUser-agent: salvage\nCrawl-delay: 4\n", 4000},
	{"User-agent: salvage\nCrawl-delay: 4\nCrawl-delay: 1\n", 4000},
};

ParameterizedTestParameters(robots, crawl_delay)
{
	return cr_make_param_array(delay_case, delays, sizeof(delays) / sizeof(delays[0]));
}

ParameterizedTest(delay_case *c, robots, crawl_delay)
{
	sv_robots *r = parse_as(c->body, AGENT);
	cr_assert_eq(sv_robots_crawl_delay_ms(r), c->ms, "---\n%s---", c->body);
	sv_robots_free(r);
}

Test(robots, sitemaps_from_anywhere_in_file_order)
{
	static const char body[] = "Sitemap: https://a.example/s1.xml\n"
				   "User-agent: other\nDisallow: /\n"
				   "sitemap:https://a.example/s2.xml # the news\n"
				   "User-agent: salvage\nAllow: /\n"
				   "  SITEMAP :  https://b.example/s3.xml.gz  \r\n"
				   "Sitemap:\n"
				   "Sitemap /relative.xml\n"
				   "Site-map: https://a.example/s4.xml";
	const char *const *maps = NULL;
	sv_robots *r = parse_as(body, AGENT);
	cr_assert_eq(sv_robots_sitemaps(r, &maps), 5);
	cr_assert_str_eq(maps[0], "https://a.example/s1.xml");
	cr_assert_str_eq(maps[1], "https://a.example/s2.xml");
	cr_assert_str_eq(maps[2], "https://b.example/s3.xml.gz");
	cr_assert_str_eq(maps[3], "/relative.xml");
	cr_assert_str_eq(maps[4], "https://a.example/s4.xml");
	sv_robots_free(r);
}

Test(robots, no_sitemaps)
{
	const char *const *maps = (const char *const *)"x";
	sv_robots *r = parse_as("User-agent: *\nDisallow: /\n", AGENT);
	cr_assert_eq(sv_robots_sitemaps(r, &maps), 0);
	sv_robots_free(r);
	cr_assert_eq(sv_robots_sitemaps(NULL, &maps), 0);
	cr_assert_null(maps);
}

Test(robots, agent_needs_a_product_token)
{
	sv_robots *r = (sv_robots *)1;
	cr_assert_eq(sv_robots_parse(&r, "", 0, 200, "/0.1"), SV_EINVAL);
	cr_assert_null(r);
	cr_assert(strstr(sv_error_last(), "product token"), "%s", sv_error_last());
	cr_assert_eq(sv_robots_parse(&r, "", 0, 200, ""), SV_EINVAL);
	cr_assert_eq(sv_robots_parse(&r, "", 0, 200, NULL), SV_EINVAL);
}

Test(robots, null_handle_allows_everything)
{
	cr_assert_eq(sv_robots_allowed(NULL, "https://a/x"), 1);
	cr_assert_eq(sv_robots_crawl_delay_ms(NULL), -1);
	sv_robots_free(NULL);
}

Test(robots, body_null_or_empty)
{
	sv_robots *r;
	cr_assert_eq(sv_robots_parse(&r, NULL, 0, 200, AGENT), 0);
	cr_assert_eq(sv_robots_allowed(r, "/x"), 1);
	cr_assert_eq(sv_robots_crawl_delay_ms(r), -1);
	sv_robots_free(r);
}

/* Bytes are bytes: the length counts, not a NUL. */
Test(robots, nul_bytes_in_body)
{
	static const char body[] = "User-agent: *\nDisallow: /a\0b\nDisallow: /c\n";
	sv_robots *r;
	cr_assert_eq(sv_robots_parse(&r, body, sizeof(body) - 1, 200, AGENT), 0);
	cr_assert_eq(sv_robots_allowed(r, "/a"), 1);
	cr_assert_eq(sv_robots_allowed(r, "/a%00b"), 0);
	cr_assert_eq(sv_robots_allowed(r, "/c"), 0);
	sv_robots_free(r);
}

/* ---- limits ---- */

/* Appends comment lines to buf until it holds at least target bytes. */
static size_t pad_to(char *buf, size_t len, size_t target)
{
	while (len < target) {
		size_t n = target - len > 80 ? 80 : target - len;
		memset(buf + len, 'x', n);
		buf[len] = '#';
		buf[len + n - 1] = '\n';
		len += n;
	}
	return len;
}

Test(robots, only_the_first_500_kib_are_read)
{
	size_t cap = 2 * SV_ROBOTS_MAX_BYTES, len = 0;
	char *body = malloc(cap);
	sv_robots *r;
	cr_assert_not_null(body);
	len += (size_t)sprintf(body, "User-agent: *\nDisallow: /before\n");
	len = pad_to(body, len, SV_ROBOTS_MAX_BYTES - 100);
	len += (size_t)sprintf(body + len, "Disallow: /last-whole-line\n");
	len = pad_to(body, len, SV_ROBOTS_MAX_BYTES - 13);
	/* this line straddles the limit: "/cut" would be read as "/cu" */
	len += (size_t)sprintf(body + len, "Disallow: /cut-by-the-limit\n");
	cr_assert_gt(len, SV_ROBOTS_MAX_BYTES);
	len = pad_to(body, len, SV_ROBOTS_MAX_BYTES + 1000);
	len += (size_t)sprintf(body + len, "Disallow: /after\n");
	cr_assert_eq(sv_robots_parse(&r, body, len, 200, AGENT), 0);
	cr_assert_eq(sv_robots_allowed(r, "/before"), 0);
	cr_assert_eq(sv_robots_allowed(r, "/last-whole-line"), 0);
	cr_assert_eq(sv_robots_allowed(r, "/cu"), 1);
	cr_assert_eq(sv_robots_allowed(r, "/cut-by-the-limit"), 1);
	cr_assert_eq(sv_robots_allowed(r, "/after"), 1);
	sv_robots_free(r);
	free(body);
}

Test(robots, a_file_of_exactly_the_limit_is_whole)
{
	char *body = malloc(SV_ROBOTS_MAX_BYTES);
	size_t len, tail = strlen("Disallow: /end");
	sv_robots *r;
	cr_assert_not_null(body);
	len = (size_t)sprintf(body, "User-agent: *\n");
	len = pad_to(body, len, SV_ROBOTS_MAX_BYTES - tail);
	memcpy(body + len, "Disallow: /end", tail); /* no final newline */
	len += tail;
	cr_assert_eq(len, SV_ROBOTS_MAX_BYTES);
	cr_assert_eq(sv_robots_parse(&r, body, len, 200, AGENT), 0);
	cr_assert_eq(sv_robots_allowed(r, "/end"), 0);
	sv_robots_free(r);
	free(body);
}

Test(robots, at_most_10000_rules)
{
	char *body = malloc(40 * (SV_ROBOTS_MAX_RULES + 10));
	size_t len = 0;
	sv_robots *r;
	cr_assert_not_null(body);
	len += (size_t)sprintf(body, "User-agent: *\n");
	for (int i = 0; i <= SV_ROBOTS_MAX_RULES; i++)
		len += (size_t)sprintf(body + len, "Disallow: /r%d$\n", i);
	cr_assert_eq(sv_robots_parse(&r, body, len, 200, AGENT), 0);
	cr_assert_eq(sv_robots_allowed(r, "/r0"), 0);
	cr_assert_eq(sv_robots_allowed(r, "/r9999"), 0);
	cr_assert_eq(sv_robots_allowed(r, "/r10000"), 1);
	cr_assert_eq(sv_robots_allowed(r, "/r"), 1);
	sv_robots_free(r);
	free(body);
}

/*
 * A line is cut after 16663 bytes, as Google cuts it, and the cut rule kept:
 * a long Disallow still blocks what starts with its first 16663 bytes (on
 * c376f6b a rule over 4096 bytes was dropped and blocked nothing).
 */
#define LINE_CUT 16663
Test(robots, overlong_lines_are_cut)
{
	size_t n = 2 * LINE_CUT;
	char *body = malloc(n + 100), *url = malloc(n + 10);
	size_t len, head;
	sv_robots *r;
	cr_assert_not_null(body);
	cr_assert_not_null(url);
	len = (size_t)sprintf(body, "User-agent: *\n");
	head = (size_t)sprintf(body + len, "Disallow: /x/");
	len += head;
	memset(body + len, 'a', n - head);
	len += n - head;
	body[len++] = '\n';
	cr_assert_eq(sv_robots_parse(&r, body, len, 200, AGENT), 0);
	/* what the kept part of the line names is blocked, longer or not */
	memcpy(url, "/x/", 3);
	memset(url + 3, 'a', LINE_CUT - head);
	url[3 + LINE_CUT - head] = '\0';
	cr_assert_eq(sv_robots_allowed(r, url), 0);
	url[3 + LINE_CUT - head - 1] = '\0';
	cr_assert_eq(sv_robots_allowed(r, url), 1);
	memset(url + 3, 'a', 5000);
	url[5003] = '\0';
	cr_assert_eq(sv_robots_allowed(r, url), 1);
	sv_robots_free(r);
	free(body);
	free(url);
}

/* Many '*' cannot make matching explode: correctness here, speed by construction. */
Test(robots, pathological_patterns)
{
	char pattern[200], body[400], path[4000];
	size_t n = 0;
	sv_robots *r;
	pattern[n++] = '/';
	for (int i = 0; i < 40; i++) {
		pattern[n++] = '*';
		pattern[n++] = 'a';
	}
	pattern[n] = '\0';
	snprintf(body, sizeof(body), "User-agent: *\nDisallow: %s$\nDisallow: %sb\n", pattern, pattern);
	r = parse_as(body, AGENT);
	path[0] = '/';
	memset(path + 1, 'a', 3000);
	path[3001] = 'c';
	path[3002] = '\0';
	cr_assert_eq(sv_robots_allowed(r, path), 1); /* ends in 'c', no 'b' */
	path[3001] = '\0';
	cr_assert_eq(sv_robots_allowed(r, path), 0); /* 3000 a's hold 40 */
	path[40] = '\0';
	cr_assert_eq(sv_robots_allowed(r, path), 1); /* only 39 */
	path[40] = 'a';
	path[41] = '\0';
	cr_assert_eq(sv_robots_allowed(r, path), 0);
	memset(path + 1, 'a', 3000);
	path[2999] = 'b';
	path[3000] = 'c';
	path[3001] = '\0';
	cr_assert_eq(sv_robots_allowed(r, path), 0); /* a's then 'b': the second rule */
	sv_robots_free(r);
	/* the matcher itself, both ways */
	cr_assert_eq(sv_robots_match(pattern, n, 1, path, 2998), 1);
	cr_assert_eq(sv_robots_match(pattern, n, 1, path, 3001), 0);
	cr_assert_eq(sv_robots_match(pattern, n, 0, path, 3001), 1);
}

Test(robots, many_rules_of_many_stars)
{
	char *body = malloc(1 << 20), path[2100];
	size_t len = 0;
	sv_robots *r;
	cr_assert_not_null(body);
	len += (size_t)sprintf(body, "User-agent: *\n");
	for (int i = 0; i < 2000; i++)
		len += (size_t)sprintf(body + len, "Disallow: /*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*%d$\n", i);
	cr_assert_eq(sv_robots_parse(&r, body, len, 200, AGENT), 0);
	path[0] = '/';
	memset(path + 1, 'a', 2000);
	path[2001] = '\0';
	cr_assert_eq(sv_robots_allowed(r, path), 1);
	memcpy(path + 2001, "1999", 5);
	cr_assert_eq(sv_robots_allowed(r, path), 0);
	sv_robots_free(r);
	free(body);
}

/* The obvious recursive matcher, exponential but fine for tiny inputs. */
static int reference_match(const char *p, size_t pn, int anchored, const char *s, size_t sn)
{
	if (pn == 0)
		return !anchored || sn == 0;
	if (p[0] == '*')
		return reference_match(p + 1, pn - 1, anchored, s, sn) ||
		       (sn > 0 && reference_match(p, pn, anchored, s + 1, sn - 1));
	return sn > 0 && p[0] == s[0] && reference_match(p + 1, pn - 1, anchored, s + 1, sn - 1);
}

Test(robots, matcher_agrees_with_reference)
{
	uint64_t state = 7;
	for (int i = 0; i < 200000; i++) {
		unsigned char r[24];
		char p[9], s[13];
		size_t pn, sn;
		th_fill(r, sizeof(r), &state, 0);
		pn = r[0] % 9;
		sn = r[1] % 13;
		for (size_t k = 0; k < pn; k++)
			p[k] = "ab**"[r[2 + k] % 4];
		for (size_t k = 0; k < sn; k++)
			s[k] = "ab"[r[11 + k] % 2];
		for (int anchored = 0; anchored < 2; anchored++)
			cr_assert_eq(sv_robots_match(p, pn, anchored, s, sn), reference_match(p, pn, anchored, s, sn),
				     "'%.*s' %s '%.*s'", (int)pn, p, anchored ? "anchored" : "prefix", (int)sn, s);
	}
}

/* Random bytes, and random bytes with directives mixed in: no crash, answers 0 or 1. */
Test(robots, random_input)
{
	static const char *const words[] = {"User-agent:", "Disallow:", "Allow:", "*", "$", "/", "%", "%4",
					    "\n", "\r", "#", "salvage", "Crawl-delay:", "Sitemap:", ":", " "};
	uint64_t state = 0x9e3779b97f4a7c15ull;
	unsigned char buf[2048];
	for (int round = 0; round < 500; round++) {
		size_t len = 0;
		sv_robots *r;
		if (round % 2) {
			th_fill(buf, sizeof(buf), &state, 0);
			len = sizeof(buf);
		} else {
			while (len + 16 < sizeof(buf)) {
				uint64_t x;
				th_fill((unsigned char *)&x, sizeof(x), &state, 0);
				const char *w = words[x % (sizeof(words) / sizeof(words[0]))];
				memcpy(buf + len, w, strlen(w));
				len += strlen(w);
			}
		}
		cr_assert_eq(sv_robots_parse(&r, (const char *)buf, len, 200, AGENT), 0);
		for (int i = 0; i < 10; i++) {
			char url[64];
			th_fill((unsigned char *)url + 1, sizeof(url) - 2, &state, i % 2);
			url[0] = '/';
			url[sizeof(url) - 1] = '\0';
			int ok = sv_robots_allowed(r, url);
			cr_assert(ok == 0 || ok == 1);
		}
		int ms = sv_robots_crawl_delay_ms(r);
		cr_assert(ms >= -1 && ms <= SV_ROBOTS_MAX_DELAY_MS);
		sv_robots_free(r);
	}
}

/* The normaliser writes the same form as queue/url.c. */
Test(robots, normalize_escapes)
{
	static const char in[] = "/%7e%41%2f%2F%e3 b\xC3\xA9%zz%4*$\"<>\\^`{|}";
	char out[3 * sizeof(in) + 1];
	size_t n = sv_robots_normalize_escapes(out, in, sizeof(in) - 1);
	cr_assert_str_eq(out, "/~A%2F%2F%E3%20b%C3%A9%25zz%254*$%22%3C%3E%5C%5E%60%7B%7C%7D");
	cr_assert_eq(n, strlen(out));
}
