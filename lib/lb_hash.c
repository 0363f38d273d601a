/*
 * Consistent hashing on a ring. Each server owns points on a circle of 32-bit hashes, as
 * many as its share of the weight calls for, each the hash of its address, its place among
 * duplicates and the point's number; a client goes to the owner of the first point at or
 * after the hash of its address. The points depend only on the servers, so every weir with
 * the same server list sends a client to the same server with no coordination; a server
 * that leaves takes away only the clients of its own points (its share, about 1/N), and
 * one that is DOWN or full is stepped over to the next point's owner without disturbing
 * anyone else. A pick is a binary search: O(log n).
 *
 * More points per server even out the shares (the spread is about one over the square
 * root of the points): a backend of up to a thousand servers gets 1024 points a server on
 * average, a larger one fewer, so the ring stays near a million points (8 MiB).
 */
#include <errno.h>
#include <stdlib.h>

#include "htab.h"
#include "pool.h"

#define RING_POINTS_MAX	    (1u << 20)
#define RING_PER_SERVER_MAX 1024
#define RING_PER_SERVER_MIN 32
/* Points stepped over before a pick checks that some server can take the client at all. */
#define RING_WALK 256

static int by_hash(const void *a, const void *b)
{
	const struct lb_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->server < y->server ? -1 : x->server > y->server;
}

static int ring_layout(const struct pool *pool, struct lb_tier *t)
{
	uint64_t per = RING_POINTS_MAX / t->n, n = 0;

	per = per > RING_PER_SERVER_MAX	  ? RING_PER_SERVER_MAX
	      : per < RING_PER_SERVER_MIN ? RING_PER_SERVER_MIN
					  : per;
	/* A server's points: `per` times its weight over the mean weight, at least one. */
	for (size_t k = 0; k < t->n; k++) {
		uint64_t w = pool->servers[t->idx[k]]->weight;
		uint64_t points = (per * w * t->n + t->total / 2) / t->total;
		n += points ? points : 1;
	}
	t->ring = malloc(n * sizeof(*t->ring));
	if (!t->ring)
		return -ENOMEM;
	t->n_ring = 0;
	for (size_t k = 0; k < t->n; k++) {
		const struct server *s = pool->servers[t->idx[k]];
		uint64_t w = s->weight, points = (per * w * t->n + t->total / 2) / t->total;
		uint64_t seed = hash_str(s->name, s->occurrence);
		points = points ? points : 1;
		for (uint64_t j = 0; j < points; j++)
			t->ring[t->n_ring++] = (struct lb_point){
				(uint32_t)(hash_bytes(&j, sizeof(j), seed) >> 32), t->idx[k]};
	}
	qsort(t->ring, t->n_ring, sizeof(*t->ring), by_hash);
	return 0;
}

static struct server *hash_pick(struct pool *pool, const struct lb_pick *pick)
{
	const struct lb_tier *t = &pool->tiers[pick->backup];
	uint32_t key = (uint32_t)(lb_client_hash(pick->client) >> 32);
	size_t lo = 0, hi;

	if (!t->n_ring)
		return NULL;
	/* The first point at or after the key. */
	hi = t->n_ring;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->ring[mid].hash < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Round the circle at most once. A long walk means most servers cannot take clients:
	 * one scan then says whether any can, before the walk goes on. */
	for (size_t k = 0; k < t->n_ring; k++) {
		struct server *s = pool->servers[t->ring[(lo + k) % t->n_ring].server];
		if (pool_usable(pool, s, pick))
			return s;
		if (k == RING_WALK && !lb_scan_from(pool, t, pick, 0))
			return NULL;
	}
	return NULL;
}

const struct lb_ops lb_hash = {
	.name = "hash",
	.pick = hash_pick,
	.layout = ring_layout,
};
