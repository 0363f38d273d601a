/*
 * Smooth weighted round robin: every pick adds each usable server's weight to its running
 * score, takes the highest score and subtracts the total weight from it. Over any window a
 * server gets its share of picks, spread out rather than in bursts (weights 5,1,1 give
 * a a b a c a a, not a a a a a b c).
 */
#include "pool.h"

static struct server *rr_pick(struct pool *pool, const struct lb_pick *pick)
{
	struct server *best = NULL;
	int64_t total = 0;

	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		if (!pool_usable(pool, s, pick))
			continue;
		s->current += s->weight;
		total += s->weight;
		if (!best || s->current > best->current)
			best = s;
	}
	if (best)
		best->current -= total;
	return best;
}

const struct lb_ops lb_roundrobin = {
	.name = "roundrobin",
	.pick = rr_pick,
};
