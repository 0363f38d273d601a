#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err)
{
	int r = 0;

	memset(pool, 0, sizeof(*pool));
	pool->lb = lb;
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
			s->addr = addrs[j];
			addr_format((struct sockaddr *)&s->addr.ss, s->addr.len, s->name,
				    sizeof(s->name));
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

void pool_fini(struct pool *pool)
{
	free(pool->servers);
	pool->servers = NULL;
	pool->n = 0;
}

bool pool_usable(const struct server *s, const struct lb_pick *pick)
{
	if (s->backup != pick->backup || s->weight == 0)
		return false;
	if (s->maxconn && s->active >= s->maxconn)
		return false;
	for (size_t i = 0; i < pick->n_exclude; i++)
		if (pick->exclude[i] == s)
			return false;
	return true;
}

bool pool_full(const struct pool *pool)
{
	bool any = false;

	for (size_t i = 0; i < pool->n; i++) {
		const struct server *s = &pool->servers[i];
		if (s->weight == 0)
			continue;
		if (!s->maxconn || s->active < s->maxconn)
			return false;
		any = true;
	}
	return any;
}

struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude)
{
	struct lb_pick pick = {.exclude = exclude, .n_exclude = n_exclude, .backup = false};
	struct server *s = pool->lb->pick(pool, &pick);

	if (!s) {
		pick.backup = true;
		s = pool->lb->pick(pool, &pick);
	}
	return s;
}
