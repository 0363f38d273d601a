/*
 * The proxy: what every worker shares, one per process. The control thread (the main
 * thread, whose loop worker 0 also runs on) owns the generations and the reload transaction,
 * the listening sockets, the health checks and the stats endpoint, and decides when weir
 * drains and stops. Workers read the current generation and report back through a few
 * shared words:
 *
 *   n_conns, max_conns, at_limit   --max-connections over every worker: a worker takes a
 *                                  slot (compare-and-swap) before it accepts, so the limit
 *                                  holds exactly; one at the limit stops accepting and is
 *                                  woken when a slot frees anywhere;
 *   a generation's workers_in      each worker lets go of a retired generation once it has no
 *                                  connection of it left; the control thread frees it then;
 *   wake                           a worker's request for the control loop (free a
 *                                  generation, the drain is complete).
 *
 * The control thread reaches workers with proxy_each, which runs a function on each
 * worker's own loop and waits for all; that is how a reload, a drain and a stop apply to
 * every worker as one step. Nothing a worker runs waits for the control thread, so that
 * wait cannot deadlock.
 */
#ifndef WEIR_PROXY_H
#define WEIR_PROXY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "generation.h"
#include "util.h"
#include "worker.h"

struct listener;

enum proxy_state {
	PROXY_RUNNING,
	PROXY_DRAINING, /* listeners closed; open connections finish until the drain timeout */
	PROXY_STOPPED,
};

/* What a worker asks of the control loop (bits of `wake_bits`). */
enum {
	PROXY_WAKE_REAP = 1,	/* a generation may have no user left */
	PROXY_WAKE_DRAINED = 2, /* the last connection closed while draining */
};

/*
 * Descriptors weir needs besides two per connection, one per listening socket and one per
 * health check: stdio, the log's, the reload's, and some slack; and per worker its loop's,
 * its wake-up's and its spare.
 */
#define PROXY_FD_OVERHEAD  12
#define WORKER_FD_OVERHEAD 3

struct proxy {
	struct ev_loop *loop; /* the control loop, on the main thread */
	struct worker *workers;
	unsigned n_workers;
	enum proxy_state state;	     /* the control thread's; workers read it with shared_load */
	struct generation *gen;	     /* current; ->older chains retired ones still in use */
	struct listener **listeners; /* the current set */
	size_t n_listeners;
	uint64_t nofile;    /* the descriptor limit weir runs with */
	size_t pipes;	    /* pipes a worker may hold for splice */
	size_t fixed_fds;   /* descriptors besides connections and listeners (stats, ...) */
	/* SO_RCVBUF, SO_SNDBUF of connections' sockets, as weir started (0: the kernel's) */
	uint64_t rcvbuf, sndbuf;
	uint64_t max_conns; /* shared_load */
	uint64_t n_conns;   /* open over every worker (sequentially consistent) */
	int at_limit;	    /* some worker stopped accepting at max_conns (likewise) */
	size_t drain_started_with;
	ev_timer drain;
	ev_timer reap; /* frees retired generations no worker uses */
	ev_async wake;
	unsigned wake_bits; /* PROXY_WAKE_* (shared) */
};

/* The CPUs weir may run on (its affinity mask), at least 1: the default worker count. */
unsigned proxy_cpus(void);

/*
 * Set up `n_workers` workers: worker 0 on `loop` (the control loop), the others on loops of
 * their own made with `loop_flags`; their threads start with proxy_start. `nofile` is the
 * descriptor limit, `fixed_fds` what stats and the like hold besides connections.
 */
int proxy_init(struct proxy *p, struct ev_loop *loop, unsigned n_workers, unsigned loop_flags,
	       uint64_t nofile, size_t fixed_fds, size_t buffer_size,
	       struct weir_err *err) WEIR_WUR;
/* Start the threads of workers 1 and up (signals stay with the calling thread). */
int proxy_start(struct proxy *p, struct weir_err *err) WEIR_WUR;
/* After the control loop has returned: wait for the threads, close everything, free. */
void proxy_fini(struct proxy *p);

/* Run fn(w, arg) on every worker's own loop, and return once all have. */
void proxy_each(struct proxy *p, void (*fn)(struct worker *w, void *arg), void *arg);

/*
 * --max-connections of `g`, or what the descriptor limit allows with the listeners and
 * health checks of `g`; warns when more is asked for than descriptors allow.
 */
uint64_t proxy_connection_limit(const struct proxy *p, const struct generation *g);
/* Connections a descriptor limit of `nofile` allows beside `fixed` other descriptors. */
uint64_t proxy_connection_budget(uint64_t nofile, size_t fixed);
/* A new connection limit (reload): workers held at the old one resume if it rose. */
void proxy_set_max_conns(struct proxy *p, uint64_t max_conns);

/* For workers: a slot under max_conns for a client about to be accepted, or false. */
bool proxy_conn_reserve(struct proxy *p);
/* The same without the limit: a listener that closes takes what waits in its queue. */
void proxy_conn_force(struct proxy *p);
/* A reserved slot was not used (nobody to accept), or a connection closed. */
void proxy_conn_release(struct proxy *p);
/* For workers: at the limit; whoever frees a slot next wakes every worker. */
void proxy_limit_reached(struct proxy *p);

/* Capacity appeared for every worker (a server came UP, a reload). */
void proxy_kick_all(struct proxy *p);
/* A slot of a backend with waiting clients freed on worker `from`: wake the others. */
void proxy_kick_waiting(struct proxy *p, const struct worker *from);

/* For workers and the stats: ask the control loop to free what no one uses any more. */
void proxy_wake(struct proxy *p, unsigned bits);

/* Close the listeners and let open connections finish for up to the drain timeout. */
void proxy_drain(struct proxy *p);
/* Close every listener and every connection now, and leave the loops. */
void proxy_stop(struct proxy *p);

/* Sum a per-worker counter. */
uint64_t proxy_sum(const struct proxy *p, size_t offset);
#define PROXY_SUM(p, field) proxy_sum((p), offsetof(struct worker, field))

#endif
