/*
 * The servers of a backend and the strategy that picks one for each new client. Backup
 * servers take clients only while no primary server can.
 */
#ifndef WEIR_POOL_H
#define WEIR_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "util.h"

struct server {
	char name[ADDR_TEXT_MAX];
	struct addr addr;
	unsigned weight;  /* 0: takes no new clients */
	unsigned maxconn; /* 0: no limit */
	bool backup;
	unsigned active; /* open connections (including connecting) */
	int64_t current; /* smooth weighted round robin state */
	uint64_t total;	 /* connections ever given to this server */
	uint64_t connect_failures;
};

/* What a pick must respect. */
struct lb_pick {
	struct server *const *exclude; /* servers this client already tried */
	size_t n_exclude;
	bool backup; /* choose among backups (true) or primaries (false) */
};

struct pool;

/* A balancing algorithm: one const instance per lb_*.c file. */
struct lb_ops {
	const char *name;
	/* A usable server (see pool_usable) or NULL. */
	struct server *(*pick)(struct pool *pool, const struct lb_pick *pick);
};

extern const struct lb_ops lb_roundrobin;

struct pool {
	struct server *servers;
	size_t n;
	const struct lb_ops *lb;
};

/*
 * Resolve every spec (a name may give several servers). Errors as addr_resolve:
 * -ENOENT, -EAGAIN, -ENOMEM, with the sentence in `err`.
 */
int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err) WEIR_WUR;
void pool_fini(struct pool *pool);

/* Whether `s` may take this client: right tier, not tried yet, weight > 0, under maxconn. */
bool pool_usable(const struct server *s, const struct lb_pick *pick);

/* Whether some server with weight > 0 exists and every such server is at its maxconn. */
bool pool_full(const struct pool *pool);

/* A server for a new client, primaries first; NULL if none can take it. */
struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude);

#endif
