/*
 * A worker: one event loop and what it owns, on one thread: its listening sockets' watchers,
 * its connections and their idle lists, the buffer pool and scratch buffer its relays share,
 * its spare descriptor, the one timer that expires its idle connections, and the dispatch
 * step that serves its waiting clients. Per loop: touched only by the thread that runs the
 * loop, except the counters the stats read (counter_add) and `wake`, by which other threads
 * ask it to do something on its own loop.
 *
 * Connections report to their worker through the narrow interface at the end of this file
 * (opened, half-closed, closed, a slot freed); the worker decides what runs next on its own
 * loop iteration rather than inside the callback that reported.
 */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "pipepool.h"
#include "config.h"
#include "conn.h"
#include "generation.h"
#include "idle.h"
#include "pool.h"
#include "relay.h"
#include "reserve.h"
#include "util.h"

struct proxy;
struct listener;
struct listener_watch;

/* Pipes one worker may hold at once for splice (two descriptors each), at most. */
#define WORKER_PIPES_MAX 128

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
	WORKER_DRAINING, /* listeners closed; open connections finish */
	WORKER_STOPPED,
};

/* What another thread asks of a worker (bits of `wake_bits`). */
enum {
	WAKE_KICK = 1,	 /* capacity may have appeared: serve waiting clients */
	WAKE_RESUME = 2, /* the connection limit lifted: accept again */
	WAKE_MAIL = 4,	 /* run the control thread's call (proxy_each) */
};

struct worker {
	unsigned id;
	struct proxy *p;
	struct ev_loop *loop;
	enum worker_state state;
	struct generation *gen; /* current; gen->local[id].older chains the older ones in use */
	size_t n_conns;		/* open on this worker (counter_add: the stats read it) */
	size_t n_queued;	/* waiting for a slot (shared_load: others decide to wake it) */
	struct bufpool bufs;
	struct pipepool pipes;
	struct relay_ctx relay;
	struct reserve spare;		 /* emergency descriptor (lent to others: listener.c) */
	int epfd;			 /* the epoll set of its connections' sockets (conn.c) */
	ev_io polled;			 /* ...which libev watches for it */
	struct conn *dead;		 /* closed connections, freed once no event can name them */
	bool held;			 /* listeners stopped: the connection limit is reached */
	struct listener_watch **watches; /* the listening sockets it accepts from */
	size_t n_watches;
	ev_timer expiry;	 /* the head of some activity list is due */
	ev_timer reap;		 /* lets go of older generations with no connection left here */
	ev_prepare dispatch;	 /* capacity may have appeared: serve waiting clients */
	ev_timer congestion;	 /* a unix server's backlog was full: dispatch again then */
	ev_timer spare_retry;	 /* the spare descriptor is lost: take it back */
	ev_timer poll_retry;	 /* libev could not watch the epoll set: try again */
	ev_prepare before_sleep; /* free closed connections; write the iteration's log lines */
	ev_async wake;
	unsigned wake_bits; /* WAKE_* (shared) */
	/* A call from the control thread, run on this loop. */
	pthread_mutex_t mail_lock;
	pthread_cond_t mail_cond;
	void (*mail_fn)(struct worker *w, void *arg);
	void *mail_arg;
	bool mail_done;
	pthread_t thread;
	bool threaded; /* its loop runs on a thread of its own (proxy_start) */
	/* Counters the stats read (counter_add). */
	uint64_t accepted;
	uint64_t shed; /* clients closed at once because descriptors ran out */
	uint64_t accept_errors[ACCEPT_ERROR_KINDS];
	uint64_t closed[CONN_END_MAX]; /* by conn_end_name() index */
};

/*
 * Set up worker `id` of `p` on `loop` (which the caller keeps; a thread of its own is
 * started later by proxy_start): buffers, `pipes` pipes for splice at most, the spare
 * descriptor, its watchers.
 */
int worker_init(struct worker *w, struct proxy *p, unsigned id, struct ev_loop *loop,
		size_t buffer_size, size_t pipes, struct weir_err *err) WEIR_WUR;
/* After the loop has stopped: close every connection, let go of the generations. */
void worker_fini(struct worker *w);

/* Ask, from any thread, for WAKE_* work on the worker's own loop. */
void worker_wake(struct worker *w, unsigned bits);

/*
 * On the worker's thread (proxy_each): switch to generation `g` and accept from `watches`
 * (taken over), each for the frontend `owners` says, from now on; `gone` are the listeners
 * the worker no longer accepts from (what waits in their queues is accepted first).
 */
void worker_switch(struct worker *w, struct generation *g, struct listener_watch **watches,
		   struct frontend *const *owners, size_t n_watches, struct listener *const *gone,
		   size_t n_gone);
/* Close its listening sockets (a drain). */
void worker_drain(struct worker *w);
/* Cut every connection now: at the drain deadline, or because weir stops at once. */
void worker_cut_all(struct worker *w, bool drain_deadline);
/* Stop the loop's watchers and, on a thread of its own, leave the loop. */
void worker_finish(struct worker *w);

/*
 * On the worker's thread: call fn on each of its connections, oldest first, until it returns
 * false. `fn` may close the connection it is given (and only that one).
 */
void worker_each_conn(struct worker *w, bool (*fn)(struct conn *c, void *arg), void *arg);

/* Re-arm the idle timer for what is open now (a reload changed the timeouts). */
void worker_rearm_expiry(struct worker *w);

/* For listener.c: accepting must pause, the connection limit is reached. */
void worker_at_limit(struct worker *w);
/* For listener.c: a connection was accepted. */
static inline void worker_accepted(struct worker *w)
{
	counter_add(&w->accepted, 1);
}

/*
 * For conn.c: a connection was added to its frontend's `active` list; one moved to
 * `lingering` (half-closed); one closed (started under `gen`).
 */
void worker_conn_opened(struct worker *w, const struct frontend *fe);
void worker_conn_half_closed(struct worker *w);
void worker_conn_closed(struct worker *w, struct generation *gen);
/* A slot of `pool` was given up: waiting clients, here or on other workers, may take it. */
void worker_slot_freed(struct worker *w, const struct pool *pool);
/*
 * Capacity may have appeared (a slot freed, a server came UP, a reload raised a limit):
 * clients waiting for a slot are served, oldest first, before the loop next sleeps.
 */
void worker_kick(struct worker *w);
/* A unix server's backlog was full: try the waiting clients again after `delay`. */
void worker_retry_later(struct worker *w, double delay);
/* A waiting client came or left. */
void worker_queued(struct worker *w, int change);

/* The spare descriptor is lost (taking it back failed): keep trying on a timer. */
void worker_spare_lost(struct worker *w);

#endif
