#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

/* Free buffers a loop keeps for reuse; more are returned to the allocator. */
#define WORKER_SPARE_BUFFERS 64
/* Pipes a worker may have for splice(2) at once (two descriptors each); idle ones kept. */
#define WORKER_SPARE_PIPES 16
/* How often a lost spare descriptor is tried again. */
#define WORKER_SPARE_RETRY 0.25
/* After libev failed to watch the connections' epoll set, the next try. */
#define WORKER_POLL_RETRY 0.1

const char *worker_accept_error_name(enum accept_error kind)
{
	static const char *const names[] = {"emfile", "enfile", "enobufs", "enomem", "other"};

	return names[kind];
}

/* The generations this worker uses, newest first. */
#define FOR_EACH_GEN(w, g) for (struct generation *g = (w)->gen; g; g = g->local[(w)->id].older)

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

	FOR_EACH_GEN(w, g)
	{
		for (size_t i = 0; i < g->n_frontends; i++) {
			const struct frontend *fe = &g->frontends[i];
			const struct fe_local *fl = &fe->local[w->id];
			due = earlier(due, list_deadline(&fl->active, fe->cfg->idle_timeout_ms));
			due = earlier(due,
				      list_deadline(&fl->lingering, fe->cfg->linger_timeout_ms));
		}
	}
	ev_timer_stop(w->loop, &w->expiry);
	if (due < 0)
		return;
	wait = due - clock_mono();
	ev_timer_set(&w->expiry, wait > 0 ? wait : 0, 0.);
	ev_timer_start(w->loop, &w->expiry);
}

static void expire_list(struct idle_list *l, uint64_t timeout_ms)
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

	/* Older generations are let go only by reap_cb, so the chain stays valid here. */
	FOR_EACH_GEN(w, g)
	{
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct frontend *fe = &g->frontends[i];
			expire_list(&fe->local[w->id].active, fe->cfg->idle_timeout_ms);
			expire_list(&fe->local[w->id].lingering, fe->cfg->linger_timeout_ms);
		}
	}
	if (w->state != WORKER_STOPPED)
		worker_rearm_expiry(w);
}

static void hold_listeners(struct worker *w, bool hold)
{
	w->held = hold;
	for (size_t i = 0; i < w->n_watches; i++)
		listener_hold(w->watches[i], hold);
}

void worker_at_limit(struct worker *w)
{
	if (!w->held)
		hold_listeners(w, true);
	proxy_limit_reached(w->p);
}

void worker_conn_opened(struct worker *w, const struct frontend *fe)
{
	double idle = (double)fe->cfg->idle_timeout_ms / 1e3;

	counter_add(&w->n_conns, 1);
	/* Frontends differ in idle timeout: this one may be due before what the timer awaits. */
	if (idle > 0 &&
	    (!ev_is_active(&w->expiry) || ev_timer_remaining(w->loop, &w->expiry) > idle))
		worker_rearm_expiry(w);
}

void worker_conn_half_closed(struct worker *w)
{
	/* The linger timeout may be shorter than the idle deadline the timer is set for. */
	worker_rearm_expiry(w);
}

void worker_cut_all(struct worker *w, bool drain_deadline)
{
	w->state = WORKER_STOPPED;
	FOR_EACH_GEN(w, g)
	{
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct fe_local *fl = &g->frontends[i].local[w->id];
			struct idle_entry *e;
			while ((e = idle_list_oldest(&fl->lingering)) ||
			       (e = idle_list_oldest(&fl->active)))
				conn_cut(conn_of_entry(e), drain_deadline);
		}
	}
}

void worker_each_conn(struct worker *w, bool (*fn)(struct conn *c, void *arg), void *arg)
{
	FOR_EACH_GEN(w, g)
	{
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct fe_local *fl = &g->frontends[i].local[w->id];
			struct idle_list *lists[] = {&fl->active, &fl->lingering};
			for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
				/* The next one is taken first: `fn` may close this one. */
				for (struct idle_entry *e = idle_list_oldest(lists[k]), *next; e;
				     e = next) {
					next = e->next;
					if (!fn(conn_of_entry(e), arg))
						return;
				}
			}
		}
	}
}

/*
 * Older generations with no connection of this worker's left are let go from a timer of
 * their own, never from inside a close: the close may be in the middle of a loop over that
 * very generation's frontends (expiry, shutdown, dispatch). The control thread frees one
 * once every worker has let go of it.
 */
static void reap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, reap);

	for (struct generation **p = &w->gen->local[w->id].older; *p;) {
		struct generation *g = *p;
		if (g->local[w->id].conns) {
			p = &g->local[w->id].older;
			continue;
		}
		*p = g->local[w->id].older;
		if (__atomic_sub_fetch(&g->workers_in, 1, __ATOMIC_ACQ_REL) == 0)
			proxy_wake(w->p, PROXY_WAKE_REAP);
	}
}

static void reap_soon(struct worker *w)
{
	if (!ev_is_active(&w->reap))
		ev_timer_start(w->loop, &w->reap);
}

void worker_finish(struct worker *w)
{
	w->state = WORKER_STOPPED;
	ev_timer_stop(w->loop, &w->reap);
	ev_timer_stop(w->loop, &w->expiry);
	ev_timer_stop(w->loop, &w->congestion);
	ev_timer_stop(w->loop, &w->spare_retry);
	ev_timer_stop(w->loop, &w->poll_retry);
	ev_prepare_stop(w->loop, &w->dispatch);
	if (w->threaded)
		ev_break(w->loop, EVBREAK_ALL);
}

void worker_kick(struct worker *w)
{
	if (w->n_queued && w->state != WORKER_STOPPED && !ev_is_active(&w->dispatch))
		ev_prepare_start(w->loop, &w->dispatch);
}

void worker_queued(struct worker *w, int change)
{
	shared_store(&w->n_queued, w->n_queued + (size_t)(ssize_t)change);
}

void worker_slot_freed(struct worker *w, const struct pool *pool)
{
	worker_kick(w);
	/* Clients of this backend may wait on other workers: their turn may have come. (Those
	 * waiting here are this backend's in this generation; the count is the backend's in
	 * all generations, so it errs towards waking.) */
	if (shared_load(&pool->stats->queued) > pool->local[w->id].queue.n)
		proxy_kick_waiting(w->p, w);
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

/*
 * Whether another worker has a client of `pool` that came before this worker's oldest: that
 * worker is woken to serve it, and this one waits its turn.
 */
static bool older_elsewhere(struct worker *w, const struct pool *pool)
{
	uint64_t mine = shared_load(&pool->local[w->id].head_ticket);

	for (unsigned k = 0; k < w->p->n_workers; k++) {
		uint64_t theirs = k == w->id ? 0 : shared_load(&pool->local[k].head_ticket);
		if (theirs && theirs < mine) {
			worker_wake(&w->p->workers[k], WAKE_KICK);
			return true;
		}
	}
	return false;
}

/* Serve the waiting clients of `pool` that can be served now, oldest first. */
static void dispatch_pool(struct worker *w, struct pool *pool, double now)
{
	struct pool_local *pl = &pool->local[w->id];

	/* Bounded by the queue as it is now: a client put back (congestion) stops the walk. */
	for (size_t n = pl->queue.n; n > 0; n--) {
		struct idle_entry *e = idle_list_oldest(&pl->queue);
		if (!e || pool_full(pool) || older_elsewhere(w, pool))
			return;
		if (now < pl->congested_until) {
			/*
			 * The retry timer counts from the loop's cached time, which is behind
			 * ours: it can fire a little early. Come back when it is really over.
			 */
			worker_retry_later(w, pl->congested_until - now);
			return;
		}
		conn_dequeue(conn_of_queue_entry(e));
	}
}

/*
 * Before the loop sleeps: capacity appeared somewhere, so waiting clients are served in the
 * order they arrived. Older generations' clients arrived before any of a newer one's, so
 * generations go oldest first; within a pool the queue is in arrival order. Closes and
 * connects done here only schedule the letting go of generations (reap_cb), so the chain
 * stays valid.
 */
static void dispatch_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	struct worker *w = container_of(p, struct worker, dispatch);
	double now = clock_mono();
	size_t n = 0;

	ev_prepare_stop(loop, p);
	FOR_EACH_GEN(w, g)
	n++;
	/* The chain links newest to oldest; there are rarely more than a few. */
	while (n-- > 0 && w->n_queued && w->state != WORKER_STOPPED) {
		struct generation *g = w->gen;
		for (size_t i = 0; i < n; i++)
			g = g->local[w->id].older;
		for (size_t b = 0; b < g->cfg.n_backends; b++)
			dispatch_pool(w, &g->pools[b], now);
	}
}

void worker_conn_closed(struct worker *w, struct generation *gen)
{
	counter_add(&w->n_conns, -1);
	if (gen != w->gen && gen->local[w->id].conns == 0)
		reap_soon(w);
}

/* Spares are lent between workers (listener.c): whichever worker's timer runs retakes all. */
static void spare_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, spare_retry);
	bool all = true;

	reserve_lock();
	for (unsigned i = 0; i < w->p->n_workers; i++)
		all = reserve_acquire(&w->p->workers[i].spare) == 0 && all;
	reserve_unlock();
	if (all) {
		log_msg(WLOG_DEBUG, "spare descriptors taken back");
		ev_timer_stop(loop, t);
	}
}

void worker_spare_lost(struct worker *w)
{
	if (!ev_is_active(&w->spare_retry) && w->state != WORKER_STOPPED)
		ev_timer_again(w->loop, &w->spare_retry);
}

static struct log_limit poll_error_log;

static void poll_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, poll_retry);

	if (w->state != WORKER_STOPPED)
		ev_io_start(loop, &w->polled);
}

static void polled_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = container_of(io, struct worker, polled);

	if (revents & EV_ERROR) {
		/* libev's epoll_ctl for the set failed (ENOMEM, ENOSPC) and it stopped the
		 * watcher: without it no connection of this worker would move again. */
		log_limited(&poll_error_log, WLOG_ERROR,
			    "cannot watch the connections of worker %u: trying again", w->id);
		ev_timer_set(&w->poll_retry, WORKER_POLL_RETRY, 0.);
		ev_timer_start(loop, &w->poll_retry);
	}
	conn_poll(w);
}

static void before_sleep_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	conn_bury(container_of(p, struct worker, before_sleep));
	log_flush();
}

/* What other threads asked for. */
static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct worker *w = container_of(a, struct worker, wake);
	unsigned bits = __atomic_exchange_n(&w->wake_bits, 0, __ATOMIC_ACQ_REL);

	if (bits & WAKE_MAIL) {
		void (*fn)(struct worker *, void *);
		void *arg;
		pthread_mutex_lock(&w->mail_lock);
		fn = w->mail_fn;
		arg = w->mail_arg;
		w->mail_fn = NULL;
		pthread_mutex_unlock(&w->mail_lock);
		if (fn) {
			fn(w, arg);
			pthread_mutex_lock(&w->mail_lock);
			w->mail_done = true;
			pthread_cond_broadcast(&w->mail_cond);
			pthread_mutex_unlock(&w->mail_lock);
		}
	}
	if ((bits & WAKE_RESUME) && w->held && w->state == WORKER_RUNNING)
		hold_listeners(w, false);
	if (bits & WAKE_KICK)
		worker_kick(w);
}

void worker_wake(struct worker *w, unsigned bits)
{
	__atomic_fetch_or(&w->wake_bits, bits, __ATOMIC_ACQ_REL);
	ev_async_send(w->loop, &w->wake);
}

int worker_init(struct worker *w, struct proxy *p, unsigned id, struct ev_loop *loop,
		size_t buffer_size, size_t pipes, struct weir_err *err)
{
	int r;

	/* Everything worker_fini undoes is valid from here on, so failures can just return. */
	memset(w, 0, sizeof(*w));
	w->epfd = -1;
	w->id = id;
	w->p = p;
	w->state = WORKER_RUNNING;
	w->loop = loop;
	reserve_init(&w->spare);
	pthread_mutex_init(&w->mail_lock, NULL);
	pthread_cond_init(&w->mail_cond, NULL);
	ev_init(&w->expiry, expiry_cb);
	ev_timer_init(&w->reap, reap_cb, 0., 0.);
	ev_prepare_init(&w->dispatch, dispatch_cb);
	ev_init(&w->congestion, congestion_cb);
	ev_init(&w->spare_retry, spare_retry_cb);
	ev_init(&w->poll_retry, poll_retry_cb);
	w->spare_retry.repeat = WORKER_SPARE_RETRY;
	ev_async_init(&w->wake, wake_cb);
	ev_async_start(loop, &w->wake);
	ev_prepare_init(&w->before_sleep, before_sleep_cb);
	ev_prepare_start(loop, &w->before_sleep);
	/* Connections' sockets go in an epoll set of the worker's own, which libev watches:
	 * per socket, that costs weir 8 bytes rather than libev's 64. */
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		err_set(err, "cannot create an epoll set: %s", strerror(errno));
		return -errno;
	}
	ev_io_init(&w->polled, polled_cb, w->epfd, EV_READ);
	ev_io_start(loop, &w->polled);
	bufpool_init(&w->bufs, buffer_size, WORKER_SPARE_BUFFERS);
	pipepool_init(&w->pipes, pipes, WORKER_SPARE_PIPES, buffer_size);
	w->relay.pool = &w->bufs;
	w->relay.pipes = &w->pipes;
	w->relay.scratch = malloc(buffer_size);
	if (!w->relay.scratch) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	reserve_lock();
	r = reserve_acquire(&w->spare);
	reserve_unlock();
	if (r < 0)
		err_set(err, "cannot reserve a spare descriptor: %s", strerror(-r));
	return r;
}

/*
 * This worker's waiting clients of `old` go to `g`: each to its frontend and backend of the
 * same names there. One whose frontend or backend `g` no longer has stays where it is.
 */
static void move_waiting(struct worker *w, struct generation *old, struct generation *g)
{
	for (size_t b = 0; b < old->cfg.n_backends; b++) {
		struct pool_local *pl = &old->pools[b].local[w->id];
		long nb = pl->queue.n ? gen_backend_index(g, old->cfg.backends[b].name) : -1;
		struct idle_entry *e, *next;

		if (nb < 0 || g->pools[nb].stats != old->pools[b].stats)
			continue;
		for (e = idle_list_oldest(&pl->queue); e; e = next) {
			struct conn *c = conn_of_queue_entry(e);
			struct frontend *fe = gen_frontend(g, conn_frontend(c)->cfg->name);
			next = e->next;
			if (fe)
				conn_move_waiting(c, fe, &g->pools[nb]);
		}
	}
}

void worker_switch(struct worker *w, struct generation *g, struct listener_watch **watches,
		   struct frontend *const *owners, size_t n_watches, struct listener *const *gone,
		   size_t n_gone)
{
	struct generation *old = w->gen;

	free(w->watches);
	w->watches = watches;
	w->n_watches = n_watches;
	/* The new set first, then the removed ones: their queues go to the frontends the
	 * clients came to, even past the connection limit. */
	for (size_t i = 0; i < n_watches; i++)
		listener_start(watches[i], owners[i], w->held);
	for (size_t i = 0; i < n_gone; i++)
		listener_stop_gently(&gone[i]->watch[w->id]);
	g->local[w->id].older = old;
	w->gen = g;
	w->relay.splice = (enum relay_splice)g->cfg.splice;
	if (old) {
		move_waiting(w, old, g);
		reap_soon(w); /* the old one may have no connection here already */
	}
	worker_rearm_expiry(w);
	worker_kick(w); /* a raised maxconn or weight, or a new server, may serve a waiter */
}

void worker_drain(struct worker *w)
{
	if (w->state != WORKER_RUNNING)
		return;
	w->state = WORKER_DRAINING;
	for (size_t i = 0; i < w->n_watches; i++)
		listener_stop(w->watches[i]);
	w->n_watches = 0;
}

void worker_fini(struct worker *w)
{
	if (!w->loop)
		return;
	worker_drain(w);
	worker_cut_all(w, false);
	worker_finish(w);
	conn_bury(w);
	ev_async_stop(w->loop, &w->wake);
	ev_prepare_stop(w->loop, &w->before_sleep);
	ev_io_stop(w->loop, &w->polled);
	if (w->epfd >= 0)
		close(w->epfd);
	reserve_fini(&w->spare);
	free(w->watches);
	free(w->relay.scratch);
	bufpool_fini(&w->bufs);
	pipepool_fini(&w->pipes);
	pthread_mutex_destroy(&w->mail_lock);
	pthread_cond_destroy(&w->mail_cond);
	memset(w, 0, sizeof(*w));
}
