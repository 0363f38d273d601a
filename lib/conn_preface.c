#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_impl.h"
#include "worker.h"

/* Refusals that could come by the thousand: one line a second says how many. */
static struct log_limit refusal_log;

static void refuse(struct conn *c, enum conn_end end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(struct conn *c, enum conn_end end, const char *fmt, ...)
{
	char client[ADDR_TEXT_MAX], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->peer.sa.sa_family == AF_UNIX)
		strcpy(client, "unix");
	else
		addr_format(&c->peer.sa, c->peer_len, client, sizeof(client));
	log_limited(&refusal_log, WLOG_WARN, "frontend %s refused %s: %s", c->fe->cfg->name, client,
		    why);
	conn_close(c, end);
}

/* The frontend's access list and per-source limits, for the client's own address. */
static bool admit(struct conn *c)
{
	struct frontend *fe = c->fe;
	enum source_verdict v;

	if (!acl_allows(&fe->acl, &c->peer.sa)) {
		shared_add(&fe->stats->denied, 1);
		refuse(c, END_DENIED, "not allowed");
		return false;
	}
	if (!fe->cfg->max_conns_per_source && !fe->cfg->rate_per_source)
		return true;
	/* Every worker's clients count against the same per-source limits. */
	pthread_mutex_lock(&fe->stats->lock);
	v = source_admit(&fe->stats->sources, &c->peer.sa, fe->cfg->max_conns_per_source,
			 fe->cfg->rate_per_source, clock_mono(), &c->source);
	pthread_mutex_unlock(&fe->stats->lock);
	if (v != SOURCE_OK) {
		shared_add(&fe->stats->limited, 1);
		refuse(c, END_LIMITED,
		       v == SOURCE_TOO_MANY ? "max-connections-per-source reached"
					    : "rate-per-source exceeded");
		return false;
	}
	return true;
}

static bool parse_hello(struct conn *c);

/* The preface is in: its timer stops (the queue or connect timeout starts now, not what is
 * left of the header's), and a server is sought. */
static void preface_done(struct conn *c)
{
	ev_timer_stop(c->w->loop, &c->wait->timer);
	c->state = CONN_CONNECTING;
	conn_connect_next(c, false);
}

/* Past the PROXY header (if any) and admitted: read the TLS hello, or go to a server. */
static void after_admission(struct conn *c)
{
	if (c->fe->n_routes) {
		c->state = CONN_HELLO;
		/* Part of it may have come with the PROXY header. */
		if (c->wait->pre_len && parse_hello(c))
			return;
		if (!conn_side_want(c, &c->client, EV_READ))
			conn_close(c, END_LOCAL_ERROR);
		return;
	}
	preface_done(c);
}

/* The PROXY header: false while more is needed; true once decided (`c` may be gone). */
static bool parse_header(struct conn *c)
{
	struct conn_wait *wt = c->wait;
	struct proxyproto_info info;
	const char *why = "no header";
	enum proxyproto_result r =
		proxyproto_parse(wt->pre, wt->pre_len, c->fe->cfg->accept_proxy, &info, &why);

	if (r == PROXYPROTO_MORE && wt->pre_len < PROXYPROTO_MAX)
		return false;
	if (r != PROXYPROTO_OK) {
		refuse(c, END_BAD_HEADER, "%s",
		       r == PROXYPROTO_MORE ? "PROXY header too long" : why);
		return true;
	}
	if (info.has_addr) {
		memcpy(&c->peer, &info.src, info.src_len);
		c->peer_len = (uint8_t)info.src_len;
		memcpy(&wt->dst, &info.dst, info.dst_len);
		wt->dst_len = info.dst_len;
	}
	/* The header is the proxy's; what follows it is the client's own. */
	wt->pre_len -= (uint32_t)info.length;
	memmove(wt->pre, wt->pre + info.length, wt->pre_len);
	if (admit(c))
		after_admission(c);
	return true;
}

/* The TLS hello: false while more is needed; true once decided (`c` may be gone). */
static bool parse_hello(struct conn *c)
{
	char name[SNI_NAME_MAX];
	const char *why = "";
	enum sni_result r = sni_parse(c->wait->pre, c->wait->pre_len, name, &why);

	if (r == SNI_MORE && c->wait->pre_len < CONN_PRE_MAX)
		return false;
	if (r == SNI_BAD || r == SNI_MORE) {
		refuse(c, END_BAD_HEADER, "%s", r == SNI_MORE ? "TLS hello too long" : why);
		return true;
	}
	c->pool = r == SNI_FOUND ? gen_route_sni(c->fe, name) : c->fe->pool;
	preface_done(c);
	return true;
}

/*
 * The client's first bytes, read ahead (they go to the server once one is chosen): its
 * PROXY header, then its TLS hello. The header timeout runs until both are in.
 */
void conn_read_preface(struct conn *c)
{
	struct conn_wait *wt = c->wait;
	ssize_t n;

	if (!wt->pre && !(wt->pre = malloc(CONN_PRE_MAX))) {
		log_limited(&conn_shortage_log, WLOG_WARN, "out of memory for a client of %s",
			    c->fe->cfg->name);
		conn_close(c, END_LOCAL_ERROR);
		return;
	}
	n = recv(c->client.fd, wt->pre + wt->pre_len, CONN_PRE_MAX - wt->pre_len, 0);
	if (side_drained(&c->client, n, CONN_PRE_MAX - wt->pre_len))
		c->client.ready &= (uint8_t)~EV_READ;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, n == 0 ? END_CLIENT_ABORT : END_CLIENT_RESET);
		return;
	}
	wt->pre_len += (uint32_t)n;
	if (c->state == CONN_HEADER)
		(void)parse_header(c);
	else
		(void)parse_hello(c);
}

void conn_begin(struct conn *c)
{
	if (c->fe->cfg->accept_proxy) {
		/* The proxy before us sends a header first; the client's address is in it. */
		c->state = CONN_HEADER;
		if (!conn_side_want(c, &c->client, EV_READ))
			conn_close(c, END_LOCAL_ERROR);
		return;
	}
	if (admit(c))
		after_admission(c);
}
