/*
 * Power of two random choices: draw two usable servers at random (in proportion to weight)
 * and take the one with fewer connections relative to its weight. Nearly as even as
 * leastconn, with no herd: many balancers seeing the same counts do not all pick the same
 * server.
 */
#include "pool.h"

/* xorshift64*: fast, and good enough to spread clients. */
static uint64_t next_random(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

static struct server *random_pick(struct pool *pool, const struct lb_pick *pick)
{
	uint64_t total = pool_usable_weight(pool, pick);
	struct server *a, *b;

	if (total == 0)
		return NULL;
	a = pool_weighted_at(pool, pick, next_random(&pool->rng) % total);
	b = pool_weighted_at(pool, pick, next_random(&pool->rng) % total);
	return lb_less_loaded(b, a) ? b : a;
}

const struct lb_ops lb_random = {
	.name = "random",
	.pick = random_pick,
};
