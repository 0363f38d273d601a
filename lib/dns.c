#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "proxy.h"
#include "reload.h"

/* How long a lookup made while building a configuration may take, at most. */
#define DNS_WAIT 5.0
/* c-ares: each try waits this long, twice at most. */
#define DNS_TIMEOUT_MS 1000
#define DNS_TRIES      2

/* The last good answer for one server line (by what it asks: "A host:port", "SRV name"). */
struct answer {
	struct answer *next;
	char key[300];
	struct addr *addrs;
	size_t n;
	bool answered; /* a good answer came: addrs is it */
	bool partial;  /* ...but not every SRV target of it could be looked up */
	bool failing;  /* the last lookup failed (and was logged) */
	bool used;     /* while pruning: a line of the running configuration asks for it */
};

static struct {
	pthread_mutex_t lock; /* the table and the name servers */
	char *servers;	      /* for ares_set_servers_ports_csv; NULL: the system's */
	struct answer *answers;
} dns = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- one lookup: A/AAAA of a name, or SRV and then its targets' addresses -------------- */

struct lookup {
	ares_channel ch;
	enum server_resolve kind;
	char key[300];
	char name[256]; /* the host (A) or the SRV name */
	uint16_t port;
	int pending;
	int status; /* ARES_SUCCESS once something answered, else why not */
	int failed; /* a lookup that failed for another reason than "no such name" (an SRV
		     * target's, say, while others answered: the answer is then partial) */
	struct addr *addrs;
	size_t n, cap;
	void (*finished)(struct lookup *l); /* called once nothing is pending (async) */
	struct lookup *next;
};

static void add_addr(struct lookup *l, const struct sockaddr *sa, socklen_t len)
{
	if (len > sizeof(l->addrs[0].ss) || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct addr *grown = realloc(l->addrs, cap * sizeof(*grown));
		if (!grown)
			return; /* fewer servers: better than none */
		l->addrs = grown;
		l->cap = cap;
	}
	memset(&l->addrs[l->n], 0, sizeof(l->addrs[l->n]));
	memcpy(&l->addrs[l->n].ss, sa, len);
	l->addrs[l->n++].len = len;
}

static void finish_one(struct lookup *l)
{
	if (--l->pending > 0)
		return;
	if (l->finished)
		l->finished(l);
}

static void addrinfo_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;

	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next)
			add_addr(l, n->ai_addr, n->ai_addrlen);
		l->status = ARES_SUCCESS;
	} else {
		if (l->status != ARES_SUCCESS)
			l->status = status;
		/* The first failure says why: not the ends that ares_destroy gives the rest. */
		if (status != ARES_ENOTFOUND && status != ARES_ENODATA && !l->failed)
			l->failed = status;
	}
	if (res)
		ares_freeaddrinfo(res);
	finish_one(l);
}

static void getaddr(struct lookup *l, const char *host, uint16_t port)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC,
					    .ai_socktype = SOCK_STREAM,
					    .ai_flags = ARES_AI_NUMERICSERV};
	char service[8];

	snprintf(service, sizeof(service), "%u", port);
	l->pending++;
	ares_getaddrinfo(l->ch, host, service, &hints, addrinfo_cb, l);
}

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_srv_reply *srv = NULL;

	if (status == ARES_SUCCESS)
		status = ares_parse_srv_reply(abuf, alen, &srv);
	if (status == ARES_SUCCESS) {
		for (struct ares_srv_reply *r = srv; r; r = r->next)
			getaddr(l, r->host, r->port);
		ares_free_data(srv);
	} else {
		l->status = status;
	}
	finish_one(l);
}

/* What a server line asks for; false if its address cannot be split (checked before). */
static bool lookup_init(struct lookup *l, const struct server_spec *spec)
{
	struct addr_parts parts;

	memset(l, 0, sizeof(*l));
	l->kind = spec->resolve;
	l->status = ARES_ENODATA;
	if (spec->resolve == RESOLVE_SRV) {
		snprintf(l->name, sizeof(l->name), "%s", spec->addr);
		snprintf(l->key, sizeof(l->key), "SRV %s", spec->addr);
		return true;
	}
	if (addr_split(spec->addr, ADDR_CONNECT, &parts, NULL) < 0)
		return false;
	snprintf(l->name, sizeof(l->name), "%s", parts.host);
	l->port = parts.port;
	snprintf(l->key, sizeof(l->key), "A %s", spec->addr);
	return true;
}

static void lookup_start(struct lookup *l)
{
	l->pending = 1; /* held until every query is asked: answers may come at once */
	if (l->kind == RESOLVE_SRV) {
		l->pending++;
		ares_query(l->ch, l->name, ns_c_in, ns_t_srv, srv_cb, l);
	} else {
		getaddr(l, l->name, l->port);
	}
	finish_one(l);
}

static int channel_new(ares_channel *ch, ares_sock_state_cb cb, void *data)
{
	struct ares_options o = {0};
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES, r;

	o.timeout = DNS_TIMEOUT_MS;
	o.tries = DNS_TRIES;
	if (cb) {
		o.sock_state_cb = cb;
		o.sock_state_cb_data = data;
		mask |= ARES_OPT_SOCK_STATE_CB;
	}
	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS)
		return library_status;
	r = ares_init_options(ch, &o, mask);
	pthread_mutex_lock(&dns.lock);
	if (r == ARES_SUCCESS && dns.servers)
		r = ares_set_servers_ports_csv(*ch, dns.servers);
	pthread_mutex_unlock(&dns.lock);
	if (r != ARES_SUCCESS && r != ARES_ENOTINITIALIZED)
		ares_destroy(*ch);
	return r;
}

/* Wait for a lookup (off the loop): its sockets polled until it is done or DNS_WAIT passed. */
static void lookup_now(struct lookup *l)
{
	double until = clock_mono() + DNS_WAIT;

	l->status = channel_new(&l->ch, NULL, NULL);
	if (l->status != ARES_SUCCESS)
		return;
	l->status = ARES_ENODATA;
	lookup_start(l);
	while (l->pending && clock_mono() < until) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		/* The bits as unsigned: c-ares' own macros shift an int into its sign bit. */
		unsigned bits = (unsigned)ares_getsock(l->ch, socks, ARES_GETSOCK_MAXNUM);
		struct timeval max = {1, 0}, tv, *tvp = ares_timeout(l->ch, &max, &tv);
		int n = 0;

		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			bool rd = bits & (1u << i), wr = bits & (1u << (i + ARES_GETSOCK_MAXNUM));
			if (rd || wr)
				pfd[n++] = (struct pollfd){
					socks[i], (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0)), 0};
		}
		(void)poll(pfd, (nfds_t)n, (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) + 1);
		for (int i = 0; i < n; i++)
			ares_process_fd(l->ch,
					pfd[i].revents & (POLLIN | POLLERR | POLLHUP)
						? pfd[i].fd
						: ARES_SOCKET_BAD,
					pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
		if (!n)
			ares_process_fd(l->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	}
	if (l->pending) /* cut short: what did not answer failed */
		l->failed = ARES_ETIMEOUT;
	ares_destroy(l->ch); /* whatever still waits is answered ARES_EDESTRUCTION */
	if (l->status == ARES_SUCCESS && l->n == 0)
		l->status = ARES_ENODATA;
}

/* ---- the table of answers ----------------------------------------------------------------- */

static int by_address(const void *a, const void *b)
{
	const struct addr *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(&x->ss, &y->ss, x->len);
}

/* Sorted, without repeats: two answers with the same addresses are the same answer. */
static void normalise(struct lookup *l)
{
	size_t k = 0;

	if (l->n < 2)
		return;
	qsort(l->addrs, l->n, sizeof(*l->addrs), by_address);
	for (size_t i = 0; i < l->n; i++)
		if (k == 0 || by_address(&l->addrs[k - 1], &l->addrs[i]) != 0)
			l->addrs[k++] = l->addrs[i];
	l->n = k;
}

static struct answer *answer_find(const char *key)
{
	for (struct answer *a = dns.answers; a; a = a->next)
		if (strcmp(a->key, key) == 0)
			return a;
	return NULL;
}

/* Why a lookup found nothing, or not everything. */
static const char *lookup_error(const struct lookup *l)
{
	if (l->failed)
		return ares_strerror(l->failed);
	return l->status == ARES_SUCCESS ? "no address" : ares_strerror(l->status);
}

/*
 * Under the lock: take in what `l` found. A good, non-empty answer replaces the last one
 * (true if it differs); a failed or empty one keeps it, logged once per change of state. So
 * does a partial one (an SRV target that could not be looked up, rather than one whose name
 * does not exist), which would drop a server for a passing fault, unless there is no
 * complete answer to keep: then the targets that answered are better than nothing, and
 * newer than the last partial answer.
 * Without `create`, an answer forgotten meanwhile (its line was removed) stays forgotten.
 */
static bool answer_take(struct lookup *l, bool create)
{
	struct answer *a = answer_find(l->key);
	bool found = l->status == ARES_SUCCESS && l->n > 0, changed;

	if (!a && !create)
		return false;
	if (!a) {
		if (!(a = calloc(1, sizeof(*a))))
			return false;
		snprintf(a->key, sizeof(a->key), "%s", l->key);
		a->next = dns.answers;
		dns.answers = a;
	}
	if (!found || (l->failed && a->answered && !a->partial)) {
		if (!a->failing)
			log_msg(WLOG_WARN, "resolve %s: %s%s; keeping its %zu server(s)", l->name,
				found ? "a target did not answer: " : "", lookup_error(l), a->n);
		a->failing = true;
		return false;
	}
	if (l->failed && (!a->partial || a->failing))
		log_msg(WLOG_WARN, "resolve %s: a target did not answer: %s; %s", l->name,
			lookup_error(l), "using the others' addresses for now");
	else if (!l->failed && (a->failing || a->partial))
		log_msg(WLOG_INFO, "resolve %s: answers again", l->name);
	a->failing = false;
	a->partial = l->failed != 0;
	normalise(l);
	changed = !a->answered || a->n != l->n ||
		  memcmp(a->addrs, l->addrs, l->n * sizeof(*l->addrs)) != 0;
	if (changed) {
		if (a->answered)
			log_msg(WLOG_INFO, "resolve %s: %zu address(es), was %zu", l->name, l->n,
				a->n);
		free(a->addrs);
		a->addrs = l->addrs;
		a->n = l->n;
		l->addrs = NULL;
		l->n = l->cap = 0;
	}
	a->answered = true;
	return changed;
}

int dns_addresses(const struct server_spec *spec, struct addr **out, size_t *n,
		  struct weir_err *err)
{
	struct lookup l;
	struct answer *a;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (!lookup_init(&l, spec)) {
		err_set(err, "server '%s': not host:port", spec->addr);
		return -EINVAL;
	}
	pthread_mutex_lock(&dns.lock);
	a = answer_find(l.key);
	pthread_mutex_unlock(&dns.lock);
	if (!a) {
		lookup_now(&l); /* the first time: wait for it (never on a loop) */
		pthread_mutex_lock(&dns.lock);
		(void)answer_take(&l, true);
		pthread_mutex_unlock(&dns.lock);
		free(l.addrs);
	}
	pthread_mutex_lock(&dns.lock);
	a = answer_find(l.key);
	if (!a) {
		err_set(err, "out of memory");
		r = -ENOMEM;
	} else if (a->n) {
		*out = malloc(a->n * sizeof(**out));
		if (*out) {
			memcpy(*out, a->addrs, a->n * sizeof(**out));
			*n = a->n;
		} else {
			err_set(err, "out of memory");
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&dns.lock);
	return r;
}

int dns_check_resolvers(const char *text, struct weir_err *err)
{
	char buf[1024], *save = NULL;

	if (strlen(text) >= sizeof(buf)) {
		err_set(err, "resolvers '%.40s...' is too long", text);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		unsigned char b[16];
		char host[64] = "";
		unsigned port = 53;
		/* 10.0.0.1, 10.0.0.1:5353, [2001:db8::1]:53 or 2001:db8::1 */
		if (item[0] == '[' && sscanf(item, "[%63[^]]]:%u", host, &port) >= 1 &&
		    inet_pton(AF_INET6, host, b) == 1 && port > 0 && port < 65536)
			continue;
		if (inet_pton(AF_INET6, item, b) == 1)
			continue;
		if (sscanf(item, "%63[^:]:%u", host, &port) >= 1 &&
		    inet_pton(AF_INET, host, b) == 1 && port > 0 && port < 65536 &&
		    strspn(item, "0123456789.:") == strlen(item))
			continue;
		err_set(err, "'%s' is not IP[:port]", item);
		return -EINVAL;
	}
	return 0;
}

int dns_setup(const char *resolvers, struct weir_err *err)
{
	char *copy = resolvers ? strdup(resolvers) : NULL;

	if (resolvers && !copy) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&dns.lock);
	free(dns.servers);
	dns.servers = copy;
	pthread_mutex_unlock(&dns.lock);
	return 0;
}

/* ---- looking up again, on the control loop ------------------------------------------- */

struct sock_watch {
	ev_io io;
	struct sock_watch *next;
};

static struct {
	struct ev_loop *loop;
	struct proxy *p;
	struct reloader *r;
	ares_channel ch;
	bool running;
	ev_timer tick;	  /* every resolve-interval */
	ev_timer timeout; /* c-ares' own deadlines */
	struct sock_watch *socks;
	size_t lookups; /* of the round under way */
	bool changed;	/* some answer of the round differs */
	bool unapplied; /* the last rebuild for changed answers failed: try again */
} live;

/* How the rebuild asked for at the end of a round went: one that failed (another name of
 * the configuration did not resolve, say) is asked for again at the end of the next round,
 * since the answers it was to apply are the last ones now and will not change again. */
static void rebuilt(void *ctx, bool ok, const char *why)
{
	(void)ctx;
	if (live.p->state != PROXY_RUNNING)
		return; /* refused because weir is stopping: nothing to try again */
	if (!ok && !live.unapplied)
		log_msg(WLOG_WARN, "resolve: the servers from DNS wait for the next round: %s",
			why);
	live.unapplied = !ok;
}

/* At the end of a round: rebuild the running configuration if some answer changed, or if
 * the last rebuild did not go through. */
static void round_over(void)
{
	if ((live.changed || live.unapplied) && live.running) {
		live.changed = false;
		reloader_change(live.r, NULL, rebuilt, NULL);
	}
}

static void rearm_timeout(void)
{
	struct timeval tv, *tvp = ares_timeout(live.ch, NULL, &tv);

	ev_timer_stop(live.loop, &live.timeout);
	if (!tvp)
		return;
	ev_timer_set(&live.timeout, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6, 0.);
	ev_timer_start(live.loop, &live.timeout);
}

static void sock_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	ares_process_fd(live.ch, revents & EV_READ ? io->fd : ARES_SOCKET_BAD,
			revents & EV_WRITE ? io->fd : ARES_SOCKET_BAD);
	rearm_timeout();
}

static void timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	ares_process_fd(live.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm_timeout();
}

/* c-ares opened, changed or closed a socket: watch it for what it says. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sock_watch **p = &live.socks, *s;

	while (*p && (*p)->io.fd != fd)
		p = &(*p)->next;
	s = *p;
	if (s)
		ev_io_stop(live.loop, &s->io);
	if (!readable && !writable) {
		if (s) {
			*p = s->next;
			free(s);
		}
		return;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return; /* the lookup times out: the last answer stays */
		s->next = live.socks;
		live.socks = s;
	}
	ev_io_init(&s->io, sock_io_cb, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	ev_io_start(live.loop, &s->io);
}

static void round_one_done(struct lookup *l)
{
	bool changed;

	/* Cut short by dns_stop: not an answer, and nothing to log. */
	if (live.running) {
		normalise(l);
		pthread_mutex_lock(&dns.lock);
		changed = answer_take(l, false);
		pthread_mutex_unlock(&dns.lock);
		live.changed |= changed;
	}
	free(l->addrs);
	free(l);
	if (--live.lookups == 0)
		round_over();
}

/* Whether an earlier line of the round asks the same. */
static bool asked(const struct generation *g, size_t b, size_t i)
{
	const struct server_spec *s = &g->cfg.backends[b].servers[i];

	for (size_t bb = 0; bb <= b; bb++)
		for (size_t k = 0; k < (bb == b ? i : g->cfg.backends[bb].n_servers); k++) {
			const struct server_spec *t = &g->cfg.backends[bb].servers[k];
			if (t->resolve == s->resolve && strcmp(t->addr, s->addr) == 0)
				return true;
		}
	return false;
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	const struct generation *g = live.p->gen;

	t->repeat = (double)g->cfg.resolve_interval_ms / 1e3;
	ev_timer_again(loop, t);
	if (live.lookups)
		return; /* the last round is still waiting for answers */
	/* One more than the lookups, released at the end: none can end the round early. */
	live.lookups = 1;
	for (size_t b = 0; b < g->cfg.n_backends; b++) {
		for (size_t i = 0; i < g->cfg.backends[b].n_servers; i++) {
			const struct server_spec *s = &g->cfg.backends[b].servers[i];
			struct lookup *l;
			if (s->resolve == RESOLVE_ONCE || asked(g, b, i) ||
			    !(l = malloc(sizeof(*l))))
				continue;
			if (!lookup_init(l, s)) {
				free(l);
				continue;
			}
			l->ch = live.ch;
			l->finished = round_one_done;
			live.lookups++;
			lookup_start(l);
		}
	}
	if (--live.lookups == 0)
		round_over();
	rearm_timeout();
}

int dns_start(struct ev_loop *loop, struct proxy *p, struct reloader *r, struct weir_err *err)
{
	int s;

	memset(&live, 0, sizeof(live));
	live.loop = loop;
	live.p = p;
	live.r = r;
	s = channel_new(&live.ch, sock_state_cb, NULL);
	if (s != ARES_SUCCESS) {
		err_set(err, "cannot start the resolver: %s", ares_strerror(s));
		return -EINVAL;
	}
	live.running = true;
	ev_init(&live.timeout, timeout_cb);
	ev_init(&live.tick, tick_cb);
	live.tick.repeat = (double)p->gen->cfg.resolve_interval_ms / 1e3;
	ev_timer_again(loop, &live.tick);
	return 0;
}

/* Under the lock: drop the answers that no line of `g` asks for. */
static void answers_prune(const struct generation *g)
{
	struct lookup l;

	for (struct answer *a = dns.answers; a; a = a->next)
		a->used = false;
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		for (size_t i = 0; i < g->cfg.backends[b].n_servers; i++) {
			const struct server_spec *s = &g->cfg.backends[b].servers[i];
			struct answer *a;
			if (s->resolve != RESOLVE_ONCE && lookup_init(&l, s) &&
			    (a = answer_find(l.key)))
				a->used = true;
		}
	for (struct answer **p = &dns.answers; *p;) {
		struct answer *a = *p;
		if (a->used) {
			p = &a->next;
			continue;
		}
		*p = a->next;
		free(a->addrs);
		free(a);
	}
}

void dns_follow(void)
{
	double interval;

	if (!live.running)
		return;
	pthread_mutex_lock(&dns.lock);
	answers_prune(live.p->gen);
	pthread_mutex_unlock(&dns.lock);
	interval = (double)live.p->gen->cfg.resolve_interval_ms / 1e3;
	if (interval != live.tick.repeat) {
		live.tick.repeat = interval;
		ev_timer_again(live.loop, &live.tick);
	}
}

void dns_stop(void)
{
	if (!live.running)
		return;
	live.running = false;
	ev_timer_stop(live.loop, &live.tick);
	ev_timer_stop(live.loop, &live.timeout);
	ares_destroy(live.ch); /* pending lookups end here: their callbacks free them */
	while (live.socks) {
		struct sock_watch *s = live.socks;
		live.socks = s->next;
		ev_io_stop(live.loop, &s->io);
		free(s);
	}
}

void dns_cleanup(void)
{
	pthread_mutex_lock(&dns.lock);
	while (dns.answers) {
		struct answer *a = dns.answers;
		dns.answers = a->next;
		free(a->addrs);
		free(a);
	}
	free(dns.servers);
	dns.servers = NULL;
	pthread_mutex_unlock(&dns.lock);
}
