/*
 * Source: the client's address hashed onto the servers in proportion to weight, so a
 * client keeps landing on the same server. Where it lands on one that cannot take it
 * (DOWN, full), the hash is stirred and tried again, the same way every time: only that
 * server's clients move, and they come back when it does. A change of the server list
 * remaps most clients; `hash` is the algorithm that avoids that.
 */
#include "htab.h"
#include "pool.h"

static struct server *source_pick(struct pool *pool, const struct lb_pick *pick)
{
	const struct lb_tier *t = &pool->tiers[pick->backup];
	uint64_t h = lb_client_hash(pick->client);

	if (t->total == 0)
		return NULL;
	for (int k = 0; k < LB_PROBES; k++) {
		struct server *s = lb_weighted_at(pool, t, h % t->total);
		if (pool_usable(pool, s, pick))
			return s;
		h = hash_bytes(&h, sizeof(h), (uint64_t)k);
	}
	return lb_scan_weighted(pool, t, pick, h);
}

const struct lb_ops lb_source = {
	.name = "source",
	.pick = source_pick,
};
