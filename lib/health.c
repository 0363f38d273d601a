#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
#include "log.h"
#include "reserve.h"
#include "sockopt.h"

#define CHECK_MAGIC 0x63686b21u

enum check_state {
	CHECK_WAITING,	  /* until the next check is due (or, passive and UP, idle) */
	CHECK_CONNECTING, /* connect in flight */
	CHECK_SENDING,	  /* writing health-send */
	CHECK_READING,	  /* reading until health-expect shows up */
};

struct health_check {
	uint32_t magic;
	enum check_state state;
	struct health *h;
	struct server *srv;
	int fd;
	ev_io io;
	ev_timer timer; /* WAITING: next check; otherwise: the check timeout */
	size_t sent, got;
	char *reply; /* HEALTH_REPLY_MAX bytes, only while READING */
};

/*
 * Shared by every thread: `lock` guards what a failure changes on a server (fails, passes,
 * state, changed) and a pool's none_up_logged. Checks run on the control loop only; a
 * worker that takes a server DOWN asks that loop, through `probe`, to start its probes.
 */
static struct {
	pthread_mutex_t lock;
	struct ev_loop *loop; /* the control loop, once attached */
	ev_async probe;
	struct health *running; /* every started health, for the probe scan */
} bus = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool health_local_shortage(int error)
{
	return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM ||
	       error == EADDRNOTAVAIL;
}

/* Only for the running configuration's pool: a connect of an older one's client that fails
 * (on a server a reload or DNS removed, say) says nothing of what new clients get. */
static void note_if_none_up(struct pool *pool)
{
	if (!pool->health || !shared_load(&pool->health->running))
		return;
	for (size_t i = 0; i < pool->n; i++) {
		if (shared_load(&pool->servers[i]->state) == SERVER_UP) {
			pool->none_up_logged = false;
			return;
		}
	}
	if (!pool->none_up_logged)
		log_msg(WLOG_ERROR,
			"backend %s: no server is UP: new clients are closed until one returns",
			pool->cfg ? pool->cfg->name : "?");
	pool->none_up_logged = true;
}

static double interval_of(const struct health *h)
{
	return (double)h->cfg->health_interval_ms / 1e3;
}

static void schedule(struct health_check *c, double delay)
{
	ev_timer_stop(c->h->loop, &c->timer);
	ev_timer_set(&c->timer, delay, 0.);
	ev_timer_start(c->h->loop, &c->timer);
}

/* Passive mode: a DOWN server is probed every interval until a probe passes. */
static void probe_later(struct health_check *c)
{
	if (c && c->h->running && !c->h->active && c->state == CHECK_WAITING &&
	    !ev_is_active(&c->timer))
		schedule(c, interval_of(c->h));
}

/* On the control loop: a worker took servers DOWN; start the probes of those that wait. */
static void probe_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	for (struct health *h = bus.running; h; h = h->next_running)
		for (size_t i = 0; !h->active && i < h->n; i++)
			if (shared_load(&h->checks[i].srv->state) == SERVER_DOWN)
				probe_later(&h->checks[i]);
}

void health_attach(struct ev_loop *loop)
{
	bus.loop = loop;
	ev_async_init(&bus.probe, probe_cb);
	ev_async_start(loop, &bus.probe);
}

void health_detach(void)
{
	if (bus.loop)
		ev_async_stop(bus.loop, &bus.probe);
	bus.loop = NULL;
}

/* Under the lock. True if the server went DOWN and, passive, wants probing. */
static bool note_failure(struct pool *pool, struct server *s, const char *why)
{
	s->passes = 0;
	if (s->fails < pool->fall)
		shared_store(&s->fails, s->fails + 1);
	if (s->state == SERVER_UP && s->fails >= pool->fall) {
		shared_store(&s->state, SERVER_DOWN);
		s->changed = time(NULL);
		char ref[SERVER_REF_MAX];
		log_msg(WLOG_WARN, "server %s is DOWN (%s, %u/%u)",
			pool_server_ref(pool, s, ref, sizeof(ref)), why, s->fails, pool->fall);
		note_if_none_up(pool);
	}
	return s->state == SERVER_DOWN;
}

static void mark_up(struct health *h, struct server *s, const char *how)
{
	char ref[SERVER_REF_MAX];

	pthread_mutex_lock(&bus.lock);
	shared_store(&s->state, SERVER_UP);
	pool_server_ramp(h->pool, s);
	s->changed = time(NULL);
	shared_store(&s->fails, 0);
	s->passes = 0;
	log_msg(WLOG_INFO, "server %s is UP (%s)", pool_server_ref(h->pool, s, ref, sizeof(ref)),
		how);
	note_if_none_up(h->pool);
	pthread_mutex_unlock(&bus.lock);
	if (h->capacity)
		h->capacity(h->ctx);
}

void health_connect_failed(struct pool *pool, struct server *s, const char *why)
{
	bool down;

	pthread_mutex_lock(&bus.lock);
	down = note_failure(pool, s, why);
	pthread_mutex_unlock(&bus.lock);
	/* Probes run on the control loop, which may not be this thread's. */
	if (down && bus.loop)
		ev_async_send(bus.loop, &bus.probe);
	else if (down)
		probe_cb(NULL, NULL, 0); /* no loop to ask: a single-threaded test */
}

void health_renew(struct server *s, const struct server *fresh)
{
	pthread_mutex_lock(&bus.lock);
	shared_store(&s->state, fresh->state);
	shared_store(&s->fails, 0);
	s->passes = fresh->passes;
	s->changed = fresh->changed;
	pthread_mutex_unlock(&bus.lock);
}

void health_connected(struct pool *pool, struct server *s)
{
	if (!pool->active_checks && shared_load(&s->fails))
		shared_store(&s->fails, 0);
}

static double jitter(struct health *h, double base, double spread)
{
	return base + spread * (double)(lb_random_next(&h->rng) >> 11) * 0x1p-53;
}

static void watch(struct health_check *c, int events)
{
	ev_io_stop(c->h->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->h->loop, &c->io);
}

static void check_reset(struct health_check *c)
{
	ev_io_stop(c->h->loop, &c->io);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->reply);
	c->reply = NULL;
	c->state = CHECK_WAITING;
}

/*
 * The check is over: record the result and plan the next one, about an interval (±10%)
 * away. A passive probe that passed has nothing more to do until the server fails again.
 */
static void check_done(struct health_check *c, const char *failure)
{
	struct health *h = c->h;
	struct server *s = c->srv;

	check_reset(c);
	ev_timer_stop(h->loop, &c->timer);
	if (failure) {
		pthread_mutex_lock(&bus.lock);
		(void)note_failure(h->pool, s, failure);
		pthread_mutex_unlock(&bus.lock);
	} else if (!h->active) {
		if (shared_load(&s->state) == SERVER_DOWN)
			mark_up(h, s, "a probe passed");
	} else {
		bool rose;
		pthread_mutex_lock(&bus.lock);
		shared_store(&s->fails, 0);
		rose = s->state == SERVER_DOWN && ++s->passes >= h->pool->rise;
		pthread_mutex_unlock(&bus.lock);
		if (rose) {
			char how[48];
			snprintf(how, sizeof(how), "%u/%u checks passed", s->passes, h->pool->rise);
			mark_up(h, s, how);
		}
	}
	if (h->active || shared_load(&s->state) == SERVER_DOWN)
		schedule(c, jitter(h, interval_of(h) * 0.9, interval_of(h) * 0.2));
}

/* Checks that could not bind a server's source (the control loop's alone). */
static struct log_limit check_source_log;

/* Weir could not check (no descriptor, no local port): try again later, count nothing. */
static void check_postponed(struct health_check *c)
{
	check_reset(c);
	schedule(c, interval_of(c->h));
}

static void check_begin(struct health_check *c)
{
	const struct server *s = c->srv;
	char why[64];
	int r;

	if (!c->h->active && shared_load(&s->state) == SERVER_UP)
		return; /* passive: nothing to probe */
	if (shared_load(&s->admin) == ADMIN_MAINT) {
		schedule(c, interval_of(c->h)); /* in maintenance: not checked, asked again later */
		return;
	}
	c->sent = c->got = 0;
	c->fd = reserve_check(socket(s->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (c->fd < 0) {
		check_postponed(c);
		return;
	}
	/* From the server's source address, as its clients' connections: a server that lets
	 * only that address in must not fail its checks. The port is the kernel's (at connect),
	 * not one of the source's range, which is for clients. */
	if (s->source.len && (r = sockopt_bind_source(c->fd, &s->source, 0)) < 0) {
		/* weir's trouble (an address not the machine's, say), not the server's. */
		char ref[SERVER_REF_MAX];
		log_limited(&check_source_log, WLOG_WARN,
			    "cannot check %s from its source address: %s",
			    pool_server_ref(c->h->pool, s, ref, sizeof(ref)),
			    err_text(-r, why, sizeof(why)));
		check_postponed(c);
		return;
	}
	if (connect(c->fd, (const struct sockaddr *)&s->addr.ss, s->addr.len) < 0 &&
	    errno != EINPROGRESS) {
		if (health_local_shortage(errno))
			check_postponed(c);
		else
			check_done(c, err_text(errno, why, sizeof(why)));
		return;
	}
	c->state = CHECK_CONNECTING;
	watch(c, EV_WRITE);
	schedule(c, (double)c->h->cfg->health_timeout_ms / 1e3);
}

/* After connecting or sending: what the check does next. */
static void check_next_step(struct health_check *c)
{
	const struct backend_cfg *cfg = c->h->cfg;

	if (cfg->health_send && c->sent < strlen(cfg->health_send)) {
		c->state = CHECK_SENDING;
		watch(c, EV_WRITE);
	} else if (cfg->health_expect) {
		c->reply = malloc(HEALTH_REPLY_MAX);
		if (!c->reply) {
			check_postponed(c);
			return;
		}
		c->state = CHECK_READING;
		watch(c, EV_READ);
	} else {
		check_done(c, NULL);
	}
}

static void check_io(struct health_check *c)
{
	const struct backend_cfg *cfg = c->h->cfg;
	char why[64];
	int error = 0;
	socklen_t len = sizeof(error);
	ssize_t n;

	switch (c->state) {
	case CHECK_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
			error = errno;
		if (error) {
			check_done(c, err_text(error, why, sizeof(why)));
			return;
		}
		check_next_step(c);
		return;
	case CHECK_SENDING:
		n = send(c->fd, cfg->health_send + c->sent, strlen(cfg->health_send) - c->sent,
			 MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			check_done(c, err_text(errno, why, sizeof(why)));
			return;
		}
		c->sent += n > 0 ? (size_t)n : 0;
		check_next_step(c);
		return;
	case CHECK_READING:
		n = recv(c->fd, c->reply + c->got, HEALTH_REPLY_MAX - c->got, 0);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				check_done(c, err_text(errno, why, sizeof(why)));
			return;
		}
		c->got += (size_t)n;
		if (memmem(c->reply, c->got, cfg->health_expect, strlen(cfg->health_expect)))
			check_done(c, NULL);
		else if (n == 0)
			check_done(c, "closed before the expected reply");
		else if (c->got == HEALTH_REPLY_MAX)
			check_done(c, "unexpected reply");
		return;
	case CHECK_WAITING:
		break;
	}
	assert(!"health check I/O while waiting");
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct health_check *c = container_of(io, struct health_check, io);

	assert(c->magic == CHECK_MAGIC);
	check_io(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct health_check *c = container_of(t, struct health_check, timer);

	assert(c->magic == CHECK_MAGIC);
	if (c->state == CHECK_WAITING)
		check_begin(c);
	else
		check_done(c, "check timed out");
}

int health_init(struct health *h, struct pool *pool, struct weir_err *err)
{
	memset(h, 0, sizeof(*h));
	h->pool = pool;
	h->cfg = pool->cfg;
	h->active = pool->active_checks;
	h->rng = lb_random_seed();
	h->checks = calloc(pool->n ? pool->n : 1, sizeof(*h->checks));
	if (!h->checks) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	h->n = pool->n;
	for (size_t i = 0; i < h->n; i++) {
		struct health_check *c = &h->checks[i];
		c->magic = CHECK_MAGIC;
		c->state = CHECK_WAITING;
		c->h = h;
		c->fd = -1;
		ev_io_init(&c->io, io_cb, -1, 0);
		ev_init(&c->timer, timer_cb);
	}
	return 0;
}

void health_start(struct health *h, struct ev_loop *loop, void (*capacity)(void *ctx), void *ctx)
{
	h->loop = loop;
	h->capacity = capacity;
	h->ctx = ctx;
	shared_store(&h->running, true); /* read by workers: note_if_none_up */
	for (size_t i = 0; i < h->n; i++) {
		struct health_check *c = &h->checks[i];
		/* The pool's servers as they are now: a reload may have swapped in twins. */
		c->srv = h->pool->servers[i];
		c->srv->check = c;
		/* First checks spread over one interval; passive: only what is DOWN already. */
		if (h->active)
			schedule(c, jitter(h, 0, interval_of(h)));
		else if (shared_load(&c->srv->state) == SERVER_DOWN)
			schedule(c, jitter(h, 0, interval_of(h)));
	}
	h->next_running = bus.running;
	bus.running = h;
}

void health_stop(struct health *h)
{
	for (struct health **p = &bus.running; *p; p = &(*p)->next_running) {
		if (*p == h) {
			*p = h->next_running;
			break;
		}
	}
	for (size_t i = 0; i < h->n; i++) {
		struct health_check *c = &h->checks[i];
		if (h->running) {
			check_reset(c);
			ev_timer_stop(h->loop, &c->timer);
		}
		if (c->srv && c->srv->check == c)
			c->srv->check = NULL;
		c->magic = 0;
	}
	free(h->checks);
	h->checks = NULL;
	h->n = 0;
	shared_store(&h->running, false);
}
