/*
 * tests/unit/test_wacz.c -- the title pages/pages.jsonl gives a page: the
 * first <title> element's text as a browser's tab shows it.
 */
#include "helpers.h"

#include "../../storage/wacz.h"

#include <stdlib.h>
#include <string.h>

Test(wacz, html_title_as_a_browser_shows_it)
{
	static const char *const cases[][2] = {
		{"<html><head><title>Page one</title></head>", "Page one"},
		{"<TITLE lang=\"en\">\n  Data \t &amp; maps </TITLE>", "Data & maps"},
		{"<title>A &lt;b&gt; &quot;c&quot; &#39;d&apos; &#x2014;&#252;</title>", "A <b> \"c\" 'd' \xe2\x80\x94\xc3\xbc"},
		{"<title>&eacute; &#0; &#xd800; &bogus</title>", "&eacute; &#0; &#xd800; &bogus"},
		{"<titles>no</titles><title>yes</title>", "yes"},
		{"<title>  </title>", NULL},
		{"<title>cut before the end", NULL},
		{"<p>no title here</p>", NULL},
		{"", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = sv_wacz_html_title(cases[i][0], strlen(cases[i][0]));
		if (cases[i][1])
			cr_expect(t && !strcmp(t, cases[i][1]), "%s: got '%s', want '%s'", cases[i][0], t ? t : "(none)",
				  cases[i][1]);
		else
			cr_expect_null(t, "%s: got '%s'", cases[i][0], t);
		free(t);
	}
}

Test(wacz, html_title_is_bounded)
{
	size_t n = 100000;
	char *html = malloc(n + 32);
	cr_assert_not_null(html);
	strcpy(html, "<title>");
	memset(html + 7, 'x', n);
	strcpy(html + 7 + n, "</title>");
	char *t = sv_wacz_html_title(html, strlen(html));
	cr_assert_not_null(t);
	cr_expect_leq(strlen(t), 1000);
	free(t);
	free(html);
}
