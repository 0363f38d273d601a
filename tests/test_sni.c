/*
 * Reading the server name from a TLS ClientHello: hellos written by a real TLS client
 * (openssl s_client, TLS 1.3 and 1.2, with and without a name), fed a byte at a time and
 * split over several records; bytes that are not TLS and SSLv2 hellos carry no name;
 * truncated, overlong and inconsistent hellos are refused; names match patterns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sni.h"
#include "tls_hellos.h"

/* Every proper prefix asks for more; the whole decides. */
static enum sni_result feed(const unsigned char *buf, size_t len, char *name)
{
	for (size_t n = 0; n < len; n++) {
		enum sni_result r = sni_parse(buf, n, name, NULL);
		if (r != SNI_MORE)
			fail_msg("a prefix of %zu of %zu bytes decided %d", n, len, r);
	}
	return sni_parse(buf, len, name, NULL);
}

static void names_from_real_clients(void **state)
{
	char name[SNI_NAME_MAX];

	assert_int_equal(feed(hello_tls13, sizeof(hello_tls13), name), SNI_FOUND);
	assert_string_equal(name, "www.example.com");
	assert_int_equal(feed(hello_tls12, sizeof(hello_tls12), name), SNI_FOUND);
	assert_string_equal(name, "mail.example.org"); /* lower case */
	assert_int_equal(feed(hello_no_sni, sizeof(hello_no_sni), name), SNI_NONE);
}

/* The hello re-framed as records of `chunk` handshake bytes each. */
static size_t reframe(const unsigned char *hello, size_t len, size_t chunk, unsigned char *out)
{
	size_t body = len - 5, n = 0;

	for (size_t off = 0; off < body; off += chunk) {
		size_t take = body - off < chunk ? body - off : chunk;
		out[n++] = 0x16;
		out[n++] = hello[1];
		out[n++] = hello[2];
		out[n++] = (unsigned char)(take >> 8);
		out[n++] = (unsigned char)take;
		memcpy(out + n, hello + 5 + off, take);
		n += take;
	}
	return n;
}

static void a_hello_split_over_records(void **state)
{
	unsigned char buf[4096];
	char name[SNI_NAME_MAX];

	for (size_t chunk = 1; chunk < sizeof(hello_tls13); chunk += 7) {
		size_t n = reframe(hello_tls13, sizeof(hello_tls13), chunk, buf);
		if (sni_parse(buf, n, name, NULL) != SNI_FOUND)
			fail_msg("records of %zu bytes: not found", chunk);
		assert_string_equal(name, "www.example.com");
	}
	/* And a byte at a time over records of 5 bytes. */
	assert_int_equal(feed(buf, reframe(hello_tls13, sizeof(hello_tls13), 5, buf), name),
			 SNI_FOUND);
}

static void no_name_in_other_bytes(void **state)
{
	static const unsigned char sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00};
	char name[SNI_NAME_MAX];

	assert_int_equal(sni_parse("GET / HTTP/1.1\r\n", 16, name, NULL), SNI_NONE);
	assert_int_equal(sni_parse("S", 1, name, NULL), SNI_NONE); /* decided at once */
	assert_int_equal(sni_parse(sslv2, sizeof(sslv2), name, NULL), SNI_NONE);
}

/* The offset of the server_name extension's host name in hello_tls13. */
static size_t name_offset(void)
{
	for (size_t i = 0; i + 15 <= sizeof(hello_tls13); i++)
		if (memcmp(hello_tls13 + i, "www.example.com", 15) == 0)
			return i;
	fail_msg("no name in the captured hello");
	return 0;
}

static void malformed_hellos(void **state)
{
	unsigned char buf[1024];
	char name[SNI_NAME_MAX];
	const char *why = NULL;
	size_t at = name_offset(), n = sizeof(hello_tls13);

	/* A character that is not in a host name. */
	memcpy(buf, hello_tls13, n);
	buf[at + 3] = '/';
	assert_int_equal(sni_parse(buf, n, name, &why), SNI_BAD);
	assert_non_null(why);
	/* One final dot is a fully qualified name; two leave an empty last label (found by
	 * tests/fuzz/fuzz_sni). */
	memcpy(buf, hello_tls13, n);
	memcpy(buf + at + 13, "m.", 2);
	assert_int_equal(sni_parse(buf, n, name, NULL), SNI_FOUND);
	assert_string_equal(name, "www.example.cm");
	memcpy(buf + at + 13, "..", 2);
	assert_int_equal(sni_parse(buf, n, name, NULL), SNI_BAD);
	/* The name's length running past its list. */
	memcpy(buf, hello_tls13, n);
	buf[at - 1] = 0xff;
	assert_int_equal(sni_parse(buf, n, name, NULL), SNI_BAD);
	/* The extensions' total disagreeing with the message. */
	memcpy(buf, hello_tls13, n);
	buf[3] = (unsigned char)((n - 5 + 1) >> 8), buf[4] = (unsigned char)(n - 5 + 1);
	buf[8] += 1;
	buf[n] = 0;
	assert_int_equal(sni_parse(buf, n + 1, name, NULL), SNI_BAD);
	/* Not a ClientHello (a ServerHello, type 2). */
	memcpy(buf, hello_tls13, n);
	buf[5] = 2;
	assert_int_equal(sni_parse(buf, n, name, NULL), SNI_BAD);
	/* A record that is not a handshake, or of an unknown version. */
	memcpy(buf, hello_tls13, n);
	buf[2] = 9;
	assert_int_equal(sni_parse(buf, n, name, NULL), SNI_BAD);
	/* A ClientHello claiming more than can be read. */
	memcpy(buf, hello_tls13, n);
	buf[6] = 0x7f;
	assert_int_equal(sni_parse(buf, n, name, NULL), SNI_BAD);
	/* A record of length 0. */
	memcpy(buf, "\x16\x03\x01\x00\x00", 5);
	assert_int_equal(sni_parse(buf, 5, name, NULL), SNI_BAD);
	/* Truncated: still waiting, never deciding on half a hello. */
	assert_int_equal(sni_parse(hello_tls13, n - 1, name, NULL), SNI_MORE);
}

static void patterns(void **state)
{
	assert_true(sni_match("example.com", "example.com"));
	assert_true(sni_match("Example.COM", "example.com"));
	assert_false(sni_match("example.com", "www.example.com"));
	assert_true(sni_match("*.example.org", "www.example.org"));
	assert_true(sni_match("*.example.org", "a.b.example.org"));
	assert_false(sni_match("*.example.org", "example.org"));
	assert_false(sni_match("*.example.org", "badexample.org"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_from_real_clients),
		cmocka_unit_test(a_hello_split_over_records),
		cmocka_unit_test(no_name_in_other_bytes),
		cmocka_unit_test(malformed_hellos),
		cmocka_unit_test(patterns),
	};
	return cmocka_run_group_tests_name("sni", tests, NULL, NULL);
}
