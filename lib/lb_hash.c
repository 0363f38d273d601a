/*
 * Consistent hashing by weighted rendezvous (highest random weight): each server scores a
 * client by hashing the server's address together with the client's, and the best score
 * wins. The scores depend only on the two addresses, so every weir with the same server list
 * sends a client to the same server with no coordination and no shared table; a server that
 * leaves takes away only the clients it had (about 1/N), and one that is down or full is
 * skipped by moving to the next best score without disturbing anyone else. Weights scale the
 * scores as -weight / ln(u) for a uniform u in (0, 1), which gives each server its share.
 */
#include <math.h>

#include "htab.h"
#include "pool.h"

static double score(const struct server *s, uint64_t key)
{
	uint64_t h = hash_str(s->name, key);
	double u = ((double)(h >> 11) + 0.5) * 0x1p-53; /* uniform in (0, 1) */

	return -(double)s->weight / log(u);
}

static struct server *hash_pick(struct pool *pool, const struct lb_pick *pick)
{
	uint64_t key = lb_client_hash(pick->client);
	struct server *best = NULL;
	double best_score = 0;

	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		double sc;
		if (!pool_usable(pool, s, pick))
			continue;
		sc = score(s, key);
		if (!best || sc > best_score) {
			best = s;
			best_score = sc;
		}
	}
	return best;
}

const struct lb_ops lb_hash = {
	.name = "hash",
	.pick = hash_pick,
};
