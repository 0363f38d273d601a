/*
 * The stats endpoint's request parser, on exactly the bytes given (no NUL after them: the
 * buffer is copied to the end of a larger one, so a read past `len` lands in bytes the
 * test controls): what each request decides, and the cases tests/fuzz/fuzz_stats found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "stats.h"

/* Parse `text` placed at the end of a buffer whose next bytes are 'X', not NUL. */
static int parse(const char *text, size_t len, struct stats_request *req)
{
	static char area[STATS_REQUEST_MAX + 64];
	char *at = area + sizeof(area) - 64 - len;

	memset(area, 'X', sizeof(area));
	memcpy(at, text, len);
	return stats_parse_request(at, len, req);
}

#define PARSE(lit, req) parse(lit, sizeof(lit) - 1, req)

/* A complete request, answered with `status` and, if 200, document `doc`. */
#define EXPECT(lit, req, st, dc)                                                                   \
	do {                                                                                       \
		assert_int_equal(PARSE(lit, req), 1);                                              \
		assert_int_equal((req)->status, st);                                               \
		if ((st) == 200)                                                                   \
			assert_int_equal((req)->doc, dc);                                          \
	} while (0)

static void documents(void **state)
{
	struct stats_request req;

	EXPECT("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &req, 200, STATS_DOC_METRICS);
	EXPECT("HEAD /stats?pretty HTTP/1.0\n\n", &req, 200, STATS_DOC_JSON);
	assert_true(req.head);
	EXPECT("GET / HTTP/1.0\r\n\r\n", &req, 200, STATS_DOC_PAGE);
	EXPECT("GET /nope HTTP/1.0\r\n\r\n", &req, 404, 0);
	EXPECT("PUT / HTTP/1.0\r\n\r\n", &req, 405, 0);
	assert_int_equal(PARSE("GET / HTTP/1.0\r\n", &req), 0); /* headers not over yet */
}

static void path_within_the_bytes_given(void **state)
{
	struct stats_request req;

	/*
	 * A request line with no version and no '?': the path ends where the bytes do. The
	 * parser once looked for its end with strcspn, reading on into whatever followed.
	 */
	EXPECT("GET /\n\n", &req, 200, STATS_DOC_PAGE);
	EXPECT("GET /stats\n\n", &req, 200, STATS_DOC_JSON);
}

static void nul_bytes(void **state)
{
	struct stats_request req;

	/* In the request line, in a header, or in a line still coming: 400 at once. */
	assert_int_equal(parse("GET /\0 HTTP/1.0\n\n", 17, &req), 1);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse("GET / HTTP/1.0\nA: \0\n\n", 21, &req), 1);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse("GET / HTT\0", 10, &req), 1);
	assert_int_equal(req.status, 400);
	/* After a request already complete: not the request's (it once turned 200 to 400). */
	assert_int_equal(parse("GET / HTTP/1.0\n\n\0", 17, &req), 1);
	assert_int_equal(req.status, 200);
}

static void post_admin(void **state)
{
	struct stats_request req;

	assert_int_equal(PARSE("POST /admin HTTP/1.1\r\nContent-Length: 4\r\n\r\nhe", &req), 0);
	assert_int_equal(PARSE("POST /admin HTTP/1.1\r\nContent-Length: 4\r\n\r\nhelp", &req), 1);
	assert_int_equal(req.status, 200);
	assert_int_equal(req.doc, STATS_DOC_ADMIN);
	assert_int_equal(req.body_len, 4);
	assert_int_equal(PARSE("POST /admin HTTP/1.1\r\n\r\n", &req), 1);
	assert_int_equal(req.status, 411);
	/* Too long a body is 413 however many digits say so. */
	assert_int_equal(PARSE("POST /admin HTTP/1.1\r\nContent-Length: 50000\r\n\r\n", &req), 1);
	assert_int_equal(req.status, 413);
	assert_int_equal(PARSE("POST /admin HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
			       &req),
			 1);
	assert_int_equal(req.status, 413);
	assert_int_equal(PARSE("POST /metrics HTTP/1.1\r\n\r\n", &req), 1);
	assert_int_equal(req.status, 405);
}

/* A POST a page of another site may have sent is refused: its Origin is not the Host it went
 * to, or that Host is not loopback (a site's name made to resolve to 127.0.0.1). */
static void post_admin_from_another_site(void **state)
{
	static const struct {
		const char *headers;
		int status;
	} cases[] = {
		{"", 200}, /* weir ctl, curl: neither header */
		{"Host: 127.0.0.1:8404\r\n", 200},
		{"Host: localhost:8404\r\nOrigin: http://localhost:8404\r\n", 200},
		{"origin: http://127.0.0.1:8404\r\nHOST: 127.0.0.1:8404\r\n", 200},
		{"Host: [::1]:8404\r\nOrigin: http://[::1]:8404\r\n", 200},
		{"Host: 127.0.0.1:8404\r\nOrigin: http://evil.example\r\n", 403},
		{"Host: 127.0.0.1:8404\r\nOrigin: http://127.0.0.1:8405\r\n", 403},
		{"Host: 127.0.0.1:8404\r\nOrigin: null\r\n", 403},
		{"Origin: http://127.0.0.1:8404\r\n", 403}, /* an Origin, and no Host to match */
		{"Host: evil.example:8404\r\nOrigin: http://evil.example:8404\r\n", 403},
		{"Host: evil.example:8404\r\n", 403},
		{"Host: 127.0.0.1.evil.example\r\n", 403},
		{"Host: [::1]x\r\n", 403},
	};
	struct stats_request req;
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "POST /admin HTTP/1.1\r\n%sContent-Length: 4\r\n\r\nhelp",
			 cases[i].headers);
		assert_int_equal(stats_parse_request(text, strlen(text), &req), 1);
		assert_int_equal(req.status, cases[i].status);
		assert_int_equal(req.cross_site, cases[i].status == 403);
	}
	/* GETs are for anyone who may reach the listener, as before. */
	assert_int_equal(
		PARSE("GET /stats HTTP/1.1\r\nHost: evil.example\r\nOrigin: null\r\n\r\n", &req),
		1);
	assert_int_equal(req.status, 200);
}

/* A stats or admin listener keeps a 64th of the descriptor limit for its clients, 8 to 256. */
static void clients_scale_with_the_descriptor_limit(void **state)
{
	assert_int_equal(stats_max_clients(64), 8);
	assert_int_equal(stats_max_clients(575), 8);
	assert_int_equal(stats_max_clients(1024), 16);
	assert_int_equal(stats_max_clients(16384), 256);
	assert_int_equal(stats_max_clients(20000), 256);
	assert_int_equal(stats_max_clients(UINT64_MAX), 256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(documents),
		cmocka_unit_test(path_within_the_bytes_given),
		cmocka_unit_test(nul_bytes),
		cmocka_unit_test(post_admin),
		cmocka_unit_test(post_admin_from_another_site),
		cmocka_unit_test(clients_scale_with_the_descriptor_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
