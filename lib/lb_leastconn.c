/*
 * Least connections: the usable server with the fewest open connections relative to its
 * weight. The scan starts one server further on each pick, so ties rotate (round robin)
 * instead of always going to the first server.
 */
#include "pool.h"

static struct server *lc_pick(struct pool *pool, const struct lb_pick *pick)
{
	struct server *best = NULL;
	size_t start;

	if (pool->n == 0)
		return NULL;
	start = pool->cursor++ % pool->n;
	for (size_t k = 0; k < pool->n; k++) {
		struct server *s = pool->servers[(start + k) % pool->n];
		if (pool_usable(pool, s, pick) && (!best || lb_less_loaded(s, best)))
			best = s;
	}
	return best;
}

const struct lb_ops lb_leastconn = {
	.name = "leastconn",
	.pick = lc_pick,
};
