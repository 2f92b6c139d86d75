/*
 * tests/unit/test_kind.c -- the capture kinds: each has the name DESIGN.md
 * gives it (the text queue.db and the capture records hold), and a name
 * reads back as its kind; nothing else does.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../common/kind.h"

typedef struct {
	sv_kind kind;
	char name[16];
} kind_case;

static kind_case KINDS[] = {
	{SV_KIND_PAGE, "page"},         {SV_KIND_DATASET, "dataset"}, {SV_KIND_REQUISITE, "requisite"},
	{SV_KIND_ROBOTS, "robots"},     {SV_KIND_SITEMAP, "sitemap"}, {SV_KIND_MANUAL, "manual"},
};

ParameterizedTestParameters(kind, names_round_trip)
{
	return cr_make_param_array(kind_case, KINDS, sizeof(KINDS) / sizeof(KINDS[0]));
}

ParameterizedTest(kind_case *c, kind, names_round_trip)
{
	sv_kind k = (sv_kind)-1;
	cr_assert_str_eq(sv_kind_name(c->kind), c->name);
	cr_assert_eq(sv_kind_parse(c->name, &k), 0, "%s: %s", c->name, sv_error_last());
	cr_assert_eq(k, c->kind);
}

typedef struct {
	char name[16];
} bad_name;

static bad_name BAD[] = {{""}, {"Page"}, {"DATASET"}, {"pages"}, {"page "}, {"robots.txt"}, {"other"}};

ParameterizedTestParameters(kind, other_names_are_refused)
{
	return cr_make_param_array(bad_name, BAD, sizeof(BAD) / sizeof(BAD[0]));
}

ParameterizedTest(bad_name *c, kind, other_names_are_refused)
{
	sv_kind k = SV_KIND_SITEMAP;
	cr_assert_eq(sv_kind_parse(c->name, &k), SV_EINVAL, "'%s' was read as a kind", c->name);
	cr_assert_eq(k, SV_KIND_SITEMAP, "a refused name leaves the output alone");
	cr_assert(strstr(sv_error_last(), "unknown kind"), "%s", sv_error_last());
}

Test(kind, no_name_is_refused)
{
	sv_kind k;
	cr_assert_eq(sv_kind_parse(NULL, &k), SV_EINVAL);
}

Test(kind, a_value_outside_the_enum_is_named_page)
{
	cr_assert_str_eq(sv_kind_name((sv_kind)99), "page");
	cr_assert_str_eq(sv_kind_name((sv_kind)-1), "page");
}
