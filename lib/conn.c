/*
 * One proxied connection from accept to close: connecting to a server (with retries, or
 * waiting in conn_queue.c), relaying both ways, and the close that is logged. Per loop.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn_impl.h"
#include "health.h"
#include "proxy.h"
#include "reserve.h"
#include "sockopt.h"
#include "worker.h"

/* A unix server's backlog was full: its waiting clients try again after this long. */
#define CONN_CONGESTION_DELAY 0.02
/* How often a client looks for a free server when a slot keeps freeing under its pick. */
#define CONN_LOOKS 4

static const char *const end_names[] = {
	[END_CLIENT_CLOSED] = "client-closed",
	[END_SERVER_CLOSED] = "server-closed",
	[END_CLIENT_RESET] = "client-reset",
	[END_SERVER_RESET] = "server-reset",
	[END_CLIENT_ABORT] = "client-aborted",
	[END_CONNECT_FAILED] = "connect-failed",
	[END_CONNECT_TIMEOUT] = "connect-timeout",
	[END_NO_SERVER] = "no-server",
	[END_QUEUE_TIMEOUT] = "queue-timeout",
	[END_IDLE] = "idle",
	[END_LINGER] = "linger",
	[END_LOCAL_ERROR] = "local-error",
	[END_DRAIN_TIMEOUT] = "drain-timeout",
	[END_SHUTDOWN] = "shutdown",
	[END_DENIED] = "denied",
	[END_LIMITED] = "source-limit",
	[END_BAD_HEADER] = "bad-header",
	[END_HEADER_TIMEOUT] = "header-timeout",
};

struct log_limit conn_shortage_log;

const char *conn_end_name(unsigned end)
{
	return end < END_COUNT ? end_names[end] : NULL;
}

struct conn *conn_of_entry(struct idle_entry *e)
{
	struct conn *c = container_of(e, struct conn, activity);

	assert(c->magic == CONN_MAGIC);
	return c;
}

struct idle_list *conn_activity_list(struct conn *c)
{
	struct fe_local *fl = &c->fe->local[c->w->id];

	return c->eof_seen ? &fl->lingering : &fl->active;
}

/* Watch each socket for exactly what its relays want now; false if it cannot be watched. */
static bool conn_update_watchers(struct conn *c)
{
	return conn_side_want(c, &c->client,
			      (relay_wants_read(&c->up) ? EV_READ : 0) |
				      (relay_wants_write(&c->down) ? EV_WRITE : 0)) &&
	       conn_side_want(c, &c->server,
			      (relay_wants_read(&c->down) ? EV_READ : 0) |
				      (relay_wants_write(&c->up) ? EV_WRITE : 0));
}

/* ---- closing --------------------------------------------------------------------------- */

/* Close with SO_LINGER 0 so the peer sees a reset rather than an orderly end. */
static void close_with_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Closing the socket takes it out of the epoll set too. */
static void close_side(struct side *s, bool reset)
{
	s->want = s->polled = s->ready = 0;
	if (s->fd < 0)
		return;
	if (reset)
		close_with_reset(s->fd);
	else
		close(s->fd);
	s->fd = -1;
}

/* `srv`: the server it used, or the one whose connect failed last; NULL for none. */
static void log_close(struct conn *c, enum conn_end end, const struct server *srv, uint64_t up,
		      uint64_t down)
{
	bool relayed = c->state == CONN_RELAYING;
	char client[ADDR_TEXT_MAX];

	if (!log_enabled(WLOG_INFO))
		return;
	if (c->peer.sa.sa_family == AF_UNIX)
		strcpy(client, "unix");
	else
		addr_format(&c->peer.sa, c->peer_len, client, sizeof(client));
	/* The backend is known once the client's preface (if any) has chosen it. */
	bool chosen = c->state != CONN_HEADER && c->state != CONN_HELLO;
	log_msg(WLOG_INFO,
		"closed client=%s frontend=%s backend=%s server=%s server_name=%s end=%s "
		"connect_ms=%.1f duration_ms=%.0f to_server=%llu to_client=%llu client_paused=%u "
		"server_paused=%u attempts=%u",
		client, c->fe->cfg->name, chosen ? c->pool->cfg->name : "-", srv ? srv->name : "-",
		srv ? pool_server_name(srv) : "-", end_names[end],
		relayed ? (double)c->connect_ms : -1.0, (clock_mono() - c->t_start) * 1e3,
		(unsigned long long)up, (unsigned long long)down, relayed ? c->up.pauses : 0,
		relayed ? c->down.pauses : 0, c->n_tried);
}

/* Give up a slot held on `s`: a waiting client, of any worker, may take it. */
static void release_slot(struct conn *c, struct server *s)
{
	pool_server_release(s);
	worker_slot_freed(c->w, c->pool);
}

/* The waiting part, once the connection relays or closes. */
static void free_wait(struct conn *c)
{
	struct conn_wait *wt = c->wait;

	ev_timer_stop(c->w->loop, &wt->timer);
	if (c->state == CONN_QUEUED)
		conn_leave_queue(c);
	free(wt->pre);
	free(wt);
	c->wait = NULL;
}

/* A client refused before anything was relayed: reset, counted, logged at most once a second. */
static bool refused(enum conn_end end)
{
	return end == END_DENIED || end == END_LIMITED || end == END_BAD_HEADER ||
	       end == END_HEADER_TIMEOUT;
}

/*
 * Whether the peer is told the stream ended (FIN) or was cut (reset). A side that failed or
 * a stream weir cuts short (a timeout, a stop, its own shortage) is a reset to the other
 * side; only a clean end passes on as a clean end.
 */
static bool weir_cut(enum conn_end end)
{
	return end == END_IDLE || end == END_LINGER || end == END_DRAIN_TIMEOUT ||
	       end == END_SHUTDOWN || end == END_LOCAL_ERROR || refused(end);
}

/*
 * Tear the connection down. It is freed once no event of the batch being handled can name it
 * (conn_bury); the caller must not touch it afterwards.
 */
void conn_close(struct conn *c, enum conn_end end)
{
	struct worker *w = c->w;
	struct generation *gen = c->fe->gen;
	struct frontend_stats *st = c->fe->stats;
	struct server *shown = c->srv;
	uint64_t up = 0, down = 0;

	assert(c->magic == CONN_MAGIC);
	close_side(&c->server, end == END_CLIENT_RESET || weir_cut(end));
	close_side(&c->client, end == END_SERVER_RESET || weir_cut(end));
	if (c->state == CONN_RELAYING) {
		relay_release(&c->up, &w->relay);
		relay_release(&c->down, &w->relay);
		up = c->up.bytes - c->header_sent;
		down = c->down.bytes;
	} else {
		if (end == END_CONNECT_FAILED || end == END_CONNECT_TIMEOUT)
			shown = c->wait->failed;
		free_wait(c);
	}
	if (c->source) {
		pthread_mutex_lock(&st->lock);
		source_release(c->source);
		pthread_mutex_unlock(&st->lock);
	}
	counter_add(&w->closed[end], 1);
	shared_add(&st->bytes_to_server, up);
	shared_add(&st->bytes_to_client, down);
	shared_sub(&st->open, 1);
	if (c->srv) {
		shared_add(&c->srv->bytes_to_server, up);
		shared_add(&c->srv->bytes_to_client, down);
		release_slot(c, c->srv);
	}
	idle_list_remove(conn_activity_list(c), &c->activity);
	gen->local[w->id].conns--;
	worker_conn_closed(w, gen);
	/* After every count, so whoever reads the line sees them; before next_dead, which
	 * overwrites the relays the line reads, and before the last release, after which a
	 * drained proxy may stop. Denied and limited clients could flood the log: see refuse(). */
	if (end != END_DENIED && end != END_LIMITED)
		log_close(c, end, shown, up, down);
	c->magic = CONN_DEAD;
	c->next_dead = w->dead;
	w->dead = c;
	proxy_conn_release(w->p);
}

struct server *conn_server(const struct conn *c)
{
	return c->srv;
}

struct frontend *conn_frontend(const struct conn *c)
{
	return c->fe;
}

void conn_describe(const struct conn *c, char *buf, size_t len)
{
	static const char *const states[] = {[CONN_HEADER] = "header",
					     [CONN_HELLO] = "hello",
					     [CONN_QUEUED] = "queued",
					     [CONN_CONNECTING] = "connecting",
					     [CONN_RELAYING] = "relaying"};
	bool relaying = c->state == CONN_RELAYING;
	char client[ADDR_TEXT_MAX];

	if (c->peer.sa.sa_family == AF_UNIX)
		strcpy(client, "unix");
	else
		addr_format(&c->peer.sa, c->peer_len, client, sizeof(client));
	snprintf(buf, len, "%s %s %s%s%s %s%s %.0f %llu %llu", c->fe->cfg->name, client,
		 c->srv ? c->pool->cfg->name : "-", c->srv ? "/" : "", c->srv ? c->srv->label : "",
		 states[c->state], c->eof_seen ? "+half-closed" : "",
		 (clock_mono() - c->t_start) * 1e3,
		 (unsigned long long)(relaying ? c->up.bytes - c->header_sent : 0),
		 (unsigned long long)(relaying ? c->down.bytes : 0));
}

void conn_cut(struct conn *c, bool drain_deadline)
{
	conn_close(c, drain_deadline ? END_DRAIN_TIMEOUT : END_SHUTDOWN);
}

void conn_expire(struct conn *c)
{
	conn_close(c, c->eof_seen ? END_LINGER : END_IDLE);
}

/* ---- relaying -------------------------------------------------------------------------- */

/* Something happened on the socket of one side; `out` reads from it, `in` writes to it. */
static void conn_side_ready(struct conn *c, bool client_side, int revents)
{
	struct relay *out = client_side ? &c->up : &c->down;
	struct relay *in = client_side ? &c->down : &c->up;
	int this = client_side ? c->client.fd : c->server.fd;
	int other = client_side ? c->server.fd : c->client.fd;
	enum relay_fault f = RELAY_FAULT_NONE;
	bool out_was_done = relay_done(out);
	bool this_side_failed = false;
	struct side *this_side = client_side ? &c->client : &c->server;
	struct side *other_side = client_side ? &c->server : &c->client;
	struct relay_ctx *ctx = &c->w->relay;

	if ((revents & EV_WRITE) && relay_wants_write(in)) {
		f = relay_on_writable(in, this, ctx);
		this_side_failed = f != RELAY_FAULT_NONE;
		if (ctx->dst_full)
			this_side->ready &= (uint8_t)~EV_WRITE;
	}
	if (f == RELAY_FAULT_NONE && (revents & EV_READ) && relay_wants_read(out)) {
		out->eof_closes = relay_done(in);
		ctx->src_stops_short = side_stops_short(this_side);
		ctx->src_urgent = this_side->ready & SIDE_URGENT;
		f = relay_on_readable(out, this, other, ctx);
		this_side_failed = f == RELAY_FAULT_SRC;
		if (ctx->src_dry)
			this_side->ready &= (uint8_t)~EV_READ;
		if (ctx->dst_full)
			other_side->ready &= (uint8_t)~EV_WRITE;
	}
	if (f == RELAY_FAULT_LOCAL) {
		/* Bytes were lost: neither side may take the stream for complete. */
		log_limited(&conn_shortage_log, WLOG_WARN,
			    "out of memory relaying for %s: resetting both sides",
			    c->fe->cfg->name);
		conn_close(c, END_LOCAL_ERROR);
		return;
	}
	if (f != RELAY_FAULT_NONE) {
		bool client_failed = this_side_failed == client_side;
		conn_close(c, client_failed ? END_CLIENT_RESET : END_SERVER_RESET);
		return;
	}
	if (!out_was_done && relay_done(out) && !c->eof_seen) {
		/* Half-closed from now on: the linger timeout applies instead of the idle one. */
		idle_list_remove(&c->fe->local[c->w->id].active, &c->activity);
		c->eof_seen = true;
		c->first_eof = client_side ? END_CLIENT_CLOSED : END_SERVER_CLOSED;
		idle_list_push(&c->fe->local[c->w->id].lingering, &c->activity, clock_mono());
		worker_conn_half_closed(c->w);
	} else {
		idle_list_touch(conn_activity_list(c), &c->activity, clock_mono());
	}
	if (relay_done(&c->up) && relay_done(&c->down)) {
		conn_close(c, c->first_eof);
		return;
	}
	if (!conn_update_watchers(c))
		conn_close(c, END_LOCAL_ERROR);
}

/* ---- connecting ------------------------------------------------------------------------ */

/*
 * What the server gets before the client's next byte: a PROXY header naming the client (its
 * length in *header), if the server wants one, then what was read of the client ahead of the
 * connect. NULL when there is nothing; -1 in *len when out of memory. The waiting part keeps
 * its copy: it is still needed if this connect fails and another server is tried.
 */
static char *prefill(struct conn *c, uint32_t *len, uint32_t *header)
{
	struct conn_wait *wt = c->wait;
	unsigned version = shared_load(&c->srv->send_proxy);
	char *buf;
	size_t n = 0;

	*len = *header = 0;
	if (!version && !wt->pre_len)
		return NULL;
	buf = malloc(PROXYPROTO_MAX + wt->pre_len);
	if (!buf) {
		*len = (uint32_t)-1;
		return NULL;
	}
	if (version) {
		if (!wt->dst.sa.sa_family) {
			wt->dst_len = sizeof(wt->dst);
			if (getsockname(c->client.fd, &wt->dst.sa, &wt->dst_len) < 0)
				wt->dst_len = 0;
		}
		n = proxyproto_build((int)version, &c->peer.sa, c->peer_len, &wt->dst.sa,
				     wt->dst_len, buf, PROXYPROTO_MAX);
		*header = (uint32_t)n;
	}
	if (wt->pre_len)
		memcpy(buf + n, wt->pre, wt->pre_len);
	*len = (uint32_t)n + wt->pre_len;
	return buf;
}

static void conn_connect_failed(struct conn *c, int error, enum conn_end why);

/*
 * The server's socket turned writable while connecting: the connect is over, one way or the
 * other. What goes to the server first is sent at once, and its outcome is the connect's
 * (a refused connect fails the send with the connect's error), so no system call is spent
 * asking the socket; with nothing to send, the socket is asked (SO_ERROR).
 */
static void conn_connect_done(struct conn *c)
{
	uint32_t len, header;
	char *first = prefill(c, &len, &header);
	socklen_t elen = sizeof(int);
	ssize_t sent = 0;
	int error = 0;
	bool full = false; /* the server's socket took less than offered */

	if (len == (uint32_t)-1) {
		log_limited(&conn_shortage_log, WLOG_WARN,
			    "out of memory relaying for %s: resetting", c->fe->cfg->name);
		conn_close(c, END_LOCAL_ERROR);
		return;
	}
	if (first) {
		sent = send(c->server.fd, first, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		full = sent >= 0 ? (uint32_t)sent < len : errno == EAGAIN || errno == EWOULDBLOCK;
		if (sent < 0 && (full || errno == EINTR))
			sent = 0; /* cannot tell: ask */
		else if (sent < 0)
			error = errno;
	}
	if (!error && sent == 0 &&
	    getsockopt(c->server.fd, SOL_SOCKET, SO_ERROR, &error, &elen) < 0)
		error = errno;
	if (error) {
		free(first);
		conn_connect_failed(c, error, END_CONNECT_FAILED);
		return;
	}
	health_connected(c->pool, c->srv);
	free_wait(c); /* the relays take its place */
	c->state = CONN_RELAYING;
	c->connect_ms = (float)((clock_mono() - c->t_start) * 1e3);
	relay_init(&c->up);
	relay_init(&c->down);
	c->header_sent = (uint16_t)header;
	c->up.bytes = (uint64_t)sent;
	if (first && (uint32_t)sent < len) {
		relay_prefill(&c->up, first, (uint32_t)sent, len);
		if (full)
			c->server.ready &= (uint8_t)~EV_WRITE;
	} else
		free(first);
	if (!conn_update_watchers(c))
		conn_close(c, END_LOCAL_ERROR);
}

/* A connect to `s` failed, at once or later: log it and count it against the server. */
static void count_failure(struct conn *c, struct server *s, int error, enum conn_end why)
{
	char text[64], ref[SERVER_REF_MAX];

	if (why == END_CONNECT_TIMEOUT)
		snprintf(text, sizeof(text), "connect timed out");
	else
		err_text(error, text, sizeof(text));
	log_msg(WLOG_WARN, "connect to %s failed: %s",
		pool_server_ref(c->pool, s, ref, sizeof(ref)), text);
	shared_add(&s->connect_failures, 1);
	health_connect_failed(c->pool, s, text);
	c->connect_fail = (uint8_t)why;
	c->wait->failed = s;
}

static void conn_connect_failed(struct conn *c, int error, enum conn_end why)
{
	struct server *s = c->srv;

	ev_timer_stop(c->w->loop, &c->wait->timer);
	close_side(&c->server, false);
	c->srv = NULL;
	release_slot(c, s);
	count_failure(c, s, error, why);
	conn_connect_next(c, false);
}

/*
 * While it waits for a slot or a connect, the client is read ahead: what it sends goes to
 * the server first thing, and a client that leaves frees its place at once (HAProxy's
 * abortonclose): end of stream or an error with nothing sent is a client gone. Its watcher
 * stays as it is when the relay starts, which costs no epoll change. Past CONN_PRE_MAX
 * bytes, or after the client's end, it is left unread until a server takes its bytes.
 */
static void client_waiting_ready(struct conn *c)
{
	struct conn_wait *wt = c->wait;
	char *buf = c->w->relay.scratch, *grown;
	/* Through the scratch buffer, which --buffer-size may make smaller than CONN_PRE_MAX. */
	size_t room = CONN_PRE_MAX - wt->pre_len;
	ssize_t n;

	if (room > c->w->relay.pool->size)
		room = c->w->relay.pool->size;
	n = recv(c->client.fd, buf, room, 0);
	if (side_drained(&c->client, n, room))
		c->client.ready &= (uint8_t)~EV_READ;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0 && wt->pre_len == 0) {
		log_msg(WLOG_DEBUG, "a client of %s left while waiting for a server",
			c->fe->cfg->name);
		conn_close(c, END_CLIENT_ABORT);
		return;
	}
	if (n < 0) {
		/* It sent, then reset: what it sent must not reach a server as a whole stream
		 * (the relay would read the reset as an end, which it passes on as one). */
		conn_close(c, END_CLIENT_RESET);
		return;
	}
	if (n == 0) {
		/* It sent, then ended: the relay reads the end again after the bytes went. */
		conn_side_stop(c, &c->client);
		return;
	}
	grown = realloc(wt->pre, wt->pre_len + (size_t)n);
	if (!grown) {
		log_limited(&conn_shortage_log, WLOG_WARN, "out of memory for a client of %s",
			    c->fe->cfg->name);
		conn_close(c, END_LOCAL_ERROR);
		return;
	}
	memcpy(grown + wt->pre_len, buf, (size_t)n);
	wt->pre = grown;
	wt->pre_len += (uint32_t)n;
	if (wt->pre_len >= CONN_PRE_MAX)
		conn_side_stop(c, &c->client);
}

void conn_server_ready(struct conn *c, int revents)
{
	if (c->state == CONN_RELAYING)
		conn_side_ready(c, false, revents);
	else
		conn_connect_done(c);
}

void conn_client_ready(struct conn *c, int revents)
{
	if (c->state == CONN_RELAYING)
		conn_side_ready(c, true, revents);
	else if (c->state == CONN_HEADER || c->state == CONN_HELLO)
		conn_read_preface(c);
	else
		client_waiting_ready(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct conn *c = container_of(t, struct conn_wait, timer)->c;

	assert(c->magic == CONN_MAGIC && c->state != CONN_RELAYING);
	if (c->state == CONN_HEADER || c->state == CONN_HELLO)
		conn_close(c, END_HEADER_TIMEOUT);
	else if (c->state == CONN_QUEUED)
		conn_close(c, END_QUEUE_TIMEOUT);
	else
		conn_connect_failed(c, ETIMEDOUT, END_CONNECT_TIMEOUT);
}

void conn_start_timer(struct conn *c, uint64_t ms)
{
	ev_timer *t = &c->wait->timer;

	ev_timer_stop(c->w->loop, t);
	ev_timer_set(t, (ev_tstamp)ms / 1e3, 0.);
	ev_timer_start(c->w->loop, t);
}

/* Ports of a source range tried for one connect before the server counts as out of ports. */
#define SOURCE_PORT_TRIES 64

/*
 * A socket for `s`, bound to its source if it has one, connecting. 0: in flight; -errno
 * with nothing left open otherwise, and *ours set if it failed before connect() (socket,
 * bind: weir's side, never the server's). `port`: of s's range, where -EADDRINUSE says
 * that port cannot reach s now and the next may; or 0, and the kernel picks at connect.
 */
static int connect_from(const struct conn *c, const struct server *s, uint16_t port, int *fdp,
			bool *ours)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr.ss;
	int fd =
		reserve_check(socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	int r = 0;

	*ours = true;
	if (fd < 0)
		return -errno;
	if (sa->sa_family != AF_UNIX)
		sockopt_tcp(fd, &c->fe->cfg->keepalive, true);
	sockopt_buffers(fd, c->w->p->rcvbuf, c->w->p->sndbuf);
	/* EADDRINUSE: a range's port that something listens on; without a range, no port was
	 * left. EADDRNOTAVAIL: the address is not the machine's. */
	if (s->source.len && (r = sockopt_bind_source(fd, &s->source, port)) == -EADDRINUSE &&
	    !port)
		r = -EADDRNOTAVAIL;
	if (r == 0) {
		*ours = false;
		/* From a range's port, EADDRNOTAVAIL: its way to s is taken (a connection, or a
		 * TIME_WAIT too young to reuse). */
		if (connect(fd, sa, s->addr.len) < 0 && errno != EINPROGRESS)
			r = errno == EADDRNOTAVAIL && port ? -EADDRINUSE : -errno;
	}
	if (r < 0)
		close(fd);
	else
		*fdp = fd;
	return r;
}

/*
 * Start a nonblocking connect to `s`, whose slot the client holds. 0: in flight (success or
 * failure arrives as writability); -errno: failed at once, with *ours set for a failure on
 * weir's side (-EMFILE and the like, or binding its source); -EADDRINUSE: no port of s's
 * source range could reach it.
 */
static int conn_start_connect(struct conn *c, struct server *s, bool *ours)
{
	int fd = -1, r;

	if (!s->source_lo) {
		r = connect_from(c, s, 0, &fd, ours);
	} else {
		/* Ports of the range in turn, as HAProxy's source port ranges: connect() need
		 * not search for a free one, and the operator decides how many there are. A port
		 * that cannot reach s gives way to the next. */
		unsigned span = (unsigned)s->source_hi - s->source_lo + 1;
		unsigned tries = span < SOURCE_PORT_TRIES ? span : SOURCE_PORT_TRIES;
		do {
			uint32_t n = shared_add(&s->source_next, 1) - 1;
			r = connect_from(c, s, (uint16_t)(s->source_lo + n % span), &fd, ours);
		} while (r == -EADDRINUSE && --tries);
	}
	if (r < 0)
		return r;
	c->server.fd = fd;
	c->server.is_unix = s->addr.ss.ss_family == AF_UNIX;
	/* The client stays watched: to read it ahead, and to notice one that leaves. */
	if (!conn_side_want(c, &c->server, EV_WRITE) || !conn_side_want(c, &c->client, EV_READ)) {
		close_side(&c->server, false);
		return -ENOMEM;
	}
	c->state = CONN_CONNECTING;
	c->srv = s;
	shared_add(&s->total, 1);
	conn_start_timer(c, c->pool->cfg->connect_timeout_ms);
	return 0;
}

static bool unix_backlog_full(const struct server *s, int error)
{
	return error == EAGAIN && s->addr.ss.ss_family == AF_UNIX;
}

/* Forget `s` as tried: a full backlog is no failure, and the client may wait for it. */
static void untry(struct conn *c, const struct server *s)
{
	struct server **tried = c->wait->tried;

	for (uint8_t i = 0; i < c->n_tried; i++) {
		if (tried[i] == s) {
			tried[i] = tried[--c->n_tried];
			return;
		}
	}
}

void conn_connect_next(struct conn *c, bool was_waiting)
{
	struct pool *pool = c->pool;
	struct server *congested[CONN_MAX_ATTEMPTS];
	size_t n_congested = 0;
	bool full = false, ours = false;
	int looks = 0;

	/* Clients already waiting for this backend go first: a newcomer waits behind them. */
	if (c->n_tried == 0 && !was_waiting && shared_load(&pool->stats->queued)) {
		conn_enqueue(c, false);
		return;
	}
	while (c->n_tried < CONN_MAX_ATTEMPTS && c->n_tried <= pool->cfg->retries + n_congested) {
		struct server *s = pool_take(pool, c->wait->tried, c->n_tried, &c->peer.sa);
		int r;

		if (!s && c->n_tried == 0) {
			/* None was free. If one is now, it freed (another worker) after the pick:
			 * look again. */
			full = pool_full(pool);
			if (!full && ++looks < CONN_LOOKS)
				continue;
		}
		if (!s)
			break;
		if (c->n_tried > n_congested)
			shared_add(&pool->stats->retries, 1);
		c->wait->tried[c->n_tried++] = s;
		r = conn_start_connect(c, s, &ours);
		if (r == 0)
			return;
		release_slot(c, s);
		if (unix_backlog_full(s, -r)) {
			congested[n_congested++] = s;
			continue;
		}
		if (r == -EADDRINUSE && s->source_lo) {
			/* Its ports are taken, which says nothing of the server: another server
			 * may take the client. */
			char ref[SERVER_REF_MAX];
			log_limited(
				&conn_shortage_log, WLOG_WARN,
				"cannot connect to %s: no port of its source range %u-%u can reach "
				"it now (weir's own shortage)",
				pool_server_ref(pool, s, ref, sizeof(ref)), s->source_lo,
				s->source_hi);
			c->connect_fail = END_LOCAL_ERROR;
			continue;
		}
		if (ours || health_local_shortage(-r)) {
			char ref[SERVER_REF_MAX];
			log_limited(&conn_shortage_log, WLOG_WARN,
				    "cannot connect to %s: %s (weir's own %s; the client is reset)",
				    pool_server_ref(pool, s, ref, sizeof(ref)), strerror(-r),
				    health_local_shortage(-r) ? "shortage" : "fault");
			conn_close(c, END_LOCAL_ERROR);
			return;
		}
		count_failure(c, s, -r, END_CONNECT_FAILED);
	}
	if (n_congested) {
		for (size_t i = 0; i < n_congested; i++)
			untry(c, congested[i]);
		pool->local[c->w->id].congested_until = clock_mono() + CONN_CONGESTION_DELAY;
		worker_retry_later(c->w, CONN_CONGESTION_DELAY);
		conn_enqueue(c, was_waiting);
		return;
	}
	if (c->n_tried == 0 && full) {
		conn_enqueue(c, was_waiting);
		return;
	}
	conn_close(c, c->n_tried ? c->connect_fail : END_NO_SERVER);
}

void conn_accept(struct worker *w, struct frontend *fe, int fd, const struct sockaddr *peer,
		 socklen_t len)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct conn_wait *wt = c ? calloc(1, sizeof(*wt)) : NULL;

	if (!wt) {
		log_limited(&conn_shortage_log, WLOG_WARN, "out of memory for a new client of %s",
			    fe->cfg->name);
		free(c);
		close_with_reset(fd);
		proxy_conn_release(w->p);
		return;
	}
	c->magic = CONN_MAGIC;
	c->state = CONN_CONNECTING;
	c->w = w;
	c->fe = fe;
	c->client.fd = fd;
	c->client.is_unix = peer->sa_family == AF_UNIX;
	c->server.fd = -1;
	c->pool = fe->pool;
	c->peer_len = (uint8_t)(len < sizeof(c->peer) ? len : sizeof(c->peer));
	memcpy(&c->peer, peer, c->peer_len);
	c->t_start = clock_mono();
	/* TCP_NODELAY and keepalive came with the socket from the listener (listener.c). */
	c->wait = wt;
	wt->c = c;
	ev_init(&wt->timer, timer_cb);
	idle_list_push(&fe->local[w->id].active, &c->activity, c->t_start);
	shared_add(&fe->stats->accepted, 1);
	shared_add(&fe->stats->open, 1);
	fe->gen->local[w->id].conns++;
	worker_conn_opened(w, fe);
	if (fe->cfg->accept_proxy || fe->n_routes)
		conn_start_timer(c, fe->cfg->header_timeout_ms);
	conn_begin(c);
}
