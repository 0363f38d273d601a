#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

/* FNV-1a over the bytes, then a 64-bit finaliser (MurmurHash3's) to spread the bits. */
uint64_t lb_hash_bytes(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t lb_client_hash(const struct sockaddr *client)
{
	if (!client)
		return 0;
	if (client->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)client;
		return lb_hash_bytes(&sin->sin_addr, sizeof(sin->sin_addr), 0);
	}
	if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)client;
		return lb_hash_bytes(&sin6->sin6_addr, sizeof(sin6->sin6_addr), 0);
	}
	return 0;
}

void pool_server_release(struct server *s)
{
	for (; s; s = s->heir)
		s->active--;
}

bool lb_less_loaded(const struct server *a, const struct server *b)
{
	/* a->active / a->weight < b->active / b->weight, without division. */
	return (uint64_t)a->active * b->weight < (uint64_t)b->active * a->weight;
}

int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err)
{
	int r = 0;

	memset(pool, 0, sizeof(*pool));
	pool->lb = lb;
	pool->rng = 0x9e3779b97f4a7c15ULL;
	pool->rise = 2;
	pool->fall = 3;
	pool->retry_interval = 2;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct addr *addrs;
		struct server *grown;
		size_t na;

		r = addr_resolve(specs[i].addr, ADDR_CONNECT, &addrs, &na, err);
		if (r < 0)
			break;
		grown = realloc(pool->servers, (pool->n + na) * sizeof(*grown));
		if (!grown) {
			free(addrs);
			err_set(err, "out of memory");
			r = -ENOMEM;
			break;
		}
		pool->servers = grown;
		for (size_t j = 0; j < na; j++) {
			struct server *s = &pool->servers[pool->n++];
			memset(s, 0, sizeof(*s));
			s->state = SERVER_UP;
			s->addr = addrs[j];
			addr_format((struct sockaddr *)&s->addr.ss, s->addr.len, s->name,
				    sizeof(s->name));
			s->pool = pool;
			s->weight = specs[i].weight;
			s->maxconn = specs[i].maxconn;
			s->backup = specs[i].backup;
		}
		free(addrs);
	}
	if (r < 0)
		pool_fini(pool);
	return r;
}

int pool_build_backend(struct pool *pool, const struct backend_cfg *be, struct weir_err *err)
{
	int r = pool_build(pool, be->servers, be->n_servers, be->balance, err);

	if (r < 0)
		return r;
	pool->cfg = be;
	pool->rise = (unsigned)be->rise;
	pool->fall = (unsigned)be->fall;
	pool->retry_interval = (double)be->health_interval_ms / 1e3;
	return 0;
}

void pool_fini(struct pool *pool)
{
	free(pool->servers);
	pool->servers = NULL;
	pool->n = 0;
}

bool pool_usable(const struct pool *pool, const struct server *s, const struct lb_pick *pick)
{
	if (s->backup != pick->backup || s->weight == 0)
		return false;
	if (s->state == SERVER_DOWN && (pool->active_checks || pick->now < s->retry_at))
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
		if (pool_usable(pool, &pool->servers[i], pick))
			total += pool->servers[i].weight;
	return total;
}

struct server *pool_weighted_at(struct pool *pool, const struct lb_pick *pick, uint64_t point)
{
	for (size_t i = 0; i < pool->n; i++) {
		struct server *s = &pool->servers[i];
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
		const struct server *s = &pool->servers[i];
		if (s->weight == 0 || s->state != SERVER_UP)
			continue;
		if (!s->maxconn || s->active < s->maxconn)
			return false;
		any = true;
	}
	return any;
}

struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client, double now)
{
	struct lb_pick pick = {
		.exclude = exclude,
		.n_exclude = n_exclude,
		.backup = false,
		.client = client,
		.now = now,
	};
	struct server *s = pool->lb->pick(pool, &pick);

	if (!s) {
		pick.backup = true;
		s = pool->lb->pick(pool, &pick);
	}
	return s;
}

static void note_if_none_up(struct pool *pool)
{
	for (size_t i = 0; i < pool->n; i++) {
		if (pool->servers[i].state == SERVER_UP) {
			pool->none_up_logged = false;
			return;
		}
	}
	if (!pool->none_up_logged)
		log_msg(WLOG_ERROR, "no server is UP: new clients are closed until one returns");
	pool->none_up_logged = true;
}

void pool_note_failure(struct pool *pool, struct server *s, const char *why, double now)
{
	s->passes = 0;
	if (s->fails < pool->fall)
		s->fails++;
	s->retry_at = now + pool->retry_interval;
	if (s->state == SERVER_UP && s->fails >= pool->fall) {
		s->state = SERVER_DOWN;
		s->changed = time(NULL);
		log_msg(WLOG_WARN, "server %s is DOWN (%s, %u/%u)", s->name, why, s->fails,
			pool->fall);
		note_if_none_up(pool);
	}
}

static void mark_up(struct pool *pool, struct server *s, const char *how)
{
	s->state = SERVER_UP;
	s->changed = time(NULL);
	s->fails = s->passes = 0;
	log_msg(WLOG_INFO, "server %s is UP (%s)", s->name, how);
	note_if_none_up(pool);
}

void pool_note_check_passed(struct pool *pool, struct server *s)
{
	s->fails = 0;
	if (s->state == SERVER_DOWN && ++s->passes >= pool->rise) {
		char how[48];
		snprintf(how, sizeof(how), "%u/%u checks passed", s->passes, pool->rise);
		mark_up(pool, s, how);
	}
}

void pool_note_connected(struct pool *pool, struct server *s)
{
	s->fails = 0;
	if (s->state == SERVER_DOWN)
		mark_up(pool, s, "a client connected");
}
