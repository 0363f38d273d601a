#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "worker.h"

/* Free buffers a loop keeps for reuse; more are returned to the allocator. */
#define WORKER_SPARE_BUFFERS 64

const char *worker_accept_error_name(enum accept_error kind)
{
	static const char *const names[] = {"emfile", "enfile", "enobufs", "enomem", "other"};

	return names[kind];
}

uint64_t worker_connection_budget(uint64_t nofile, size_t n_listeners)
{
	uint64_t fixed = WORKER_FD_OVERHEAD + n_listeners;

	return nofile > fixed + 2 ? (nofile - fixed) / 2 : 1;
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

static void expiry_arm(struct worker *w)
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

	/* A close may free a retired generation: find the next one before expiring. */
	for (struct generation *g = w->gen, *next; g; g = next) {
		next = g->older;
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct frontend *fe = &g->frontends[i];
			expire_list(w, &fe->active, fe->cfg->idle_timeout_ms);
			expire_list(w, &fe->lingering, fe->cfg->linger_timeout_ms);
		}
	}
	if (w->state != WORKER_STOPPED)
		expiry_arm(w);
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
		expiry_arm(w);
	if (!w->held && worker_open_conns(w) >= w->max_conns) {
		log_msg(WLOG_WARN, "%zu connections open: not accepting until some close",
			worker_open_conns(w));
		hold_listeners(w, true);
	}
}

void worker_conn_half_closed(struct worker *w)
{
	/* The linger timeout may be shorter than the idle deadline the timer is set for. */
	expiry_arm(w);
}

static void close_all(struct worker *w)
{
	for (struct generation *g = w->gen, *next; g; g = next) {
		next = g->older;
		for (size_t i = 0; i < g->n_frontends; i++) {
			struct frontend *fe = &g->frontends[i];
			struct idle_entry *e;
			while ((e = idle_list_oldest(&fe->lingering)) ||
			       (e = idle_list_oldest(&fe->active)))
				conn_shutdown(conn_of_entry(e));
		}
	}
}

/*
 * Retired generations whose last connection closed are freed from a timer of their own,
 * never from inside a close: the close may be in the middle of a loop over that very
 * generation's frontends (expiry, shutdown).
 */
static void reap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, reap);

	for (struct generation **p = &w->gen->older; *p;) {
		struct generation *g = *p;
		if (g->conns) {
			p = &g->older;
			continue;
		}
		*p = g->older;
		log_msg(WLOG_DEBUG, "the last connection of a retired configuration closed");
		gen_forget(g, w->gen);
		gen_free(g);
	}
}

static void worker_finish(struct worker *w)
{
	w->state = WORKER_STOPPED;
	ev_timer_stop(w->loop, &w->drain);
	ev_timer_stop(w->loop, &w->reap);
	ev_timer_stop(w->loop, &w->expiry);
	ev_break(w->loop, EVBREAK_ALL);
}

void worker_slot_freed(struct worker *w, struct server *s)
{
	/* Every copy of the server (one per configuration since a reload) had the slot. */
	for (; s && w->state != WORKER_STOPPED; s = s->heir) {
		struct idle_entry *waiting = idle_list_oldest(&s->pool->queue);
		if (waiting)
			conn_dequeue(conn_of_queue_entry(waiting));
	}
}

void worker_set_max_conns(struct worker *w, uint64_t max_conns)
{
	w->max_conns = max_conns;
	if (w->state == WORKER_RUNNING && w->held != (worker_open_conns(w) >= max_conns))
		hold_listeners(w, !w->held);
}

void worker_conn_closed(struct worker *w, struct server *freed, struct generation *gen)
{
	w->n_conns--;
	if (freed)
		worker_slot_freed(w, freed);
	if (gen != w->gen && gen->conns == 0 && !ev_is_active(&w->reap))
		ev_timer_start(w->loop, &w->reap);
	if (w->state == WORKER_STOPPED)
		return;
	if (w->state == WORKER_DRAINING && worker_open_conns(w) == 0) {
		log_msg(WLOG_INFO, "drained all %zu connections", w->drain_started_with);
		worker_finish(w);
		return;
	}
	if (w->held && worker_open_conns(w) < w->max_conns && w->state == WORKER_RUNNING) {
		log_msg(WLOG_INFO, "below %llu connections: accepting again",
			(unsigned long long)w->max_conns);
		hold_listeners(w, false);
	}
}

static void drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = container_of(t, struct worker, drain);
	size_t cut = worker_open_conns(w);

	log_msg(WLOG_WARN, "drain timeout: drained %zu connections, cutting %zu",
		w->drain_started_with - cut, cut);
	w->state = WORKER_STOPPED;
	close_all(w);
	worker_finish(w);
}

int worker_init(struct worker *w, struct ev_loop *loop, struct generation *gen, uint64_t max_conns,
		struct weir_err *err)
{
	int r;

	/* Everything worker_fini undoes is valid from here on, so failures can just return. */
	memset(w, 0, sizeof(*w));
	w->state = WORKER_RUNNING;
	w->loop = loop;
	w->gen = gen;
	w->max_conns = max_conns;
	reserve_init(&w->spare);
	ev_init(&w->expiry, expiry_cb);
	ev_init(&w->drain, drain_cb);
	ev_timer_init(&w->reap, reap_cb, 0., 0.);
	bufpool_init(&w->bufs, gen->cfg.buffer_size, WORKER_SPARE_BUFFERS);
	w->relay.pool = &w->bufs;
	w->relay.scratch = malloc(gen->cfg.buffer_size);
	if (!w->relay.scratch) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	r = reserve_acquire(&w->spare);
	if (r < 0)
		err_set(err, "cannot reserve a spare descriptor: %s", strerror(-r));
	return r;
}

static int add_listener(struct worker *w, struct listener *l)
{
	struct listener **grown = realloc(w->listeners, (w->n_listeners + 1) * sizeof(*grown));

	if (!grown) {
		listener_close(l);
		return -ENOMEM;
	}
	w->listeners = grown;
	w->listeners[w->n_listeners++] = l;
	log_msg(WLOG_INFO, "listening on %s (frontend %s)", l->name, l->fe->cfg->name);
	return 0;
}

static int adopt(struct worker *w, struct frontend *fe, struct inherited *in, struct weir_err *err)
{
	struct listener *l;
	int r = listener_adopt(&l, w, in->fd, fe, err);

	in->used = true;
	return r < 0 ? r : add_listener(w, l);
}

/* Listen on every address of `spec`, taking a passed socket bound there if there is one. */
static int worker_listen(struct worker *w, struct frontend *fe, const char *spec,
			 struct inherited *in, size_t n_in, struct weir_err *err)
{
	struct addr *addrs;
	size_t n;
	int r = addr_resolve(spec, ADDR_LISTEN, &addrs, &n, err);

	for (size_t i = 0; i < n && r == 0; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].ss;
		struct listener *l;
		size_t k;

		for (k = 0; k < n_in; k++)
			if (!in[k].used && in[k].len &&
			    notify_same_addr(sa, addrs[i].len, (struct sockaddr *)&in[k].addr,
					     in[k].len))
				break;
		if (k < n_in) {
			r = adopt(w, fe, &in[k], err);
			continue;
		}
		r = listener_open(&l, w, &addrs[i], fe, err);
		if (r == 0)
			r = add_listener(w, l);
	}
	free(addrs);
	return r;
}

int worker_listen_all(struct worker *w, struct inherited *in, size_t n_in, struct weir_err *err)
{
	int r = 0;

	for (size_t i = 0; i < w->gen->n_frontends && r == 0; i++) {
		struct frontend *fe = &w->gen->frontends[i];
		/* A passed socket named after the frontend (FileDescriptorName=) is its own. */
		for (size_t k = 0; k < n_in && r == 0; k++)
			if (!in[k].used && strcmp(in[k].name, fe->cfg->name) == 0)
				r = adopt(w, fe, &in[k], err);
		for (size_t j = 0; j < fe->cfg->n_listens && r == 0; j++)
			r = worker_listen(w, fe, fe->cfg->listens[j], in, n_in, err);
	}
	for (size_t k = 0; k < n_in; k++) {
		if (in[k].used)
			continue;
		log_msg(WLOG_WARN, "passed socket %d%s%s matches no frontend; closing it", in[k].fd,
			in[k].name[0] ? " named " : "", in[k].name);
		close(in[k].fd);
		in[k].used = true;
	}
	return r;
}

/* The listener already bound to `a`, if any, not yet claimed for the next generation. */
static struct listener *bound_at(struct worker *w, const struct addr *a, const bool *claimed)
{
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (claimed[i] ||
		    getsockname(w->listeners[i]->fd, (struct sockaddr *)&ss, &len) < 0)
			continue;
		if (notify_same_addr((const struct sockaddr *)&a->ss, a->len,
				     (struct sockaddr *)&ss, len))
			return w->listeners[i];
	}
	return NULL;
}

int worker_reload(struct worker *w, struct generation *next, struct weir_err *err)
{
	size_t n_old = w->n_listeners, n_new = 0, cap = n_old + 8;
	struct listener **fresh = calloc(cap, sizeof(*fresh));
	struct frontend **owner = calloc(cap, sizeof(*owner)); /* of each entry of fresh */
	bool *claimed = calloc(n_old ? n_old : 1, sizeof(*claimed));
	struct generation *old = w->gen;
	int r = fresh && owner && claimed ? 0 : -ENOMEM;

	if (r < 0)
		err_set(err, "out of memory");
	/* 1. Every address of the next generation: a listener that stays, or a new one. */
	for (size_t f = 0; f < next->n_frontends && r == 0; f++) {
		struct frontend *fe = &next->frontends[f];
		for (size_t j = 0; j < fe->cfg->n_listens && r == 0; j++) {
			struct addr *addrs;
			size_t n;
			r = addr_resolve(fe->cfg->listens[j], ADDR_LISTEN, &addrs, &n, err);
			for (size_t k = 0; k < n && r == 0; k++) {
				struct listener *l = bound_at(w, &addrs[k], claimed);
				if (n_new == cap) {
					cap *= 2;
					struct listener **g1 = realloc(fresh, cap * sizeof(*fresh));
					struct frontend **g2 =
						g1 ? realloc(owner, cap * sizeof(*owner)) : NULL;
					fresh = g1 ? g1 : fresh;
					owner = g2 ? g2 : owner;
					if (!g1 || !g2) {
						err_set(err, "out of memory");
						r = -ENOMEM;
						break;
					}
				}
				if (l) {
					for (size_t i = 0; i < n_old; i++)
						claimed[i] |= w->listeners[i] == l;
				} else {
					r = listener_open(&l, w, &addrs[k], fe, err);
					if (r == 0 && w->held)
						listener_hold(l, true);
				}
				if (r == 0) {
					fresh[n_new] = l;
					owner[n_new++] = fe;
				}
			}
			free(addrs); /* NULL when resolving failed */
		}
	}
	if (r < 0) {
		/* 2a. Undo: close what was opened; the running configuration is untouched. */
		for (size_t i = 0; i < n_new; i++)
			if (fresh[i]->fe->gen != old)
				listener_close(fresh[i]);
		gen_free(next);
		goto out;
	}
	/* 2b. Commit: hand kept listeners over, close the ones no frontend wants any more. */
	for (size_t i = 0; i < n_old; i++) {
		if (!claimed[i]) {
			log_msg(WLOG_INFO, "no longer listening on %s", w->listeners[i]->name);
			listener_close(w->listeners[i]);
		}
	}
	for (size_t i = 0; i < n_new; i++) {
		if (fresh[i]->fe->gen == old)
			log_msg(WLOG_INFO, "still listening on %s (frontend %s)", fresh[i]->name,
				owner[i]->cfg->name);
		else
			log_msg(WLOG_INFO, "listening on %s (frontend %s)", fresh[i]->name,
				owner[i]->cfg->name);
		fresh[i]->fe = owner[i];
	}
	free(w->listeners);
	w->listeners = fresh;
	w->n_listeners = n_new;
	fresh = NULL;
	/* 3. Retire the old generation: no new clients, no checks; freed when it empties. */
	gen_stop_health(old);
	next->older = old;
	w->gen = next;
	if (old->conns == 0)
		ev_timer_start(w->loop, &w->reap);
	expiry_arm(w);
out:
	free(fresh);
	free(owner);
	free(claimed);
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
	w->drain_started_with = worker_open_conns(w);
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
	size_t open = worker_open_conns(w);

	if (w->state == WORKER_DRAINING)
		log_msg(WLOG_WARN, "stopping now: drained %zu connections, cutting %zu",
			w->drain_started_with - open, open);
	w->state = WORKER_STOPPED;
	close_listeners(w);
	close_all(w);
	worker_finish(w);
}

void worker_fini(struct worker *w)
{
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
