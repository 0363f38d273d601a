/*
 * One event loop and everything it owns: listeners, connections, the buffer pool and the
 * scratch buffer its relays share.
 */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include <ev.h>
#include <stdbool.h>

#include "bufpool.h"
#include "config.h"
#include "idle.h"
#include "pool.h"
#include "relay.h"
#include "util.h"

struct listener;

struct worker {
	struct ev_loop *loop;
	const struct weir_config *cfg;
	struct pool *pool;
	struct bufpool bufs;
	struct relay_ctx relay;
	struct idle_list conns; /* every open connection, least recently active first */
	struct listener **listeners;
	size_t n_listeners;
};

int worker_init(struct worker *w, struct ev_loop *loop, const struct weir_config *cfg,
		struct pool *pool, struct weir_err *err) WEIR_WUR;

/* Resolve `spec` and listen on every address it names, for the frontend called `spec`. */
int worker_listen(struct worker *w, const char *spec, struct weir_err *err) WEIR_WUR;

/* Close every listener and every connection. */
void worker_stop(struct worker *w);
void worker_fini(struct worker *w);

#endif
