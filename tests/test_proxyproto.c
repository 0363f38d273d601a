/*
 * The PROXY protocol parser and builder: the specification's own examples in both versions,
 * every header fed a byte at a time (each proper prefix asks for more, never decides
 * early), the client's own bytes after a header left alone, malformed headers refused, and
 * what weir builds parsed back to the same addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "proxyproto.h"

static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* Parse `len` bytes a byte at a time: every shorter prefix must ask for more. */
static enum proxyproto_result feed(const void *buf, size_t len, enum proxyproto_accept accept,
				   struct proxyproto_info *info)
{
	for (size_t n = 0; n < len; n++) {
		enum proxyproto_result r = proxyproto_parse(buf, n, accept, info, NULL);
		if (r != PROXYPROTO_MORE)
			fail_msg("prefix of %zu bytes of %zu decided %d", n, len, r);
	}
	return proxyproto_parse(buf, len, accept, info, NULL);
}

static void v4(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	char text[INET_ADDRSTRLEN];

	assert_int_equal(sin->sin_family, AF_INET);
	assert_string_equal(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)), ip);
	assert_int_equal(ntohs(sin->sin_port), port);
}

static void v6(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char text[INET6_ADDRSTRLEN];

	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_string_equal(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)), ip);
	assert_int_equal(ntohs(sin6->sin6_port), port);
}

static void v1_examples_from_the_specification(void **state)
{
	static const char tcp4[] =
		"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
	static const char tcp6[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
				   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	static const char unknown[] = "PROXY UNKNOWN\r\n";
	static const char unknown_long[] =
		"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxyproto_info info;
	size_t line = strlen("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");

	assert_int_equal(feed(tcp4, line, PROXYPROTO_V1, &info), PROXYPROTO_OK);
	/* With the client's bytes behind it: the header's length, nothing more. */
	assert_int_equal(proxyproto_parse(tcp4, strlen(tcp4), PROXYPROTO_ANY, &info, NULL),
			 PROXYPROTO_OK);
	assert_int_equal(info.version, 1);
	assert_int_equal(info.length, line);
	assert_true(info.has_addr);
	v4(&info.src, "192.168.0.1", 56324);
	v4(&info.dst, "192.168.0.11", 443);

	assert_int_equal(feed(tcp6, strlen(tcp6), PROXYPROTO_ANY, &info), PROXYPROTO_OK);
	assert_int_equal(info.length, strlen(tcp6));
	v6(&info.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

	assert_int_equal(feed(unknown, strlen(unknown), PROXYPROTO_V1, &info), PROXYPROTO_OK);
	assert_false(info.has_addr);
	assert_int_equal(info.length, 15);
	/* The longest line the specification allows: 107 bytes. */
	assert_int_equal(strlen(unknown_long), PROXYPROTO_V1_MAX);
	assert_int_equal(feed(unknown_long, strlen(unknown_long), PROXYPROTO_V1, &info),
			 PROXYPROTO_OK);
	assert_false(info.has_addr);
}

static void v1_malformed(void **state)
{
	static const char *const bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n",	   /* no CR */
		"PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n",   /* unknown protocol */
		"PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n",  /* leading zero */
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n", /* port out of range */
		"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",	   /* a field missing */
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n", /* a field too many */
		"PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n",  /* two spaces */
		"PROXY TCP4 ::1 5.6.7.8 80 443\r\n",	   /* IPv6 in TCP4 */
		"PROXY TCP6 1.2.3.4 ::1 80 443\r\n",	   /* IPv4 in TCP6 */
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 4\r43\r\n", /* stray CR */
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n",
		"PROXY\r\n",
		"GET / HTTP/1.0\r\n\r\n", /* no header at all */
		"proxy TCP4 1.2.3.4 5.6.7.8 80 443\r\n",
	};
	char overlong[200];
	struct proxyproto_info info;
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum proxyproto_result r =
			proxyproto_parse(bad[i], strlen(bad[i]), PROXYPROTO_ANY, &info, &why);
		if (r != PROXYPROTO_BAD)
			fail_msg("'%s' was not refused", bad[i]);
		assert_non_null(why);
	}
	/* No CRLF within 107 bytes: refused once 107 bytes are in, not waited on for ever. */
	memset(overlong, 'x', sizeof(overlong));
	memcpy(overlong, "PROXY UNKNOWN ", 14);
	assert_int_equal(proxyproto_parse(overlong, 106, PROXYPROTO_V1, &info, NULL),
			 PROXYPROTO_MORE);
	assert_int_equal(proxyproto_parse(overlong, 107, PROXYPROTO_V1, &info, NULL),
			 PROXYPROTO_BAD);
	/* A client that sends a plain request where a header is required: refused at once. */
	assert_int_equal(proxyproto_parse("G", 1, PROXYPROTO_ANY, &info, NULL), PROXYPROTO_BAD);
}

/* The v2 header: signature, version and command, family and transport, length, body. */
static size_t v2(unsigned char *out, unsigned char ver_cmd, unsigned char fam,
		 const unsigned char *body, size_t len)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (unsigned char)(len >> 8);
	out[15] = (unsigned char)len;
	if (len)
		memcpy(out + 16, body, len);
	return 16 + len;
}

static void v2_examples(void **state)
{
	/* 192.168.0.1:56324 -> 192.168.0.11:443, then a TLV (type 0x04, NOOP, 4 bytes). */
	static const unsigned char tcp4[] = {192,  168,	 0,    1, 192, 168, 0, 11, 0xdc, 0x04,
					     0x01, 0xbb, 0x04, 0, 4,   1,   2, 3,  4};
	unsigned char tcp6[36] = {0}, buf[300], unix_body[216] = {0};
	struct proxyproto_info info;
	size_t n;

	n = v2(buf, 0x21, 0x11, tcp4, 12);
	assert_int_equal(feed(buf, n, PROXYPROTO_V2, &info), PROXYPROTO_OK);
	assert_int_equal(info.version, 2);
	assert_int_equal(info.length, 28);
	v4(&info.src, "192.168.0.1", 56324);
	v4(&info.dst, "192.168.0.11", 443);
	/* With TLVs: their bytes belong to the header too. */
	n = v2(buf, 0x21, 0x11, tcp4, sizeof(tcp4));
	assert_int_equal(feed(buf, n, PROXYPROTO_ANY, &info), PROXYPROTO_OK);
	assert_int_equal(info.length, 16 + sizeof(tcp4));
	v4(&info.src, "192.168.0.1", 56324);

	tcp6[15] = 1;			  /* ::1 */
	tcp6[16] = 0x20, tcp6[17] = 0x01; /* 2001:db8::2 */
	tcp6[18] = 0x0d, tcp6[19] = 0xb8;
	tcp6[31] = 2;
	tcp6[32] = 0x30, tcp6[33] = 0x39; /* 12345 */
	tcp6[34] = 0x00, tcp6[35] = 0x50; /* 80 */
	n = v2(buf, 0x21, 0x21, tcp6, sizeof(tcp6));
	assert_int_equal(feed(buf, n, PROXYPROTO_V2, &info), PROXYPROTO_OK);
	v6(&info.src, "::1", 12345);
	v6(&info.dst, "2001:db8::2", 80);

	/* LOCAL (a health check of the proxy in front): accepted, no client address. */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	assert_int_equal(feed(buf, n, PROXYPROTO_V2, &info), PROXYPROTO_OK);
	assert_false(info.has_addr);
	assert_int_equal(info.length, 16);
	/* A unix client: accepted, no network address. */
	n = v2(buf, 0x21, 0x31, unix_body, sizeof(unix_body));
	assert_int_equal(feed(buf, n, PROXYPROTO_V2, &info), PROXYPROTO_OK);
	assert_false(info.has_addr);
	assert_int_equal(info.length, 16 + 216);
}

static void v2_malformed(void **state)
{
	unsigned char body[1100] = {0}, buf[1200];
	struct proxyproto_info info;
	size_t n;

	n = v2(buf, 0x11, 0x11, body, 12); /* version 1 in a v2 header */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	n = v2(buf, 0x22, 0x11, body, 12); /* command 2 */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	n = v2(buf, 0x21, 0x11, body, 8); /* too short for IPv4 */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	n = v2(buf, 0x21, 0x21, body, 12); /* too short for IPv6 */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	n = v2(buf, 0x21, 0x41, body, 12); /* family 4 */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	n = v2(buf, 0x21, 0x13, body, 12); /* transport 3 */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	n = v2(buf, 0x21, 0x11, body, 1100); /* over the limit: refused before it all arrives */
	assert_int_equal(proxyproto_parse(buf, 16, PROXYPROTO_V2, &info, NULL), PROXYPROTO_BAD);
	/* Truncated: waits for the rest (the header timeout ends the wait). */
	n = v2(buf, 0x21, 0x11, body, 12);
	assert_int_equal(proxyproto_parse(buf, n - 1, PROXYPROTO_V2, &info, NULL), PROXYPROTO_MORE);
	/* A wrong signature byte. */
	buf[5] ^= 0xff;
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_ANY, &info, NULL), PROXYPROTO_BAD);
	buf[5] ^= 0xff;
	/* The right header in the wrong version. */
	assert_int_equal(proxyproto_parse(buf, n, PROXYPROTO_V1, &info, NULL), PROXYPROTO_BAD);
	assert_int_equal(proxyproto_parse("PROXY UNKNOWN\r\n", 15, PROXYPROTO_V2, &info, NULL),
			 PROXYPROTO_BAD);
}

static void built_headers_parse_back(void **state)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct sockaddr_in d4 = {.sin_family = AF_INET, .sin_port = htons(8080)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
	struct sockaddr_in6 d6 = {.sin6_family = AF_INET6, .sin6_port = htons(65535)};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	unsigned char out[256];
	struct proxyproto_info info;
	size_t n;

	inet_pton(AF_INET, "10.1.2.3", &s4.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &d4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	inet_pton(AF_INET6, "::1", &d6.sin6_addr);
	for (int version = 1; version <= 2; version++) {
		n = proxyproto_build(version, (struct sockaddr *)&s4, sizeof(s4),
				     (struct sockaddr *)&d4, sizeof(d4), out, sizeof(out));
		assert_true(n > 0);
		assert_int_equal(feed(out, n, PROXYPROTO_ANY, &info), PROXYPROTO_OK);
		assert_int_equal(info.version, version);
		assert_int_equal(info.length, n);
		v4(&info.src, "10.1.2.3", 40000);
		v4(&info.dst, "127.0.0.1", 8080);

		n = proxyproto_build(version, (struct sockaddr *)&s6, sizeof(s6),
				     (struct sockaddr *)&d6, sizeof(d6), out, sizeof(out));
		assert_int_equal(feed(out, n, PROXYPROTO_ANY, &info), PROXYPROTO_OK);
		v6(&info.src, "2001:db8::1", 1);
		v6(&info.dst, "::1", 65535);

		/* A unix client, or mixed families: a header that names no client. */
		n = proxyproto_build(version, (struct sockaddr *)&un, sizeof(sa_family_t),
				     (struct sockaddr *)&un, sizeof(sa_family_t), out, sizeof(out));
		assert_int_equal(feed(out, n, PROXYPROTO_ANY, &info), PROXYPROTO_OK);
		assert_false(info.has_addr);
		n = proxyproto_build(version, (struct sockaddr *)&s4, sizeof(s4),
				     (struct sockaddr *)&d6, sizeof(d6), out, sizeof(out));
		assert_int_equal(feed(out, n, PROXYPROTO_ANY, &info), PROXYPROTO_OK);
		assert_false(info.has_addr);
	}
	n = proxyproto_build(1, (struct sockaddr *)&un, sizeof(sa_family_t), NULL, 0, out,
			     sizeof(out));
	assert_memory_equal(out, "PROXY UNKNOWN\r\n", n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v1_examples_from_the_specification),
		cmocka_unit_test(v1_malformed),
		cmocka_unit_test(v2_examples),
		cmocka_unit_test(v2_malformed),
		cmocka_unit_test(built_headers_parse_back),
	};
	return cmocka_run_group_tests_name("proxyproto", tests, NULL, NULL);
}
