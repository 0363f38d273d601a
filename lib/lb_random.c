/*
 * Power of two random choices: draw two usable servers at random (in proportion to weight)
 * and take the one with fewer connections relative to its weight. Nearly as even as
 * leastconn, with no herd: many balancers seeing the same counts do not all pick the same
 * server.
 */
#include "pool.h"

static struct server *random_pick(struct pool *pool, const struct lb_pick *pick)
{
	uint64_t total = pool_usable_weight(pool, pick);
	struct server *a, *b;

	if (total == 0)
		return NULL;
	a = pool_weighted_at(pool, pick, lb_random_next(&pool->rng) % total);
	b = pool_weighted_at(pool, pick, lb_random_next(&pool->rng) % total);
	return lb_less_loaded(b, a) ? b : a;
}

const struct lb_ops lb_random = {
	.name = "random",
	.pick = random_pick,
};
