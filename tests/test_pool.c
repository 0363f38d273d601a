/*
 * Choosing servers, per algorithm: weights honoured, weight 0 and full or DOWN servers
 * skipped, backups only when no primary can serve, leastconn following the counts, source
 * stable, hash agreeing across independently built pools and moving few clients on change.
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

#include "log.h"
#include "pool.h"

static struct pool make(const struct lb_ops *lb, const char *const *specs, size_t n)
{
	struct server_spec s[16];
	struct weir_err err;
	struct pool p;

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(config_parse_server(specs[i], &s[i], &err), 0);
	assert_int_equal(pool_build(&p, s, n, lb, &err), 0);
	for (size_t i = 0; i < n; i++)
		config_server_free(&s[i]);
	return p;
}

static size_t index_of(const struct pool *p, const struct server *s)
{
	assert_non_null(s);
	for (size_t i = 0; i < p->n; i++)
		if (p->servers[i] == s)
			return i;
	fail_msg("server %s is not in the pool", s->name);
	return 0;
}

/* A distinct client address for each i. */
static struct sockaddr_in client(uint32_t i)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};

	sin.sin_addr.s_addr = htonl(0x0a000000u + i * 7919u);
	return sin;
}

static size_t pick_for(struct pool *p, uint32_t i)
{
	struct sockaddr_in c = client(i);

	return index_of(p, pool_pick(p, NULL, 0, (struct sockaddr *)&c));
}

static const struct lb_ops *const algorithms[] = {&lb_roundrobin, &lb_leastconn, &lb_random,
						  &lb_source, &lb_hash};

/* Over 10,000 clients every algorithm gives each server its weight's share, within 3%. */
static void weights_are_honoured_by_every_algorithm(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1,weight=5", "127.0.0.1:2",
					    "127.0.0.1:3,weight=2", "127.0.0.1:4,weight=0"};
	static const double share[] = {5 / 8.0, 1 / 8.0, 2 / 8.0, 0};

	for (size_t a = 0; a < sizeof(algorithms) / sizeof(algorithms[0]); a++) {
		struct pool p = make(algorithms[a], specs, 4);
		size_t counts[4] = {0};

		for (uint32_t i = 0; i < 10000; i++) {
			size_t k = pick_for(&p, i);
			counts[k]++;
			/* leastconn and random balance open connections: keep them open. */
			p.servers[k]->active++;
		}
		for (size_t k = 0; k < 4; k++) {
			double got = counts[k] / 10000.0;
			if (got < share[k] - 0.03 || got > share[k] + 0.03)
				fail_msg("%s: server %zu got %.3f, expected %.3f",
					 algorithms[a]->name, k, got, share[k]);
		}
		assert_int_equal(counts[3], 0); /* weight 0 gets nothing new */
		pool_fini(&p);
	}
}

static void roundrobin_never_repeats_with_equal_weights(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
	struct pool p = make(&lb_roundrobin, specs, 3);
	size_t counts[3] = {0}, last = 99;

	for (uint32_t i = 0; i < 10000; i++) {
		size_t k = pick_for(&p, i);
		assert_int_not_equal(k, last);
		counts[k]++;
		last = k;
	}
	for (int i = 0; i < 3; i++)
		assert_true(counts[i] >= 3333 && counts[i] <= 3334);
	pool_fini(&p);
}

static void roundrobin_spreads_heavy_weights(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1,weight=5", "127.0.0.1:2",
					    "127.0.0.1:3,weight=2"};
	struct pool p = make(&lb_roundrobin, specs, 3);
	size_t run = 0, longest = 0, last = 99;

	for (uint32_t i = 0; i < 8000; i++) {
		size_t k = pick_for(&p, i);
		run = k == last ? run + 1 : 1;
		longest = run > longest ? run : longest;
		last = k;
	}
	assert_true(longest <= 2); /* weight 5 of 8 is spread out, not a burst of five */
	pool_fini(&p);
}

static void leastconn_follows_the_counts(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2,weight=2", "127.0.0.1:3"};
	struct pool p = make(&lb_leastconn, specs, 3);
	size_t seen[3] = {0};

	p.servers[0]->active = 5;
	p.servers[1]->active = 6; /* 3 per unit of weight */
	p.servers[2]->active = 4;
	assert_int_equal(pick_for(&p, 0), 1);
	p.servers[1]->active = 10;
	assert_int_equal(pick_for(&p, 0), 2);
	/* Ties rotate among the tied servers. */
	p.servers[0]->active = p.servers[2]->active = 0;
	p.servers[1]->active = 0;
	for (uint32_t i = 0; i < 30; i++)
		seen[pick_for(&p, i)]++;
	assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
	pool_fini(&p);
}

static void random_prefers_the_less_loaded_of_two(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2"};
	struct pool p = make(&lb_random, specs, 2);
	size_t to_idle = 0;

	p.servers[0]->active = 100;
	for (uint32_t i = 0; i < 1000; i++)
		to_idle += pick_for(&p, i) == 1;
	/* Only a draw of server 0 twice picks it: about a quarter of the time. */
	assert_true(to_idle > 650 && to_idle < 850);
	pool_fini(&p);
}

static void source_is_stable(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
	struct pool p = make(&lb_source, specs, 3);

	for (uint32_t i = 0; i < 1000; i++) {
		size_t first = pick_for(&p, i);
		for (int again = 0; again < 3; again++)
			assert_int_equal(pick_for(&p, i), first);
	}
	pool_fini(&p);
}

/* Two balancers built separately from the same list agree on every client. */
static void hash_agrees_across_instances(void **state)
{
	static const char *const specs[] = {"10.0.0.1:80", "10.0.0.2:80,weight=2", "10.0.0.3:80",
					    "10.0.0.4:80"};
	static const char *const reordered[] = {"10.0.0.3:80", "10.0.0.1:80", "10.0.0.4:80",
						"10.0.0.2:80,weight=2"};
	struct pool a = make(&lb_hash, specs, 4), b = make(&lb_hash, reordered, 4);

	for (uint32_t i = 0; i < 10000; i++) {
		struct sockaddr_in c = client(i);
		struct server *x = pool_pick(&a, NULL, 0, (struct sockaddr *)&c);
		struct server *y = pool_pick(&b, NULL, 0, (struct sockaddr *)&c);
		assert_string_equal(x->name, y->name);
	}
	pool_fini(&a);
	pool_fini(&b);
}

/* Removing one of N servers moves only its own clients: about 1/N, and no one else. */
static void hash_moves_about_one_nth(void **state)
{
	static const char *const specs[] = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80",
					    "10.0.0.4:80", "10.0.0.5:80"};
	struct pool all = make(&lb_hash, specs, 5), fewer = make(&lb_hash, specs, 4);
	size_t moved = 0;

	for (uint32_t i = 0; i < 10000; i++) {
		struct sockaddr_in c = client(i);
		struct server *x = pool_pick(&all, NULL, 0, (struct sockaddr *)&c);
		struct server *y = pool_pick(&fewer, NULL, 0, (struct sockaddr *)&c);
		if (strcmp(x->name, y->name) != 0) {
			moved++;
			assert_string_equal(x->name, "10.0.0.5:80"); /* only the removed one's */
		}
	}
	/* 1/5 of 10,000 is 2,000. */
	assert_true(moved > 1700 && moved < 2300);

	/* A server marked DOWN behaves the same: only its clients go elsewhere. */
	all.active_checks = true;
	all.servers[4]->state = SERVER_DOWN;
	for (uint32_t i = 0; i < 10000; i++) {
		struct sockaddr_in c = client(i);
		struct server *x = pool_pick(&all, NULL, 0, (struct sockaddr *)&c);
		struct server *y = pool_pick(&fewer, NULL, 0, (struct sockaddr *)&c);
		assert_string_equal(x->name, y->name);
	}
	pool_fini(&all);
	pool_fini(&fewer);
}

static void full_and_weight_zero_servers_are_skipped(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1,weight=0", "127.0.0.1:2,maxconn=2",
					    "127.0.0.1:3"};

	for (size_t a = 0; a < sizeof(algorithms) / sizeof(algorithms[0]); a++) {
		struct pool p = make(algorithms[a], specs, 3);

		for (uint32_t i = 0; i < 100; i++)
			assert_int_not_equal(pick_for(&p, i), 0);
		p.servers[1]->active = 2; /* at maxconn */
		for (uint32_t i = 0; i < 100; i++)
			assert_int_equal(pick_for(&p, i), 2);
		p.servers[2]->maxconn = 1;
		p.servers[2]->active = 1;
		assert_null(pool_pick(&p, NULL, 0, NULL));
		assert_true(pool_full(&p));
		pool_fini(&p);
	}
}

static void backups_only_when_no_primary_can(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2,backup",
					    "127.0.0.1:3,maxconn=1"};

	for (size_t a = 0; a < sizeof(algorithms) / sizeof(algorithms[0]); a++) {
		struct pool p = make(algorithms[a], specs, 3);
		struct server *tried[2];

		p.active_checks = true;
		for (uint32_t i = 0; i < 100; i++)
			assert_int_not_equal(pick_for(&p, i), 1);
		/* A client that tried both primaries falls back to the backup... */
		tried[0] = p.servers[0];
		tried[1] = p.servers[2];
		assert_int_equal(index_of(&p, pool_pick(&p, tried, 2, NULL)), 1);
		/* ...as does every client once the primaries are down... */
		p.servers[0]->state = p.servers[2]->state = SERVER_DOWN;
		for (uint32_t i = 0; i < 100; i++)
			assert_int_equal(pick_for(&p, i), 1);
		/* ...and with the backup down too, nobody is picked. */
		p.servers[1]->state = SERVER_DOWN;
		assert_null(pool_pick(&p, NULL, 0, NULL));
		assert_false(pool_full(&p)); /* down is not full: clients are closed, not queued */
		pool_fini(&p);
	}
}

static void names_resolve_to_one_server_each(void **state)
{
	static const char *const specs[] = {"localhost:9000,weight=2"};
	struct pool p = make(&lb_roundrobin, specs, 1);

	assert_true(p.n >= 1);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(p.servers[i]->weight, 2);
	pool_fini(&p);
}

/* The same address twice is two servers, numbered so a reload can tell them apart. */
static void duplicates_are_numbered(void **state)
{
	static const char *const specs[] = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1",
					    "127.0.0.1:1"};
	struct pool p = make(&lb_roundrobin, specs, 4);

	assert_int_equal(p.n, 4);
	assert_int_equal(p.servers[0]->occurrence, 0);
	assert_int_equal(p.servers[1]->occurrence, 0);
	assert_int_equal(p.servers[2]->occurrence, 1);
	assert_int_equal(p.servers[3]->occurrence, 2);
	assert_ptr_not_equal(p.servers[0], p.servers[2]);
	pool_fini(&p);
}

static void algorithms_are_found_by_name(void **state)
{
	for (size_t a = 0; a < sizeof(algorithms) / sizeof(algorithms[0]); a++) {
		assert_ptr_equal(lb_find(algorithms[a]->name), algorithms[a]);
		assert_non_null(strstr(lb_names(), algorithms[a]->name));
	}
	assert_null(lb_find("fastest"));
}

static int quiet(void **state)
{
	log_init(2, WLOG_ERROR, WLOG_TEXT);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(weights_are_honoured_by_every_algorithm),
		cmocka_unit_test(roundrobin_never_repeats_with_equal_weights),
		cmocka_unit_test(roundrobin_spreads_heavy_weights),
		cmocka_unit_test(leastconn_follows_the_counts),
		cmocka_unit_test(random_prefers_the_less_loaded_of_two),
		cmocka_unit_test(source_is_stable),
		cmocka_unit_test(hash_agrees_across_instances),
		cmocka_unit_test(hash_moves_about_one_nth),
		cmocka_unit_test(full_and_weight_zero_servers_are_skipped),
		cmocka_unit_test(backups_only_when_no_primary_can),
		cmocka_unit_test(names_resolve_to_one_server_each),
		cmocka_unit_test(duplicates_are_numbered),
		cmocka_unit_test(algorithms_are_found_by_name),
	};
	return cmocka_run_group_tests_name("pool", tests, quiet, NULL);
}
