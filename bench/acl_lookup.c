/*
 * bench/acl_lookup: what one access-list lookup costs with N prefixes (allow and deny,
 * IPv4 and IPv6), against a list of 10: nanoseconds per lookup of random addresses.
 *
 *   make bench/acl_lookup && bench/acl_lookup [N]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "pool.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Nanoseconds per lookup with `n` prefixes, half allow, half deny, a tenth of them IPv6. */
static double measure(size_t n, size_t lookups, uint64_t seed)
{
	char **allow = calloc(n, sizeof(char *)), **deny = calloc(n, sizeof(char *));
	size_t n_allow = 0, n_deny = 0, allowed = 0;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct weir_err err;
	struct acl acl;
	double t0, t;

	for (size_t i = 0; i < n; i++) {
		char *p = malloc(64);
		uint64_t r = lb_random_next(&seed);
		if (i % 10 == 9)
			snprintf(p, 64, "2001:db8:%x:%x::/64", (unsigned)(r & 0xffff),
				 (unsigned)(r >> 16 & 0xffff));
		else {
			unsigned len = (unsigned)(16 + (r >> 32) % 9);
			uint32_t a = (uint32_t)r & ~0u << (32 - len);
			snprintf(p, 64, "%u.%u.%u.%u/%u", a >> 24, a >> 16 & 0xff, a >> 8 & 0xff,
				 a & 0xff, len);
		}
		if (i % 2)
			deny[n_deny++] = p;
		else
			allow[n_allow++] = p;
	}
	if (acl_build(&acl, allow, n_allow, deny, n_deny, &err) < 0) {
		fprintf(stderr, "acl_build: %s\n", err.msg);
		exit(1);
	}
	t0 = now();
	for (size_t i = 0; i < lookups; i++) {
		sin.sin_addr.s_addr = (uint32_t)lb_random_next(&seed);
		allowed += acl_allows(&acl, (struct sockaddr *)&sin);
	}
	t = now() - t0;
	acl_free(&acl);
	for (size_t i = 0; i < n_allow; i++)
		free(allow[i]);
	for (size_t i = 0; i < n_deny; i++)
		free(deny[i]);
	free(allow);
	free(deny);
	if (allowed > lookups) /* keeps the loop from being optimised away */
		abort();
	return t * 1e9 / (double)lookups;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000, lookups = 10000000;
	double small = measure(10, lookups, 7), big = measure(n, lookups, 7);

	printf("access list lookup: %.1f ns with 10 prefixes, %.1f ns with %zu (%.2fx)\n", small,
	       big, n, big / small);
	return 0;
}
