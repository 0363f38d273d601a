/*
 * Weighted round robin, one turn order for every worker. The order is laid out once per
 * pool by smooth weighted round robin (every turn adds each server's weight to its score,
 * takes the highest and subtracts the total), so a server gets its share spread out rather
 * than in bursts: weights 5,1,1 give a a b a c a a, not a a a a a b c. A pick is then one
 * shared counter step: O(1), and with equal weights exactly a, b, c, a, b, c across
 * workers. A server that cannot take the client loses its turn to the next.
 *
 * The order has one entry per unit of weight (weights divided by their common divisor).
 * Computing it by scores costs the order's length times the servers; a long one is laid
 * out by earliest deadline instead (each server's next turn is due one share of the
 * cycle after its last), which spreads turns the same way to within a place.
 */
#include <errno.h>
#include <stdlib.h>

#include "pool.h"

/* Turns laid out at most, per tier: weights are scaled down beyond it. */
#define RR_MAX_TURNS (1u << 22)
/* Beyond this much work (turns times servers), scores give way to deadlines. */
#define RR_SCORE_WORK (1u << 24)

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static void by_scores(const struct lb_tier *t, const uint64_t *w, uint64_t total, uint32_t *out,
		      size_t n_out, int64_t *score)
{
	for (size_t turn = 0; turn < n_out; turn++) {
		size_t best = 0;
		for (size_t k = 0; k < t->n; k++) {
			score[k] += (int64_t)w[k];
			if (score[k] > score[best])
				best = k;
		}
		score[best] -= (int64_t)total;
		out[turn] = t->idx[best];
	}
}

/* A binary heap of servers by next deadline (then by position, for a stable order). */
struct due {
	double at;
	uint32_t k;
};

static bool before(const struct due *a, const struct due *b)
{
	return a->at < b->at || (a->at == b->at && a->k < b->k);
}

static void sift_down(struct due *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct due tmp;
		if (l < n && before(&h[l], &h[m]))
			m = l;
		if (r < n && before(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

static int by_deadlines(const struct lb_tier *t, const uint64_t *w, uint64_t total, uint32_t *out,
			size_t n_out)
{
	struct due *h = malloc(t->n * sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t k = 0; k < t->n; k++)
		h[k] = (struct due){(double)total / (double)w[k] / 2, (uint32_t)k};
	for (size_t i = t->n / 2 + 1; i-- > 0;)
		sift_down(h, t->n, i);
	for (size_t turn = 0; turn < n_out; turn++) {
		uint32_t k = h[0].k;
		out[turn] = t->idx[k];
		h[0].at += (double)total / (double)w[k];
		sift_down(h, t->n, 0);
	}
	free(h);
	return 0;
}

static int rr_layout(const struct pool *pool, struct lb_tier *t)
{
	uint64_t *w = malloc(t->n * sizeof(*w)), g = 0, total = 0;
	int64_t *score = calloc(t->n, sizeof(*score));
	int r = 0;

	if (!w || !score) {
		free(w);
		free(score);
		return -ENOMEM;
	}
	for (size_t k = 0; k < t->n; k++)
		g = gcd(pool->servers[t->idx[k]]->weight, g);
	for (size_t k = 0; k < t->n; k++) {
		w[k] = pool->servers[t->idx[k]]->weight / g;
		total += w[k];
	}
	if (total > RR_MAX_TURNS) {
		/* Very many servers with varied weights: keep the proportions, roughly. */
		uint64_t scaled = 0;
		for (size_t k = 0; k < t->n; k++) {
			w[k] = w[k] * RR_MAX_TURNS / total;
			w[k] = w[k] ? w[k] : 1;
			scaled += w[k];
		}
		total = scaled;
	}
	t->sched = malloc(total * sizeof(*t->sched));
	if (!t->sched)
		r = -ENOMEM;
	else if (total * t->n <= RR_SCORE_WORK)
		by_scores(t, w, total, t->sched, total, score);
	else
		r = by_deadlines(t, w, total, t->sched, total);
	t->n_sched = r == 0 ? total : 0;
	free(w);
	free(score);
	return r;
}

static struct server *rr_pick(struct pool *pool, const struct lb_pick *pick)
{
	const struct lb_tier *t = &pool->tiers[pick->backup];
	uint64_t turn = 0;

	if (!t->n_sched)
		return NULL;
	for (int k = 0; k < LB_PROBES; k++) {
		struct server *s;
		turn = __atomic_fetch_add(&pool->cursor, 1, __ATOMIC_RELAXED);
		s = pool->servers[t->sched[turn % t->n_sched]];
		if (pool_usable(pool, s, pick))
			return s;
	}
	/* Most of the tier cannot take clients: the next that can, in order. */
	return lb_scan_from(pool, t, pick, (size_t)(turn % t->n));
}

const struct lb_ops lb_roundrobin = {
	.name = "roundrobin",
	.pick = rr_pick,
	.layout = rr_layout,
	.ramps = true,
};
