#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"

#define CHECK_MAGIC 0x63686b21u
/* Bytes of a reply searched for the expected string. */
#define CHECK_REPLY_MAX 1024

enum check_state {
	CHECK_WAITING,	  /* until the next check is due */
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
	char reply[CHECK_REPLY_MAX];
};

static double jitter(struct health *h, double base, double spread)
{
	h->rng ^= h->rng >> 12;
	h->rng ^= h->rng << 25;
	h->rng ^= h->rng >> 27;
	return base + spread * (double)((h->rng * 0x2545f4914f6cdd1dULL) >> 11) * 0x1p-53;
}

static void schedule(struct health_check *c, double delay)
{
	ev_timer_stop(c->h->loop, &c->timer);
	ev_timer_set(&c->timer, delay, 0.);
	ev_timer_start(c->h->loop, &c->timer);
}

static void watch(struct health_check *c, int events)
{
	ev_io_stop(c->h->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->h->loop, &c->io);
}

/* The check is over: record the result, wait about an interval (±10%) for the next one. */
static void check_done(struct health_check *c, const char *failure)
{
	struct health *h = c->h;
	double interval = (double)h->cfg->health_interval_ms / 1e3;

	ev_io_stop(h->loop, &c->io);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CHECK_WAITING;
	if (failure)
		pool_note_failure(h->pool, c->srv, failure, clock_mono());
	else
		pool_note_check_passed(h->pool, c->srv);
	schedule(c, jitter(h, interval * 0.9, interval * 0.2));
}

static void check_begin(struct health_check *c)
{
	const struct server *s = c->srv;
	char why[64];

	c->sent = c->got = 0;
	c->fd = socket(s->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		/* Our own shortage, not the server's fault: try again later. */
		schedule(c, (double)c->h->cfg->health_interval_ms / 1e3);
		return;
	}
	if (connect(c->fd, (const struct sockaddr *)&s->addr.ss, s->addr.len) < 0 &&
	    errno != EINPROGRESS) {
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
		n = recv(c->fd, c->reply + c->got, sizeof(c->reply) - c->got, 0);
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
		else if (c->got == sizeof(c->reply))
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

int health_start(struct health *h, struct ev_loop *loop, struct pool *pool, struct weir_err *err)
{
	double interval = (double)pool->cfg->health_interval_ms / 1e3;

	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->pool = pool;
	h->cfg = pool->cfg;
	h->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(ev_time() * 1e6);
	if (h->rng == 0)
		h->rng = 1;
	h->checks = calloc(pool->n, sizeof(*h->checks));
	if (!h->checks && pool->n) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	h->n = pool->n;
	pool->active_checks = true;
	for (size_t i = 0; i < h->n; i++) {
		struct health_check *c = &h->checks[i];
		c->magic = CHECK_MAGIC;
		c->state = CHECK_WAITING;
		c->h = h;
		c->srv = &pool->servers[i];
		c->fd = -1;
		ev_io_init(&c->io, io_cb, -1, 0);
		ev_init(&c->timer, timer_cb);
		/* The first checks are spread over one interval, not fired together. */
		schedule(c, jitter(h, 0, interval));
	}
	return 0;
}

void health_stop(struct health *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct health_check *c = &h->checks[i];
		ev_io_stop(h->loop, &c->io);
		ev_timer_stop(h->loop, &c->timer);
		if (c->fd >= 0)
			close(c->fd);
		c->magic = 0;
	}
	free(h->checks);
	h->checks = NULL;
	h->n = 0;
}
