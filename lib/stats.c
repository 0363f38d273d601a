#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "ctl.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"
#include "proxy.h"
#include "reserve.h"

#define STATS_CLIENT_MAGIC   0x73746174u
#define STATS_BACKOFF	     0.5  /* after accept() fails for want of descriptors or memory */
#define STATS_SEND_TIMEOUT   10.0 /* an answer that makes no progress for this long is dropped */
#define STATS_LINGER	     1.0  /* after answering, what the client still sends is read away */
#define STATS_CHUNK	     (64 * 1024)
#define STATS_CHANGE_TIMEOUT 60.0 /* a command that changes the configuration, at most */

enum client_state {
	CLIENT_READING,	  /* the request */
	CLIENT_WAITING,	  /* a command's change is on its way (reload.h) */
	CLIENT_WRITING,	  /* the answer, a chunk at a time */
	CLIENT_LINGERING, /* answered and shut down: reading until the client closes */
};

struct stats_client {
	uint32_t magic;
	enum client_state state;
	struct stats *st;
	struct stats_client *prev, *next;
	int fd;
	ev_io io;
	ev_timer timer;
	size_t got;
	char req[STATS_REQUEST_MAX];
	char *out; /* STATS_CHUNK bytes while writing (or the whole answer to a command) */
	size_t len, sent;
	bool rendering; /* the body comes from `cur`, chunk after chunk */
	struct metrics_cursor cur;
	bool http;	    /* a command came as POST /admin: answer in HTTP */
	struct ctl_out ctl; /* a command's answer */
};

/* --- the request ------------------------------------------------------------------------ */

static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", c);
}

/* The request line "METHOD /path[?query] HTTP/1.x" (the version may be missing). */
static int parse_request_line(const char *p, size_t n, struct stats_request *req)
{
	size_t m = 0, t, plen;
	const char *target, *sp;

	while (m < n && is_token_char(p[m]))
		m++;
	if (m == 0 || m > 16 || m == n || p[m] != ' ')
		return 400;
	target = p + m + 1;
	sp = memchr(target, ' ', n - m - 1);
	t = sp ? (size_t)(sp - target) : n - m - 1;
	if (t == 0 || target[0] != '/')
		return 400;
	for (size_t i = 0; i < t; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return 400;
	if (m + 1 + t < n) {
		const char *version = target + t + 1;
		size_t vlen = n - m - 2 - t;
		if (vlen != 8 || strncmp(version, "HTTP/1.", 7) != 0 || version[7] < '0' ||
		    version[7] > '9')
			return 400;
	}
	/* The path, without a query; within the target, which need not end in a NUL. */
	for (plen = 0; plen < t && target[plen] != '?'; plen++)
		;
	if (m == 4 && strncmp(p, "POST", 4) == 0)
		return plen == 6 && strncmp(target, "/admin", 6) == 0
			       ? (req->doc = STATS_DOC_ADMIN, 200)
			       : 405;
	if (!(m == 3 && strncmp(p, "GET", 3) == 0) && !(m == 4 && strncmp(p, "HEAD", 4) == 0))
		return 405;
	req->head = m == 4;
	if (plen == 8 && strncmp(target, "/metrics", 8) == 0)
		req->doc = STATS_DOC_METRICS;
	else if (plen == 6 && strncmp(target, "/stats", 6) == 0)
		req->doc = STATS_DOC_JSON;
	else if (plen == 1)
		req->doc = STATS_DOC_PAGE;
	else
		return 404;
	return 200;
}

/* A Content-Length header's value ("Content-Length: 12"), or -1 if the line is another. */
static long content_length(const char *p, size_t n)
{
	static const char name[] = "content-length:";
	long v = 0;
	size_t i;

	if (n < sizeof(name) - 1 || strncasecmp(p, name, sizeof(name) - 1) != 0)
		return -1;
	for (i = sizeof(name) - 1; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	if (i == n)
		return -2;
	/* Every digit is read; the value stops growing past the limit (413, not 400). */
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		if (v <= STATS_REQUEST_MAX)
			v = v * 10 + (p[i] - '0');
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i == n ? v : -2;
}

/* The value of header `name` ("host:") if the line `p` (n bytes) is that header, trimmed. */
static bool header_value(const char *p, size_t n, const char *name, const char **v, size_t *vn)
{
	size_t k = strlen(name);

	if (n < k || strncasecmp(p, name, k) != 0)
		return false;
	for (; k < n && (p[k] == ' ' || p[k] == '\t'); k++)
		;
	while (n > k && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*v = p + k;
	*vn = n - k;
	return true;
}

/* Whether a Host header's value names this machine by loopback: localhost, 127.x.y.z or
 * [::1], with or without a port. */
static bool loopback_host(const char *h, size_t n)
{
	size_t end = n;

	if (n >= 5 && strncmp(h, "[::1]", 5) == 0)
		return n == 5 || h[5] == ':';
	for (size_t i = 0; i < n; i++)
		if (h[i] == ':')
			end = i;
	if (end == 9 && strncasecmp(h, "localhost", 9) == 0)
		return true;
	if (end < 4 || strncmp(h, "127.", 4) != 0)
		return false;
	for (size_t i = 4; i < end; i++)
		if (h[i] != '.' && (h[i] < '0' || h[i] > '9'))
			return false;
	return true;
}

/*
 * Whether a browser may have sent this POST for a page of another site: its Origin (which
 * browsers send with every POST) is not the Host it was sent to, or that Host is not a
 * loopback one (a name of another site made to resolve to 127.0.0.1). Clients that are not
 * browsers send neither check's header and pass.
 */
static bool cross_site(const char *origin, size_t on, const char *host, size_t hn)
{
	if (host && !loopback_host(host, hn))
		return true;
	if (!origin)
		return false;
	if (on >= 7 && strncasecmp(origin, "http://", 7) == 0)
		origin += 7, on -= 7;
	else if (on >= 8 && strncasecmp(origin, "https://", 8) == 0)
		origin += 8, on -= 8;
	else
		return true; /* "null", or a scheme of no page of ours */
	return !host || on != hn || strncasecmp(origin, host, hn) != 0;
}

int stats_parse_request(const char *buf, size_t len, struct stats_request *req)
{
	size_t line = 0, start = 0, on = 0, hn = 0;
	long length = -1; /* POST: the body's; -2: not a number */
	const char *origin = NULL, *host = NULL;

	memset(req, 0, sizeof(*req));
	if (len > STATS_REQUEST_MAX)
		len = STATS_REQUEST_MAX;
	/* Line by line: the request line, headers "Name: value", then an empty line. */
	for (size_t i = 0; i < len; i++) {
		size_t n;
		if (buf[i] != '\n')
			continue;
		n = i - start;
		if (n && buf[start + n - 1] == '\r')
			n--;
		for (size_t k = start; k < start + n; k++)
			if ((unsigned char)buf[k] < 0x20 && buf[k] != '\t') {
				req->status = 400;
				return 1;
			}
		if (line == 0) {
			req->status = parse_request_line(buf, n, req);
			if (req->status == 400)
				return 1;
		} else if (n == 0) {
			/* The end of the headers: decided, but for a POST's body. */
			if (req->doc != STATS_DOC_ADMIN || req->status != 200)
				return 1;
			if (cross_site(origin, on, host, hn)) {
				req->status = 403;
				req->cross_site = true;
				return 1;
			}
			if (length < 0) {
				req->status = length == -1 ? 411 : 400;
				return 1;
			}
			if ((size_t)length + i + 1 > STATS_REQUEST_MAX) {
				req->status = 413;
				return 1;
			}
			req->body = i + 1;
			req->body_len = (size_t)length;
			return len >= req->body + req->body_len;
		} else {
			size_t name = 0;
			long v = content_length(buf + start, n);
			while (name < n && is_token_char(buf[start + name]))
				name++;
			if (name == 0 || name == n || buf[start + name] != ':' || v == -2) {
				req->status = 400;
				return 1;
			}
			if (v >= 0)
				length = v;
			(void)(header_value(buf + start, n, "origin:", &origin, &on) ||
			       header_value(buf + start, n, "host:", &host, &hn));
		}
		line++;
		start = i + 1;
	}
	/* A NUL in a line not yet complete is refused now (complete lines were checked above;
	 * bytes past a decided request are none of this parser's business). */
	if (memchr(buf + start, '\0', len - start)) {
		req->status = 400;
		return 1;
	}
	if (len == STATS_REQUEST_MAX) {
		req->status = 431;
		return 1;
	}
	return 0;
}

/* --- a client ------------------------------------------------------------------------- */

static void client_close(struct stats_client *c)
{
	struct stats *st = c->st;

	if (c->state == CLIENT_WAITING)
		reloader_forget(st->r, c); /* the change goes ahead; nobody hears how it went */
	ctl_out_free(&c->ctl);
	ev_io_stop(st->p->loop, &c->io);
	ev_timer_stop(st->p->loop, &c->timer);
	close(c->fd);
	if (c->rendering)
		metrics_end(&c->cur, st->p);
	free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		st->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->magic = 0;
	free(c);
	st->n_clients--;
}

static void watch(struct stats_client *c, int events, double timeout)
{
	struct ev_loop *loop = c->st->p->loop;

	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, timeout, 0.);
	ev_timer_start(loop, &c->timer);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 403:
		return "Forbidden";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	default:
		return "Bad Request";
	}
}

static void answer(struct stats_client *c, const struct stats_request *req)
{
	static const char *const bodies[] = {[0] = "bad request\n",
					     [1] = "try /, /metrics or /stats\n",
					     [2] = "only GET and HEAD (and POST /admin)\n",
					     [3] = "request too large\n",
					     [4] = "this listener takes no commands\n",
					     [5] = "a command needs a Content-Length\n",
					     [6] = "command too long\n",
					     [7] = "no commands from a page of another site\n"};
	const char *body = req->status == 404	? bodies[1]
			   : req->status == 405 ? bodies[2]
			   : req->status == 431 ? bodies[3]
			   : req->cross_site	? bodies[7]
			   : req->status == 403 ? bodies[4]
			   : req->status == 411 ? bodies[5]
			   : req->status == 413 ? bodies[6]
						: bodies[0];

	c->out = malloc(STATS_CHUNK);
	if (!c->out) {
		client_close(c);
		return;
	}
	c->state = CLIENT_WRITING;
	c->sent = 0;
	if (req->status == 200 && req->doc == STATS_DOC_PAGE) {
		c->len = (size_t)snprintf(c->out, STATS_CHUNK,
					  "HTTP/1.0 200 OK\r\nContent-Type: text/html; "
					  "charset=utf-8\r\nContent-Length: %zu\r\n"
					  "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
					  strlen(stats_status_page),
					  req->head ? "" : stats_status_page);
	} else if (req->status == 200) {
		/* No length: the body is rendered as it goes, and ends when the connection does. */
		c->len = (size_t)snprintf(c->out, STATS_CHUNK,
					  "HTTP/1.0 200 OK\r\nContent-Type: %s\r\nConnection: "
					  "close\r\n\r\n",
					  req->doc == STATS_DOC_JSON ? "application/json"
								     : "text/plain; version=0.0.4");
		if (!req->head) {
			metrics_begin(&c->cur, c->st->p,
				      req->doc == STATS_DOC_JSON ? METRICS_JSON
								 : METRICS_PROMETHEUS);
			c->cur.admin = c->st->admin;
			c->rendering = true;
		}
	} else {
		c->len = (size_t)snprintf(c->out, STATS_CHUNK,
					  "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\n"
					  "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
					  req->status, reason(req->status),
					  req->head ? (size_t)0 : strlen(body),
					  req->head ? "" : body);
	}
	watch(c, EV_WRITE, STATS_SEND_TIMEOUT);
}

/* Answered: shut the sending side, and read away what the client still sends, so that
 * closing does not turn the answer into a reset. */
static void linger(struct stats_client *c)
{
	if (c->rendering) {
		metrics_end(&c->cur, c->st->p);
		c->rendering = false;
	}
	free(c->out);
	c->out = NULL;
	(void)shutdown(c->fd, SHUT_WR);
	c->state = CLIENT_LINGERING;
	watch(c, EV_READ, STATS_LINGER);
}

static void client_write(struct stats_client *c)
{
	ssize_t n;

	if (c->sent == c->len && c->rendering) {
		c->len = metrics_render(&c->cur, c->st->p, c->out, STATS_CHUNK);
		c->sent = 0;
	}
	if (c->sent == c->len) {
		linger(c);
		return;
	}
	n = send(c->fd, c->out + c->sent, c->len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		client_close(c);
		return;
	}
	if (n > 0) {
		c->sent += (size_t)n;
		watch(c, EV_WRITE, STATS_SEND_TIMEOUT); /* progress: the timeout starts again */
	}
}

/* A command's answer is complete: send it, as plain lines or as an HTTP answer. */
static void send_ctl(struct stats_client *c)
{
	static const char ok[] = "ok\n";
	struct ctl_out *o = &c->ctl;
	bool good = !o->failed && o->len >= sizeof(ok) - 1 &&
		    (o->len == sizeof(ok) - 1 || o->buf[o->len - sizeof(ok)] == '\n') &&
		    memcmp(o->buf + o->len - (sizeof(ok) - 1), ok, sizeof(ok) - 1) == 0;
	char head[160];
	size_t h = 0;

	if (o->failed)
		ctl_out_free(o), ctl_finish(o, false, "out of memory");
	if (c->http)
		h = (size_t)snprintf(head, sizeof(head),
				     "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: "
				     "%zu\r\nConnection: close\r\n\r\n",
				     good ? "200 OK" : "400 Bad Request", o->len);
	free(c->out);
	c->out = malloc(h + o->len + 1);
	if (!c->out) {
		client_close(c);
		return;
	}
	memcpy(c->out, head, h);
	memcpy(c->out + h, o->buf ? o->buf : "", o->len);
	c->len = h + o->len;
	c->sent = 0;
	ctl_out_free(o);
	c->state = CLIENT_WRITING;
	watch(c, EV_WRITE, STATS_SEND_TIMEOUT);
}

static void change_done(void *ctx, bool ok, const char *why)
{
	struct stats_client *c = ctx;

	assert(c->magic == STATS_CLIENT_MAGIC && c->state == CLIENT_WAITING);
	ctl_finish(&c->ctl, ok, why);
	send_ctl(c);
}

/* Run the command in text[0..len) (one line; a newline may end it). */
static void run_command(struct stats_client *c, const char *text, size_t len)
{
	char line[CTL_LINE_MAX + 1];

	snprintf(line, sizeof(line), "%.*s", (int)(len < CTL_LINE_MAX ? len : CTL_LINE_MAX), text);
	/* Waiting before the command runs: a change refused at once (weir is stopping, or out
	 * of memory) is answered from inside ctl_run, through change_done, which may even close
	 * the client. Reading on only to notice a client that leaves. */
	c->state = CLIENT_WAITING;
	watch(c, EV_READ, STATS_CHANGE_TIMEOUT);
	if (ctl_run(c->st->p, c->st->r, line, &c->ctl, change_done, c) == CTL_DONE)
		send_ctl(c);
	/* CTL_LATER: `c` belongs to change_done now, which may have been called already. */
}

/*
 * Whether what the client sent is a command line rather than an HTTP request: anything that
 * does not start as one of the requests taken (GET, HEAD, POST), once enough is in to tell.
 */
static bool is_command(const char *buf, size_t len)
{
	static const char *const methods[] = {"GET ", "HEAD ", "POST "};

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		size_t m = strlen(methods[i]);
		if (strncmp(buf, methods[i], len < m ? len : m) == 0)
			return false; /* a request, or maybe one: read on */
	}
	return true;
}

static void client_read(struct stats_client *c)
{
	struct stats_request req;
	char discard[4096];
	ssize_t n;

	if (c->state == CLIENT_LINGERING || c->state == CLIENT_WAITING) {
		n = recv(c->fd, discard, sizeof(discard), 0);
		/* A client that ended its side after its command (nc -N, socat) still gets the
		 * answer: it stays, not read any more, until the change is done or times out. */
		if (n == 0 && c->state == CLIENT_WAITING)
			ev_io_stop(c->st->p->loop, &c->io);
		else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	n = recv(c->fd, c->req + c->got, sizeof(c->req) - c->got, 0);
	if (n == 0 && c->st->admin && c->got && is_command(c->req, c->got)) {
		run_command(c, c->req, c->got); /* its end is the end of its line */
		return;
	}
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	c->got += (size_t)n;
	if (c->st->admin && is_command(c->req, c->got)) {
		const char *nl = memchr(c->req, '\n', c->got);
		if (nl)
			run_command(c, c->req, (size_t)(nl - c->req));
		else if (c->got == sizeof(c->req))
			run_command(c, "", 0); /* answered: an empty command */
		return;
	}
	if (!stats_parse_request(c->req, c->got, &req))
		return;
	if (req.status == 200 && req.doc == STATS_DOC_ADMIN) {
		if (!c->st->admin) {
			req.status = 403;
		} else {
			c->http = true;
			run_command(c, c->req + req.body, req.body_len);
			return;
		}
	}
	answer(c, &req);
}

static void client_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct stats_client *c = container_of(io, struct stats_client, io);

	assert(c->magic == STATS_CLIENT_MAGIC);
	if (c->state == CLIENT_WRITING)
		client_write(c);
	else
		client_read(c);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct stats_client *c = container_of(t, struct stats_client, timer);

	assert(c->magic == STATS_CLIENT_MAGIC);
	client_close(c);
}

/* --- the listener ------------------------------------------------------------------------ */

static void backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct stats *st = container_of(t, struct stats, backoff);

	ev_io_start(loop, &st->io);
}

size_t stats_max_clients(uint64_t nofile)
{
	uint64_t n = nofile / 64;

	return n < 8 ? 8 : n > 256 ? 256 : (size_t)n;
}

/* Every slot taken: the oldest client still sending its request makes room (a slow or idle
 * client cannot keep a scraper out); false if all are being answered. */
static bool make_room(struct stats *st)
{
	for (struct stats_client *c = st->clients; c; c = c->next) {
		if (c->state == CLIENT_READING) {
			client_close(c);
			return true;
		}
	}
	return false;
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct stats *st = container_of(io, struct stats, io);
	int fd = reserve_check(accept4(st->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	struct stats_client *c, **tail;

	if (fd < 0) {
		/*
		 * Out of descriptors (or memory) the client stays in the backlog and the
		 * level-triggered watcher would fire at once again: pause instead of spinning.
		 */
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED) {
			ev_io_stop(loop, &st->io);
			ev_timer_set(&st->backoff, STATS_BACKOFF, 0.);
			ev_timer_start(loop, &st->backoff);
		}
		return;
	}
	if ((st->n_clients >= st->max_clients && !make_room(st)) || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->magic = STATS_CLIENT_MAGIC;
	c->state = CLIENT_READING;
	c->st = st;
	c->fd = fd;
	for (tail = &st->clients; *tail; tail = &(*tail)->next)
		c->prev = *tail;
	*tail = c;
	st->n_clients++;
	ev_io_init(&c->io, client_io_cb, fd, EV_READ);
	ev_init(&c->timer, client_timer_cb);
	watch(c, EV_READ, STATS_REQUEST_TIMEOUT);
}

/* Whether only this machine can reach `a`. */
static bool is_local(const struct addr *a)
{
	if (a->ss.ss_family == AF_UNIX)
		return true;
	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

/* The address `spec` names, in *a (free it): the admin interface only on this machine. */
static int resolve_spec(const char *spec, const char *what, struct addr **a, struct weir_err *err)
{
	size_t n;
	int r = addr_resolve(spec, ADDR_LISTEN, a, &n, err);

	if (r < 0)
		return r;
	if (!is_local(&(*a)[0]) && strcmp(what, "admin") == 0) {
		err_set(err, "admin on %s: only a unix socket or a loopback address", spec);
		free(*a);
		return -EINVAL;
	}
	return 0;
}

int stats_check(const char *spec, const char *what, struct weir_err *err)
{
	struct addr *a;
	int r = resolve_spec(spec, what, &a, err);

	if (r == 0)
		free(a);
	return r;
}

int stats_open(struct stats *st, struct proxy *p, const char *spec, bool admin, struct reloader *rl,
	       const char *what, struct weir_err *err)
{
	struct addr *a;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int r;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	ev_init(&st->backoff, backoff_cb);
	if ((r = resolve_spec(spec, what, &a, err)) < 0)
		return r;
	st->p = p;
	st->max_clients = stats_max_clients(p->nofile);
	st->r = rl;
	st->admin = admin;
	addr_format((struct sockaddr *)&a[0].ss, a[0].len, st->name, sizeof(st->name));
	{
		/* The admin socket file: its owner's alone. */
		mode_t old = admin ? umask(0177) : 0;
		r = listener_socket(&a[0], st->name, SOMAXCONN, false, err);
		if (admin)
			umask(old);
	}
	if (r < 0) {
		free(a);
		return r;
	}
	st->fd = r;
	st->unlink_path = addr_is_unix(&a[0]); /* ours now: bind succeeded */
	if (!st->unlink_path && getsockname(st->fd, (struct sockaddr *)&bound, &blen) == 0)
		addr_format((struct sockaddr *)&bound, blen, st->name, sizeof(st->name));
	if (!is_local(&a[0]))
		log_msg(WLOG_WARN,
			"%s on %s is open to the network: it has no authentication; prefer "
			"loopback or a unix socket",
			what, st->name);
	free(a);
	ev_io_init(&st->io, accept_cb, st->fd, EV_READ);
	ev_io_start(p->loop, &st->io);
	if (strcmp(what, "admin") == 0)
		log_msg(WLOG_INFO, "admin on %s (weir ctl --socket PATH help)", st->name);
	else
		log_msg(WLOG_INFO, "%s on %s (GET /, /metrics, /stats%s)", what, st->name,
			admin ? "; POST /admin" : "");
	return 0;
}

void stats_close(struct stats *st)
{
	while (st->clients)
		client_close(st->clients);
	if (st->fd >= 0) {
		ev_io_stop(st->p->loop, &st->io);
		ev_timer_stop(st->p->loop, &st->backoff);
		close(st->fd);
		if (st->unlink_path)
			unlink(st->name + strlen("unix:"));
	}
	st->fd = -1;
}
