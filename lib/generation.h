/*
 * A generation: one configuration as it runs. Its frontends, pools and health checks live
 * as long as a connection started under it does. A reload builds the next generation in
 * full, then switches to it; the previous one is retired (no new clients, no checks) and
 * freed when its last connection closes, so existing connections finish on their old
 * servers untouched.
 */
#ifndef WEIR_GENERATION_H
#define WEIR_GENERATION_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "health.h"
#include "idle.h"
#include "pool.h"
#include "util.h"

struct generation;

/* A frontend as one loop runs it: where its clients go, and its connections by activity. */
struct frontend {
	const struct frontend_cfg *cfg;
	struct generation *gen;
	struct pool *pool;
	struct idle_list active;    /* open connections, least recently active first */
	struct idle_list lingering; /* half-closed ones, likewise */
	uint64_t accepted;	    /* connections ever accepted */
	uint64_t bytes_to_server, bytes_to_client; /* of connections that have closed */
};

struct generation {
	struct weir_config cfg;
	struct pool *pools;	    /* one per cfg.backends */
	struct health *health;	    /* one per cfg.backends, running where a backend asks */
	struct frontend *frontends; /* one per cfg.frontends */
	size_t n_frontends;
	size_t conns;		  /* open connections that started under this generation */
	struct generation *older; /* retired generations that still have connections */
};

/*
 * Build a generation from `cfg`, which it takes over (the caller's copy is emptied): every
 * server name is resolved. Errors as addr_resolve: -ENOENT, -EAGAIN, -ENOMEM.
 */
int gen_new(struct generation **out, struct weir_config *cfg, struct weir_err *err) WEIR_WUR;

/* Carry health and counters over from `from` for servers that stayed (same backend, address). */
void gen_carry_state(struct generation *to, const struct generation *from);

/* Start the active checks its backends ask for; stop them. */
int gen_start_health(struct generation *g, struct ev_loop *loop, struct weir_err *err) WEIR_WUR;
void gen_stop_health(struct generation *g);

/* Before `gone` is freed: servers of the generations in `others` skip its servers as heirs. */
void gen_forget(struct generation *gone, struct generation *others);
void gen_free(struct generation *g);

#endif
