#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"

unsigned proxy_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

uint64_t proxy_connection_budget(uint64_t nofile, size_t fixed)
{
	return nofile > fixed + 2 ? (nofile - fixed) / 2 : 1;
}

uint64_t proxy_connection_limit(const struct proxy *p, const struct generation *g)
{
	size_t fixed = PROXY_FD_OVERHEAD + p->n_workers * WORKER_FD_OVERHEAD + p->fixed_fds;
	size_t checks = gen_count_servers(g);
	uint64_t budget;

	/* Splicing workers hold up to p->pipes pipes each. */
	if (g->cfg.splice)
		fixed += (size_t)p->n_workers * p->pipes * 2;
	/* A TCP address is a socket per worker; a unix one is shared (counted as if not). */
	for (size_t i = 0; i < g->n_frontends; i++)
		fixed += g->frontends[i].n_addrs * p->n_workers;
	/*
	 * A check (or, without checks, a probe of a DOWN server) holds a descriptor while it
	 * runs. Checks are spread over the interval, so only a part of them run at once: with
	 * tens of thousands of servers, an eighth of the limit is set aside for them.
	 */
	fixed += checks < p->nofile / 8 ? checks : p->nofile / 8;
	budget = proxy_connection_budget(p->nofile, fixed);
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

static bool stopped(const struct proxy *p)
{
	return shared_load(&p->state) == PROXY_STOPPED;
}

/* The limit no longer holds anyone back: every worker that stopped accepting resumes. */
static void limit_lifted(struct proxy *p)
{
	if (!__atomic_exchange_n(&p->at_limit, 0, __ATOMIC_SEQ_CST) || stopped(p))
		return;
	log_msg(WLOG_INFO, "below %llu connections: accepting again",
		(unsigned long long)shared_load(&p->max_conns));
	for (unsigned i = 0; i < p->n_workers; i++)
		worker_wake(&p->workers[i], WAKE_RESUME);
}

void proxy_set_max_conns(struct proxy *p, uint64_t max_conns)
{
	shared_store(&p->max_conns, max_conns);
	if (__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST) < max_conns)
		limit_lifted(p);
}

bool proxy_conn_reserve(struct proxy *p)
{
	uint64_t n = __atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST);
	uint64_t max = shared_load(&p->max_conns);

	do {
		if (n >= max)
			return false;
	} while (!__atomic_compare_exchange_n(&p->n_conns, &n, n + 1, true, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return true;
}

void proxy_conn_force(struct proxy *p)
{
	__atomic_add_fetch(&p->n_conns, 1, __ATOMIC_SEQ_CST);
}

void proxy_conn_release(struct proxy *p)
{
	uint64_t n = __atomic_sub_fetch(&p->n_conns, 1, __ATOMIC_SEQ_CST);

	/*
	 * Against proxy_limit_reached: a worker sets at_limit and then looks at n_conns, this
	 * lowers n_conns and then looks at at_limit, both sequentially consistent, so at least
	 * one of the two sees the other and the worker is not left waiting.
	 */
	if (n < shared_load(&p->max_conns) && __atomic_load_n(&p->at_limit, __ATOMIC_SEQ_CST))
		limit_lifted(p);
	if (n == 0 && shared_load(&p->state) == PROXY_DRAINING)
		proxy_wake(p, PROXY_WAKE_DRAINED);
}

void proxy_limit_reached(struct proxy *p)
{
	if (!__atomic_exchange_n(&p->at_limit, 1, __ATOMIC_SEQ_CST))
		log_msg(WLOG_WARN, "%llu connections open: not accepting until some close",
			(unsigned long long)__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST));
	if (__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST) < shared_load(&p->max_conns))
		limit_lifted(p);
}

void proxy_kick_all(struct proxy *p)
{
	if (stopped(p))
		return;
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct worker *w = &p->workers[i];
		if (!w->threaded)
			worker_kick(w); /* this thread's own loop */
		else if (shared_load(&w->n_queued))
			worker_wake(w, WAKE_KICK);
	}
}

void proxy_kick_waiting(struct proxy *p, const struct worker *from)
{
	if (stopped(p))
		return;
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct worker *w = &p->workers[i];
		if (w != from && shared_load(&w->n_queued))
			worker_wake(w, WAKE_KICK);
	}
}

void proxy_wake(struct proxy *p, unsigned bits)
{
	__atomic_fetch_or(&p->wake_bits, bits, __ATOMIC_ACQ_REL);
	ev_async_send(p->loop, &p->wake);
}

uint64_t proxy_sum(const struct proxy *p, size_t offset)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < p->n_workers; i++)
		sum += shared_load((const uint64_t *)((const char *)&p->workers[i] + offset));
	return sum;
}

/* ---- calls on every worker's loop ----------------------------------------------------- */

void proxy_each(struct proxy *p, void (*fn)(struct worker *w, void *arg), void *arg)
{
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct worker *w = &p->workers[i];
		if (!w->threaded)
			continue;
		pthread_mutex_lock(&w->mail_lock);
		w->mail_fn = fn;
		w->mail_arg = arg;
		w->mail_done = false;
		pthread_mutex_unlock(&w->mail_lock);
		worker_wake(w, WAKE_MAIL);
	}
	/* This thread's own worker (and any whose thread is not running) meanwhile. */
	for (unsigned i = 0; i < p->n_workers; i++)
		if (!p->workers[i].threaded)
			fn(&p->workers[i], arg);
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct worker *w = &p->workers[i];
		if (!w->threaded)
			continue;
		pthread_mutex_lock(&w->mail_lock);
		while (!w->mail_done)
			pthread_cond_wait(&w->mail_cond, &w->mail_lock);
		pthread_mutex_unlock(&w->mail_lock);
	}
}

/* ---- the control loop ----------------------------------------------------------------- */

/* Free the retired generations no worker and no stats answer uses any more. */
static void reap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct proxy *p = container_of(t, struct proxy, reap);

	if (!p->gen)
		return;
	for (struct generation **gp = &p->gen->older; *gp;) {
		struct generation *g = *gp;
		if (__atomic_load_n(&g->workers_in, __ATOMIC_ACQUIRE) || g->holds) {
			gp = &g->older;
			continue;
		}
		*gp = g->older;
		log_msg(WLOG_DEBUG, "the last connection of a retired configuration closed");
		gen_free(g);
	}
}

static void close_listeners(struct proxy *p)
{
	for (size_t i = 0; i < p->n_listeners; i++)
		listener_close(p->listeners[i]);
	p->n_listeners = 0;
}

static void finish_one(struct worker *w, void *arg)
{
	worker_finish(w);
}

/* Every worker leaves its loop, and so does the control loop. */
static void finish(struct proxy *p)
{
	shared_store(&p->state, PROXY_STOPPED);
	ev_timer_stop(p->loop, &p->drain);
	proxy_each(p, finish_one, NULL);
	ev_break(p->loop, EVBREAK_ALL);
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct proxy *p = container_of(a, struct proxy, wake);
	unsigned bits = __atomic_exchange_n(&p->wake_bits, 0, __ATOMIC_ACQ_REL);

	if ((bits & PROXY_WAKE_REAP) && !ev_is_active(&p->reap))
		ev_timer_start(loop, &p->reap);
	if ((bits & PROXY_WAKE_DRAINED) && p->state == PROXY_DRAINING &&
	    __atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST) == 0) {
		log_msg(WLOG_INFO, "drained all %zu connections", p->drain_started_with);
		finish(p);
	}
}

static void drain_one(struct worker *w, void *arg)
{
	worker_drain(w);
}

static void cut_at_deadline(struct worker *w, void *arg)
{
	worker_cut_all(w, true);
}

static void stop_one(struct worker *w, void *arg)
{
	worker_drain(w);
	worker_cut_all(w, false);
}

static void drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct proxy *p = container_of(t, struct proxy, drain);
	size_t cut = (size_t)__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST);

	log_msg(WLOG_WARN, "drain timeout: drained %zu connections, cutting %zu",
		p->drain_started_with - cut, cut);
	shared_store(&p->state, PROXY_STOPPED);
	proxy_each(p, cut_at_deadline, NULL);
	finish(p);
}

void proxy_drain(struct proxy *p)
{
	if (p->state != PROXY_RUNNING)
		return;
	shared_store(&p->state, PROXY_DRAINING);
	proxy_each(p, drain_one, NULL);
	close_listeners(p);
	p->drain_started_with = (size_t)__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST);
	if (p->drain_started_with == 0) {
		finish(p);
		return;
	}
	log_msg(WLOG_INFO, "draining %zu connections for up to %.3gs", p->drain_started_with,
		(double)p->gen->cfg.drain_timeout_ms / 1e3);
	ev_timer_set(&p->drain, (double)p->gen->cfg.drain_timeout_ms / 1e3, 0.);
	ev_timer_start(p->loop, &p->drain);
}

void proxy_stop(struct proxy *p)
{
	size_t open = (size_t)__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST);

	if (p->state == PROXY_STOPPED)
		return;
	if (p->state == PROXY_DRAINING)
		log_msg(WLOG_WARN, "stopping now: drained %zu connections, cutting %zu",
			p->drain_started_with - open, open);
	shared_store(&p->state, PROXY_STOPPED);
	proxy_each(p, stop_one, NULL);
	close_listeners(p);
	finish(p);
}

/* ---- start and end -------------------------------------------------------------------- */

int proxy_init(struct proxy *p, struct ev_loop *loop, unsigned n_workers, unsigned loop_flags,
	       uint64_t nofile, size_t fixed_fds, size_t buffer_size, struct weir_err *err)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->nofile = nofile;
	p->fixed_fds = fixed_fds;
	p->max_conns = UINT64_MAX;
	p->state = PROXY_RUNNING;
	/* Pipes take at most an eighth of the descriptors, the rest being for connections. */
	p->pipes = nofile / 16 / (n_workers ? n_workers : 1);
	p->pipes = p->pipes < WORKER_PIPES_MAX ? p->pipes : WORKER_PIPES_MAX;
	ev_init(&p->drain, drain_cb);
	ev_timer_init(&p->reap, reap_cb, 0., 0.);
	ev_async_init(&p->wake, wake_cb);
	ev_async_start(loop, &p->wake);
	health_attach(loop);
	p->workers = calloc(n_workers, sizeof(*p->workers));
	if (!p->workers) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n_workers; i++) {
		struct ev_loop *own = i ? ev_loop_new(loop_flags) : loop;
		int r;
		if (!own) {
			err_set(err, "cannot start the event loop of worker %u", i);
			return -ENOMEM;
		}
		p->n_workers++;
		r = worker_init(&p->workers[i], p, i, own, buffer_size, p->pipes, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;

	log_defer(true);
	ev_run(w->loop, 0);
	return NULL;
}

int proxy_start(struct proxy *p, struct weir_err *err)
{
	sigset_t all, old;
	int e = 0;

	/* Threads take no signals: they stay with the control loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 1; i < p->n_workers && e == 0; i++) {
		struct worker *w = &p->workers[i];
		e = pthread_create(&w->thread, NULL, run_worker, w);
		if (e == 0)
			w->threaded = true;
		else
			err_set(err, "cannot start worker %u: %s", i, strerror(e));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e == 0) {
		log_defer(true); /* this thread's loop flushes too */
		return 0;
	}
	/* The ones that did start wait in their loops: they leave them as at a stop. */
	proxy_each(p, finish_one, NULL);
	for (unsigned i = 1; i < p->n_workers; i++) {
		if (p->workers[i].threaded)
			pthread_join(p->workers[i].thread, NULL);
		p->workers[i].threaded = false;
	}
	return -e;
}

void proxy_fini(struct proxy *p)
{
	if (!p->workers) {
		health_detach();
		ev_async_stop(p->loop, &p->wake);
		return;
	}
	shared_store(&p->state, PROXY_STOPPED);
	for (unsigned i = 1; i < p->n_workers; i++)
		if (p->workers[i].threaded)
			pthread_join(p->workers[i].thread, NULL);
	for (unsigned i = 0; i < p->n_workers; i++) {
		struct ev_loop *own = p->workers[i].loop != p->loop ? p->workers[i].loop : NULL;
		worker_fini(&p->workers[i]);
		p->workers[i].loop = own; /* destroyed last: the listeners still name it */
	}
	close_listeners(p);
	free(p->listeners);
	while (p->gen) {
		struct generation *older = p->gen->older;
		gen_free(p->gen);
		p->gen = older;
	}
	for (unsigned i = 0; i < p->n_workers; i++)
		if (p->workers[i].loop)
			ev_loop_destroy(p->workers[i].loop);
	free(p->workers);
	ev_timer_stop(p->loop, &p->drain);
	ev_timer_stop(p->loop, &p->reap);
	ev_async_stop(p->loop, &p->wake);
	health_detach();
	memset(p, 0, sizeof(*p));
}
