/*
 * A change of configuration, as one transaction: the start-up and every SIGHUP go through it.
 *
 *   read     (a helper thread)  read the command line and file, resolve every name: the
 *            slow, blocking part, kept off the loop so traffic flows meanwhile;
 *   prepare  (the control loop)  everything else that can fail, without touching what
 *            runs: match servers and counters with the running ones, allocate checks, open
 *            and bind the new listeners (or adopt sockets passed by systemd);
 *   commit   (the control loop, then every worker)  steps that cannot fail: share the
 *            matched servers, hand the checks over, then each worker on its own loop
 *            switches to the new generation, starts accepting from the new listeners and
 *            takes what waits in the removed ones' queues; the removed ones close once every
 *            worker is done with them;
 *   abort    undo what prepare did; the running configuration is exactly as it was.
 *
 * The control thread's; the helper thread touches only the job it was given.
 */
#ifndef WEIR_RELOAD_H
#define WEIR_RELOAD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "generation.h"
#include "proxy.h"
#include "util.h"

struct inherited;
struct listener;

struct reload {
	struct proxy *p;
	struct generation *next;
	struct listener **listeners; /* the next set, in order */
	struct frontend **owners;    /* the frontend of `next` each serves */
	bool *fresh;		     /* opened or adopted by this reload: undone on abort */
	size_t n, cap;
	bool *kept; /* per running listener: the next set has it */
	struct inherited *in;
	size_t n_in;
	struct listener_watch ***sets; /* per worker: its watches of the next set */
	struct listener **gone;	       /* running listeners the next set does not have */
	size_t n_gone;
};

/*
 * Prepare the switch of `p` to `next` (taken over: freed by abort or owned by the proxy
 * after commit). `in` are sockets passed by socket activation (start-up only). On failure
 * nothing that runs was touched, `err` says why, and reload_abort must follow.
 */
int reload_prepare(struct reload *rl, struct proxy *p, struct generation *next,
		   struct inherited *in, size_t n_in, struct weir_err *err) WEIR_WUR;
void reload_commit(struct reload *rl);
void reload_abort(struct reload *rl);

/* The SIGHUP side, and run-time changes: a read in flight on a helper thread, applied on
 * the loop when done; further requests wait their turn. */
struct reload_job;
struct reload_request;

/* How a run-time change went: ok, or why not (one sentence). */
typedef void reload_done_fn(void *ctx, bool ok, const char *why);

struct reloader {
	struct proxy *p;
	int argc;
	char **argv;
	ev_async done;
	struct reload_job *job;	      /* the read in flight, if any */
	struct reload_request *queue; /* waiting their turn, oldest first */
	struct reload_request **queue_tail;
	unsigned ok, failed; /* reloads and changes done, for the stats */
	unsigned layout;     /* bumped when server lines may have moved: a reload or a del */
	/* Told after each change or reload, applied or refused, before the next one is read;
	 * may be NULL. */
	void (*settled)(void);
};

void reloader_init(struct reloader *r, struct proxy *p, int argc, char **argv);
/* Read the configuration again and switch to it if it is sound (SIGHUP). */
void reloader_request(struct reloader *r);
/*
 * Rebuild the running configuration with `op` made on it as well (NULL: no change, names
 * resolved again), off the loop like a reload; then done(ctx, ...) unless forgotten.
 */
void reloader_change(struct reloader *r, const struct config_op *op, reload_done_fn *done,
		     void *ctx);
/* Whoever `ctx` is no longer waits (its change still goes ahead). */
void reloader_forget(struct reloader *r, void *ctx);
/* Stop: a read still in flight is abandoned (its thread frees what it made). */
void reloader_fini(struct reloader *r);

#endif
