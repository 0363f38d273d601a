/*
 * One event loop and everything it owns: listeners, connections, the buffer pool and the
 * scratch buffer its relays share, the spare descriptor, and the one timer that expires idle
 * connections.
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
	struct bufpool bufs;
	struct relay_ctx relay;
	struct reserve spare; /* emergency descriptor for accept under EMFILE */
	uint64_t max_conns;   /* listeners are held while this many are open */
	bool held;	      /* listeners stopped because max_conns is reached */
	ev_timer expiry;      /* the head of some activity list is due */
	ev_timer drain;
	ev_timer reap; /* frees retired generations with no connections left */
	size_t drain_started_with;
	struct listener **listeners;
	size_t n_listeners;
	uint64_t shed; /* clients closed at once because descriptors ran out */
	uint64_t accept_errors[ACCEPT_ERROR_KINDS];
	uint64_t closed[CONN_END_MAX]; /* by conn_end_name() index */
};

/* Descriptors weir needs besides two per connection: stdio, the loop's, the spare, slack. */
#define WORKER_FD_OVERHEAD 16

/* Connections a descriptor limit of `nofile` allows with `n_listeners` listeners. */
uint64_t worker_connection_budget(uint64_t nofile, size_t n_listeners);

/* The worker takes `gen` over (worker_fini frees it), even when this fails. */
int worker_init(struct worker *w, struct ev_loop *loop, struct generation *gen, uint64_t max_conns,
		struct weir_err *err) WEIR_WUR;

/*
 * Switch to `next` (taken over, freed on failure): listeners whose address stays are handed
 * to the new frontends without reopening, new ones open, removed ones close; the current
 * generation is retired. On failure nothing changed and `err` says why.
 */
int worker_reload(struct worker *w, struct generation *next, struct weir_err *err) WEIR_WUR;

struct inherited;

/*
 * Listen on every address of every frontend, using the sockets passed by socket activation
 * where they match (by frontend name or by address); unmatched ones are closed.
 */
int worker_listen_all(struct worker *w, struct inherited *in, size_t n_in,
		      struct weir_err *err) WEIR_WUR;

static inline size_t worker_open_conns(const struct worker *w)
{
	return w->n_conns;
}

/* Close the listeners and let open connections finish for up to the drain timeout. */
void worker_drain(struct worker *w);
/* Close every listener and every connection now, and leave the loop. */
void worker_stop(struct worker *w);
void worker_fini(struct worker *w);

/*
 * For conn.c: a connection was added to its frontend's `active` list; one moved to
 * `lingering` (half-closed); one closed (`freed`: the server whose slot it held).
 */
void worker_conn_opened(struct worker *w, const struct frontend *fe);
void worker_conn_half_closed(struct worker *w);
void worker_conn_closed(struct worker *w, struct server *freed, struct generation *gen);
/* A slot of server `s` came free (a close, a failed connect): wake a client waiting for it. */
void worker_slot_freed(struct worker *w, struct server *s);

/* A new connection limit (reload): hold or release the listeners as it now requires. */
void worker_set_max_conns(struct worker *w, uint64_t max_conns);

#endif
