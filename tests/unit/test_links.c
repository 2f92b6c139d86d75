/*
 * tests/unit/test_links.c -- link extraction: every tag and attribute, base
 * href, srcset, meta refresh, url() in style attributes and <style>, the CSS
 * tokenizer, charsets, what is dropped, sniffing; the same links whatever the
 * chunking; malformed and random input; the max_bytes cut-off; a 50 MB page.
 *
 * Every table case runs three times: the body whole, one byte at a time and
 * in random chunks. Parameter structs hold inline arrays: Criterion re-runs
 * the parameter function in each worker, and pointers would not survive the
 * trip.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/links.h"

#include <stdint.h>
#include <sys/resource.h>

#define DOC "http://example.com/dir/page.html"
#define CSS_DOC "http://example.com/css/site.css"
#define RANDOM_CHUNKS ((size_t)-1)

/* ---- helpers ---- */

/* The links reported, one "kind url" line each, in order. */
typedef struct {
	char *buf;
	size_t len, cap;
	size_t count; /* when buf is not kept: only counted */
	int keep;
} sink;

static void collect(void *ctx, const char *url, sv_link_kind kind)
{
	static const char *const names[] = {"page", "req", "refresh"};
	sink *s = ctx;
	size_t n = strlen(names[kind]) + strlen(url) + 3;

	s->count++;
	if (!s->keep)
		return;
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = realloc(s->buf, s->cap);
		cr_assert_not_null(s->buf);
	}
	s->len += (size_t)sprintf(s->buf + s->len, "%s %s\n", names[kind], url);
}

typedef struct {
	size_t found, dropped;
	int truncated;
} outcome;

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Feeds body to a fresh extractor in chunks of chunk bytes (0: whole,
 * RANDOM_CHUNKS: random sizes up to 300) and returns the links reported.
 */
static char *extract(sv_links_type type, const char *doc, const void *body, size_t len, size_t chunk,
		     const char *charset, size_t max, outcome *o)
{
	sink s = {.keep = 1};
	sv_links *l = NULL;
	const unsigned char *p = body;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ len;
	size_t off = 0;

	cr_assert_eq(sv_links_new(&l, type, doc, max, collect, &s), 0, "%s", sv_error_last());
	if (charset)
		cr_assert_eq(sv_links_set_charset(l, charset), 0);
	while (off < len) {
		size_t n = chunk == 0 ? len : chunk == RANDOM_CHUNKS ? 1 + next_rand(&x) % 300 : chunk;
		if (n > len - off)
			n = len - off;
		cr_assert_eq(sv_links_feed(l, p + off, n), 0, "%s", sv_error_last());
		off += n;
	}
	cr_assert_eq(sv_links_finish(l), 0, "%s", sv_error_last());
	if (o) {
		o->found = sv_links_found(l);
		o->dropped = sv_links_dropped(l);
		o->truncated = sv_links_truncated(l);
	}
	cr_assert_eq(sv_links_found(l), s.count);
	sv_links_free(l);
	if (!s.buf)
		s.buf = strdup("");
	return s.buf;
}

static const char *chunk_name(size_t chunk)
{
	return chunk == 0 ? "whole" : chunk == 1 ? "1-byte chunks" : "random chunks";
}

/* Runs a table case whole, by bytes and in random chunks; each must give want and dropped. */
static void check_case(sv_links_type type, const char *doc, const char *name, const void *body, size_t len,
		       const char *charset, const char *want, size_t dropped)
{
	static const size_t chunks[] = {0, 1, RANDOM_CHUNKS};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		outcome o;
		char *got = extract(type, doc, body, len, chunks[i], charset, 0, &o);
		cr_assert_str_eq(got, want, "%s (%s): got\n%s\nwanted\n%s", name, chunk_name(chunks[i]), got, want);
		cr_assert_eq(o.dropped, dropped, "%s (%s): %zu dropped, wanted %zu", name, chunk_name(chunks[i]),
			     o.dropped, dropped);
		cr_assert_eq(o.truncated, 0);
		free(got);
	}
}

/* ---- HTML tables ---- */

typedef struct {
	char name[48];
	char body[600]; /* HTML, or CSS for the CSS table */
	char want[700]; /* "kind url" lines, in order */
	size_t dropped;
} link_case;

#define E "http://example.com/"
#define D "http://example.com/dir/"

static link_case tag_cases[] = {
	{"a href", "<a href=\"a.html\">x</a>", "page " D "a.html\n", 0},
	{"upper-case tag and attribute", "<A HREF=/B.HTML>x</A>", "page " E "B.HTML\n", 0},
	{"area href", "<map name=m><area href=\"map/1\" shape=rect></map>", "page " D "map/1\n", 0},
	{"link stylesheet", "<link rel=\"stylesheet\" href=\"s.css\">", "req " D "s.css\n", 0},
	{"link shortcut icon", "<link rel=\"Shortcut Icon\" href=\"/favicon.ico\">", "req " E "favicon.ico\n", 0},
	{"link requisite rels",
	 "<link rel=preload href=f.woff2 as=font><link rel=prefetch href=n.js><link rel=manifest href=m.json>"
	 "<link rel=modulepreload href=m.mjs><link rel=apple-touch-icon href=t.png>"
	 "<link rel=\"alternate stylesheet\" href=alt.css>",
	 "req " D "f.woff2\nreq " D "n.js\nreq " D "m.json\nreq " D "m.mjs\nreq " D "t.png\nreq " D "alt.css\n", 0},
	{"link page rels",
	 "<link rel=alternate type=application/rss+xml href=feed.xml><link rel=canonical href=/c>"
	 "<link rel=next href=p2><link href=norel>",
	 "page " D "feed.xml\npage " E "c\npage " D "p2\npage " D "norel\n", 0},
	{"link hints ignored", "<link rel=preconnect href=https://cdn.example.org><link rel=dns-prefetch href=//x.org>",
	 "", 0},
	{"img src", "<img src=\"i.png\" alt=\"\">", "req " D "i.png\n", 0},
	{"script src", "<script src=\"js/app.js\"></script><script>var a = '<a href=\"no\">';</script>",
	 "req " D "js/app.js\n", 0},
	{"iframe src", "<iframe src=\"frame.html\"></iframe>", "page " D "frame.html\n", 0},
	{"frame src", "<frameset><frame src=\"left.html\"><frame src=\"right.html\"></frameset>",
	 "page " D "left.html\npage " D "right.html\n", 0},
	{"video src poster, source", "<video src=v.mp4 poster=p.jpg><source src=s.webm type=video/webm></video>",
	 "req " D "v.mp4\nreq " D "p.jpg\nreq " D "s.webm\n", 0},
	{"picture source srcset", "<picture><source srcset=\"w.webp 1x, w2.webp 2x\"><img src=f.jpg></picture>",
	 "req " D "w.webp\nreq " D "w2.webp\nreq " D "f.jpg\n", 0},
	{"audio, embed, track", "<audio src=a.mp3><track src=t.vtt></audio><embed src=e.swf>",
	 "req " D "a.mp3\nreq " D "t.vtt\nreq " D "e.swf\n", 0},
	{"object data", "<object data=\"doc.pdf\" type=application/pdf></object>", "req " D "doc.pdf\n", 0},
	{"input type=image", "<form><input type=\" Image \" src=go.png><input type=text src=no.png></form>",
	 "req " D "go.png\n", 0},
	{"background attribute", "<body background=bg.gif><table background=t.gif><tr><td background=c.gif>x",
	 "req " D "bg.gif\nreq " D "t.gif\nreq " D "c.gif\n", 0},
	{"entities decoded", "<a href=\"q?a=1&amp;b=2&lt;\">x</a>", "page " D "q?a=1&b=2%3C\n", 0},
	{"non-ASCII percent-encoded", "<a href=\"caf\xC3\xA9 bar.html\">x</a>", "page " D "caf%C3%A9%20bar.html\n", 0},
	{"whitespace trimmed", "<a href=\"  spaced.html\n \">x</a>", "page " D "spaced.html\n", 0},
	{"line breaks inside removed", "<a href=\"new\nline.html\">x</a>", "page " D "newline.html\n", 0},
	{"protocol-relative", "<a href=\"//other.org/x\">x</a>", "page http://other.org/x\n", 0},
	{"absolute, normalised", "<a href=\"HTTP://Example.COM:80/a/./b/../c\">x</a>", "page " E "a/c\n", 0},
	{"query only", "<a href=\"?page=2\">x</a>", "page " DOC "?page=2\n", 0},
	{"first of duplicate attributes", "<a href=first href=second>x</a>", "page " D "first\n", 0},
	{"order of the document", "<img src=1.png><a href=2.html></a><script src=3.js></script>",
	 "req " D "1.png\npage " D "2.html\nreq " D "3.js\n", 0},
	{"links in noscript", "<noscript><img src=\"pixel.gif\"></noscript>", "req " D "pixel.gif\n", 0},
	{"after </html>", "<html><body></body></html>\n<a href=after.html>x</a> <!-- c --> <img src=late.png>",
	 "page " D "after.html\nreq " D "late.png\n", 0},
	{"two documents", "<html><a href=one></a></html><html><a href=two></a></html>",
	 "page " D "one\npage " D "two\n", 0},
};

static link_case drop_cases[] = {
	{"fragment only", "<a href=\"#top\">x</a><a href=\" #x\">y</a>", "", 2},
	{"javascript", "<a href=\"javascript:void(0)\">x</a><a href=\" JavaScript:x()\">y</a>", "", 2},
	{"mailto, tel", "<a href=\"mailto:a@example.com\">m</a><a href=\"tel:+15555550123\">t</a>", "", 2},
	{"data", "<img src=\"data:image/png;base64,iVBORw0KGgo=\">", "", 1},
	{"empty and blank", "<a href=\"\">e</a><a href=\"   \">b</a><a href>n</a>", "", 3},
	{"the page itself", "<a href=\"page.html\">s</a><a href=\"page.html#frag\">f</a><a href=\"" DOC "\">a</a>",
	 "", 3},
	{"other schemes", "<a href=\"ftp://example.com/f\">f</a><a href=\"file:///etc/passwd\">p</a>", "", 2},
	{"no host", "<a href=\"http://\">h</a><a href=\"http:\">i</a>", "", 2},
	{"too long", "<a href=\"/%s\">x</a>", "", 1}, /* the path is filled in by the test */
};

static link_case base_cases[] = {
	{"absolute base", "<base href=\"http://other.org/root/\"><a href=x>x</a>", "page http://other.org/root/x\n",
	 0},
	{"relative base", "<base href=\"/sub/\"><a href=x>x</a>", "page " E "sub/x\n", 0},
	{"dot-dot base", "<base href=\"../up/\"><img src=i.png>", "req " E "up/i.png\n", 0},
	{"only the first base", "<base href=/one/><base href=/two/><a href=x>x</a>", "page " E "one/x\n", 0},
	{"base without href does not count", "<base target=_blank><base href=/b/><a href=x>x</a>", "page " E "b/x\n", 0},
	{"links before the base", "<a href=x>1</a><base href=/b/><a href=y>2</a>", "page " D "x\npage " E "b/y\n", 0},
	{"a bad base is ignored", "<base href=\"javascript:x\"><base href=/b/><a href=y>y</a>", "page " D "y\n", 0},
	{"base in the body", "<body><p><base href=\"http://o.org/\"><a href=z>z</a>", "page http://o.org/z\n", 0},
	{"base and style", "<base href=/b/><div style=\"background:url(bg.png)\">", "req " E "b/bg.png\n", 0},
	{"fragment against another base", "<base href=\"http://o.org/\"><a href=\"#x\">x</a>", "", 1},
	{"base with fragment", "<base href=\"/b/index.html#f\"><a href=\"?q\">x</a>", "page " E "b/index.html?q\n", 0},
	/* as browsers read them: '\' is '/', "http:x" on an http page is relative */
	{"backslashes", "<img src=\"img\\a.png\"><a href=\"\\root\\b.html?x\\y\">b</a>",
	 "req " D "img/a.png\npage " E "root/b.html?x%5Cy\n", 0},
	{"backslash base", "<base href=\"\\sub\\\"><a href=x>x</a>", "page " E "sub/x\n", 0},
	{"same scheme, one slash", "<a href=\"http:/example.org/x\">x</a><a href=\"http:y\">y</a>",
	 "page " E "example.org/x\npage " D "y\n", 0},
	{"other scheme, no slash", "<a href=\"https:example.org/x\">x</a>", "page https://example.org/x\n", 0},
};

static link_case srcset_cases[] = {
	{"density descriptors", "<img srcset=\"a.png 1x, b.png 2x\">", "req " D "a.png\nreq " D "b.png\n", 0},
	{"one URL", "<img srcset=\"a.png\">", "req " D "a.png\n", 0},
	{"width descriptors, no spaces", "<img srcset=\"a.png 100w,b.png 200w\">", "req " D "a.png\nreq " D "b.png\n",
	 0},
	{"comma in a URL", "<img srcset=\"a,b.png 1x, c.png 2x\">", "req " D "a,b.png\nreq " D "c.png\n", 0},
	{"commas between URLs", "<img srcset=\"a.png, b.png,c.png\">",
	 "req " D "a.png\nreq " D "b.png,c.png\n", 0},
	{"much whitespace", "<img srcset=\"\n  a.png   1x  ,\t b.png  \">", "req " D "a.png\nreq " D "b.png\n", 0},
	{"parentheses in descriptors", "<img srcset=\"a.png (x, y) 1x, b.png\">", "req " D "a.png\nreq " D "b.png\n",
	 0},
	{"data URL in a srcset", "<img srcset=\"data:image/png;base64,AAAA 1x, b.png 2x\">", "req " D "b.png\n", 1},
	{"leading and doubled commas", "<img srcset=\",,a.png,,, b.png\">", "req " D "a.png\nreq " D "b.png\n", 0},
	{"empty", "<img srcset=\"\"><img srcset=\" , \">", "", 0},
	{"src and srcset", "<img src=s.png srcset=\"s2.png 2x\">", "req " D "s.png\nreq " D "s2.png\n", 0},
};

static link_case refresh_cases[] = {
	{"url=", "<meta http-equiv=\"refresh\" content=\"5; url=/next\">", "refresh " E "next\n", 0},
	{"URL= quoted", "<meta http-equiv=Refresh content=\"0;URL='http://other.org/x'\">", "refresh http://other.org/x\n",
	 0},
	{"double quotes", "<meta http-equiv=refresh content='0; url=\"q.html\"'>", "refresh " D "q.html\n", 0},
	{"comma", "<meta http-equiv=refresh content=\"3,url=c.html\">", "refresh " D "c.html\n", 0},
	{"space only", "<meta http-equiv=refresh content=\"0 url=s.html\">", "refresh " D "s.html\n", 0},
	{"no url=", "<meta http-equiv=refresh content=\"0;n.html\">", "refresh " D "n.html\n", 0},
	{"spaces everywhere", "<meta http-equiv=\" REFRESH \" content=\"  2.5 ; URL = w.html  \">",
	 "refresh " D "w.html\n", 0},
	{"time only", "<meta http-equiv=refresh content=\"5\">", "", 0},
	{"no time", "<meta http-equiv=refresh content=\"url=x.html\">", "", 0},
	{"url without =", "<meta http-equiv=refresh content=\"0; urlx.html\">", "refresh " D "urlx.html\n", 0},
	{"text after the quote", "<meta http-equiv=refresh content=\"0; url='a b.html' junk\">",
	 "refresh " D "a%20b.html\n", 0},
	{"entities", "<meta http-equiv=refresh content=\"0; url=r?a=1&amp;b=2\">", "refresh " D "r?a=1&b=2\n", 0},
	{"not http-equiv", "<meta name=refresh content=\"0; url=x.html\">", "", 0},
	{"to itself", "<meta http-equiv=refresh content=\"30; url=page.html\">", "", 1},
};

static link_case style_cases[] = {
	{"style attribute", "<div style=\"background:url(a.png)\">", "req " D "a.png\n", 0},
	{"quoted, with a space", "<div style=\"background:url('a b.png')\">", "req " D "a%20b.png\n", 0},
	{"entities in the attribute", "<div style=\"background:url(&quot;e.png&quot;)\">", "req " D "e.png\n", 0},
	{"several", "<p style=\"background:url(1.png), url( 2.png );border-image:url(&apos;3.png&apos;)\">",
	 "req " D "1.png\nreq " D "2.png\nreq " D "3.png\n", 0},
	{"style element", "<style>body { background: url( \"bg.png\" ) }</style>", "req " D "bg.png\n", 0},
	{"@import", "<style>@import \"i.css\"; @import url(j.css) screen; @import 'k.css';</style>",
	 "req " D "i.css\nreq " D "j.css\nreq " D "k.css\n", 0},
	{"comments and strings", "<style>/* url(c.png) */ a{content:\"url(s.png)\"} b{x:url(d.png)}</style>",
	 "req " D "d.png\n", 0},
	{"style text is not decoded", "<style>a{b:url(x&amp;y.png)}</style>", "req " D "x&amp;y.png\n", 0},
	{"markup in style is text", "<style>a{b:url(q.png)} <a href=no.html></style><a href=yes.html>",
	 "req " D "q.png\npage " D "yes.html\n", 0},
	{"unclosed style at the end", "<style>a{b:url(last.png)", "req " D "last.png\n", 0},
	{"url() outside style is text", "<p>background: url(text.png)</p>", "", 0},
	{"two style elements", "<style>a{b:url(1.png</style><style>c{d:url(2.png)}</style>",
	 "req " D "1.png\nreq " D "2.png\n", 0},
};

/* Fills in the "too long" case: a path of 70000 bytes, past what sv_url_normalize takes. */
static void prepare_long(link_case *c, char *buf, size_t cap)
{
	char *path = malloc(70001);
	memset(path, 'a', 70000);
	path[70000] = '\0';
	snprintf(buf, cap, c->body, path);
	free(path);
}

static void check_html(link_case *c)
{
	if (strstr(c->body, "%s")) {
		size_t cap = 71000;
		char *buf = malloc(cap);
		prepare_long(c, buf, cap);
		check_case(SV_LINKS_HTML, DOC, c->name, buf, strlen(buf), NULL, c->want, c->dropped);
		free(buf);
		return;
	}
	check_case(SV_LINKS_HTML, DOC, c->name, c->body, strlen(c->body), NULL, c->want, c->dropped);
}

static char *extract_kept(const char *body, size_t len, int keep_text, uint64_t *x, size_t *text_dropped);

/* The markup filter: text between tags is dropped before parsing, nothing else. */
static link_case text_cases[] = {
	{"text with '<', quotes, '>'",
	 "it's 3 < 4 and \"so\" <a href=a.html>x</a> 5 <= 6, 7 <> 8 > 2 <img src=i.png> <3 <\t<a href=b.html>",
	 "page " D "a.html\nreq " D "i.png\npage " D "b.html\n", 0},
	{"'>' inside quotes", "<a title=\"x > y\" href=q.html>t</a><img alt='<a href=no.html>' src=i.png>",
	 "page " D "q.html\nreq " D "i.png\n", 0},
	{"a stray quote in a tag", "<p>Intro.</p><a href=z.html title=it's>x</a> don't <a href=\"w.html\">y</a> it's",
	 "page " D "z.html\npage " D "w.html\n", 0},
	{"comments", "<p>Intro.</p><!-- <a href=no1.html> -- > --!> --><a href=yes1.html><!----><a href=yes2.html>"
	 "<!-- x ---><img src=yes3.png><!--a-- <img src=no2.png> -->",
	 "page " D "yes1.html\npage " D "yes2.html\nreq " D "yes3.png\n", 0},
	{"script text", "<p>Intro.</p><SCRIPT type=x>if (a<b && c>d) s = \"</a><a href='no.html'>\";</ScRiPt ><a href=yes.html>"
	 "<script src=s.js /><a href=yes2.html></script>",
	 "page " D "yes.html\nreq " D "s.js\npage " D "yes2.html\n", 0},
	{"style text among prose", "prose <style type=text/css>p { background: url(bg.png) } /* <a href=no> */"
	 "</STYLE> more prose <a href=y.html>y</a>",
	 "req " D "bg.png\npage " D "y.html\n", 0},
	{"'<' before other characters, <?...>, <!...>",
	 "<$ <a href=$.html> x <?php echo '>' ?><a href=yes.html><!DOCTYPE x \"a>b\"><img src=i.png><\"<a href=q.html>",
	 "page " D "$.html\npage " D "yes.html\nreq " D "i.png\npage " D "q.html\n", 0},
	{"short comment forms", "<p>Intro.</p><!--->x<a href=no.html> --><a href=a.html><!-->y<img src=no.png> -->",
	 "page " D "a.html\n", 0},
	{"a lone '<' at the end", "<a href=a.html>x</a> text <", "page " D "a.html\n", 0},
	{"non-ASCII text", "caf\xC3\xA9 <a href=a.html>\xE2\x82\xAC</a> \xF0\x9F\x98\x80 <img src=\"\xC3\xA9.png\">",
	 "page " D "a.html\nreq " D "%C3%A9.png\n", 0},
};

#define HTML_TABLE(test, table)                                                                      \
	ParameterizedTestParameters(links, test)                                                     \
	{                                                                                            \
		return cr_make_param_array(link_case, table, sizeof(table) / sizeof(table[0]));      \
	}                                                                                            \
	ParameterizedTest(link_case *c, links, test)                                                 \
	{                                                                                            \
		check_html(c);                                                                       \
	}

HTML_TABLE(tags, tag_cases)
HTML_TABLE(dropped, drop_cases)
HTML_TABLE(base, base_cases)
HTML_TABLE(srcset, srcset_cases)
HTML_TABLE(refresh, refresh_cases)
HTML_TABLE(style, style_cases)

/* Each text case also gives the same links with the text kept, and the filter did drop text. */
ParameterizedTestParameters(links, text)
{
	return cr_make_param_array(link_case, text_cases, sizeof(text_cases) / sizeof(text_cases[0]));
}

ParameterizedTest(link_case *c, links, text)
{
	uint64_t x = 3;
	size_t nk, nd;
	char *kept;

	check_html(c);
	kept = extract_kept(c->body, strlen(c->body), 1, &x, &nk);
	cr_assert_str_eq(kept, c->want, "%s, text kept: got\n%s", c->name, kept);
	free(extract_kept(c->body, strlen(c->body), 0, &x, &nd));
	cr_assert_gt(nd, 0, "%s: no text dropped", c->name);
	free(kept);
}

/* ---- the CSS tokenizer ---- */

#define C "http://example.com/css/"

static link_case css_cases[] = {
	{"url()", "a{b:url(x.png)}", "req " C "x.png\n", 0},
	{"spaces inside", "a{b:url(  x.png\t)}", "req " C "x.png\n", 0},
	{"double quotes", "a{b:url(\"x y.png\")}", "req " C "x%20y.png\n", 0},
	{"single quotes, spaces", "a{b:url( 'q.png' )}", "req " C "q.png\n", 0},
	{"upper case", "a{b:URL(u.png)}", "req " C "u.png\n", 0},
	{"escaped parenthesis", "a{b:url(x\\).png)}", "req " C "x).png\n", 0},
	{"hex escape and its space", "a{b:url(\\78 .png)}", "req " C "x.png\n", 0},
	{"six-digit hex escape", "a{b:url(\"\\000078.png\")}", "req " C "x.png\n", 0},
	{"escape in a string", "a{b:url('it\\'s.png')}", "req " C "it's.png\n", 0},
	{"line continuation in a string", "a{b:url(\"long\\\nname.png\")}", "req " C "longname.png\n", 0},
	{"escaped function name", "a{b:u\\72l(esc.png)}", "req " C "esc.png\n", 0},
	{"non-ASCII", "a{b:url(caf\xC3\xA9.png)}", "req " C "caf%C3%A9.png\n", 0},
	{"unterminated at the end", "a{b:url(end.png", "req " C "end.png\n", 0},
	{"unterminated string at the end", "@import \"end.css", "req " C "end.css\n", 0},
	{"space inside: bad", "a{b:url(x y.png)} c{d:url(ok.png)}", "req " C "ok.png\n", 1},
	{"parenthesis inside: bad", "a{b:url(x(.png)} c{d:url(ok.png)}", "req " C "ok.png\n", 1},
	{"quote inside: bad", "a{b:url(x\".png)}", "", 1},
	{"junk after the string: bad", "a{b:url(\"n.png\" x)}", "", 1},
	{"@import string", "@import \"a.css\";", "req " C "a.css\n", 0},
	{"@import with media", "@import 'b.css' screen and (min-width: 10px);", "req " C "b.css\n", 0},
	{"@import url()", "@import url(c.css);", "req " C "c.css\n", 0},
	{"@import upper case", "@IMPORT \"d.css\";", "req " C "d.css\n", 0},
	{"@import and a comment", "@import /* here */ \"e.css\";", "req " C "e.css\n", 0},
	{"other at-rule", "@importx \"f.css\"; @charset \"utf-8\";", "", 0},
	{"strings are not URLs", "a{content:\"g.css\"; font-family:'Url(x)'}", "", 0},
	{"comments", "/* url(h.png) */ a{b:url(i.png)} /* @import 'j.css'; */", "req " C "i.png\n", 0},
	{"unterminated comment", "a{b:url(k.png)} /* url(l.png)", "req " C "k.png\n", 0},
	{"bad string ends at the line", "a{content:\"open\n} b{c:url(m.png)}", "req " C "m.png\n", 0},
	{"CRLF", "a{b:url(\"cr\\\r\nlf.png\")}\r\nc{d:url(n.png)}", "req " C "crlf.png\nreq " C "n.png\n", 0},
	{"not a url function", "a{b:myurl(o.png); c:#url(p.png); d:10url(q.png)}", "", 0},
	{"image-set strings are not followed", "a{b:image-set(\"r.png\" 1x)}", "", 0},
	{"relative forms", "a{b:url(../s.png)} c{d:url(//cdn.example.org/t.png)} e{f:url(/u.png)}",
	 "req " E "s.png\nreq http://cdn.example.org/t.png\nreq " E "u.png\n", 0},
	{"dropped", "a{b:url(data:image/png;base64,AAAA)} c{filter:url(#f)} d{e:url()} f{g:url(\"\")}", "", 4},
	{"NUL byte", "a{b:url(x\0y.png)}", "", 1},
};

ParameterizedTestParameters(links, css)
{
	return cr_make_param_array(link_case, css_cases, sizeof(css_cases) / sizeof(css_cases[0]));
}

ParameterizedTest(link_case *c, links, css)
{
	/* the NUL case needs its length: the text goes on after the NUL */
	size_t len = strcmp(c->name, "NUL byte") == 0 ? strlen(c->body) + 1 + strlen(c->body + strlen(c->body) + 1)
						   : strlen(c->body);
	check_case(SV_LINKS_CSS, CSS_DOC, c->name, c->body, len, NULL, c->want, c->dropped);
}

/* ---- charsets ---- */

typedef struct {
	char name[48];
	char body[1200];
	size_t len; /* 0: strlen(body) */
	char charset[24]; /* the Content-Type's; "" for none */
	char want[300];
} charset_case;

#define PAD100 "<!-- xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -->"
#define PAD1100 PAD100 PAD100 PAD100 PAD100 PAD100 PAD100 PAD100 PAD100 PAD100 PAD100 PAD100

static charset_case charset_cases[] = {
	{"UTF-8 by default", "<a href=\"caf\xC3\xA9.html\">x</a>", 0, "", "page " D "caf%C3%A9.html\n"},
	{"invalid UTF-8 read as Latin-1", "<a href=\"caf\xE9.html\">x</a>", 0, "", "page " D "caf%C3%A9.html\n"},
	{"header ISO-8859-1", "<a href=\"caf\xE9.html\">x</a>", 0, "ISO-8859-1", "page " D "caf%C3%A9.html\n"},
	{"header quoted", "<a href=\"caf\xE9.html\">x</a>", 0, "\"latin1\"", "page " D "caf%C3%A9.html\n"},
	{"windows-1252", "<a href=\"\x80.html\">x</a>", 0, "windows-1252", "page " D "%E2%82%AC.html\n"},
	{"meta charset", "<meta charset=\"windows-1252\"><a href=\"\x80.html\">x</a>", 0, "",
	 "page " D "%E2%82%AC.html\n"},
	{"meta http-equiv content-type",
	 "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=ISO-8859-1\"><a href=\"\x80.html\">x</a>", 0,
	 "", "page " D "%E2%82%AC.html\n"},
	{"meta past 1024 bytes is not seen", PAD1100 "<meta charset=windows-1252><a href=\"\x80.html\">x</a>", 0, "",
	 "page " D "%C2%80.html\n"},
	{"the header wins over meta", "<meta charset=windows-1252><a href=\"caf\xC3\xA9.html\">x</a>", 0, "utf-8",
	 "page " D "caf%C3%A9.html\n"},
	{"BOM wins over the header", "\xEF\xBB\xBF<a href=\"caf\xC3\xA9.html\">x</a>", 0, "iso-8859-1",
	 "page " D "caf%C3%A9.html\n"},
	{"UTF-16LE with BOM", "\xFF\xFE<\0a\0 \0h\0r\0e\0f\0=\0x\0.\0h\0t\0m\0l\0>\0", 32, "", "page " D "x.html\n"},
	{"UTF-16BE with BOM", "\xFE\xFF\0<\0a\0 \0h\0r\0e\0f\0=\0\xE9\0>", 22, "", "page " D "%C3%A9\n"},
	{"Shift_JIS header", "<a href=\"\x93\xFA\x96\x7B.html\">x</a>", 0, "Shift_JIS",
	 "page " D "%E6%97%A5%E6%9C%AC.html\n"},
	{"invalid Shift_JIS goes on", "<a href=\"\x93\xFA\x96\x7B\xFF.html\">x</a><a href=next>y</a>", 0, "shift_jis",
	 "page " D "%E6%97%A5%E6%9C%AC%EF%BF%BD.html\npage " D "next\n"},
	{"unknown charset ignored", "<meta charset=windows-1252><a href=\"\x80.html\">x</a>", 0, "x-no-such",
	 "page " D "%E2%82%AC.html\n"},
	{"NUL byte", "<a href=\"a\0b.html\">x</a>", 24, "", "page " D "a%EF%BF%BDb.html\n"},
	/* The query in the document's encoding, as browsers send it; the path in UTF-8. */
	{"windows-1252 query", "<a href=\"caf\xE9.html?r\xE9gion=\x80&x=1\">x</a>", 0, "windows-1252",
	 "page " D "caf%C3%A9.html?r%E9gion=%80&x=1\n"},
	{"meta windows-1252 query", "<meta charset=windows-1252><a href=\"a.html?q=\xE9t\xE9\">x</a>", 0, "",
	 "page " D "a.html?q=%E9t%E9\n"},
	{"a query character windows-1252 cannot hold", "<a href=\"a.html?q=&#26085;\">x</a>", 0, "windows-1252",
	 "page " D "a.html?q=%26%2326085%3B\n"},
	{"percent-encoded query left as written", "<a href=\"a.html?q=%C3%A9\">x</a>", 0, "windows-1252",
	 "page " D "a.html?q=%C3%A9\n"},
	{"Shift_JIS query", "<a href=\"\x93\xFA.html?q=\x93\xFA\">x</a>", 0, "Shift_JIS",
	 "page " D "%E6%97%A5.html?q=%93%FA\n"},
	{"UTF-16 query stays UTF-8", "\xFE\xFF\0<\0a\0 \0h\0r\0e\0f\0=\0?\0\xE9\0>", 22, "",
	 "page " D "page.html?%C3%A9\n"},
	{"UTF-8 query", "<a href=\"a.html?q=\xC3\xA9\">x</a>", 0, "utf-8", "page " D "a.html?q=%C3%A9\n"},
	{"NUL byte under iconv", "<a href=\"a\0b.html\">x</a>", 24, "windows-1252", "page " D "a%EF%BF%BDb.html\n"},
};

ParameterizedTestParameters(links, charset)
{
	return cr_make_param_array(charset_case, charset_cases, sizeof(charset_cases) / sizeof(charset_cases[0]));
}

ParameterizedTest(charset_case *c, links, charset)
{
	check_case(SV_LINKS_HTML, DOC, c->name, c->body, c->len ? c->len : strlen(c->body),
		   c->charset[0] ? c->charset : NULL, c->want, 0);
}

/* ---- sniffing ---- */

typedef struct {
	char body[40];
	int html;
} sniff_case;

ParameterizedTestParameters(links, sniff)
{
	static sniff_case cases[] = {
		{"<!DOCTYPE html>\n<html>", 1},
		{"  \n\t<html lang=en>", 1},
		{"\xEF\xBB\xBF<HTML>", 1},
		{"<head\n><title>", 1},
		{"<!-- saved from -->", 1},
		{"<p>hello", 1},
		{"<a href=x>", 1},
		{"<h1>T</h1>", 1},
		{"<TABLE>", 1},
		{"<br>", 1},
		{"<br/>", 0},
		{"<h2>", 0},
		{"<abbr>", 0},
		{"<html", 0},
		{"<?xml version=\"1.0\"?>", 0},
		{"%PDF-1.7", 0},
		{"id,name\n1,x", 0},
		{"", 0},
		{"hello <html>", 0},
	};
	return cr_make_param_array(sniff_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(sniff_case *c, links, sniff)
{
	cr_assert_eq(sv_links_sniff_html(c->body, strlen(c->body)), c->html, "'%s'", c->body);
}

/* ---- chunking ---- */

/*
 * A page of about 1 MB (many parser pieces) mixing what the push parser
 * finds hard: quoted attributes with '>' inside, comments, scripts holding
 * "</" and markup, <style>, entities, multi-byte characters. Returns the
 * number of links it holds.
 */
static size_t mixed_page(char **out, size_t *len, size_t pad)
{
	size_t cap = 2u << 20, n = 0, links = 0;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	n += (size_t)sprintf(s, "<!DOCTYPE html><html><head><title>t</title>%*s</head><body>\n", (int)pad, "");
	for (int i = 0; i < 2500; i++) {
		n += (size_t)sprintf(s + n,
				     "<div class=\"row\" title=\"a > b &amp; c\" data-x='%d'>"
				     "<a href=\"/p/%d?x=1&amp;y=%d\" title=\"caf\xC3\xA9 > %d\">link</a>"
				     "<!-- <a href=\"/commented/%d\"> -->"
				     "<script>if (a < b) { s = \"</div><a href='/no/%d'>\"; }</script>"
				     "<img src='/i/%d.png' srcset=\"/i/%d-2x.png 2x, /i/%d,3x.png 3x\">"
				     "<style>.c%d{background:url( \"/bg/%d.png\" )}</style>"
				     "<span style=\"background:url(/s/%d.png)\">\xE6\x97\xA5\xE6\x9C\xAC text &eacute;</span></div>\n",
				     i, i, i, i, i, i, i, i, i, i, i, i);
		links += 6;
	}
	n += (size_t)sprintf(s + n, "</body></html>\n");
	*out = s;
	*len = n;
	return links;
}

Test(links, chunking_same_links)
{
	char *page, *whole, *bytes, *random;
	size_t len, links = mixed_page(&page, &len, 0);
	outcome o;

	whole = extract(SV_LINKS_HTML, DOC, page, len, 0, NULL, SIZE_MAX, &o);
	cr_assert_eq(o.found, links, "found %zu of %zu links", o.found, links);
	cr_assert_null(strstr(whole, "/commented/"));
	cr_assert_null(strstr(whole, "/no/"));
	bytes = extract(SV_LINKS_HTML, DOC, page, len, 1, NULL, SIZE_MAX, NULL);
	random = extract(SV_LINKS_HTML, DOC, page, len, RANDOM_CHUNKS, NULL, SIZE_MAX, NULL);
	cr_assert(strcmp(whole, bytes) == 0, "1-byte chunks differ");
	cr_assert(strcmp(whole, random) == 0, "random chunks differ");
	free(whole);
	free(bytes);
	free(random);
	free(page);
}

/* The parser gets the page in fixed pieces: moving the page across their boundaries changes nothing. */
Test(links, piece_boundaries)
{
	char *first = NULL;
	for (size_t pad = 0; pad < 400; pad += 37) {
		char *page, *got;
		size_t len, links = mixed_page(&page, &len, pad);
		outcome o;
		got = extract(SV_LINKS_HTML, DOC, page, len, 4096, NULL, SIZE_MAX, &o);
		cr_assert_eq(o.found, links, "pad %zu: found %zu of %zu", pad, o.found, links);
		if (!first)
			first = got;
		else
			cr_assert(strcmp(first, got) == 0, "pad %zu gives other links", pad);
		if (got != first)
			free(got);
		free(page);
	}
	free(first);
}

Test(links, css_chunking)
{
	const char *css = "@import url(a.css);/* c */ @import \"b\\2e css\"; x{y:url( 'c d.png' ) url(e\\)f.png)}"
			  "\r\nz{w:u\\72l(\"g.png\")} q{content:\"url(no.png)\"} r{s:url(h.png)";
	char *whole = extract(SV_LINKS_CSS, CSS_DOC, css, strlen(css), 0, NULL, 0, NULL);
	cr_assert_str_eq(whole, "req " C "a.css\nreq " C "b.css\nreq " C "c%20d.png\nreq " C "e)f.png\nreq " C
				"g.png\nreq " C "h.png\n");
	for (size_t chunk = 1; chunk < 8; chunk++) {
		char *got = extract(SV_LINKS_CSS, CSS_DOC, css, strlen(css), chunk, NULL, 0, NULL);
		cr_assert_str_eq(got, whole, "chunks of %zu", chunk);
		free(got);
	}
	free(whole);
}

/* ---- malformed input ---- */

static char *run(const char *html, size_t len)
{
	return extract(SV_LINKS_HTML, DOC, html, len, RANDOM_CHUNKS, NULL, SIZE_MAX, NULL);
}

Test(links, unclosed_tags)
{
	char *got = run("<div><a href=a1><a href=a2><p><img src=i1><table><td><a href=a3>", 64);
	cr_assert_str_eq(got, "page " D "a1\npage " D "a2\nreq " D "i1\npage " D "a3\n");
	free(got);
}

Test(links, garbage_around_tags)
{
	/* after src="i2", "<<a" is an attribute name, as in browsers */
	const char *html = "<<<>>><a href=x1>>>&&&;;&#;&#xZZ;<img src=\"i2\"<<a href=x3>< a href=no></a </ >";
	const char *decls = "<!><!-><a href=x4><![CDATA[ ]]><?php echo '<a href=x6>'?><a href=x7>";
	char *got = run(html, strlen(html));
	cr_assert_str_eq(got, "page " D "x1\nreq " D "i2\n");
	free(got);
	got = run(decls, strlen(decls));
	cr_assert_str_eq(got, "page " D "x4\npage " D "x7\n");
	free(got);
}

Test(links, nul_bytes)
{
	const char html[] = "<a\0 href=a1>x</a><img src=\"i\0\">\0\0<a href=a2>\0</a>";
	char *got = run(html, sizeof(html) - 1);
	cr_assert(strstr(got, "page " D "a2\n"), "%s", got);
	free(got);
}

/* A start tag of 3 MB: given up (a parser holds at most TAG_MAX of one), the links after it are found. */
Test(links, huge_attribute)
{
	size_t big = 3u << 20, n = 0;
	char *html = malloc(big + 200);
	char *got;

	n += (size_t)sprintf(html, "<a href=before>b</a><div title=\"");
	memset(html + n, 'x', big);
	n += big;
	n += (size_t)sprintf(html + n, "\">t</div><a href=after>a</a>");
	got = extract(SV_LINKS_HTML, DOC, html, n, 16384, NULL, SIZE_MAX, NULL);
	cr_assert_str_eq(got, "page " D "before\npage " D "after\n");
	free(got);
	free(html);
}

/* A 3 MB data: URI in an img, as pages inline pictures. */
Test(links, huge_data_uri)
{
	size_t big = 3u << 20, n = 0;
	char *html = malloc(big + 200);
	char *got;

	n += (size_t)sprintf(html, "<img src=\"data:image/png;base64,");
	memset(html + n, 'A', big);
	n += big;
	n += (size_t)sprintf(html + n, "\" alt=x><a href=after>a</a>");
	got = extract(SV_LINKS_HTML, DOC, html, n, 16384, NULL, SIZE_MAX, NULL);
	cr_assert_str_eq(got, "page " D "after\n");
	free(got);
	free(html);
}

Test(links, deep_nesting)
{
	size_t depth = 200000, n = 0;
	char *html = malloc(depth * 5 + 100);
	char *got;

	for (size_t i = 0; i < depth; i++)
		n += (size_t)sprintf(html + n, "<div>");
	n += (size_t)sprintf(html + n, "<a href=deep>d</a>");
	got = extract(SV_LINKS_HTML, DOC, html, n, 16384, NULL, SIZE_MAX, NULL);
	cr_assert_str_eq(got, "page " D "deep\n");
	free(got);
	free(html);
}

Test(links, many_names)
{
	size_t n = 0, count = 60000;
	char *html = malloc(count * 24 + 100);
	char *got;

	for (size_t i = 0; i < count; i++)
		n += (size_t)sprintf(html + n, "<x%zu y%zu=1>", i, i);
	n += (size_t)sprintf(html + n, "<a href=named>d</a>");
	got = extract(SV_LINKS_HTML, DOC, html, n, 16384, NULL, SIZE_MAX, NULL);
	cr_assert_str_eq(got, "page " D "named\n");
	free(got);
	free(html);
}

/* Comments and scripts that never end: given up past PENDING_MAX; the parse goes on. */
Test(links, unterminated_constructs)
{
	const char *starts[] = {"<!-- ", "<script>", "<style>", "<textarea>", "<title>", "<div title='"};
	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		size_t big = 2u << 20, n = 0;
		char *html = malloc(big + 200);
		outcome o;
		char *got;

		n += (size_t)sprintf(html, "<a href=before>b</a>%s", starts[k]);
		memset(html + n, 'z', big);
		n += big;
		got = extract(SV_LINKS_HTML, DOC, html, n, 65536, NULL, SIZE_MAX, &o);
		cr_assert(strncmp(got, "page " D "before\n", strlen("page " D "before\n")) == 0, "%s: %s", starts[k], got);
		free(got);
		free(html);
	}
}

Test(links, many_html_ends)
{
	size_t n = 0;
	char *html = malloc(100000 * 40);
	outcome o;
	char *got;

	for (int i = 0; i < 100000; i++)
		n += (size_t)sprintf(html + n, "</html>\n<a href=/h%d>x</a>", i);
	got = extract(SV_LINKS_HTML, DOC, html, n, 16384, NULL, SIZE_MAX, &o);
	cr_assert_eq(o.found, 100000);
	free(got);
	free(html);
}

/* Feeds body in random chunks of up to 700 bytes, then finishes. */
static void feed_random(sv_links *l, const void *body, size_t len, uint64_t *x)
{
	const unsigned char *p = body;
	size_t off = 0;

	while (off < len) {
		size_t n = 1 + next_rand(x) % 700;
		if (n > len - off)
			n = len - off;
		cr_assert_eq(sv_links_feed(l, p + off, n), 0);
		off += n;
	}
	cr_assert_eq(sv_links_finish(l), 0);
}

/* ---- random input: no crash, no hang, counts that add up ---- */

static void fuzz_one(sv_links_type type, const unsigned char *body, size_t len, uint64_t *x)
{
	sink s = {0};
	sv_links *l = NULL;

	cr_assert_eq(sv_links_new(&l, type, DOC, (size_t)(next_rand(x) % 4 == 0 ? len / 2 + 1 : 0), collect, &s), 0);
	if (next_rand(x) % 3 == 0)
		sv_links_set_charset(l, next_rand(x) % 2 ? "shift_jis" : "utf-16le");
	feed_random(l, body, len, x);
	cr_assert_eq(sv_links_found(l), s.count);
	sv_links_free(l);
}

Test(links, fuzz_random_bytes)
{
	static const char alphabet[] = "<>/=\"' \n\tabcdehimrsty&;#!-?()[]:\\u@\r\0\xC3\xA9\xFF";
	uint64_t x = 42;
	unsigned char *buf = malloc(70000);

	for (int iter = 0; iter < 300; iter++) {
		size_t len = next_rand(&x) % (iter < 250 ? 3000 : 70000);
		int raw = iter % 3 == 0;
		for (size_t i = 0; i < len; i++)
			buf[i] = raw ? (unsigned char)next_rand(&x) : (unsigned char)alphabet[next_rand(&x) % (sizeof(alphabet) - 1)];
		fuzz_one(SV_LINKS_HTML, buf, len, &x);
		fuzz_one(SV_LINKS_CSS, buf, len, &x);
	}
	free(buf);
}

/* Random tag soup built from real tags and attributes. */
Test(links, fuzz_tag_soup)
{
	static const char *const parts[] = {
		"<a href=", "<img src=\"", "<img srcset='", "<base href=", "<meta http-equiv=refresh content=\"0;url=",
		"<style>", "</style>", "<script>", "</script>", "<!--", "-->", "<link rel=stylesheet href=", "url(",
		"@import '", "\"", "'", ">", "/>", "</a>", "</html>", "<html>", " ", "x.png", "&amp;", "&#x", ";",
		"<div style=\"background:url(", ")", "1x,", "\\", "\n", "<![CDATA[", "]]>", "<?", "?>", "<!DOCTYPE html>",
		"<svg><style>", "http://a.b/", "//c.d/", "#f", "javascript:", "<meta charset=shift_jis>", "\xC3", "\xA9",
	};
	uint64_t x = 7;
	char *buf = malloc(200000);

	for (int iter = 0; iter < 300; iter++) {
		size_t len = 0, target = next_rand(&x) % (iter < 280 ? 4000 : 190000);
		while (len < target) {
			const char *p = parts[next_rand(&x) % (sizeof(parts) / sizeof(parts[0]))];
			size_t n = strlen(p);
			memcpy(buf + len, p, n);
			len += n;
		}
		fuzz_one(SV_LINKS_HTML, (unsigned char *)buf, len, &x);
		fuzz_one(SV_LINKS_CSS, (unsigned char *)buf, len, &x);
	}
	free(buf);
}

/* The links of body, in random chunks, with the text between tags kept or not. */
static char *extract_kept(const char *body, size_t len, int keep_text, uint64_t *x, size_t *text_dropped)
{
	sink s = {.keep = 1};
	sv_links *l = NULL;

	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, DOC, SIZE_MAX, collect, &s), 0, "%s", sv_error_last());
	if (keep_text)
		cr_assert_eq(sv_links_keep_text(l), 0);
	feed_random(l, body, len, x);
	cr_assert_eq(sv_links_keep_text(l), SV_EINVAL);
	*text_dropped = sv_links_text_dropped(l);
	if (keep_text)
		cr_assert_eq(*text_dropped, 0);
	sv_links_free(l);
	return s.buf ? s.buf : strdup("");
}

/* Whether every line of sub appears in all, in the same order. */
static int subsequence(const char *sub, const char *all)
{
	while (*sub) {
		const char *eol = strchr(sub, '\n');
		size_t n = (size_t)(eol - sub) + 1;
		for (;;) {
			if (!*all)
				return 0;
			const char *next = strchr(all, '\n') + 1;
			if ((size_t)(next - all) == n && memcmp(all, sub, n) == 0) {
				all = next;
				break;
			}
			all = next;
		}
		sub += n;
	}
	return 1;
}

/*
 * Parses document iter with the text kept and dropped: fails unless every
 * link of the first is in the second, in order. 1 when they are the same;
 * *text_dropped: what the filter dropped.
 */
static int same_links(const char *buf, size_t len, int iter, uint64_t *x, size_t *text_dropped)
{
	size_t nk, nd;
	char *kept = extract_kept(buf, len, 1, x, &nk), *dropped = extract_kept(buf, len, 0, x, &nd);
	int same = strcmp(kept, dropped) == 0;

	cr_assert(subsequence(kept, dropped), "document %d:\n%.*s\nwith text:\n%s\nwithout:\n%s", iter, (int)len, buf,
		  kept, dropped);
	if (text_dropped)
		*text_dropped = nd;
	free(kept);
	free(dropped);
	return same;
}

/*
 * Tag soup with prose between the tags, parsed with the text dropped and
 * kept: dropping loses no link the parser finds in the page as it is. Where
 * they differ, the filtered parse found more: text makes libxml2 imply
 * elements, and a later explicit <body> is then discarded with its attributes.
 */
Test(links, dropped_text_loses_no_link)
{
	static const char *const parts[] = {
		"<a href=a", ".html>", "<img src=\"i", ".png\">", " src='q.png' ", "<base href=/b/>", "<p>", "</p>",
		"<style>", "p{background:url(s", ".png)}", "</style>", "</STYLE >", "<script>", "</script>", "</scr",
		"<!--", "-->", "--", "<!--->", ">", "<", "< ", "<3", "</", "'", "\"", "=", " it's ", " \"quoted\" ",
		"prose and more prose, ", "a<b", "<$", "<?x ?>", "<!DOCTYPE html>", "<body background=bg.gif>",
		"<td background=t.gif>", "</html>", "<html>", "&amp;", "&lt;a href=no&gt;", "\n", "\xC3\xA9",
		"<div style=\"background:url(d.png)\">", "<link rel=stylesheet href=l.css>", "<textarea>", "</textarea>",
	};
	uint64_t x = 11, cx = 5;
	char *buf = malloc(20000);
	int same = 0;

	for (int iter = 0; iter < 1500; iter++) {
		size_t len = 0, target = next_rand(&x) % 3000;
		while (len < target) {
			const char *p = parts[next_rand(&x) % (sizeof(parts) / sizeof(parts[0]))];
			memcpy(buf + len, p, strlen(p));
			len += strlen(p);
		}
		same += same_links(buf, len, iter, &cx, NULL);
	}
	cr_assert_gt(same, 1200, "only %d of 1500 documents gave the same links", same);
	free(buf);
}

/*
 * Well-formed pages with tricky text, comments, scripts and styles, and now
 * and then one malformed construct: the filter drops text and finds the
 * links the parser finds in the page as it is. (No <body>: see above.)
 */
Test(links, dropped_text_same_links)
{
	static const char *const text[] = {
		"Prose, with \"quotes\" and it's apostrophes. ", "3 < 4 and 5 > 2 ", "a <= b, <3 ", "&amp; &lt;a href=no&gt; ",
		"caf\xC3\xA9 \xE2\x82\xAC ", "\n", "x<\ty ", " = ' \" ` ",
	};
	static const char *const markup[] = {
		"<a href=a.html>", "<a href=\"q.html?a=1&amp;b=2\" title='it\"s > x'>", "</a>", "<p class=lead>", "</p >",
		"<img src=i.png alt=\"<a href=no.html>\">", "<br/>", "<img src='j.png' />", "<!-- <a href=no2.html> -- -->",
		"<!---->", "<!DOCTYPE html>", "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x.dtd\">",
		"<script>if (a<b && c>d) s = '</a><a href=no3.html>';</script>", "<SCRIPT src=s.js></ScRiPt >",
		"<style>p{background:url(bg.png)} /* <a href=no4> */</style>", "<div style=\"background:url(d.png)\">",
		"</div>", "<link rel=stylesheet href=l.css>", "<td background=t.gif>",
		"<base href=/b/>", "<textarea><a href=ta.html></textarea>", "<title>T <b>i</b></title>", "<ul>", "<li>",
		"<meta http-equiv=refresh content=\"5; url=r.html\">", "<?xml version=\"1.0\"?>", "<![if IE]>",
		"<input type=image src=go.png>", "<iframe src=f.html></iframe>", "<x-y data-v=\"1\" aria-label=x>",
	};
	static const char *const malformed[] = {
		"<a href=z.html title=it's>", "<!-->", "<!-- x --!>", "<script/>", "<a @click=x href=v.html>",
		"<a href=\"u.html\"title=t>", "<p\f>", "<a href=a\"b.html>", "<!DOCTYPE x \"a>b\">", "<style/>",
	};
	uint64_t x = 17, cx = 9;
	char *buf = malloc(40000);
	int same = 0, filtered = 0;

	for (int iter = 0; iter < 1000; iter++) {
		size_t len = 0, target = next_rand(&x) % 6000;
		int bad = iter % 4 == 0;
		while (len < target) {
			uint64_t r = next_rand(&x);
			const char *p = r % 2 ? text[r / 2 % (sizeof(text) / sizeof(text[0]))]
					      : markup[r / 2 % (sizeof(markup) / sizeof(markup[0]))];
			if (bad && r % 97 == 0)
				p = malformed[r / 97 % (sizeof(malformed) / sizeof(malformed[0]))];
			memcpy(buf + len, p, strlen(p));
			len += strlen(p);
		}
		size_t nd;
		same += same_links(buf, len, iter, &cx, &nd);
		filtered += nd > len / 4;
	}
	cr_assert_eq(same, 1000, "only %d of 1000 documents gave the same links", same);
	cr_assert_geq(filtered, 700, "text was dropped from only %d of 1000 documents", filtered);
	free(buf);
}

/* Every truncation of a real page: no crash, and never more links than the whole page. */
Test(links, truncated_documents)
{
	char *page, *whole;
	size_t len;
	outcome o;

	mixed_page(&page, &len, 0);
	len = 20000; /* the first rows are enough */
	whole = extract(SV_LINKS_HTML, DOC, page, len, 0, NULL, 0, &o);
	cr_assert_gt(o.found, 0);
	for (size_t cut = 0; cut < len; cut += 13) {
		outcome c;
		char *got = extract(SV_LINKS_HTML, DOC, page, cut, 509, NULL, 0, &c);
		cr_assert_leq(c.found, o.found + 1, "cut at %zu", cut);
		free(got);
	}
	free(whole);
	free(page);
}

/* ---- max_bytes ---- */

Test(links, max_bytes_cut)
{
	char html[4096];
	size_t n = (size_t)sprintf(html, "<a href=a1>x</a>");
	size_t keep = n;
	outcome o;
	char *got;

	n += (size_t)sprintf(html + n, "%2000s<a href=a2>y</a>", "");
	got = extract(SV_LINKS_HTML, DOC, html, n, 7, NULL, keep, &o);
	cr_assert_str_eq(got, "page " D "a1\n");
	cr_assert_eq(o.truncated, 1);
	free(got);
}

/* A tag cut by max_bytes is not reported: no partial URL. */
Test(links, max_bytes_inside_a_tag)
{
	const char *html = "<a href=a1>x</a><a href=\"http://example.com/a-long-name.html\">y</a><p>more</p>";
	for (size_t max = 17; max < 60; max++) {
		outcome o;
		char *got = extract(SV_LINKS_HTML, DOC, html, strlen(html), 5, NULL, max, &o);
		cr_assert_str_eq(got, "page " D "a1\n", "max %zu: %s", max, got);
		cr_assert_eq(o.truncated, 1);
		free(got);
	}
}

Test(links, max_bytes_exact_length)
{
	const char *html = "<a href=a1>x</a><a href=a2>";
	outcome o;
	char *got = extract(SV_LINKS_HTML, DOC, html, strlen(html), 3, NULL, strlen(html), &o);
	cr_assert_str_eq(got, "page " D "a1\npage " D "a2\n");
	cr_assert_eq(o.truncated, 0);
	free(got);
}

Test(links, max_bytes_css)
{
	const char *css = "a{b:url(one.png)} c{d:url(two-is-cut.png)}";
	outcome o;
	char *got = extract(SV_LINKS_CSS, CSS_DOC, css, strlen(css), 4, NULL, 30, &o);
	cr_assert_str_eq(got, "req " C "one.png\n");
	cr_assert_eq(o.truncated, 1);
	free(got);
}

/* 0 means SV_LINKS_MAX_BYTES. */
Test(links, max_bytes_default)
{
	size_t len = SV_LINKS_MAX_BYTES + (1u << 20), n = 0;
	char *html = malloc(len);
	outcome o;
	char *got;

	n += (size_t)sprintf(html, "<a href=early>x</a>");
	memset(html + n, ' ', len - n);
	memcpy(html + SV_LINKS_MAX_BYTES - 100, "<a href=in>x</a>", 16);
	memcpy(html + SV_LINKS_MAX_BYTES + 100, "<a href=late>x</a>", 18);
	got = extract(SV_LINKS_HTML, DOC, html, len, 65536, NULL, 0, &o);
	cr_assert_str_eq(got, "page " D "early\npage " D "in\n");
	cr_assert_eq(o.truncated, 1);
	free(got);
	free(html);
}

/* ---- the interface ---- */

Test(links, interface)
{
	sink s = {0};
	sv_links *l = NULL;

	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, "ftp://example.com/", 0, collect, &s), SV_EINVAL);
	cr_assert_null(l);
	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, "/relative", 0, collect, &s), SV_EINVAL);
	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, DOC, 0, NULL, &s), SV_EINVAL);
	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, DOC, 0, collect, &s), 0);
	cr_assert_eq(sv_links_set_charset(l, "utf-8"), 0);
	cr_assert_eq(sv_links_feed(l, "<a href=x>", 10), 0);
	cr_assert_eq(sv_links_set_charset(l, "latin1"), SV_EINVAL);
	cr_assert_eq(sv_links_finish(l), 0);
	cr_assert_eq(sv_links_found(l), 1);
	cr_assert_eq(sv_links_feed(l, "<a href=y>", 10), SV_EINVAL);
	cr_assert_eq(sv_links_finish(l), 0);
	cr_assert_eq(sv_links_found(l), 1);
	sv_links_free(l);
	sv_links_free(NULL);

	/* an empty body, and finishing without feeding */
	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, DOC, 0, collect, &s), 0);
	cr_assert_eq(sv_links_feed(l, "", 0), 0);
	cr_assert_eq(sv_links_finish(l), 0);
	cr_assert_eq(sv_links_found(l) + sv_links_dropped(l), 0);
	sv_links_free(l);
	cr_assert_eq(sv_links_new(&l, SV_LINKS_CSS, CSS_DOC, 0, collect, &s), 0);
	sv_links_free(l); /* never finished */
}

/* ---- a 50 MB page ---- */

/*
 * Streams a 50 MB listing page (a table row with two links every ~200
 * bytes, quoted attributes, entities) in 16 KiB chunks as libcurl hands
 * them over, without ever holding it. Returns the links it holds.
 */
static size_t stream_big_page(sv_links *l, size_t total)
{
	char row[512], buf[16384];
	size_t blen = 0, fed = 0, links = 1;
	const char *head = "<!DOCTYPE html><html><head><link rel=stylesheet href=\"/s.css\"></head><body><table>\n";

	cr_assert_eq(sv_links_feed(l, head, strlen(head)), 0);
	for (unsigned long i = 0; fed < total; i++) {
		int n = snprintf(row, sizeof(row),
				 "<tr class=\"r%lu\"><td><a href=\"/data/%lu.csv\" title=\"Data %lu &amp; more\">Data %lu</a>"
				 "</td><td><img src='/thumb/%lu.png' alt=\"t\"></td><td>Lorem ipsum caf\xC3\xA9</td></tr>\n",
				 i, i, i, i, i);
		links += 2;
		for (int k = 0; k < n; k++) {
			buf[blen++] = row[k];
			if (blen == sizeof(buf)) {
				cr_assert_eq(sv_links_feed(l, buf, blen), 0);
				fed += blen;
				blen = 0;
			}
		}
	}
	cr_assert_eq(sv_links_feed(l, buf, blen), 0);
	cr_assert_eq(sv_links_feed(l, "</table></body></html>\n", 23), 0);
	cr_assert_eq(sv_links_finish(l), 0);
	return links;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

Test(links, page_of_50_mb, .timeout = 300)
{
	sink s = {0};
	sv_links *l = NULL;
	long before = peak_rss_kb();
	size_t links;

	/* the whole page */
	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, "http://example.gov/data/", SIZE_MAX, collect, &s), 0);
	links = stream_big_page(l, 50u << 20);
	cr_assert_eq(sv_links_found(l), links, "found %zu of %zu links", sv_links_found(l), links);
	cr_assert_eq(sv_links_truncated(l), 0);
	sv_links_free(l);
	/*
	 * loosely: the point is that it does not grow with the page (libxml2
	 * alone: +52 MB). AddressSanitizer keeps freed memory in quarantine.
	 */
#ifndef __SANITIZE_ADDRESS__
	cr_assert_lt(peak_rss_kb() - before, 100 * 1024, "peak RSS grew by %ld KB", peak_rss_kb() - before);
#else
	(void)before;
#endif

	/* the default max_bytes: the links of the first 8 MiB */
	s.count = 0;
	cr_assert_eq(sv_links_new(&l, SV_LINKS_HTML, "http://example.gov/data/", 0, collect, &s), 0);
	stream_big_page(l, 50u << 20);
	cr_assert_eq(sv_links_truncated(l), 1);
	cr_assert_gt(sv_links_found(l), links / 8, "found %zu of %zu", sv_links_found(l), links);
	cr_assert_lt(sv_links_found(l), links / 5, "found %zu of %zu", sv_links_found(l), links);
	sv_links_free(l);
}
