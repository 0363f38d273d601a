/*
 * Least connections: the usable server with the fewest open connections (over every
 * worker) relative to its weight. A backend of up to LC_EXACT servers is scanned whole,
 * starting one server further on each pick so ties rotate instead of always going to the
 * first. A larger one takes the less loaded of two servers drawn in proportion to weight
 * (the power of two choices): O(log n) a pick, and within a connection or two of the
 * least loaded in practice, where a scan of ten thousand servers per client would cost
 * more than the connection.
 */
#include "pool.h"

/* Backends up to this size are scanned exactly. */
#define LC_EXACT 64

static struct server *lc_pick(struct pool *pool, const struct lb_pick *pick)
{
	const struct lb_tier *t = &pool->tiers[pick->backup];
	struct server *best = NULL, *other;
	size_t start;

	if (t->n == 0)
		return NULL;
	if (t->n > LC_EXACT) {
		best = lb_draw(pool, t, pick);
		other = best ? lb_draw(pool, t, pick) : NULL;
		return other && lb_less_loaded(other, best) ? other : best;
	}
	start = __atomic_fetch_add(&pool->cursor, 1, __ATOMIC_RELAXED) % t->n;
	for (size_t k = 0; k < t->n; k++) {
		struct server *s = pool->servers[t->idx[(start + k) % t->n]];
		if (pool_usable(pool, s, pick) && (!best || lb_less_loaded(s, best)))
			best = s;
	}
	return best;
}

const struct lb_ops lb_leastconn = {
	.name = "leastconn",
	.pick = lc_pick,
	.ramps = true,
};
