/*
 * tests/unit/test_guard.c -- the private-address guard: which socket
 * addresses are private, crawl.allowPrivate values, and who may reach one.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* A socket address for text (IPv4 or IPv6) and port. */
static struct sockaddr_storage addr(const char *text, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text, &v6->sin6_addr), 1, "%s", text);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
	}
	return ss;
}

Test(guard, private_kinds)
{
	static const struct {
		const char *addr, *kind; /* NULL: public */
	} cases[] = {
		{"127.0.0.1", "a loopback address"},       {"127.255.0.9", "a loopback address"},
		{"::1", "a loopback address"},             {"::ffff:127.0.0.1", "a loopback address"},
		{"0.0.0.0", "an unspecified address"},     {"::", "an unspecified address"},
		{"169.254.169.254", "a link-local address"}, {"fe80::1", "a link-local address"},
		{"10.1.2.3", "a private address"},         {"172.16.0.1", "a private address"},
		{"172.31.255.255", "a private address"},   {"192.168.1.1", "a private address"},
		{"fc00::1", "a private address"},          {"fd12:3456::1", "a private address"},
		{"::ffff:10.0.0.1", "a private address"},  {"64:ff9b::c0a8:101", "a private address"},
		{"100.64.0.1", "a shared address (carrier-grade NAT)"},
		{"8.8.8.8", NULL},                         {"172.32.0.1", NULL},
		{"172.15.0.1", NULL},                      {"100.128.0.1", NULL},
		{"2001:db8::1", NULL},                     {"::ffff:93.184.216.34", NULL},
		{"192.169.0.1", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss = addr(cases[i].addr, 80);
		const char *k = sv_guard_private_kind((struct sockaddr *)&ss);
		if (cases[i].kind)
			cr_assert(k && !strcmp(k, cases[i].kind), "%s: %s", cases[i].addr, k ? k : "public");
		else
			cr_assert_null(k, "%s: %s", cases[i].addr, k);
	}
}

Test(guard, server_keys)
{
	static const struct {
		const char *value, *key; /* NULL: refused */
	} cases[] = {
		{"127.0.0.1:8080", "127.0.0.1:8080"}, {"0x7f000001:81", "127.0.0.1:81"},
		{"2130706433:82", "127.0.0.1:82"},    {"Intranet.Example:80", "intranet.example:80"},
		{"[::1]:8080", "[::1]:8080"},          {"127.0.0.1", NULL},
		{"host:", NULL},                       {":80", NULL},
		{"a/b:80", NULL},                      {"::1:80", NULL},
		{"host:80x", NULL},                    {"", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *key = NULL;
		int rc = sv_guard_server_key(&key, cases[i].value);
		if (cases[i].key) {
			cr_assert_eq(rc, 0, "%s: %s", cases[i].value, sv_error_last());
			cr_assert_str_eq(key, cases[i].key, "%s", cases[i].value);
		} else {
			cr_assert_eq(rc, SV_EINVAL, "%s gave %s", cases[i].value, key);
		}
		free(key);
	}
}

Test(guard, who_may_reach_a_private_address)
{
	const char *allowed[] = {"127.0.0.1:8081", "intranet.example:80"};
	char why[200];
	struct sockaddr_storage lo = addr("127.0.0.1", 8080), lo81 = addr("127.0.0.1", 8081),
				mapped = addr("::ffff:127.0.0.1", 8081), ten = addr("10.0.0.5", 80),
				pub = addr("93.184.216.34", 80);
	struct sockaddr *l = (struct sockaddr *)&lo;
	/* public: always */
	cr_assert(sv_guard_check((struct sockaddr *)&pub, "http://example.org/", NULL, NULL, 0, why, sizeof(why)));
	/* the row's own server, by name and port */
	cr_assert(sv_guard_check(l, "http://127.0.0.1:8080/x", "http://127.0.0.1:8080/", NULL, 0, why, sizeof(why)));
	cr_assert_not(sv_guard_check(l, "http://localhost:8080/x", "http://127.0.0.1:8080/", NULL, 0, why, sizeof(why)));
	cr_assert_str_eq(why, "refused: 127.0.0.1:8080 is a loopback address; allow it with crawl.allowPrivate");
	cr_assert_not(sv_guard_check(l, "http://127.0.0.1:8080/x", "http://127.0.0.1:9/", NULL, 0, why, sizeof(why)));
	/* crawl.allowPrivate by address: any name of that address and port */
	cr_assert(sv_guard_check((struct sockaddr *)&lo81, "http://localhost:8081/", NULL, allowed, 2, why, sizeof(why)));
	cr_assert(sv_guard_check((struct sockaddr *)&mapped, "http://[::ffff:127.0.0.1]:8081/", NULL, allowed, 2, why,
				 sizeof(why)));
	cr_assert_not(sv_guard_check(l, "http://localhost:8080/", NULL, allowed, 2, why, sizeof(why)));
	/* by name: that name and port, whatever it resolves to */
	cr_assert(sv_guard_check((struct sockaddr *)&ten, "http://intranet.example/", NULL, allowed, 2, why, sizeof(why)));
	cr_assert_not(sv_guard_check((struct sockaddr *)&ten, "http://evil.example/", NULL, allowed, 2, why, sizeof(why)));
	cr_assert_str_eq(why, "refused: 10.0.0.5:80 is a private address; allow it with crawl.allowPrivate");
	cr_assert_not(sv_guard_check((struct sockaddr *)&ten, "https://intranet.example/", NULL, allowed, 2, why,
				     sizeof(why)), "another port is another server");
}
