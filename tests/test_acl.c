/*
 * Access lists: the most specific prefix decides, deny wins over allow for the same prefix,
 * any allow makes the rest denied, IPv4 and IPv6 (and IPv4 on a dual-stack socket) are each
 * judged by their own prefixes; bad prefixes are refused; and thousands of random prefixes
 * give the same answers as a plain longest-prefix scan.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acl.h"

static struct sockaddr_storage at(const char *ip)
{
	struct sockaddr_storage ss = {0};

	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return ss;
}

static bool allows(const struct acl *acl, const char *ip)
{
	struct sockaddr_storage ss = at(ip);

	return acl_allows(acl, (struct sockaddr *)&ss);
}

static void build(struct acl *acl, char **allow, size_t na, char **deny, size_t nd)
{
	struct weir_err err;

	if (acl_build(acl, allow, na, deny, nd, &err) < 0)
		fail_msg("acl_build: %s", err.msg);
}

static void the_most_specific_prefix_decides(void **state)
{
	char *allow[] = {"10.0.0.0/8", "10.1.2.0/24", "2001:db8::/32"};
	char *deny[] = {"10.1.0.0/16", "2001:db8:1::/48", "10.1.2.3"};
	struct acl acl;

	build(&acl, allow, 3, deny, 3);
	assert_true(allows(&acl, "10.2.3.4"));
	assert_false(allows(&acl, "10.1.5.5"));
	assert_true(allows(&acl, "10.1.2.9"));
	assert_false(allows(&acl, "10.1.2.3")); /* a single address is a /32 */
	assert_false(allows(&acl, "11.0.0.1")); /* any allow: the rest is denied */
	assert_true(allows(&acl, "10.255.255.255"));
	assert_true(allows(&acl, "2001:db8:2::1"));
	assert_false(allows(&acl, "2001:db8:1::1"));
	assert_false(allows(&acl, "2001:db9::1"));
	assert_true(allows(&acl, "::ffff:10.2.3.4")); /* IPv4 on a dual-stack socket */
	assert_false(allows(&acl, "::ffff:10.1.5.5"));
	acl_free(&acl);
}

static void deny_only_and_ties(void **state)
{
	char *deny[] = {"192.168.0.0/16", "0.0.0.0/0"};
	char *allow_same[] = {"192.168.0.0/16", "127.0.0.0/8"};
	char *all_v6[] = {"::/0"};
	struct acl acl;

	build(&acl, NULL, 0, deny, 1); /* no allow: what is not denied is allowed */
	assert_false(allows(&acl, "192.168.1.1"));
	assert_true(allows(&acl, "8.8.8.8"));
	assert_true(allows(&acl, "::1"));
	acl_free(&acl);
	/* The same prefix allowed and denied: deny wins. Everything else denied, but loopback. */
	build(&acl, allow_same, 2, deny, 2);
	assert_false(allows(&acl, "192.168.1.1"));
	assert_true(allows(&acl, "127.0.0.1"));
	assert_false(allows(&acl, "8.8.8.8"));
	acl_free(&acl);
	build(&acl, NULL, 0, all_v6, 1);
	assert_false(allows(&acl, "::"));
	assert_false(allows(&acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(allows(&acl, "1.2.3.4"));
	acl_free(&acl);
}

static void bad_prefixes(void **state)
{
	static const char *const bad[] = {"10.0.0.0/33", "10.0.0.1/8",	"bogus",
					  "10.0.0.0/",	 "/8",		"::1/129",
					  "10.0.0.0/-1", "10.0.0.0/ 8", "10.0.0.0/8x",
					  /* strtoul's blanks and signs (found by fuzz_acl) */
					  "10.0.0.0/\t8", "10.0.0.0/\t+8", "10.0.0.0/+8", "10.0.0.0/\v8"};
	struct weir_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (acl_parse_prefix(bad[i], &err) == 0)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(acl_parse_prefix("10.0.0.0/8", &err), 0);
	assert_int_equal(acl_parse_prefix("2001:db8::/32", &err), 0);
	assert_int_equal(acl_parse_prefix("::1", &err), 0);
}

/* The reference: scan every prefix, longest match wins, deny on a tie. */
struct ref {
	uint32_t net, mask;
	unsigned len;
	bool allow;
};

static bool ref_allows(const struct ref *r, size_t n, bool any_allow, uint32_t addr)
{
	int best = -1;
	bool verdict = !any_allow;

	for (size_t i = 0; i < n; i++) {
		if ((addr & r[i].mask) != r[i].net)
			continue;
		if ((int)r[i].len > best || ((int)r[i].len == best && !r[i].allow)) {
			best = (int)r[i].len;
			verdict = r[i].allow;
		}
	}
	return verdict;
}

static void agrees_with_a_linear_scan(void **state)
{
	enum { N = 3000 };
	static struct ref refs[N];
	static char text[N][32];
	char *allow[N], *deny[N];
	size_t na = 0, nd = 0;
	struct acl acl;
	uint64_t x = 12345;

	for (size_t i = 0; i < N; i++) {
		uint32_t addr;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* Clustered in 10.0.0.0/12 so that prefixes nest and overlap often. */
		refs[i].len = 8 + (unsigned)(x % 25);
		addr = 0x0a000000u | (uint32_t)((x >> 8) & 0x000fffffu);
		refs[i].mask = refs[i].len ? ~0u << (32 - refs[i].len) : 0;
		refs[i].net = addr & refs[i].mask;
		refs[i].allow = (x >> 40) & 1;
		snprintf(text[i], sizeof(text[i]), "%u.%u.%u.%u/%u", refs[i].net >> 24,
			 (refs[i].net >> 16) & 255, (refs[i].net >> 8) & 255, refs[i].net & 255,
			 refs[i].len);
		if (refs[i].allow)
			allow[na++] = text[i];
		else
			deny[nd++] = text[i];
	}
	build(&acl, allow, na, deny, nd);
	for (int k = 0; k < 200000; k++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		uint32_t addr;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		addr = (k & 1) ? 0x0a000000u | (uint32_t)(x & 0x001fffffu) : (uint32_t)x;
		sin.sin_addr.s_addr = htonl(addr);
		if (acl_allows(&acl, (struct sockaddr *)&sin) != ref_allows(refs, N, na > 0, addr))
			fail_msg("%u.%u.%u.%u: the list and the scan disagree", addr >> 24,
				 (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
	}
	acl_free(&acl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_most_specific_prefix_decides),
		cmocka_unit_test(deny_only_and_ties),
		cmocka_unit_test(bad_prefixes),
		cmocka_unit_test(agrees_with_a_linear_scan),
	};
	return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
