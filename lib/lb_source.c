/*
 * Source: the client's address hashed onto the usable servers in proportion to weight, so
 * a client keeps landing on the same server while the set of usable servers is unchanged.
 * A change of the set remaps most clients; `hash` is the algorithm that avoids that.
 */
#include "pool.h"

static struct server *source_pick(struct pool *pool, const struct lb_pick *pick)
{
	uint64_t total = pool_usable_weight(pool, pick);

	if (total == 0)
		return NULL;
	return pool_weighted_at(pool, pick, lb_client_hash(pick->client) % total);
}

const struct lb_ops lb_source = {
	.name = "source",
	.pick = source_pick,
};
