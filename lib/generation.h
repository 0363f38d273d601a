/*
 * A generation: one configuration as it runs. Its frontends and pools live as long as a
 * connection started under it does. A reload builds the next generation in full (off the
 * loop: every name resolved), matches it against the running one, then switches to it; the
 * previous one is retired (no new clients, no checks) and freed when its last connection
 * closes, so existing connections finish on their old servers untouched.
 *
 * What outlives a generation is shared, not copied: a server that stays is the same object
 * in both (see pool.h), and so are the counters of a frontend or backend that keeps its
 * name.
 *
 * Shared: the control thread builds, switches and frees generations; every worker reads
 * them. What a worker writes lives in its own slot of the `local` arrays (its connections
 * by activity, its waiting clients, its link to older generations), and the counters are
 * shared_add'ed. A retired generation is freed by the control thread once every worker has
 * let go of it (`workers_in`) and no stats answer still renders from it (`holds`).
 */
#ifndef WEIR_GENERATION_H
#define WEIR_GENERATION_H

#include <ev.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "addr.h"
#include "config.h"
#include "health.h"
#include "idle.h"
#include "srclimit.h"
#include "listener.h"
#include "pool.h"
#include "sni.h"
#include "util.h"

struct generation;

/*
 * Counters and limits' state of a frontend by name, shared by every configuration that has
 * it. The counters are shared_add'ed; the rate bucket and the source table are under `lock`
 * (taken only by frontends that set those limits).
 */
struct frontend_stats {
	unsigned refs; /* the control thread's */
	uint64_t accepted;
	uint64_t bytes_to_server, bytes_to_client; /* of connections that have closed */
	size_t open;				   /* connections open now, of every age */
	uint64_t denied;			   /* refused by allow/deny */
	uint64_t limited;			   /* refused by a per-source limit */
	pthread_mutex_t lock;
	struct bucket rate;	     /* for the frontend's rate */
	struct source_table sources; /* for its per-source limits, if any */
	struct frontend_stats *twin; /* while a reload is prepared */
};

/* One worker's connections of a frontend, least recently active first. */
struct fe_local {
	struct idle_list active;
	struct idle_list lingering; /* half-closed ones */
} __attribute__((aligned(64)));

/* One worker's view of a generation. */
struct gen_local {
	struct generation *older; /* the next older generation the worker still uses */
	size_t conns;		  /* the worker's open connections that started under it */
} __attribute__((aligned(64)));

/* A route-sni: clients asking for `pattern` go to `pool`. */
struct sni_route {
	char pattern[SNI_NAME_MAX];
	struct pool *pool;
};

/* A frontend as one loop runs it: where its clients go, and its connections by activity. */
struct frontend {
	const struct frontend_cfg *cfg;
	struct generation *gen;
	struct pool *pool;
	struct frontend_stats *stats;
	struct listen_addr *addrs; /* every address of its listen keys, resolved */
	size_t n_addrs;
	struct acl acl;		  /* its allow and deny prefixes */
	struct sni_route *routes; /* its route-sni, in order */
	size_t n_routes;
	struct fe_local *local; /* one per worker */
};

struct generation {
	struct weir_config cfg;
	struct pool *pools;	    /* one per cfg.backends */
	struct health *health;	    /* one per cfg.backends */
	struct frontend *frontends; /* one per cfg.frontends */
	size_t n_frontends;
	unsigned n_workers;
	struct gen_local *local;  /* one per worker */
	unsigned workers_in;	  /* workers that still use it (shared_sub) */
	size_t holds;		  /* stats answers still rendering from it (control) */
	struct generation *older; /* retired generations still in use (control) */
};

/*
 * Build a generation from `cfg`, which it takes over (the caller's copy is emptied), for
 * `n_workers` workers: every server and listen address is resolved, so this may block; call
 * it off the loop. Errors:
 * -EINVAL (the same listen address twice), -ENOENT (a name does not exist), -EAGAIN (the
 * resolver is failing), -ENOMEM; the sentence is in `err`.
 */
int gen_new(struct generation **out, struct weir_config *cfg, unsigned n_workers,
	    struct weir_err *err) WEIR_WUR;

/*
 * Reload, prepare: find the twin in `cur`, or in an older generation still alive, of every
 * server (same backend, address, source and line: pool.h's origin), frontend and backend
 * (same name) of `next`. Linear in their number. Changes nothing but `next`; -ENOMEM is its only
 * failure.
 */
int gen_match(struct generation *next, const struct generation *cur, struct weir_err *err) WEIR_WUR;
/*
 * Reload, commit: `next` takes over the matched twins (shared from now on, with the new
 * weight, maxconn and backup) in place of its own fresh copies; a server new to the running
 * weir (or listed again after it was removed: ready again, its health forgotten), in a
 * backend with active checks, waits DOWN for its first check. Cannot fail.
 */
void gen_adopt(struct generation *next);

/*
 * Control thread: call `fn` once for every server that `cur` no longer lists but that still
 * has connections (of retired generations), with the name of the backend that listed it,
 * until `fn` returns false. -ENOMEM or 0.
 */
int gen_each_removed(const struct generation *cur,
		     bool (*fn)(const char *backend, struct server *s, void *arg),
		     void *arg) WEIR_WUR;

/* Allocate the health checks of every backend (can fail); start and stop them. */
int gen_health_init(struct generation *g, struct weir_err *err) WEIR_WUR;
void gen_health_start(struct generation *g, struct ev_loop *loop, void (*capacity)(void *ctx),
		      void *ctx);
void gen_health_stop(struct generation *g);

/* How many servers it lists, over every backend. */
size_t gen_count_servers(const struct generation *g);

/* The index of the backend called `name` in g->cfg.backends (and g->pools), or -1. */
long gen_backend_index(const struct generation *g, const char *name);
/* Its frontend called `name`, or NULL. */
struct frontend *gen_frontend(struct generation *g, const char *name);

/* The pool a TLS client asking for `name` goes to: an exact pattern first, then the longest
 * "*." pattern that matches, else the frontend's own. */
struct pool *gen_route_sni(const struct frontend *fe, const char *name);

void gen_free(struct generation *g);

#endif
