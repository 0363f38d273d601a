/*
 * Power of two random choices: draw two usable servers at random (in proportion to weight)
 * and take the one with fewer connections relative to its weight. Nearly as even as
 * leastconn, with no herd: many balancers seeing the same counts do not all pick the same
 * server. A draw is a binary search of the cumulative weights: O(log n).
 */
#include "pool.h"

static struct server *random_pick(struct pool *pool, const struct lb_pick *pick)
{
	const struct lb_tier *t = &pool->tiers[pick->backup];
	struct server *a = lb_draw(pool, t, pick), *b;

	if (!a)
		return NULL;
	b = lb_draw(pool, t, pick);
	return b && lb_less_loaded(b, a) ? b : a;
}

const struct lb_ops lb_random = {
	.name = "random",
	.pick = random_pick,
	.ramps = true,
};
