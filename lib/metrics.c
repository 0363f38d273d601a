#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"

/* The most one item (a line, or an object of JSON) can take. */
#define ITEM_MAX 2048

const char *metrics_escape(const char *s, enum metrics_format format, char *buf, size_t len)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < len; p++) {
		unsigned char ch = *p;
		if (ch == '"' || ch == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)ch;
		} else if (format == METRICS_JSON && (ch < 0x20 || ch >= 0x7f)) {
			n += (size_t)snprintf(buf + n, len - n, "\\u%04x", ch);
		} else if (ch == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (ch >= 0x80) {
			/* The byte as the character U+0080..U+00FF: always valid UTF-8. */
			buf[n++] = (char)(0xc0 | ch >> 6);
			buf[n++] = (char)(0x80 | (ch & 0x3f));
		} else {
			buf[n++] = (char)ch;
		}
	}
	buf[n] = '\0';
	return buf;
}

static size_t item(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t item(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, ITEM_MAX, fmt, ap);
	va_end(ap);
	return n < 0 ? 0 : (size_t)n < ITEM_MAX ? (size_t)n : ITEM_MAX - 1;
}

/* Per-worker counters, summed. */
static unsigned long long accept_errors(const struct proxy *p, size_t kind)
{
	return proxy_sum(p, offsetof(struct worker, accept_errors) + kind * sizeof(uint64_t));
}

static unsigned long long closed(const struct proxy *p, size_t end)
{
	return proxy_sum(p, offsetof(struct worker, closed) + end * sizeof(uint64_t));
}

static size_t head(char *out, const char *name, const char *type, const char *help)
{
	return item(out, "# HELP weir_%s %s\n# TYPE weir_%s %s\n", name, help, name, type);
}

static const struct {
	const char *name, *type, *help;
} per_server[] = {
	{"server_up", "gauge", "1 if the server is UP."},
	{"server_connections", "gauge", "Connections open now."},
	{"server_connections_total", "counter", "Connections given to the server."},
	{"server_connect_failures_total", "counter", "Failed or timed-out connects."},
	{"server_last_change_seconds", "gauge", "Unix time of the last UP/DOWN change."},
};

enum {
	P_FE_OPEN,
	P_FE_TOTAL,
	P_FE_BYTES,
	P_FE_REFUSED,
	P_BE_RETRIES,
	P_BE_QUEUED,
	P_SERVERS, /* a: which per_server metric */
	P_ACCEPT,
	P_PROCESS,
	P_CLOSED,
	P_DONE,
};

/*
 * The next item of the Prometheus document: a section's header when a == b == c == 0 and
 * the section has one, then one line per frontend, backend or server. 0 at the end.
 */
static size_t next_prometheus(struct metrics_cursor *cur, const struct proxy *p, char *out)
{
	const struct generation *g = cur->gen;
	char e1[512], e2[800];

	for (;;) {
		switch (cur->section) {
		case P_FE_OPEN:
		case P_FE_TOTAL:
		case P_FE_BYTES:
		case P_FE_REFUSED: {
			static const char *const names[] = {
				"frontend_connections", "frontend_connections_total",
				"frontend_bytes_total", "frontend_refused_total"};
			static const char *const helps[] = {
				"Connections open now, of every configuration.",
				"Connections accepted.",
				"Bytes relayed by connections that have closed.",
				"Clients refused by the access lists or a per-source limit."};
			const struct frontend *fe;
			if (cur->b == 0) {
				cur->b = 1;
				return head(out, names[cur->section],
					    cur->section == P_FE_OPEN ? "gauge" : "counter",
					    helps[cur->section]);
			}
			if (cur->a == g->n_frontends)
				break;
			fe = &g->frontends[cur->a++];
			metrics_escape(fe->cfg->name, METRICS_PROMETHEUS, e1, sizeof(e1));
			if (cur->section == P_FE_OPEN)
				return item(out, "weir_frontend_connections{frontend=\"%s\"} %zu\n",
					    e1, shared_load(&fe->stats->open));
			if (cur->section == P_FE_TOTAL)
				return item(
					out,
					"weir_frontend_connections_total{frontend=\"%s\"} %llu\n",
					e1, (unsigned long long)shared_load(&fe->stats->accepted));
			if (cur->section == P_FE_REFUSED)
				return item(
					out,
					"weir_frontend_refused_total{frontend=\"%s\",reason="
					"\"denied\"} "
					"%llu\nweir_frontend_refused_total{frontend=\"%s\",reason="
					"\"source-limit\"} %llu\n",
					e1, (unsigned long long)shared_load(&fe->stats->denied), e1,
					(unsigned long long)shared_load(&fe->stats->limited));
			return item(
				out,
				"weir_frontend_bytes_total{frontend=\"%s\",direction=\"to_"
				"server\"} "
				"%llu\nweir_frontend_bytes_total{frontend=\"%s\",direction="
				"\"to_client\"} %llu\n",
				e1, (unsigned long long)shared_load(&fe->stats->bytes_to_server),
				e1, (unsigned long long)shared_load(&fe->stats->bytes_to_client));
		}
		case P_BE_RETRIES:
		case P_BE_QUEUED: {
			const int retries = cur->section == P_BE_RETRIES;
			const struct backend_stats *st;
			if (cur->b == 0) {
				cur->b = 1;
				return retries ? head(out, "backend_retries_total", "counter",
						      "Connects tried on another server after "
						      "one failed.")
					       : head(out, "backend_queued", "gauge",
						      "Clients waiting for a server slot now.");
			}
			if (cur->a == g->cfg.n_backends)
				break;
			metrics_escape(g->cfg.backends[cur->a].name, METRICS_PROMETHEUS, e1,
				       sizeof(e1));
			st = g->pools[cur->a++].stats;
			return item(out, "weir_backend_%s{backend=\"%s\"} %llu\n",
				    retries ? "retries_total" : "queued", e1,
				    retries ? (unsigned long long)shared_load(&st->retries)
					    : (unsigned long long)shared_load(&st->queued));
		}
		case P_SERVERS: {
			/* a: the metric; b: the backend; c: the server, 0 meaning the header. */
			const struct server *s;
			unsigned long long v;
			if (cur->a == ARRAY_SIZE(per_server))
				break;
			if (cur->b == 0 && cur->c == 0) {
				cur->c = 1;
				return head(out, per_server[cur->a].name, per_server[cur->a].type,
					    per_server[cur->a].help);
			}
			if (cur->b == g->cfg.n_backends) {
				cur->a++;
				cur->b = cur->c = 0;
				continue;
			}
			if (cur->c > g->pools[cur->b].n) {
				cur->b++;
				cur->c = 1;
				continue;
			}
			s = g->pools[cur->b].servers[cur->c - 1];
			v = cur->a == 0	  ? shared_load(&s->state) == SERVER_UP
			    : cur->a == 1 ? shared_load(&s->active)
			    : cur->a == 2 ? shared_load(&s->total)
			    : cur->a == 3 ? shared_load(&s->connect_failures)
					  : (unsigned long long)shared_load(&s->changed);
			metrics_escape(g->cfg.backends[cur->b].name, METRICS_PROMETHEUS, e1,
				       sizeof(e1));
			metrics_escape(s->label, METRICS_PROMETHEUS, e2, sizeof(e2));
			cur->c++;
			return item(out, "weir_%s{backend=\"%s\",server=\"%s\"} %llu\n",
				    per_server[cur->a].name, e1, e2, v);
		}
		case P_ACCEPT:
			if (cur->b == 0) {
				cur->b = 1;
				return head(out, "accept_errors_total", "counter",
					    "accept() failures by kind.");
			}
			if (cur->a == ACCEPT_ERROR_KINDS)
				break;
			cur->a++;
			return item(out, "weir_accept_errors_total{kind=\"%s\"} %llu\n",
				    worker_accept_error_name(cur->a - 1),
				    accept_errors(p, cur->a - 1));
		case P_PROCESS:
			cur->section++;
			return item(
				out,
				"# HELP weir_reserve_uses_total Clients closed at once from the "
				"spare descriptor when out of descriptors.\n"
				"# TYPE weir_reserve_uses_total counter\n"
				"weir_reserve_uses_total %llu\n"
				"# HELP weir_log_dropped_total Log lines dropped because the log "
				"reader fell behind.\n"
				"# TYPE weir_log_dropped_total counter\n"
				"weir_log_dropped_total %llu\n",
				(unsigned long long)PROXY_SUM(p, shed),
				(unsigned long long)log_dropped_total());
		case P_CLOSED:
			if (cur->b == 0) {
				cur->b = 1;
				return head(out, "connections_closed_total", "counter",
					    "Closed connections by reason.");
			}
			if (!conn_end_name((unsigned)cur->a))
				break;
			cur->a++;
			return item(out, "weir_connections_closed_total{reason=\"%s\"} %llu\n",
				    conn_end_name((unsigned)cur->a - 1), closed(p, cur->a - 1));
		default:
			return 0;
		}
		cur->section++;
		cur->a = cur->b = cur->c = 0;
	}
}

enum { J_FRONTENDS, J_BACKENDS, J_TAIL, J_DONE };

/* The next item of the JSON document; 0 at the end. Items carry the separators before them. */
static size_t next_json(struct metrics_cursor *cur, const struct proxy *p, char *out)
{
	const struct generation *g = cur->gen;
	char e1[512], e2[800];

	for (;;) {
		switch (cur->section) {
		case J_FRONTENDS: {
			const struct frontend *fe;
			if (cur->a == g->n_frontends)
				break;
			fe = &g->frontends[cur->a];
			metrics_escape(fe->cfg->name, METRICS_JSON, e1, sizeof(e1));
			metrics_escape(fe->cfg->backend, METRICS_JSON, e2, sizeof(e2));
			return item(
				out,
				"%s{\"name\":\"%s\",\"backend\":\"%s\",\"connections\":%zu,"
				"\"total\":%llu,\"bytes_to_server\":%llu,\"bytes_to_client\":%llu,"
				"\"denied\":%llu,\"source_limited\":%llu}",
				cur->a++ ? "," : "{\"frontends\":[", e1, e2,
				shared_load(&fe->stats->open),
				(unsigned long long)shared_load(&fe->stats->accepted),
				(unsigned long long)shared_load(&fe->stats->bytes_to_server),
				(unsigned long long)shared_load(&fe->stats->bytes_to_client),
				(unsigned long long)shared_load(&fe->stats->denied),
				(unsigned long long)shared_load(&fe->stats->limited));
		}
		case J_BACKENDS: {
			/* a: the backend; b: its next server, 0 meaning the backend's opening. */
			const struct pool *pool;
			const struct server *s;
			if (cur->a == g->cfg.n_backends)
				break;
			pool = &g->pools[cur->a];
			if (cur->b == 0) {
				metrics_escape(g->cfg.backends[cur->a].name, METRICS_JSON, e1,
					       sizeof(e1));
				cur->b = 1;
				return item(
					out,
					"%s{\"name\":\"%s\",\"balance\":\"%s\",\"retries\":%llu,"
					"\"queued\":%zu,\"servers\":[",
					cur->a ? "," : "],\"backends\":[", e1, pool->lb->name,
					(unsigned long long)shared_load(&pool->stats->retries),
					shared_load(&pool->stats->queued));
			}
			if (cur->b > pool->n) {
				cur->a++;
				cur->b = 0;
				return item(out, "]}");
			}
			s = pool->servers[cur->b - 1];
			metrics_escape(s->name, METRICS_JSON, e2, sizeof(e2));
			metrics_escape(s->label, METRICS_JSON, e1, sizeof(e1));
			return item(out,
				    "%s{\"name\":\"%s\",\"address\":\"%s\",\"state\":\"%s\","
				    "\"admin\":\"%s\",\"weight\":%u,\"maxconn\":%u,\"backup\":%s,"
				    "\"connections\":%u,\"total\":%llu,\"connect_failures\":%llu,"
				    "\"bytes_to_server\":%llu,\"bytes_to_client\":%llu,"
				    "\"last_change\":%lld,\"slow_start\":%u}",
				    cur->b++ > 1 ? "," : "", e1, e2,
				    shared_load(&s->state) == SERVER_UP ? "UP" : "DOWN",
				    server_admin_name(shared_load(&s->admin)),
				    shared_load(&s->weight), shared_load(&s->maxconn),
				    shared_load(&s->backup) ? "true" : "false",
				    shared_load(&s->active),
				    (unsigned long long)shared_load(&s->total),
				    (unsigned long long)shared_load(&s->connect_failures),
				    (unsigned long long)shared_load(&s->bytes_to_server),
				    (unsigned long long)shared_load(&s->bytes_to_client),
				    (long long)shared_load(&s->changed),
				    pool_server_share(pool, s, clock_mono_ms()) / 10);
		}
		case J_TAIL: {
			/* A configuration always has a frontend and a backend: both arrays opened.
			 */
			size_t n = item(out, "],\"accept_errors\":{");
			for (int k = 0; k < ACCEPT_ERROR_KINDS; k++)
				n += (size_t)snprintf(out + n, ITEM_MAX - n, "%s\"%s\":%llu",
						      k ? "," : "", worker_accept_error_name(k),
						      accept_errors(p, (size_t)k));
			n += (size_t)snprintf(
				out + n, ITEM_MAX - n,
				"},\"reserve_uses\":%llu,\"log_dropped\":%llu,\"closed\":{",
				(unsigned long long)PROXY_SUM(p, shed),
				(unsigned long long)log_dropped_total());
			for (unsigned e = 0; conn_end_name(e); e++)
				n += (size_t)snprintf(out + n, ITEM_MAX - n, "%s\"%s\":%llu",
						      e ? "," : "", conn_end_name(e), closed(p, e));
			/* Each worker's share, to see how the kernel spreads clients. */
			n += (size_t)snprintf(out + n, ITEM_MAX - n, "},\"workers\":[");
			for (unsigned k = 0; k < p->n_workers && ITEM_MAX - n > 100; k++)
				n += (size_t)snprintf(
					out + n, ITEM_MAX - n,
					"%s{\"id\":%u,\"connections\":%zu,\"accepted\":%llu}",
					k ? "," : "", k, shared_load(&p->workers[k].n_conns),
					(unsigned long long)shared_load(&p->workers[k].accepted));
			n += (size_t)snprintf(out + n, ITEM_MAX - n, "],\"admin\":%s}\n",
					      cur->admin ? "true" : "false");
			cur->section = J_DONE;
			return n;
		}
		default:
			return 0;
		}
		cur->section++;
		cur->a = cur->b = cur->c = 0;
	}
}

void metrics_begin(struct metrics_cursor *cur, struct proxy *p, enum metrics_format format)
{
	memset(cur, 0, sizeof(*cur));
	cur->format = format;
	cur->gen = p->gen;
	cur->gen->holds++;
}

size_t metrics_render(struct metrics_cursor *cur, struct proxy *p, char *buf, size_t cap)
{
	size_t n = 0, k;

	while (!cur->done && cap - n >= ITEM_MAX) {
		k = cur->format == METRICS_JSON ? next_json(cur, p, buf + n)
						: next_prometheus(cur, p, buf + n);
		if (k == 0)
			cur->done = true;
		n += k;
	}
	return n;
}

void metrics_end(struct metrics_cursor *cur, struct proxy *p)
{
	if (!cur->gen)
		return;
	cur->gen->holds--;
	if (cur->gen != p->gen && cur->gen->holds == 0)
		proxy_wake(p, PROXY_WAKE_REAP);
	cur->gen = NULL;
}

void metrics_summary(const struct proxy *p, char *buf, size_t len)
{
	const struct generation *g = p->gen;
	unsigned long long accepted = 0, idle = 0;
	size_t up = 0, servers = 0;

	for (unsigned e = 0; conn_end_name(e); e++)
		if (strcmp(conn_end_name(e), "idle") == 0)
			idle = closed(p, e);
	for (size_t i = 0; i < g->n_frontends; i++)
		accepted += shared_load(&g->frontends[i].stats->accepted);
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		for (size_t i = 0; i < g->pools[b].n; i++, servers++)
			up += shared_load(&g->pools[b].servers[i]->state) == SERVER_UP;
	snprintf(buf, len,
		 "stats connections=%llu accepted=%llu servers_up=%zu servers=%zu "
		 "reserve_uses=%llu idle_closed=%llu log_dropped=%llu",
		 (unsigned long long)__atomic_load_n(&p->n_conns, __ATOMIC_SEQ_CST), accepted, up,
		 servers, (unsigned long long)PROXY_SUM(p, shed), idle,
		 (unsigned long long)log_dropped_total());
}
