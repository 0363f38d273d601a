#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "htab.h"
#include "pool.h"

const char *server_admin_name(enum server_admin a)
{
	static const char *const names[] = {"ready", "drain", "maint"};

	return names[a];
}

static const struct lb_ops *const all_lb[] = {&lb_roundrobin, &lb_leastconn, &lb_random, &lb_source,
					      &lb_hash};

const struct lb_ops *lb_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(all_lb); i++)
		if (strcmp(all_lb[i]->name, name) == 0)
			return all_lb[i];
	return NULL;
}

const char *lb_names(void)
{
	return "roundrobin, leastconn, random, source, hash";
}

uint64_t lb_client_hash(const struct sockaddr *client)
{
	if (!client)
		return 0;
	if (client->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)client;
		return hash_bytes(&sin->sin_addr, sizeof(sin->sin_addr), 0);
	}
	if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)client;
		return hash_bytes(&sin6->sin6_addr, sizeof(sin6->sin6_addr), 0);
	}
	return 0;
}

uint64_t lb_random_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

uint64_t lb_random_seed(void)
{
	static uint64_t calls;
	struct timespec ts;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = hash_bytes(&ts, sizeof(ts), (uint64_t)getpid() ^ shared_add(&calls, 1) << 32);
	return seed ? seed : 1;
}

bool lb_less_loaded(const struct server *a, const struct server *b)
{
	/* a->active / a->weight < b->active / b->weight, without division. */
	return (uint64_t)shared_load(&a->active) * shared_load(&b->weight) <
	       (uint64_t)shared_load(&b->active) * shared_load(&a->weight);
}

/* Servers of one pool with the same name: the occurrence table's key and entries. */
struct occurrence_key {
	const char *name;
	unsigned occurrence;
};

static bool same_key(const void *entry, const void *key)
{
	const struct occurrence_key *a = entry, *b = key;

	return a->occurrence == b->occurrence && strcmp(a->name, b->name) == 0;
}

static bool same_occurrence(const void *entry, const void *key)
{
	const struct server *s = entry;
	const struct occurrence_key *k = key;

	return s->occurrence == k->occurrence && strcmp(s->name, k->name) == 0;
}

/* A label per server, unique in the pool: its name= or address, "#2" on for repeats. */
static int label_servers(struct pool *pool, const struct server_spec *specs)
{
	struct occurrence_key *keys = calloc(pool->n + 1, sizeof(*keys));
	struct htab t;

	if (!keys || htab_init(&t, pool->n) < 0) {
		free(keys);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		struct occurrence_key *k = &keys[i];
		uint64_t h;
		void **slot;
		k->name = specs[s->spec].name ? specs[s->spec].name : s->name;
		h = hash_str(k->name, 1);
		while (*(slot = htab_slot(&t, h + k->occurrence, same_key, k)))
			k->occurrence++;
		*slot = k;
		if (k->occurrence)
			snprintf(s->label, sizeof(s->label), "%.*s#%u", SERVER_NAME_MAX - 1,
				 k->name, k->occurrence + 1);
		else
			snprintf(s->label, sizeof(s->label), "%.*s", SERVER_NAME_MAX - 1, k->name);
	}
	htab_fini(&t);
	free(keys);
	return 0;
}

static bool same_line_and_count(const void *entry, const void *key)
{
	const struct server *a = entry, *b = key;

	return a->same_origin == b->same_origin && a->origin == b->origin &&
	       strcmp(a->name, b->name) == 0;
}

/* Number each server among the earlier ones of the pool with the same address, and among
 * those with the same address from the same kind of line. */
static int number_duplicates(struct pool *pool)
{
	struct htab t, by_origin;

	if (htab_init(&t, pool->n) < 0)
		return -ENOMEM;
	if (htab_init(&by_origin, pool->n) < 0) {
		htab_fini(&t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		struct occurrence_key k = {s->name, 0};
		uint64_t h = hash_str(s->name, 0);
		void **slot;
		while (*(slot = htab_slot(&t, h + k.occurrence, same_occurrence, &k)))
			k.occurrence++;
		s->occurrence = k.occurrence;
		*slot = s;
		/* Seeded, not xor'd: a line's origin hashes its address text, often the same. */
		h = hash_str(s->name, s->origin);
		for (s->same_origin = 0;
		     *(slot = htab_slot(&by_origin, h + s->same_origin, same_line_and_count, s));)
			s->same_origin++;
		*slot = s;
	}
	htab_fini(&by_origin);
	htab_fini(&t);
	return 0;
}

static struct server *server_new(const struct addr *a, const struct server_spec *spec)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refs = 1;
	s->state = SERVER_UP;
	s->addr = *a;
	addr_format((const struct sockaddr *)&s->addr.ss, s->addr.len, s->name, sizeof(s->name));
	s->weight = spec->weight;
	s->maxconn = spec->maxconn;
	s->backup = spec->backup;
	s->send_proxy = spec->send_proxy;
	if (spec->name)
		snprintf(s->given, sizeof(s->given), "%s", spec->name);
	s->origin = hash_str(spec->addr, spec->resolve);
	if (spec->name)
		s->origin = hash_str(spec->name, s->origin);
	return s;
}

/* `s`'s source from its text (config_parse_source: checked already): the address, port 0,
 * for bind(), and the range of ports, if any. -EINVAL if it cannot reach s's family. */
static int source_addr(const char *text, struct server *s)
{
	struct addr *out = &s->source;
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
	char ip[INET6_ADDRSTRLEN];
	struct weir_err err;

	memset(out, 0, sizeof(*out));
	if (config_parse_source(text, ip, &s->source_lo, &s->source_hi, &err) < 0)
		return -EINVAL;
	if (s->addr.ss.ss_family == AF_INET && inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		out->len = sizeof(*sin);
		return 0;
	}
	if (s->addr.ss.ss_family == AF_INET6 && inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		out->len = sizeof(*sin6);
		return 0;
	}
	s->source_lo = s->source_hi = 0;
	return -EINVAL;
}

/* Lay out each tier: its servers with weight > 0, their cumulative weights, and what the
 * algorithm reads besides. */
static int layout(struct pool *pool)
{
	for (int b = 0; b < 2; b++) {
		struct lb_tier *t = &pool->tiers[b];
		t->idx = calloc(pool->n + 1, sizeof(*t->idx));
		t->cum = calloc(pool->n + 1, sizeof(*t->cum));
		if (!t->idx || !t->cum)
			return -ENOMEM;
		for (size_t i = 0; i < pool->n; i++) {
			const struct server *s = pool->servers[i];
			if (s->backup != (b == 1) || s->weight == 0)
				continue;
			t->total += s->weight;
			t->idx[t->n] = (uint32_t)i;
			t->cum[t->n++] = t->total;
		}
		if (pool->lb->layout && t->n && pool->lb->layout(pool, t) < 0)
			return -ENOMEM;
	}
	return 0;
}

int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err)
{
	size_t cap = n;
	int r = 0;

	memset(pool, 0, sizeof(*pool));
	pool->lb = lb;
	pool->rise = 2;
	pool->fall = 3;
	pool->servers = calloc(cap ? cap : 1, sizeof(*pool->servers));
	if (!pool->servers) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct addr *addrs;
		size_t na;

		/* Names that change (resolve) are looked up again and again (dns.h). */
		r = specs[i].resolve == RESOLVE_ONCE
			    ? addr_resolve(specs[i].addr, ADDR_CONNECT, &addrs, &na, err)
			    : dns_addresses(&specs[i], &addrs, &na, err);
		if (r < 0)
			break;
		if (pool->n + na > cap) {
			/* A name gave several addresses: grow geometrically. */
			size_t want = cap * 2 > pool->n + na ? cap * 2 : pool->n + na;
			struct server **grown = realloc(pool->servers, want * sizeof(*grown));
			if (!grown)
				r = -ENOMEM;
			else
				pool->servers = grown, cap = want;
		}
		for (size_t j = 0; j < na && r == 0; j++) {
			struct server *s = server_new(&addrs[j], &specs[i]);
			if (!s) {
				r = -ENOMEM;
				break;
			}
			s->spec = (uint32_t)i;
			if (specs[i].source && source_addr(specs[i].source, s) < 0) {
				if (specs[i].resolve != RESOLVE_ONCE) {
					/* An address of the other family from DNS: not one of
					 * this line's servers, as it can never be reached. */
					free(s);
					continue;
				}
				err_set(err,
					"server %s: source %s cannot reach it (another family)",
					s->name, specs[i].source);
				r = -EINVAL;
			}
			pool->servers[pool->n++] = s;
		}
		free(addrs);
	}
	if (r == 0)
		r = number_duplicates(pool);
	if (r == 0)
		r = label_servers(pool, specs);
	if (r == 0)
		r = layout(pool);
	if (r == -ENOMEM)
		err_set(err, "out of memory");
	if (r < 0)
		pool_fini(pool);
	return r;
}

/* What a server line leaves to its backend: send-proxy and source. */
static int backend_defaults(struct pool *pool, const struct backend_cfg *be, struct weir_err *err)
{
	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		if (s->send_proxy == CONFIG_SEND_PROXY_BACKEND)
			s->send_proxy = be->send_proxy;
		if (!s->source.len && be->source && source_addr(be->source, s) < 0) {
			err_set(err,
				"backend '%s': source %s cannot reach server %s (another family)",
				be->name, be->source, s->name);
			return -EINVAL;
		}
	}
	return 0;
}

int pool_build_backend(struct pool *pool, const struct backend_cfg *be, struct weir_err *err)
{
	/* A line from DNS without a source of its own takes the backend's while it is built, so
	 * that addresses of the other family are left out rather than refused (pool_build). */
	struct server_spec *specs = calloc(be->n_servers + 1, sizeof(*specs));
	int r;

	if (!specs) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < be->n_servers; i++) {
		specs[i] = be->servers[i]; /* borrowed: nothing of it is freed here */
		if (specs[i].resolve != RESOLVE_ONCE && !specs[i].source)
			specs[i].source = be->source;
	}
	r = pool_build(pool, specs, be->n_servers, be->balance, err);
	free(specs);
	if (r == 0 && (r = backend_defaults(pool, be, err)) < 0)
		pool_fini(pool);
	if (r < 0)
		return r;
	pool->cfg = be;
	pool->rise = (unsigned)be->rise;
	pool->fall = (unsigned)be->fall;
	pool->active_checks = be->health_check == HEALTH_TCP;
	return 0;
}

void pool_fini(struct pool *pool)
{
	for (size_t i = 0; i < pool->n; i++)
		if (--pool->servers[i]->refs == 0)
			free(pool->servers[i]);
	free(pool->servers);
	for (int b = 0; b < 2; b++) {
		free(pool->tiers[b].idx);
		free(pool->tiers[b].cum);
		free(pool->tiers[b].sched);
		free(pool->tiers[b].ring);
	}
	free(pool->local);
	memset(pool->tiers, 0, sizeof(pool->tiers));
	pool->servers = NULL;
	pool->local = NULL;
	pool->n = 0;
}

bool pool_usable(const struct pool *pool, const struct server *s, const struct lb_pick *pick)
{
	unsigned maxconn = shared_load(&s->maxconn);

	if (shared_load(&s->backup) != pick->backup || shared_load(&s->weight) == 0 ||
	    shared_load(&s->state) != SERVER_UP || shared_load(&s->admin) != ADMIN_READY)
		return false;
	if (maxconn && shared_load(&s->active) >= maxconn)
		return false;
	for (size_t i = 0; i < pick->n_exclude; i++)
		if (pick->exclude[i] == s)
			return false;
	if (pick->ramp) {
		/* Turned away but for its part of its share, it leaves the client to others.
		 * One draw a pick: a scan that asks twice gets the same answer. */
		if (pool_server_share(pool, s, pick->now_ms) <= pick->draw)
			return false;
	}
	return true;
}

unsigned pool_server_share(const struct pool *pool, const struct server *s, uint64_t now_ms)
{
	uint64_t slow = pool->cfg ? pool->cfg->slow_start_ms : 0, start, ran;

	if (!slow || !pool->lb->ramps || !(start = shared_load(&s->ramp_start)))
		return 1000;
	ran = now_ms > start ? now_ms - start : 0;
	if (ran >= slow)
		return 1000;
	/* From a twentieth to the whole, in proportion to the time since it began. */
	return ran * 1000 / slow > 50 ? (unsigned)(ran * 1000 / slow) : 50;
}

void pool_server_ramp(const struct pool *pool, struct server *s)
{
	if (pool->cfg && pool->cfg->slow_start_ms && pool->lb->ramps)
		shared_store(&s->ramp_start, clock_mono_ms());
}

struct server *lb_weighted_at(const struct pool *pool, const struct lb_tier *t, uint64_t point)
{
	size_t lo = 0, hi = t->n - 1;

	/* The first k with cum[k] > point. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->cum[mid] > point)
			hi = mid;
		else
			lo = mid + 1;
	}
	return pool->servers[t->idx[lo]];
}

struct server *lb_scan_weighted(struct pool *pool, const struct lb_tier *t,
				const struct lb_pick *pick, uint64_t point)
{
	uint64_t usable = 0;

	for (size_t k = 0; k < t->n; k++) {
		const struct server *s = pool->servers[t->idx[k]];
		if (pool_usable(pool, s, pick))
			usable += shared_load(&s->weight);
	}
	if (usable == 0)
		return NULL;
	point %= usable;
	for (size_t k = 0; k < t->n; k++) {
		struct server *s = pool->servers[t->idx[k]];
		unsigned weight;
		if (!pool_usable(pool, s, pick))
			continue;
		weight = shared_load(&s->weight);
		if (point < weight)
			return s;
		point -= weight;
	}
	return NULL; /* the weights changed under the scan (a reload): nobody this time */
}

struct server *lb_draw(struct pool *pool, const struct lb_tier *t, const struct lb_pick *pick)
{
	if (t->total == 0)
		return NULL;
	/* Drawing again until a usable one comes keeps the shares of the usable ones. */
	for (int k = 0; k < LB_PROBES; k++) {
		struct server *s = lb_weighted_at(pool, t, lb_random_next(pick->rng) % t->total);
		if (pool_usable(pool, s, pick))
			return s;
	}
	return lb_scan_weighted(pool, t, pick, lb_random_next(pick->rng));
}

struct server *lb_scan_from(struct pool *pool, const struct lb_tier *t, const struct lb_pick *pick,
			    size_t start)
{
	for (size_t k = 0; k < t->n; k++) {
		struct server *s = pool->servers[t->idx[(start + k) % t->n]];
		if (pool_usable(pool, s, pick))
			return s;
	}
	return NULL;
}

const char *pool_server_ref(const struct pool *pool, const struct server *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pool->cfg ? pool->cfg->name : "-", pool_server_name(s));
	return buf;
}

bool pool_spec_drained(const struct pool *pool, size_t spec, struct weir_err *err)
{
	for (size_t i = 0; i < pool->n; i++) {
		const struct server *t = pool->servers[i];
		if (t->spec != spec)
			continue;
		if (shared_load(&t->admin) == ADMIN_READY) {
			err_set(err, "server %s is ready: set it to drain (or maint) first",
				t->label);
			return false;
		}
		if (shared_load(&t->active)) {
			err_set(err,
				"server %s still has %u connection(s): wait, or shut them down",
				t->label, shared_load(&t->active));
			return false;
		}
		/* Servers of one address from alike lines are told apart by their order: a
		 * later one would become this one, drain and all, and its own connections
		 * be left over. */
		for (size_t k = 0; k < pool->n; k++) {
			const struct server *u = pool->servers[k];
			if (u->spec > spec && u->origin == t->origin &&
			    strcmp(u->name, t->name) == 0) {
				err_set(err,
					"server %s has the address of %s, listed after it: delete "
					"that one first, or set this one's weight to 0",
					t->label, u->label);
				return false;
			}
		}
	}
	return true;
}

bool pool_full(const struct pool *pool)
{
	bool any = false;

	/* Only the servers a pick of this pool can give: one laid out with weight 0 may have
	 * a weight now, set by a newer configuration that shares it, and still not be pickable
	 * here; counting it, a waiting client would be taken out of line for nobody. */
	for (int b = 0; b < 2; b++) {
		const struct lb_tier *t = &pool->tiers[b];
		for (size_t k = 0; k < t->n; k++) {
			const struct server *s = pool->servers[t->idx[k]];
			unsigned maxconn = shared_load(&s->maxconn);
			if (shared_load(&s->weight) == 0 || shared_load(&s->state) != SERVER_UP ||
			    shared_load(&s->admin) != ADMIN_READY)
				continue;
			if (!maxconn || shared_load(&s->active) < maxconn)
				return false;
			any = true;
		}
	}
	return any;
}

/* Each thread draws from its own random state: picks share nothing they write. */
static __thread uint64_t thread_rng;

struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client)
{
	bool ramps = pool->cfg && pool->cfg->slow_start_ms && pool->lb->ramps;
	struct lb_pick pick = {
		.exclude = exclude,
		.n_exclude = n_exclude,
		.backup = false,
		.client = client,
		.rng = &thread_rng,
		.ramp = ramps,
		.now_ms = ramps ? clock_mono_ms() : 0,
	};
	struct server *s;

	if (!thread_rng)
		thread_rng = lb_random_seed();
	if (ramps)
		pick.draw = (unsigned)(lb_random_next(&thread_rng) % 1000);
	/* Each tier with slow starts, then without them: servers in their slow start do not
	 * turn away a client that no other server of the tier can take. */
	for (int tier = 0; tier < 2; tier++) {
		pick.backup = tier == 1;
		pick.ramp = ramps;
		if ((s = pool->lb->pick(pool, &pick)))
			return s;
		pick.ramp = false;
		if (ramps && (s = pool->lb->pick(pool, &pick)))
			return s;
	}
	return NULL;
}

/* Take one of the slots of `s` unless it is at its maxconn. */
static bool take_slot(struct server *s)
{
	unsigned maxconn = shared_load(&s->maxconn), active = shared_load(&s->active);

	do {
		if (maxconn && active >= maxconn)
			return false;
	} while (!__atomic_compare_exchange_n(&s->active, &active, active + 1, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

struct server *pool_take(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client)
{
	/* Another worker may take the last slot between the pick and the take: pick again
	 * (the full server is not usable any more), a bounded number of times. */
	for (int k = 0; k < LB_PROBES; k++) {
		struct server *s = pool_pick(pool, exclude, n_exclude, client);
		if (!s || take_slot(s))
			return s;
	}
	return NULL;
}
