/*
 * The servers of a backend and the strategy that picks one for each new client. Backup
 * servers take clients only while no primary server can.
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
	SERVER_DOWN, /* gets no clients until checks (or, without checks, a retry) pass */
};

struct server {
	char name[ADDR_TEXT_MAX];
	enum server_state state;
	unsigned fails;	 /* consecutive failed connects or checks */
	unsigned passes; /* consecutive passed checks while DOWN */
	double retry_at; /* DOWN without active checks: when a client may try it again */
	time_t changed;	 /* wall-clock time of the last change between UP and DOWN; 0: never */
	struct addr addr;
	unsigned weight;  /* 0: takes no new clients */
	unsigned maxconn; /* 0: no limit */
	bool backup;
	unsigned active;     /* open connections (and connects), this copy's and older copies' */
	struct server *heir; /* the same server in the next configuration, after a reload */
	struct pool *pool;   /* the pool it belongs to (whose queue waits for its slots) */
	int64_t current;     /* smooth weighted round robin state */
	uint64_t total;	     /* connections ever given to this server */
	uint64_t connect_failures;
};

/* What a pick must respect, and what it may use. */
struct lb_pick {
	struct server *const *exclude; /* servers this client already tried */
	size_t n_exclude;
	bool backup;		       /* choose among backups (true) or primaries (false) */
	const struct sockaddr *client; /* for the hashing algorithms; may be NULL */
	double now;
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

struct pool {
	const struct backend_cfg *cfg; /* timeouts and checks; NULL in unit tests of picking */
	struct server *servers;
	size_t n;
	const struct lb_ops *lb;
	struct idle_list queue; /* clients waiting for a server below its maxconn */
	size_t cursor;		/* rotation for tie-breaking */
	uint64_t rng;		/* xorshift state for random */
	/* health policy */
	unsigned rise, fall;
	double retry_interval; /* seconds: check interval, or the retry back-off without checks */
	bool active_checks;
	bool none_up_logged;
	uint64_t retries; /* connects tried on another server after one failed */
};

/* Stable across processes and machines: the hashing algorithms depend on it. */
uint64_t lb_hash_bytes(const void *data, size_t len, uint64_t seed);
/* The client's address (not its port), hashed; 0 without one. */
uint64_t lb_client_hash(const struct sockaddr *client);
/* A connection to `s` ended (or its connect failed): every copy of the server counts it. */
void pool_server_release(struct server *s);

/* Whether a has fewer connections than b relative to their weights. */
bool lb_less_loaded(const struct server *a, const struct server *b);

/*
 * Resolve every spec (a name may give several servers). Errors as addr_resolve:
 * -ENOENT, -EAGAIN, -ENOMEM, with the sentence in `err`.
 */
int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err) WEIR_WUR;
void pool_fini(struct pool *pool);
/* Build the pool of backend `be`, with its algorithm and health policy. */
int pool_build_backend(struct pool *pool, const struct backend_cfg *be,
		       struct weir_err *err) WEIR_WUR;

/*
 * Whether `s` may take this client: right tier, not tried yet, weight > 0, under maxconn, and
 * UP (or DOWN without active checks and due for a retry).
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
			 const struct sockaddr *client, double now);

/*
 * Health: a failed connect or check (`why` says how), a passed check, a client connected.
 * These move servers between UP and DOWN (after `fall` failures, `rise` passes) and log each
 * change once, and when no server is left UP.
 */
void pool_note_failure(struct pool *pool, struct server *s, const char *why, double now);
void pool_note_check_passed(struct pool *pool, struct server *s);
void pool_note_connected(struct pool *pool, struct server *s);

#endif
