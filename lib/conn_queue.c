/*
 * Clients waiting for a full backend: each worker keeps its own line per pool, in arrival
 * order, and publishes the ticket of its oldest client; tickets come from the backend's
 * counts (shared by every worker and every configuration that has the backend), so that a
 * slot freed anywhere goes to the client that has waited longest, whichever worker holds
 * it. Per loop, but for the tickets and the counts, which are atomic.
 */
#include <assert.h>

#include "conn_impl.h"
#include "worker.h"

struct conn *conn_of_queue_entry(struct idle_entry *e)
{
	struct conn *c = container_of(e, struct conn_wait, queued)->c;

	assert(c->magic == CONN_MAGIC && c->state == CONN_QUEUED);
	return c;
}

/* What other workers see of this worker's queue: the ticket of its oldest client. */
static void publish_head(struct pool_local *pl)
{
	struct idle_entry *head = idle_list_oldest(&pl->queue);

	shared_store(&pl->head_ticket,
		     head ? container_of(head, struct conn_wait, queued)->ticket : 0);
}

void conn_leave_queue(struct conn *c)
{
	struct pool_local *pl = &c->pool->local[c->w->id];

	idle_list_remove(&pl->queue, &c->wait->queued);
	publish_head(pl);
	shared_sub(&c->pool->stats->queued, 1);
	worker_queued(c->w, -1);
}

/*
 * Wait for a slot, as long as a connect may take: behind those already waiting, or (a
 * client whose turn came but who could not go) back at the head. The queue timer, once
 * started, keeps running across turns. The worker looks at its queue before it sleeps: a
 * slot freed by another worker before the client was queued woke nobody.
 */
void conn_enqueue(struct conn *c, bool at_head)
{
	struct pool *pool = c->pool;
	struct conn_wait *wt = c->wait;

	if (!conn_side_want(c, &c->client, EV_READ)) { /* to notice a client that leaves */
		conn_close(c, END_LOCAL_ERROR);
		return;
	}
	c->state = CONN_QUEUED;
	if (at_head) {
		idle_list_push_front(&pool->local[c->w->id].queue, &wt->queued); /* its ticket */
	} else {
		wt->ticket = shared_add(&pool->stats->tickets, 1);
		idle_list_push(&pool->local[c->w->id].queue, &wt->queued, clock_mono());
	}
	publish_head(&pool->local[c->w->id]);
	shared_add(&pool->stats->queued, 1);
	worker_queued(c->w, 1);
	if (!ev_is_active(&wt->timer))
		conn_start_timer(c, c->pool->cfg->queue_timeout_ms);
	worker_kick(c->w);
}

void conn_dequeue(struct conn *c)
{
	struct pool *pool = c->pool;
	struct pool_local *pl = &pool->local[c->w->id];

	assert(c->magic == CONN_MAGIC && c->state == CONN_QUEUED &&
	       idle_list_oldest(&pl->queue) == &c->wait->queued);
	/*
	 * Until its turn is over (connected, closed or back at the head), the client still
	 * counts as waiting, and its ticket stays published as this worker's head (it is the
	 * head), not even for a moment replaced: no newcomer and no younger client of another
	 * worker takes the slot it is about to try.
	 */
	idle_list_remove(&pl->queue, &c->wait->queued);
	worker_queued(c->w, -1);
	c->state = CONN_CONNECTING;
	conn_connect_next(c, true); /* may close c: only the pool is used after */
	shared_sub(&pool->stats->queued, 1);
	publish_head(pl);
}

/* Where `e` of a list in arrival order goes: after the last entry that `before` says
 * comes first (NULL: at the head). */
static struct idle_entry *place_in(const struct idle_list *l, const struct idle_entry *e,
				   bool (*before)(const struct idle_entry *,
						  const struct idle_entry *))
{
	struct idle_entry *pos = l->tail;

	while (pos && !before(pos, e))
		pos = pos->prev;
	return pos;
}

static bool active_before(const struct idle_entry *a, const struct idle_entry *b)
{
	return a->last <= b->last;
}

static bool ticket_before(const struct idle_entry *a, const struct idle_entry *b)
{
	return container_of(a, struct conn_wait, queued)->ticket <
	       container_of(b, struct conn_wait, queued)->ticket;
}

void conn_move_waiting(struct conn *c, struct frontend *fe, struct pool *to)
{
	struct gen_local *from_gen = &c->fe->gen->local[c->w->id];
	struct pool_local *from = &c->pool->local[c->w->id], *pl = &to->local[c->w->id];
	struct idle_list *l;

	assert(c->magic == CONN_MAGIC && c->state == CONN_QUEUED && to->stats == c->pool->stats);
	/* Counted in the frontend's newer configuration: the older may go once it has none. */
	idle_list_remove(conn_activity_list(c), &c->activity);
	from_gen->conns--;
	c->fe = fe;
	fe->gen->local[c->w->id].conns++;
	l = conn_activity_list(c);
	idle_list_insert_after(l, place_in(l, &c->activity, active_before), &c->activity);
	/* In the newer pool's queue by its ticket: the same place among the backend's clients. */
	idle_list_remove(&from->queue, &c->wait->queued);
	publish_head(from);
	c->pool = to;
	/* The server whose connect failed may be gone with the older configuration: the log
	 * line no longer names it. (tried[] is only compared, never followed.) */
	c->wait->failed = NULL;
	idle_list_insert_after(&pl->queue, place_in(&pl->queue, &c->wait->queued, ticket_before),
			       &c->wait->queued);
	publish_head(pl);
}
