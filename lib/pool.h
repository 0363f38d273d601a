/*
 * The servers of a backend and the strategy that picks one for each new client. Backup
 * servers take clients only while no primary server can.
 *
 * A server is one object for as long as some configuration lists it: a reload that keeps a
 * server (same backend, same address, same position among duplicates) shares the running
 * object with the new pool instead of copying it, so its connection count, health and
 * counters have one home. The object is reference-counted by the pools that list it and
 * freed when the last one goes. Per loop: touched only by the loop that runs the pools.
 */
#ifndef WEIR_POOL_H
#define WEIR_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "idle.h"
#include "util.h"

enum server_state {
	SERVER_UP,
	SERVER_DOWN, /* gets no clients until a check (or, without checks, a probe) passes */
};

struct health_check;

struct server {
	unsigned refs; /* pools listing it: one per configuration since it appeared */
	char name[ADDR_TEXT_MAX];
	struct addr addr;
	unsigned occurrence; /* how many earlier servers of its backend have the same address */
	/* Settings, from the newest configuration that lists it. */
	unsigned weight;  /* 0: takes no new clients */
	unsigned maxconn; /* 0: no limit */
	bool backup;
	unsigned send_proxy; /* PROXY header version to send first; 0: none */
	struct addr source;  /* the address to connect from; len 0: any */
	/* Health. */
	enum server_state state;
	unsigned fails;		    /* consecutive failed connects or checks */
	unsigned passes;	    /* consecutive passed checks while DOWN */
	time_t changed;		    /* wall-clock time of the last change between UP and DOWN */
	struct health_check *check; /* the check (or probe) that runs for it, if any */
	/* Load, over every configuration: one count, added and released on this object. */
	unsigned active; /* open connections and connects in flight */
	int64_t current; /* smooth weighted round robin state */
	uint64_t total;	 /* connections ever given to this server */
	uint64_t connect_failures;
	struct server *twin; /* while a reload is prepared: the running server this one is */
};

/* What a pick must respect, and what it may use. */
struct lb_pick {
	struct server *const *exclude; /* servers this client already tried */
	size_t n_exclude;
	bool backup;		       /* choose among backups (true) or primaries (false) */
	const struct sockaddr *client; /* for the hashing algorithms; may be NULL */
};

struct pool;

/* A balancing algorithm: one const instance per lb_*.c file. */
struct lb_ops {
	const char *name;
	/* A usable server (see pool_usable) or NULL. */
	struct server *(*pick)(struct pool *pool, const struct lb_pick *pick);
};

extern const struct lb_ops lb_roundrobin, lb_leastconn, lb_random, lb_source, lb_hash;

/* The algorithm called `name`, or NULL. */
const struct lb_ops *lb_find(const char *name);
/* The names of every algorithm, "roundrobin, leastconn, ...". */
const char *lb_names(void);

/* Counters of a backend by name, shared by every configuration that has it. */
struct backend_stats {
	unsigned refs;
	uint64_t retries; /* connects tried on another server after one failed */
	size_t queued;	  /* clients waiting for a slot, in this backend's pools of every age */
	struct backend_stats *twin; /* while a reload is prepared */
};

struct pool {
	const struct backend_cfg *cfg; /* timeouts and checks; NULL in unit tests of picking */
	struct server **servers;
	size_t n;
	const struct lb_ops *lb;
	struct backend_stats *stats;
	struct idle_list queue; /* clients waiting for a server below its maxconn, oldest first */
	double congested_until; /* a unix server's backlog was full: retry the queue then */
	size_t cursor;		/* rotation for tie-breaking */
	uint64_t rng;		/* xorshift state for random */
	/* health policy */
	unsigned rise, fall;
	bool active_checks; /* health-check tcp: checks alone bring a server back UP */
	bool none_up_logged;
};

/* The client's address (not its port), hashed; 0 without one. */
uint64_t lb_client_hash(const struct sockaddr *client);
/* xorshift64*: the one small pseudo-random generator; `state` must not be 0. */
uint64_t lb_random_next(uint64_t *state);
/* A seed that differs between processes and runs (never 0). */
uint64_t lb_random_seed(void);

/* Whether a has fewer connections than b relative to their weights. */
bool lb_less_loaded(const struct server *a, const struct server *b);

/*
 * Resolve every spec (a name may give several servers), each server a new object with one
 * reference. Errors as addr_resolve: -ENOENT, -EAGAIN, -ENOMEM, with the sentence in `err`.
 */
int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err) WEIR_WUR;
/* Release the pool's references (a server goes when its last pool does). */
void pool_fini(struct pool *pool);
/* Build the pool of backend `be`, with its algorithm and health policy. */
int pool_build_backend(struct pool *pool, const struct backend_cfg *be,
		       struct weir_err *err) WEIR_WUR;

/* A connection to `s` ended, or its connect failed: the slot it held is free. */
static inline void pool_server_release(struct server *s)
{
	s->active--;
}

/*
 * Whether `s` may take this client: right tier, not tried yet, weight > 0, under maxconn
 * and UP.
 */
bool pool_usable(const struct pool *pool, const struct server *s, const struct lb_pick *pick);

/* Whether some server is UP with weight > 0, and every such server is at its maxconn. */
bool pool_full(const struct pool *pool);

/* The summed weight of the servers usable for `pick`. */
uint64_t pool_usable_weight(const struct pool *pool, const struct lb_pick *pick);
/* The usable server at `point` (< pool_usable_weight) when their weights are laid end to end. */
struct server *pool_weighted_at(struct pool *pool, const struct lb_pick *pick, uint64_t point);

/* A server for a new client, primaries first; NULL if none can take it. */
struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client);

#endif
