#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "worker.h"

/* Free buffers a loop keeps for reuse; more are returned to the allocator. */
#define WORKER_SPARE_BUFFERS 64
/* How often a lost spare descriptor is tried again. */
#define WORKER_SPARE_RETRY 0.25

const char *worker_accept_error_name(enum accept_error kind)
{
	static const char *const names[] = {"emfile", "enfile", "enobufs", "enomem", "other"};

	return names[kind];
}

uint64_t worker_connection_budget(uint64_t nofile, size_t fixed)
{
	return nofile > fixed + 2 ? (nofile - fixed) / 2 : 1;
}

uint64_t worker_connection_limit(const struct worker *w, const struct generation *g)
{
	size_t fixed = WORKER_FD_OVERHEAD + w->fixed_fds, checks = gen_count_servers(g);
	uint64_t budget;

	for (size_t i = 0; i < g->n_frontends; i++)
		fixed += g->frontends[i].n_addrs;
	/*
	 * A check (or, without checks, a probe of a DOWN server) holds a descriptor while it
	 * runs. Checks are spread over the interval, so only a part of them run at once: with
	 * tens of thousands of servers, an eighth of the limit is set aside for them.
	 */
	fixed += checks < w->nofile / 8 ? checks : w->nofile / 8;
	budget = worker_connection_budget(w->nofile, fixed);
	if (g->cfg.max_connections == 0) {
		log_msg(WLOG_DEBUG, "max-connections %llu (from the descriptor limit)",
			(unsigned long long)budget);
		return budget;
	}
	if (g->cfg.max_connections > budget)
		log_msg(WLOG_WARN,
			"max-connections %llu is more than the descriptor limit allows (%llu); "
			"clients beyond that are closed at once",
			(unsigned long long)g->cfg.max_connections, (unsigned long long)budget);
	return g->cfg.max_connections;
}

/*
 * Idle expiry. Every connection sits in `active` or, once half-closed, in `lingering`, each
 * ordered by last activity because a touch moves it to the tail. So only the heads can be
 * due, and one timer serves the whole loop: it fires at the earlier head's deadline, closes
 * whatever is due and re-arms for the new heads. A touch never re-arms anything; if the head
 * was touched since, the timer fires early, finds nothing due and re-arms. That keeps the
 * per-read cost at a list splice, where a timer per connection would be re-armed on every
 * read (libev's manual, "Be smart about timeouts").
 */
static double list_deadline(const struct idle_list *l, uint64_t timeout_ms)
{
	const struct idle_entry *head = idle_list_oldest(l);

	return head && timeout_ms ? head->last + (double)timeout_ms / 1e3 : -1;
}

static double earlier(double a, double b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

void worker_rearm_expiry(struct worker *w)
{
	double due = -1, wait;

	for (const struct generation *g = w->gen; g; g = g->older) {
		for (size_t i = 0; i < g->n_frontends; i++) {
			const struct frontend *fe = &g->frontends[i];
			due = earlier(due, list_deadline(&fe->active, fe->cfg->idle_timeout_ms));
			due = earlier(due,
				      list_deadline(&fe->lingering, fe->cfg->linger_timeout_ms));
		}
	}
	ev_timer_stop(w->loop, &w->expiry);
	if (due < 0)
		return;
	wait = due - clock_mono();
	ev_timer_set(&w->expiry, wait > 0 ? wait : 0, 0.);
	ev_timer_start(w->loop, &w->expiry);
}

static void expire_list(struct worker *w, struct idle_list *l, uint64_t timeout_ms)
{
	double limit = clock_mono() - (double)timeout_ms / 1e3;
	struct idle_entry *e;

	if (!timeout_ms)
		return;
	while ((e = idle_list_oldest(l)) && e->last <= limit)
		conn_expire(conn_of_entry(e));
}

static void expiry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, expiry);

	/* Retired generations are freed only by reap_cb, so the chain stays valid here. */
	for (struct generation *g = w->gen; g; g = g->older) {
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct frontend *fe = &g->frontends[i];
			expire_list(w, &fe->active, fe->cfg->idle_timeout_ms);
			expire_list(w, &fe->lingering, fe->cfg->linger_timeout_ms);
		}
	}
	if (w->state != WORKER_STOPPED)
		worker_rearm_expiry(w);
}

static void hold_listeners(struct worker *w, bool hold)
{
	w->held = hold;
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_hold(w->listeners[i], hold);
}

void worker_conn_opened(struct worker *w, const struct frontend *fe)
{
	double idle = (double)fe->cfg->idle_timeout_ms / 1e3;

	w->n_conns++;
	/* Frontends differ in idle timeout: this one may be due before what the timer awaits. */
	if (idle > 0 &&
	    (!ev_is_active(&w->expiry) || ev_timer_remaining(w->loop, &w->expiry) > idle))
		worker_rearm_expiry(w);
	if (!w->held && w->n_conns >= w->max_conns) {
		log_msg(WLOG_WARN, "%zu connections open: not accepting until some close",
			w->n_conns);
		hold_listeners(w, true);
	}
}

void worker_conn_half_closed(struct worker *w)
{
	/* The linger timeout may be shorter than the idle deadline the timer is set for. */
	worker_rearm_expiry(w);
}

/* Cut every connection (stopping); `drain_deadline` says why, for the log. */
static void cut_all(struct worker *w, bool drain_deadline)
{
	for (struct generation *g = w->gen; g; g = g->older) {
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct frontend *fe = &g->frontends[i];
			struct idle_entry *e;
			while ((e = idle_list_oldest(&fe->lingering)) ||
			       (e = idle_list_oldest(&fe->active)))
				conn_cut(conn_of_entry(e), drain_deadline);
		}
	}
}

/*
 * Retired generations whose last connection closed are freed from a timer of their own,
 * never from inside a close: the close may be in the middle of a loop over that very
 * generation's frontends (expiry, shutdown, dispatch).
 */
static void reap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, reap);

	for (struct generation **p = &w->gen->older; *p;) {
		struct generation *g = *p;
		if (g->conns || g->holds) {
			p = &g->older;
			continue;
		}
		*p = g->older;
		log_msg(WLOG_DEBUG, "the last connection of a retired configuration closed");
		gen_free(g);
	}
}

void worker_reap_soon(struct worker *w)
{
	if (!ev_is_active(&w->reap))
		ev_timer_start(w->loop, &w->reap);
}

static void worker_finish(struct worker *w)
{
	w->state = WORKER_STOPPED;
	ev_timer_stop(w->loop, &w->drain);
	ev_timer_stop(w->loop, &w->reap);
	ev_timer_stop(w->loop, &w->expiry);
	ev_timer_stop(w->loop, &w->congestion);
	ev_timer_stop(w->loop, &w->spare_retry);
	ev_prepare_stop(w->loop, &w->dispatch);
	ev_break(w->loop, EVBREAK_ALL);
}

void worker_kick(struct worker *w)
{
	if (w->n_queued && w->state != WORKER_STOPPED && !ev_is_active(&w->dispatch))
		ev_prepare_start(w->loop, &w->dispatch);
}

void worker_capacity_cb(void *ctx)
{
	worker_kick(ctx);
}

void worker_retry_later(struct worker *w, double delay)
{
	if (ev_is_active(&w->congestion) && ev_timer_remaining(w->loop, &w->congestion) <= delay)
		return;
	ev_timer_stop(w->loop, &w->congestion);
	ev_timer_set(&w->congestion, delay, 0.);
	ev_timer_start(w->loop, &w->congestion);
}

static void congestion_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	worker_kick(container_of(t, struct worker, congestion));
}

/* Serve the waiting clients of `pool` that can be served now, oldest first. */
static void dispatch_pool(struct worker *w, struct pool *pool, double now)
{
	/* Bounded by the queue as it is now: a client put back (congestion) stops the walk. */
	for (size_t n = pool->queue.n; n > 0; n--) {
		struct idle_entry *e = idle_list_oldest(&pool->queue);
		if (!e || pool_full(pool))
			return;
		if (now < pool->congested_until) {
			/*
			 * The retry timer counts from the loop's cached time, which is behind
			 * ours: it can fire a little early. Come back when it is really over.
			 */
			worker_retry_later(w, pool->congested_until - now);
			return;
		}
		conn_dequeue(conn_of_queue_entry(e));
	}
}

/*
 * Before the loop sleeps: capacity appeared somewhere, so waiting clients are served in the
 * order they arrived. Older generations' clients arrived before any of a newer one's, so
 * generations go oldest first; within a pool the queue is in arrival order. Closes and
 * connects done here only schedule the freeing of generations (reap_cb), so the chain
 * stays valid.
 */
static void dispatch_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	struct worker *w = container_of(p, struct worker, dispatch);
	double now = clock_mono();
	size_t n = 0;

	ev_prepare_stop(loop, p);
	for (struct generation *g = w->gen; g; g = g->older)
		n++;
	/* The chain links newest to oldest; there are rarely more than a few. */
	while (n-- > 0 && w->n_queued && w->state != WORKER_STOPPED) {
		struct generation *g = w->gen;
		for (size_t i = 0; i < n; i++)
			g = g->older;
		for (size_t b = 0; b < g->cfg.n_backends; b++)
			dispatch_pool(w, &g->pools[b], now);
	}
}

void worker_set_max_conns(struct worker *w, uint64_t max_conns)
{
	w->max_conns = max_conns;
	if (w->state == WORKER_RUNNING && w->held != (w->n_conns >= max_conns))
		hold_listeners(w, !w->held);
}

void worker_conn_closed(struct worker *w, struct generation *gen)
{
	w->n_conns--;
	if (gen != w->gen && gen->conns == 0)
		worker_reap_soon(w);
	if (w->state == WORKER_STOPPED)
		return;
	if (w->state == WORKER_DRAINING && w->n_conns == 0) {
		log_msg(WLOG_INFO, "drained all %zu connections", w->drain_started_with);
		worker_finish(w);
		return;
	}
	if (w->held && w->n_conns < w->max_conns && w->state == WORKER_RUNNING) {
		log_msg(WLOG_INFO, "below %llu connections: accepting again",
			(unsigned long long)w->max_conns);
		hold_listeners(w, false);
	}
}

static void drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, drain);
	size_t cut = w->n_conns;

	log_msg(WLOG_WARN, "drain timeout: drained %zu connections, cutting %zu",
		w->drain_started_with - cut, cut);
	w->state = WORKER_STOPPED;
	cut_all(w, true);
	worker_finish(w);
}

static void spare_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, spare_retry);

	if (reserve_acquire(&w->spare) == 0) {
		log_msg(WLOG_DEBUG, "spare descriptor taken back");
		ev_timer_stop(loop, t);
	}
}

void worker_spare_lost(struct worker *w)
{
	if (!ev_is_active(&w->spare_retry) && w->state != WORKER_STOPPED)
		ev_timer_again(w->loop, &w->spare_retry);
}

int worker_init(struct worker *w, struct ev_loop *loop, uint64_t nofile, size_t fixed_fds,
		size_t buffer_size, struct weir_err *err)
{
	int r;

	/* Everything worker_fini undoes is valid from here on, so failures can just return. */
	memset(w, 0, sizeof(*w));
	w->state = WORKER_RUNNING;
	w->loop = loop;
	w->nofile = nofile;
	w->fixed_fds = fixed_fds;
	w->max_conns = UINT64_MAX;
	reserve_init(&w->spare);
	ev_init(&w->expiry, expiry_cb);
	ev_init(&w->drain, drain_cb);
	ev_timer_init(&w->reap, reap_cb, 0., 0.);
	ev_prepare_init(&w->dispatch, dispatch_cb);
	ev_init(&w->congestion, congestion_cb);
	ev_init(&w->spare_retry, spare_retry_cb);
	w->spare_retry.repeat = WORKER_SPARE_RETRY;
	bufpool_init(&w->bufs, buffer_size, WORKER_SPARE_BUFFERS);
	w->relay.pool = &w->bufs;
	w->relay.scratch = malloc(buffer_size);
	if (!w->relay.scratch) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	r = reserve_acquire(&w->spare);
	if (r < 0)
		err_set(err, "cannot reserve a spare descriptor: %s", strerror(-r));
	return r;
}

static void close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_close(w->listeners[i]);
	w->n_listeners = 0;
}

void worker_drain(struct worker *w)
{
	if (w->state != WORKER_RUNNING)
		return;
	close_listeners(w);
	w->state = WORKER_DRAINING;
	w->drain_started_with = w->n_conns;
	if (w->drain_started_with == 0) {
		worker_finish(w);
		return;
	}
	log_msg(WLOG_INFO, "draining %zu connections for up to %.3gs", w->drain_started_with,
		(double)w->gen->cfg.drain_timeout_ms / 1e3);
	ev_timer_set(&w->drain, (double)w->gen->cfg.drain_timeout_ms / 1e3, 0.);
	ev_timer_start(w->loop, &w->drain);
}

void worker_stop(struct worker *w)
{
	size_t open = w->n_conns;

	if (w->state == WORKER_DRAINING)
		log_msg(WLOG_WARN, "stopping now: drained %zu connections, cutting %zu",
			w->drain_started_with - open, open);
	w->state = WORKER_STOPPED;
	close_listeners(w);
	cut_all(w, false);
	worker_finish(w);
}

void worker_fini(struct worker *w)
{
	if (w->loop)
		worker_stop(w);
	reserve_release(&w->spare);
	while (w->gen) {
		struct generation *older = w->gen->older;
		gen_free(w->gen);
		w->gen = older;
	}
	free(w->listeners);
	free(w->relay.scratch);
	bufpool_fini(&w->bufs);
	memset(w, 0, sizeof(*w));
}
