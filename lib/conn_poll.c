/*
 * The worker's epoll set of connection sockets: each socket goes in once, edges come out,
 * and conn.c's handlers are called with what a side wanted and got (conn_impl.h, struct
 * side). Per loop.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "conn_impl.h"
#include "worker.h"

/* What the epoll set says of a side: the connection, and bit 0 for the server's. */
static uint64_t tag_of(struct conn *c, const struct side *s)
{
	return (uint64_t)(uintptr_t)c | (s == &c->server);
}

/* Put `s` in the set, or re-arm it there, for `events` (edges): the kernel reports at once
 * what of them holds now, so nothing seen before is left in `ready`. */
static bool side_arm(struct conn *c, struct side *s, uint8_t events)
{
	struct epoll_event ev = {0};

	ev.events = EPOLLET | (events & EV_READ ? EPOLLIN | EPOLLRDHUP | EPOLLPRI : 0u) |
		    (events & EV_WRITE ? EPOLLOUT : 0u);
	ev.data.u64 = tag_of(c, s);
	if (epoll_ctl(c->w->epfd, s->polled ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		/* Only the kernel's memory, or its limit on watched descriptors, runs out. */
		log_limited(&conn_shortage_log, WLOG_WARN, "cannot watch a socket of %s: %s",
			    c->fe->cfg->name, strerror(errno));
		s->want = 0;
		return false;
	}
	s->polled = events;
	s->ready = 0;
	return true;
}

bool conn_side_want(struct conn *c, struct side *s, int events)
{
	uint8_t more = (uint8_t)(events & ~s->polled);

	s->want = (uint8_t)events;
	if (!events || (!more && !(events & s->ready)))
		return true;
	/*
	 * A server's socket goes in for both from the start: writable tells the connect is
	 * over, readable what it sends. A client's is wanted writable only while its
	 * server sends faster than it reads.
	 */
	if (!s->polled && s == &c->server)
		more |= EV_READ | EV_WRITE;
	return side_arm(c, s, s->polled | more);
}

void conn_side_stop(struct conn *c, struct side *s)
{
	s->want = 0; /* stays in the set: an edge that comes meanwhile is kept in `ready` */
}

/* What a handler still wants but left unspent is reported again: re-armed. */
static bool conn_rearm(struct conn *c)
{
	return conn_side_want(c, &c->client, c->client.want) &&
	       conn_side_want(c, &c->server, c->server.want);
}

/* What an epoll report says of a side, in `ready`'s terms. An error or hang-up is news to
 * whoever reads or writes, as in libev; urgent data is read as the rest is. */
static uint8_t ready_of(uint32_t e)
{
	uint8_t r = 0;

	if (e & (EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP))
		r |= EV_READ;
	if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		r |= EV_WRITE;
	if (e & (EPOLLRDHUP | EPOLLHUP))
		r |= SIDE_ENDED;
	if (e & EPOLLPRI)
		r |= SIDE_URGENT;
	return r;
}

/*
 * Whether bytes weir wrote to side `s` are still on their way (in its socket's send queue:
 * a reset would drop them). The end of stream weir passed on to a TCP side counts one there
 * until acknowledged.
 */
static bool in_flight(const struct side *s)
{
	int n = 0;

	return s->fd >= 0 && ioctl(s->fd, SIOCOUTQ, &n) == 0 && n > (s->is_unix ? 0 : 1);
}

/* Free what closed since the last time: nothing of this batch names it any more. */
void conn_bury(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;
		w->dead = c->next_dead;
		free(c);
	}
}

void conn_poll(struct worker *w)
{
	struct epoll_event evs[CONN_EVENTS];
	int n = epoll_wait(w->epfd, evs, CONN_EVENTS, 0);

	/*
	 * Clients first: bytes a client sent while its server's connect completed are then in
	 * hand when the connect's outcome is taken, and go with the send that tells it.
	 */
	for (int i = 0; i < 2 * n; i++) {
		uint64_t tag = evs[i % n].data.u64;
		struct conn *c = (struct conn *)(uintptr_t)(tag & ~(uint64_t)1);
		bool server = tag & 1;
		struct side *s = server ? &c->server : &c->client;
		uint32_t e = evs[i % n].events;
		int got;

		if (server != (i >= n))
			continue; /* client events in the first pass, server ones in the second */
		if (c->magic != CONN_MAGIC)
			continue; /* closed by an earlier event of this batch */
		/* Urgent data is as the latest report says: it is gone once read past. */
		s->ready = (uint8_t)((s->ready & ~SIDE_URGENT) | ready_of(e));
		got = s->ready & s->want;
		if (!got && (e & EPOLLERR) && c->state == CONN_RELAYING &&
		    relay_done(server ? &c->down : &c->up) &&
		    !in_flight(server ? &c->client : &c->server)) {
			/* A reset from a side that ended its stream and that nothing is written to
			 * now: no read or write would ever see it, and the other side may stay
			 * silent until the linger timeout. Not while the other side has yet to get
			 * what this one sent before its end, which a reset would throw away: a
			 * later read or write, or the linger timeout, sees the reset then. */
			conn_close(c, server ? END_SERVER_RESET : END_CLIENT_RESET);
			continue;
		}
		if (!got)
			continue; /* kept in `ready` for when it is wanted */
		if (server)
			conn_server_ready(c, got);
		else
			conn_client_ready(c, got);
		if (c->magic == CONN_MAGIC && !conn_rearm(c))
			conn_close(c, END_LOCAL_ERROR);
	}
	conn_bury(w);
}
