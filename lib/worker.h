/*
 * One event loop and everything it owns: listeners, connections, the generations they run
 * under, the buffer pool and the scratch buffer its relays share, the spare descriptor, the
 * one timer that expires idle connections, and the dispatch step that serves waiting
 * clients. Per loop: touched only by the thread that runs the loop.
 *
 * Connections report to their worker through the narrow interface at the end of this file
 * (opened, half-closed, closed, capacity changed); the worker decides what runs next on its
 * own loop iteration rather than inside the callback that reported.
 */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "config.h"
#include "conn.h"
#include "generation.h"
#include "idle.h"
#include "pool.h"
#include "relay.h"
#include "reserve.h"
#include "util.h"

struct listener;

/* Kinds of accept() failure, counted for the stats. */
enum accept_error {
	ACCEPT_EMFILE,
	ACCEPT_ENFILE,
	ACCEPT_ENOBUFS,
	ACCEPT_ENOMEM,
	ACCEPT_OTHER,
	ACCEPT_ERROR_KINDS
};

const char *worker_accept_error_name(enum accept_error kind);

enum worker_state {
	WORKER_RUNNING,
	WORKER_DRAINING, /* listeners closed; open connections finish until the drain timeout */
	WORKER_STOPPED,
};

struct worker {
	enum worker_state state;
	struct ev_loop *loop;
	struct generation *gen; /* current; ->older chains retired ones with connections left */
	size_t n_conns;		/* open, across every generation */
	size_t n_queued;	/* waiting for a server slot, across every generation */
	struct bufpool bufs;
	struct relay_ctx relay;
	struct reserve spare; /* emergency descriptor for accept under EMFILE */
	uint64_t nofile;      /* the descriptor limit weir runs with */
	size_t fixed_fds;     /* descriptors besides connections and listeners (stats, ...) */
	uint64_t max_conns;   /* listeners are held while this many are open */
	bool held;	      /* listeners stopped because max_conns is reached */
	ev_timer expiry;      /* the head of some activity list is due */
	ev_timer drain;
	ev_timer reap;	      /* frees retired generations with no connections left */
	ev_prepare dispatch;  /* capacity may have appeared: serve waiting clients */
	ev_timer congestion;  /* a unix server's backlog was full: dispatch again then */
	ev_timer spare_retry; /* the spare descriptor is lost: take it back */
	size_t drain_started_with;
	struct listener **listeners;
	size_t n_listeners;
	uint64_t shed; /* clients closed at once because descriptors ran out */
	uint64_t accept_errors[ACCEPT_ERROR_KINDS];
	uint64_t closed[CONN_END_MAX]; /* by conn_end_name() index */
};

/*
 * Descriptors weir needs besides two per connection, one per listener and one per health
 * check: stdio, the loop's own, the log's, the spare, the reload's, and some slack.
 */
#define WORKER_FD_OVERHEAD 12

/* Connections a descriptor limit of `nofile` allows beside `fixed` other descriptors. */
uint64_t worker_connection_budget(uint64_t nofile, size_t fixed);

/*
 * Set up the loop's state; no generation yet (the first reload_commit brings it). `nofile`
 * is the descriptor limit, `fixed_fds` what stats and the like hold besides connections.
 */
int worker_init(struct worker *w, struct ev_loop *loop, uint64_t nofile, size_t fixed_fds,
		size_t buffer_size, struct weir_err *err) WEIR_WUR;

/*
 * --max-connections of `cfg`, or what the descriptor limit allows with the listeners and
 * health checks of `g`; warns when more is asked for than descriptors allow.
 */
uint64_t worker_connection_limit(const struct worker *w, const struct generation *g);

/* Close the listeners and let open connections finish for up to the drain timeout. */
void worker_drain(struct worker *w);
/* Close every listener and every connection now, and leave the loop. */
void worker_stop(struct worker *w);
void worker_fini(struct worker *w);

/* A new connection limit (reload): hold or release the listeners as it now requires. */
void worker_set_max_conns(struct worker *w, uint64_t max_conns);
/* Re-arm the idle timer for what is open now (a reload changed the timeouts). */
void worker_rearm_expiry(struct worker *w);
/* A retired generation may have no connections left: free it on the next iteration. */
void worker_reap_soon(struct worker *w);

/*
 * For conn.c: a connection was added to its frontend's `active` list; one moved to
 * `lingering` (half-closed); one closed (started under `gen`).
 */
void worker_conn_opened(struct worker *w, const struct frontend *fe);
void worker_conn_half_closed(struct worker *w);
void worker_conn_closed(struct worker *w, struct generation *gen);
/*
 * Capacity may have appeared (a slot freed, a server came UP, a reload raised a limit):
 * clients waiting for a slot are served, oldest first, before the loop next sleeps.
 */
void worker_kick(struct worker *w);
/* The same, from a health check (ctx is the worker). */
void worker_capacity_cb(void *ctx);
/* A unix server's backlog was full: try the waiting clients again after `delay`. */
void worker_retry_later(struct worker *w, double delay);

/* The spare descriptor is lost (taking it back failed): keep trying on a timer. */
void worker_spare_lost(struct worker *w);

#endif
