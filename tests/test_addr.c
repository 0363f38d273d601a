/* Address syntax and resolution: every form the man page promises, and malformed ones. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

static void resolve_one(const char *text, enum addr_use use, const char *expect)
{
	struct weir_err err = {""};
	struct addr *a;
	size_t n;
	char buf[ADDR_TEXT_MAX];

	assert_int_equal(addr_resolve(text, use, &a, &n, &err), 0);
	assert_int_equal(n, 1);
	addr_format((struct sockaddr *)&a->ss, a->len, buf, sizeof(buf));
	assert_string_equal(buf, expect);
	free(a);
}

static void ipv4(void **state)
{
	resolve_one("127.0.0.1:8080", ADDR_CONNECT, "127.0.0.1:8080");
	resolve_one("10.0.0.1:1", ADDR_CONNECT, "10.0.0.1:1");
	resolve_one("127.0.0.1:0", ADDR_LISTEN, "127.0.0.1:0");
}

static void ipv6(void **state)
{
	resolve_one("[::1]:8080", ADDR_CONNECT, "[::1]:8080");
	resolve_one("[2001:db8::1]:443", ADDR_CONNECT, "[2001:db8::1]:443");
}

static void ipv6_scope_id(void **state)
{
	struct weir_err err;
	struct addr *a;
	size_t n;
	const struct sockaddr_in6 *sin6;

	assert_int_equal(addr_resolve("[fe80::1%lo]:80", ADDR_CONNECT, &a, &n, &err), 0);
	assert_int_equal(n, 1);
	sin6 = (const struct sockaddr_in6 *)&a->ss;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(sin6->sin6_scope_id, if_nametoindex("lo"));
	free(a);
	resolve_one("[fe80::1%lo]:80", ADDR_CONNECT, "[fe80::1%lo]:80");
}

static void wildcard_listens_on_both_families(void **state)
{
	static const char *const forms[] = {":8080", "*:8080"};
	struct weir_err err;
	struct addr *a;
	size_t n;
	char buf[ADDR_TEXT_MAX];

	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(addr_resolve(forms[i], ADDR_LISTEN, &a, &n, &err), 0);
		assert_int_equal(n, 2);
		addr_format((struct sockaddr *)&a[0].ss, a[0].len, buf, sizeof(buf));
		assert_string_equal(buf, "0.0.0.0:8080");
		addr_format((struct sockaddr *)&a[1].ss, a[1].len, buf, sizeof(buf));
		assert_string_equal(buf, "[::]:8080");
		free(a);
	}
}

static void unix_paths(void **state)
{
	struct weir_err err;
	struct addr *a;
	size_t n;

	resolve_one("unix:/tmp/weir.sock", ADDR_LISTEN, "unix:/tmp/weir.sock");
	resolve_one("unix:relative.sock", ADDR_CONNECT, "unix:relative.sock");
	assert_int_equal(addr_resolve("unix:/x", ADDR_CONNECT, &a, &n, &err), 0);
	assert_true(addr_is_unix(&a[0]));
	free(a);
}

static void host_names(void **state)
{
	struct weir_err err = {""};
	struct addr *a;
	size_t n;

	/* localhost gives 127.0.0.1 and maybe ::1: each address is its own entry. */
	assert_int_equal(addr_resolve("localhost:9000", ADDR_CONNECT, &a, &n, &err), 0);
	assert_true(n >= 1 && n <= 2);
	for (size_t i = 0; i < n; i++)
		assert_true(a[i].ss.ss_family == AF_INET || a[i].ss.ss_family == AF_INET6);
	free(a);
	assert_int_equal(addr_resolve("no-such-host.invalid:80", ADDR_CONNECT, &a, &n, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "no-such-host.invalid"));
	assert_null(a);
}

static void malformed(void **state)
{
	static const struct {
		const char *text;
		enum addr_use use;
		const char *says;
	} bad[] = {
		{"127.0.0.1", ADDR_CONNECT, "needs a port"},
		{"127.0.0.1:", ADDR_CONNECT, "has no port"},
		{"127.0.0.1:65536", ADDR_CONNECT, "bad port"},
		{"127.0.0.1:0", ADDR_CONNECT, "bad port"},
		{"127.0.0.1:-1", ADDR_LISTEN, "bad port"},
		{"127.0.0.1:80x", ADDR_LISTEN, "bad port"},
		{":80", ADDR_CONNECT, "needs a host"},
		{"::1:80", ADDR_CONNECT, "needs brackets"},
		{"[::1]80", ADDR_CONNECT, "':port' after ']'"},
		{"[::1:80", ADDR_CONNECT, "unterminated"},
		{"[]:80", ADDR_CONNECT, "unterminated or empty"},
		{"unix:", ADDR_LISTEN, "empty socket path"},
		{"", ADDR_LISTEN, "needs a port"},
	};
	struct addr_parts p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct weir_err err = {""};
		assert_int_equal(addr_split(bad[i].text, bad[i].use, &p, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].says))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, err.msg,
				 bad[i].says);
	}
}

static void overlong_unix_path(void **state)
{
	char text[256] = "unix:/";
	struct weir_err err;
	struct addr_parts p;

	memset(text + 6, 'x', 200);
	assert_int_equal(addr_split(text, ADDR_LISTEN, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4),
		cmocka_unit_test(ipv6),
		cmocka_unit_test(ipv6_scope_id),
		cmocka_unit_test(wildcard_listens_on_both_families),
		cmocka_unit_test(unix_paths),
		cmocka_unit_test(host_names),
		cmocka_unit_test(malformed),
		cmocka_unit_test(overlong_unix_path),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
