/* Choosing servers: weights honoured smoothly, weight 0 and full servers skipped, backups last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pool.h"

static struct pool make(const char *const *specs, size_t n)
{
	struct server_spec s[16];
	struct weir_err err;
	struct pool p;

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(config_parse_server(specs[i], &s[i], &err), 0);
	assert_int_equal(pool_build(&p, s, n, &lb_roundrobin, &err), 0);
	for (size_t i = 0; i < n; i++)
		free(s[i].addr);
	return p;
}

static size_t index_of(const struct pool *p, const struct server *s)
{
	assert_non_null(s);
	return (size_t)(s - p->servers);
}

static void equal_weights_alternate(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
	struct pool p = make(specs, 3);
	size_t counts[3] = {0}, last = 99;

	for (int i = 0; i < 10000; i++) {
		size_t k = index_of(&p, pool_pick(&p, NULL, 0));
		assert_int_not_equal(k, last); /* never twice in a row */
		counts[k]++;
		last = k;
	}
	for (int i = 0; i < 3; i++)
		assert_true(counts[i] >= 3333 && counts[i] <= 3334);
	pool_fini(&p);
}

static void weights_are_honoured_smoothly(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1,weight=5", "127.0.0.1:2",
					    "127.0.0.1:3,weight=2"};
	struct pool p = make(specs, 3);
	size_t counts[3] = {0}, run = 0, longest = 0, last = 99;

	for (int i = 0; i < 8000; i++) {
		size_t k = index_of(&p, pool_pick(&p, NULL, 0));
		counts[k]++;
		run = k == last ? run + 1 : 1;
		longest = run > longest ? run : longest;
		last = k;
	}
	assert_int_equal(counts[0], 5000);
	assert_int_equal(counts[1], 1000);
	assert_int_equal(counts[2], 2000);
	assert_true(longest <= 2); /* weight 5 of 8 is spread out, not a burst of five */
	pool_fini(&p);
}

static void weight_zero_and_full_servers_are_skipped(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1,weight=0", "127.0.0.1:2,maxconn=2",
					    "127.0.0.1:3"};
	struct pool p = make(specs, 3);

	for (int i = 0; i < 100; i++)
		assert_int_not_equal(index_of(&p, pool_pick(&p, NULL, 0)), 0);
	p.servers[1].active = 2;
	for (int i = 0; i < 100; i++)
		assert_int_equal(index_of(&p, pool_pick(&p, NULL, 0)), 2);
	p.servers[2].maxconn = 1;
	p.servers[2].active = 1;
	assert_null(pool_pick(&p, NULL, 0));
	pool_fini(&p);
}

static void backups_only_when_no_primary_can(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2,backup",
					    "127.0.0.1:3,maxconn=1"};
	struct pool p = make(specs, 3);
	struct server *tried[2];

	for (int i = 0; i < 100; i++)
		assert_int_not_equal(index_of(&p, pool_pick(&p, NULL, 0)), 1);
	/* A client that tried both primaries falls back to the backup. */
	tried[0] = &p.servers[0];
	tried[1] = &p.servers[2];
	assert_int_equal(index_of(&p, pool_pick(&p, tried, 2)), 1);
	/* ...and a tried backup is not offered again. */
	tried[0] = &p.servers[1];
	p.servers[0].weight = 0;
	p.servers[2].active = 1;
	assert_null(pool_pick(&p, tried, 1));
	pool_fini(&p);
}

static void names_resolve_to_one_server_each(void **state)
{
	static const char *const specs[] = {"localhost:9000,weight=2"};
	struct pool p = make(specs, 1);

	assert_true(p.n >= 1);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(p.servers[i].weight, 2);
	pool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(equal_weights_alternate),
		cmocka_unit_test(weights_are_honoured_smoothly),
		cmocka_unit_test(weight_zero_and_full_servers_are_skipped),
		cmocka_unit_test(backups_only_when_no_primary_can),
		cmocka_unit_test(names_resolve_to_one_server_each),
	};
	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
