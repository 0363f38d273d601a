#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "stats.h"
#include "worker.h"

#define STATS_CLIENT_MAGIC 0x73746174u
#define STATS_REQUEST_MAX  2048
#define STATS_TIMEOUT	   5.0
#define STATS_BACKOFF	   0.5 /* after accept() fails for want of descriptors or memory */

struct stats_client {
	uint32_t magic;
	struct stats *st;
	int fd;
	ev_io io;
	ev_timer timer;
	char req[STATS_REQUEST_MAX];
	size_t got;
	char *resp; /* while writing */
	size_t len, sent;
};

/* A growing text buffer; after a failed allocation it stays failed (p == NULL). */
struct text {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) WEIR_PRINTF(2, 3);

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->p && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
		char *grown = realloc(t->p, cap);
		if (!grown) {
			free(t->p);
			t->p = NULL;
			t->failed = true;
			return;
		}
		t->p = grown;
		t->cap = cap;
	}
}

static char *done(struct text *t)
{
	return t->failed ? NULL : t->p;
}

static void metric_head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP weir_%s %s\n# TYPE weir_%s %s\n", name, help, name, type);
}

char *stats_metrics(const struct worker *w)
{
	const struct weir_config *cfg = &w->gen->cfg;
	const struct pool *pools = w->gen->pools;
	struct text t = {0};

	metric_head(&t, "frontend_connections", "gauge", "Connections open now.");
	for (size_t i = 0; i < w->gen->n_frontends; i++)
		put(&t, "weir_frontend_connections{frontend=\"%s\"} %zu\n",
		    w->gen->frontends[i].cfg->name, w->gen->frontends[i].stats->open);
	metric_head(&t, "frontend_connections_total", "counter", "Connections accepted.");
	for (size_t i = 0; i < w->gen->n_frontends; i++)
		put(&t, "weir_frontend_connections_total{frontend=\"%s\"} %llu\n",
		    w->gen->frontends[i].cfg->name,
		    (unsigned long long)w->gen->frontends[i].stats->accepted);
	metric_head(&t, "frontend_bytes_total", "counter",
		    "Bytes relayed by connections that have closed.");
	for (size_t i = 0; i < w->gen->n_frontends; i++) {
		const struct frontend *fe = &w->gen->frontends[i];
		put(&t, "weir_frontend_bytes_total{frontend=\"%s\",direction=\"to_server\"} %llu\n",
		    fe->cfg->name, (unsigned long long)fe->stats->bytes_to_server);
		put(&t, "weir_frontend_bytes_total{frontend=\"%s\",direction=\"to_client\"} %llu\n",
		    fe->cfg->name, (unsigned long long)fe->stats->bytes_to_client);
	}
	metric_head(&t, "backend_retries_total", "counter",
		    "Connects tried on another server after one failed.");
	for (size_t b = 0; b < cfg->n_backends; b++)
		put(&t, "weir_backend_retries_total{backend=\"%s\"} %llu\n", cfg->backends[b].name,
		    (unsigned long long)pools[b].stats->retries);
	static const struct {
		const char *name, *type, *help;
	} per_server[] = {
		{"server_up", "gauge", "1 if the server is UP."},
		{"server_connections", "gauge", "Connections open now."},
		{"server_connections_total", "counter", "Connections given to the server."},
		{"server_connect_failures_total", "counter", "Failed or timed-out connects."},
		{"server_last_change_seconds", "gauge", "Unix time of the last UP/DOWN change."},
	};
	for (size_t m = 0; m < ARRAY_SIZE(per_server); m++) {
		metric_head(&t, per_server[m].name, per_server[m].type, per_server[m].help);
		for (size_t b = 0; b < cfg->n_backends; b++) {
			for (size_t i = 0; i < pools[b].n; i++) {
				const struct server *s = pools[b].servers[i];
				unsigned long long v[] = {s->state == SERVER_UP, s->active,
							  s->total, s->connect_failures,
							  (unsigned long long)s->changed};
				put(&t, "weir_%s{backend=\"%s\",server=\"%s\"} %llu\n",
				    per_server[m].name, cfg->backends[b].name, s->name, v[m]);
			}
		}
	}
	metric_head(&t, "accept_errors_total", "counter", "accept() failures by kind.");
	for (int k = 0; k < ACCEPT_ERROR_KINDS; k++)
		put(&t, "weir_accept_errors_total{kind=\"%s\"} %llu\n", worker_accept_error_name(k),
		    (unsigned long long)w->accept_errors[k]);
	metric_head(&t, "reserve_uses_total", "counter",
		    "Clients closed at once from the spare descriptor when out of descriptors.");
	put(&t, "weir_reserve_uses_total %llu\n", (unsigned long long)w->shed);
	metric_head(&t, "log_dropped_total", "counter",
		    "Log lines dropped because the log reader fell behind.");
	put(&t, "weir_log_dropped_total %llu\n", (unsigned long long)log_dropped_total());
	metric_head(&t, "connections_closed_total", "counter", "Closed connections by reason.");
	for (unsigned e = 0; conn_end_name(e); e++)
		put(&t, "weir_connections_closed_total{reason=\"%s\"} %llu\n", conn_end_name(e),
		    (unsigned long long)w->closed[e]);
	return done(&t);
}

char *stats_json(const struct worker *w)
{
	const struct weir_config *cfg = &w->gen->cfg;
	const struct pool *pools = w->gen->pools;
	struct text t = {0};

	put(&t, "{\"frontends\":[");
	for (size_t i = 0; i < w->gen->n_frontends; i++) {
		const struct frontend *fe = &w->gen->frontends[i];
		put(&t,
		    "%s{\"name\":\"%s\",\"backend\":\"%s\",\"connections\":%zu,\"total\":%llu,"
		    "\"bytes_to_server\":%llu,\"bytes_to_client\":%llu}",
		    i ? "," : "", fe->cfg->name, fe->cfg->backend, fe->stats->open,
		    (unsigned long long)fe->stats->accepted,
		    (unsigned long long)fe->stats->bytes_to_server,
		    (unsigned long long)fe->stats->bytes_to_client);
	}
	put(&t, "],\"backends\":[");
	for (size_t b = 0; b < cfg->n_backends; b++) {
		put(&t, "%s{\"name\":\"%s\",\"balance\":\"%s\",\"retries\":%llu,\"servers\":[",
		    b ? "," : "", cfg->backends[b].name, pools[b].lb->name,
		    (unsigned long long)pools[b].stats->retries);
		for (size_t i = 0; i < pools[b].n; i++) {
			const struct server *s = pools[b].servers[i];
			put(&t,
			    "%s{\"address\":\"%s\",\"state\":\"%s\",\"weight\":%u,\"backup\":%s,"
			    "\"connections\":%u,\"total\":%llu,\"connect_failures\":%llu,"
			    "\"last_change\":%lld}",
			    i ? "," : "", s->name, s->state == SERVER_UP ? "UP" : "DOWN", s->weight,
			    s->backup ? "true" : "false", s->active, (unsigned long long)s->total,
			    (unsigned long long)s->connect_failures, (long long)s->changed);
		}
		put(&t, "]}");
	}
	put(&t, "],\"accept_errors\":{");
	for (int k = 0; k < ACCEPT_ERROR_KINDS; k++)
		put(&t, "%s\"%s\":%llu", k ? "," : "", worker_accept_error_name(k),
		    (unsigned long long)w->accept_errors[k]);
	put(&t, "},\"reserve_uses\":%llu,\"log_dropped\":%llu,\"closed\":{",
	    (unsigned long long)w->shed, (unsigned long long)log_dropped_total());
	for (unsigned e = 0; conn_end_name(e); e++)
		put(&t, "%s\"%s\":%llu", e ? "," : "", conn_end_name(e),
		    (unsigned long long)w->closed[e]);
	put(&t, "}}\n");
	return done(&t);
}

void stats_summary(const struct worker *w, char *buf, size_t len)
{
	const struct pool *pools = w->gen->pools;
	unsigned long long accepted = 0, idle = 0;
	size_t up = 0, servers = 0;

	for (unsigned e = 0; conn_end_name(e); e++)
		if (strcmp(conn_end_name(e), "idle") == 0)
			idle = w->closed[e];
	for (size_t i = 0; i < w->gen->n_frontends; i++)
		accepted += w->gen->frontends[i].stats->accepted;
	for (size_t b = 0; b < w->gen->cfg.n_backends; b++)
		for (size_t i = 0; i < pools[b].n; i++, servers++)
			up += pools[b].servers[i]->state == SERVER_UP;
	snprintf(buf, len,
		 "stats connections=%zu accepted=%llu servers_up=%zu servers=%zu "
		 "reserve_uses=%llu idle_closed=%llu",
		 w->n_conns, accepted, up, servers, (unsigned long long)w->shed, idle);
}

static void client_close(struct stats_client *c)
{
	struct stats *st = c->st;

	ev_io_stop(st->w->loop, &c->io);
	ev_timer_stop(st->w->loop, &c->timer);
	close(c->fd);
	free(c->resp);
	c->resp = NULL;
	c->magic = 0; /* the slot is free again */
	st->n_clients--;
}

static void respond(struct stats_client *c, const char *status, const char *type, char *body)
{
	struct text t = {0};

	put(&t,
	    "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, type, body ? strlen(body) : 0, body ? body : "");
	free(body);
	c->resp = done(&t);
	if (!c->resp) {
		client_close(c);
		return;
	}
	c->len = t.len;
	c->sent = 0;
	ev_io_stop(c->st->w->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(c->st->w->loop, &c->io);
}

static void handle_request(struct stats_client *c)
{
	const struct stats *st = c->st;

	if (strncmp(c->req, "GET /metrics ", 13) == 0 || strncmp(c->req, "GET /metrics\r", 13) == 0)
		respond(c, "200 OK", "text/plain; version=0.0.4", stats_metrics(st->w));
	else if (strncmp(c->req, "GET /stats ", 11) == 0 ||
		 strncmp(c->req, "GET /stats\r", 11) == 0)
		respond(c, "200 OK", "application/json", stats_json(st->w));
	else if (strncmp(c->req, "GET ", 4) == 0)
		respond(c, "404 Not Found", "text/plain", strdup("try /metrics or /stats\n"));
	else
		respond(c, "405 Method Not Allowed", "text/plain", strdup("only GET\n"));
}

static void client_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct stats_client *c = container_of(io, struct stats_client, io);
	ssize_t n;

	assert(c->magic == STATS_CLIENT_MAGIC);
	if (c->resp) {
		n = send(c->fd, c->resp + c->sent, c->len - c->sent, MSG_NOSIGNAL);
		if (n > 0)
			c->sent += (size_t)n;
		if ((n < 0 && errno != EAGAIN && errno != EINTR) || c->sent == c->len)
			client_close(c);
		return;
	}
	n = recv(c->fd, c->req + c->got, sizeof(c->req) - 1 - c->got, 0);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	c->got += (size_t)n;
	c->req[c->got] = '\0';
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		handle_request(c);
	else if (c->got == sizeof(c->req) - 1)
		respond(c, "431 Request Header Fields Too Large", "text/plain", NULL);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct stats_client *c = container_of(t, struct stats_client, timer);

	assert(c->magic == STATS_CLIENT_MAGIC);
	client_close(c);
}

static void backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct stats *st = container_of(t, struct stats, backoff);

	ev_io_start(loop, &st->io);
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct stats *st = container_of(io, struct stats, io);
	int fd = accept4(st->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct stats_client *c;

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
	if (st->n_clients == STATS_MAX_CLIENTS) {
		close(fd); /* a handful of scrapers at once is plenty */
		return;
	}
	for (c = st->clients; c->magic; c++)
		;
	st->n_clients++;
	memset(c, 0, sizeof(*c));
	c->magic = STATS_CLIENT_MAGIC;
	c->st = st;
	c->fd = fd;
	ev_io_init(&c->io, client_io_cb, fd, EV_READ);
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->timer, client_timer_cb, STATS_TIMEOUT, 0.);
	ev_timer_start(loop, &c->timer);
}

int stats_open(struct stats *st, struct worker *w, const char *spec, struct weir_err *err)
{
	struct addr *a;
	size_t n;
	int r = addr_resolve(spec, ADDR_LISTEN, &a, &n, err);
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	ev_init(&st->backoff, backoff_cb);
	if (r < 0)
		return r;
	st->w = w;
	addr_format((struct sockaddr *)&a[0].ss, a[0].len, st->name, sizeof(st->name));
	st->clients = calloc(STATS_MAX_CLIENTS, sizeof(*st->clients));
	r = st->clients ? listener_socket(&a[0], st->name, err) : -ENOMEM;
	if (r < 0) {
		if (r == -ENOMEM)
			err_set(err, "out of memory");
		free(a);
		stats_close(st);
		return r;
	}
	st->fd = r;
	st->unlink_path = addr_is_unix(&a[0]); /* ours now: bind succeeded */
	if (!st->unlink_path && getsockname(st->fd, (struct sockaddr *)&bound, &blen) == 0)
		addr_format((struct sockaddr *)&bound, blen, st->name, sizeof(st->name));
	free(a);
	ev_io_init(&st->io, accept_cb, st->fd, EV_READ);
	ev_io_start(w->loop, &st->io);
	log_msg(WLOG_INFO, "stats on %s (GET /metrics, GET /stats)", st->name);
	return 0;
}

void stats_close(struct stats *st)
{
	for (size_t i = 0; st->clients && i < STATS_MAX_CLIENTS; i++)
		if (st->clients[i].magic)
			client_close(&st->clients[i]);
	if (st->fd >= 0) {
		ev_io_stop(st->w->loop, &st->io);
		ev_timer_stop(st->w->loop, &st->backoff);
		close(st->fd);
		if (st->unlink_path)
			unlink(st->name + strlen("unix:"));
	}
	st->fd = -1;
	free(st->clients);
	st->clients = NULL;
}
