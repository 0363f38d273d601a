#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "htab.h"
#include "pool.h"

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
	struct timespec ts;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = hash_bytes(&ts, sizeof(ts), (uint64_t)getpid());
	return seed ? seed : 1;
}

bool lb_less_loaded(const struct server *a, const struct server *b)
{
	/* a->active / a->weight < b->active / b->weight, without division. */
	return (uint64_t)a->active * b->weight < (uint64_t)b->active * a->weight;
}

/* Servers of one pool with the same name: the occurrence table's key and entries. */
struct occurrence_key {
	const char *name;
	unsigned occurrence;
};

static bool same_occurrence(const void *entry, const void *key)
{
	const struct server *s = entry;
	const struct occurrence_key *k = key;

	return s->occurrence == k->occurrence && strcmp(s->name, k->name) == 0;
}

/* Number each server among the earlier ones of the pool with the same address. */
static int number_duplicates(struct pool *pool)
{
	struct htab t;

	if (htab_init(&t, pool->n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		struct occurrence_key k = {s->name, 0};
		uint64_t h = hash_str(s->name, 0);
		void **slot;
		while (*(slot = htab_slot(&t, h + k.occurrence, same_occurrence, &k)))
			k.occurrence++;
		s->occurrence = k.occurrence;
		*slot = s;
	}
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
	return s;
}

/* An IP literal, port 0, for bind(); -EINVAL if it cannot reach `to`'s family. */
static int source_addr(const char *ip, const struct addr *to, struct addr *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (to->ss.ss_family == AF_INET && inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		out->len = sizeof(*sin);
		return 0;
	}
	if (to->ss.ss_family == AF_INET6 && inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		out->len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err)
{
	size_t cap = n;
	int r = 0;

	memset(pool, 0, sizeof(*pool));
	idle_list_init(&pool->queue);
	pool->lb = lb;
	pool->rng = lb_random_seed();
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

		r = addr_resolve(specs[i].addr, ADDR_CONNECT, &addrs, &na, err);
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
			pool->servers[pool->n++] = s;
			if (specs[i].source &&
			    source_addr(specs[i].source, &s->addr, &s->source) < 0) {
				err_set(err,
					"server %s: source %s cannot reach it (another family)",
					s->name, specs[i].source);
				r = -EINVAL;
			}
		}
		free(addrs);
	}
	if (r == 0)
		r = number_duplicates(pool);
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
		if (!s->source.len && be->source &&
		    source_addr(be->source, &s->addr, &s->source) < 0) {
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
	int r = pool_build(pool, be->servers, be->n_servers, be->balance, err);

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
	pool->servers = NULL;
	pool->n = 0;
}

bool pool_usable(const struct pool *pool, const struct server *s, const struct lb_pick *pick)
{
	if (s->backup != pick->backup || s->weight == 0 || s->state != SERVER_UP)
		return false;
	if (s->maxconn && s->active >= s->maxconn)
		return false;
	for (size_t i = 0; i < pick->n_exclude; i++)
		if (pick->exclude[i] == s)
			return false;
	return true;
}

uint64_t pool_usable_weight(const struct pool *pool, const struct lb_pick *pick)
{
	uint64_t total = 0;

	for (size_t i = 0; i < pool->n; i++)
		if (pool_usable(pool, pool->servers[i], pick))
			total += pool->servers[i]->weight;
	return total;
}

struct server *pool_weighted_at(struct pool *pool, const struct lb_pick *pick, uint64_t point)
{
	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = pool->servers[i];
		if (!pool_usable(pool, s, pick))
			continue;
		if (point < s->weight)
			return s;
		point -= s->weight;
	}
	return NULL;
}

bool pool_full(const struct pool *pool)
{
	bool any = false;

	for (size_t i = 0; i < pool->n; i++) {
		const struct server *s = pool->servers[i];
		if (s->weight == 0 || s->state != SERVER_UP)
			continue;
		if (!s->maxconn || s->active < s->maxconn)
			return false;
		any = true;
	}
	return any;
}

struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client)
{
	struct lb_pick pick = {
		.exclude = exclude,
		.n_exclude = n_exclude,
		.backup = false,
		.client = client,
	};
	struct server *s = pool->lb->pick(pool, &pick);

	if (!s) {
		pick.backup = true;
		s = pool->lb->pick(pool, &pick);
	}
	return s;
}
