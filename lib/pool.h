/*
 * The servers of a backend and the strategy that picks one for each new client. Backup
 * servers take clients only while no primary server can.
 *
 * A server is one object for as long as some configuration lists it: a reload that keeps a
 * server (same backend, same address, same position among duplicates, same source) shares
 * the running object with the new pool instead of copying it, so its connection count,
 * health and counters have one home. The object is reference-counted by the pools that
 * list it and freed when the last one goes.
 *
 * Shared: every worker picks from the same pools. What a pick reads is either fixed when the
 * pool is built (the servers, their order, the tables below) or one word per server read
 * with shared_load (weight, maxconn, state, active), so picking takes no lock. A server's
 * slot is taken with a compare-and-swap, so maxconn holds exactly across workers. `refs` is
 * the control thread's.
 *
 * Every pick costs O(1) or O(log n), however many servers a backend has: each tier's
 * servers are laid out once, when the pool is built, as a table the algorithm reads (a
 * round-robin schedule, cumulative weights for weighted draws, a hash ring). A server that
 * cannot take the client where the table points (DOWN, full, weight 0, already tried) is
 * stepped over; only when the first few places all fail does a pick fall back to scanning
 * the tier, which happens when most of a backend is down or full.
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

/* What the operator says of a server (the admin interface); kept across reloads. */
enum server_admin {
	ADMIN_READY,
	ADMIN_DRAIN, /* no new clients; its open connections finish */
	ADMIN_MAINT, /* the same, and no health checks either */
};

const char *server_admin_name(enum server_admin a);

struct health_check;
struct health;

struct server {
	unsigned refs;		  /* pools listing it: one per configuration since it appeared */
	char name[ADDR_TEXT_MAX]; /* its address, as logs and stats show it */
	char label[SERVER_NAME_MAX + 8]; /* BACKEND/label: name= or the address (#N if twice) */
	char given[SERVER_NAME_MAX];	 /* name= ("": none); fixed, so any thread may log it */
	uint32_t spec;			 /* its server line in the backend's configuration */
	struct addr addr;
	unsigned occurrence; /* how many earlier servers of its backend have the same address */
	/* Its identity across configurations (gen_match), with its address and source: the line
	 * it comes from (address as written, name=, resolve) and how many earlier servers of its
	 * backend have that address from such a line. A named server stays itself whatever
	 * other lines (or DNS) bring to its address. */
	uint64_t origin;
	unsigned same_origin;
	struct addr source;  /* the address to connect from; len 0: any (part of its identity) */
	/* The ports to connect from, picked by weir in turn (source=IP:LO-HI; part of its
	 * identity); 0, 0: the kernel picks. source_next counts picks (shared). */
	uint16_t source_lo, source_hi;
	uint32_t source_next;
	/* Settings, from the newest configuration that lists it (shared_load). */
	unsigned weight;  /* 0: takes no new clients */
	unsigned maxconn; /* 0: no limit */
	bool backup;
	unsigned send_proxy; /* PROXY header version to send first; 0: none */
	uint8_t admin;	     /* enum server_admin (shared) */
	/* Health: written under the health lock (health.c), read with shared_load. */
	enum server_state state;
	unsigned fails;		    /* consecutive failed connects or checks */
	unsigned passes;	    /* consecutive passed checks while DOWN */
	time_t changed;		    /* wall-clock time of the last change between UP and DOWN */
	struct health_check *check; /* the check (or probe) that runs for it, if any */
	/* When its last slow start began (ms of clock_mono, shared); 0: none. Set as it comes
	 * back UP or is set ready, under a backend with slow-start. */
	uint64_t ramp_start;
	/* Load, over every configuration and worker: one count, on this object. */
	unsigned active; /* open connections and connects in flight */
	uint64_t total;	 /* connections ever given to this server */
	uint64_t connect_failures;
	uint64_t bytes_to_server, bytes_to_client; /* of its connections that closed (shared) */
	struct server *twin; /* while a reload is prepared: the running server this one is */
	bool back;	     /* ...and only retired configurations list the twin: it comes back */
};

/* What a pick must respect, and what it may use. */
struct lb_pick {
	struct server *const *exclude; /* servers this client already tried */
	size_t n_exclude;
	bool backup;		       /* choose among backups (true) or primaries (false) */
	const struct sockaddr *client; /* for the hashing algorithms; may be NULL */
	uint64_t *rng;		       /* the calling thread's random state */
	bool ramp;		       /* servers in their slow start take a part of their share */
	uint64_t now_ms;	       /* clock_mono in ms, when `ramp` */
	unsigned draw;		       /* 0-999, drawn once a pick: which parts take the client */
};

/* A point of the hash ring: a server's place on the circle of 32-bit hashes. */
struct lb_point {
	uint32_t hash;
	uint32_t server; /* position in pool->servers */
};

/*
 * The servers of one tier (primaries or backups) with weight > 0, laid out when the pool is
 * built. Read-only afterwards.
 */
struct lb_tier {
	uint32_t *idx; /* positions in pool->servers */
	uint64_t *cum; /* cum[k]: the weights of idx[0..k] summed, for weighted draws */
	size_t n;
	uint64_t total;
	uint32_t *sched; /* roundrobin: positions in pool->servers, in turn order */
	size_t n_sched;
	struct lb_point *ring; /* hash: sorted by hash */
	size_t n_ring;
};

struct pool;

/* A balancing algorithm: one const instance per lb_*.c file. */
struct lb_ops {
	const char *name;
	/* A usable server (see pool_usable) or NULL. */
	struct server *(*pick)(struct pool *pool, const struct lb_pick *pick);
	/* Lay out what `pick` reads for one tier (NULL: the weights alone). -ENOMEM or 0. */
	int (*layout)(const struct pool *pool, struct lb_tier *tier);
	bool ramps; /* slow start applies (not to the hashing ones, whose point is affinity) */
};

extern const struct lb_ops lb_roundrobin, lb_leastconn, lb_random, lb_source, lb_hash;

/* The algorithm called `name`, or NULL. */
const struct lb_ops *lb_find(const char *name);
/* The names of every algorithm, "roundrobin, leastconn, ...". */
const char *lb_names(void);

/* Counters of a backend by name, shared by every configuration that has it. */
struct backend_stats {
	unsigned refs;
	uint64_t retries; /* connects tried on another server after one failed (shared_add) */
	size_t queued;	  /* clients waiting for a slot, every worker and age (shared_add) */
	/* Waiting clients take a ticket (shared_add) as they arrive, whichever worker and
	 * configuration has them: a worker serves its oldest only if no other worker holds an
	 * older one, and a client moved to a newer configuration keeps its place. */
	uint64_t tickets;
	struct backend_stats *twin; /* while a reload is prepared */
};

/*
 * What one worker keeps of a pool: its clients waiting for a slot. Aligned so two workers'
 * never share a cache line.
 */
struct pool_local {
	struct idle_list queue; /* oldest first */
	double congested_until; /* a unix server's backlog was full: retry the queue then */
	uint64_t head_ticket;	/* the ticket of the oldest, 0: none (shared: see tickets) */
} __attribute__((aligned(64)));

struct pool {
	const struct backend_cfg *cfg; /* timeouts and checks; NULL in unit tests of picking */
	struct server **servers;
	size_t n;
	const struct lb_ops *lb;
	struct lb_tier tiers[2]; /* [0] primaries, [1] backups */
	uint64_t cursor;	 /* rotation (shared_add): round robin's turn, ties' order */
	struct backend_stats *stats;
	struct pool_local *local; /* one per worker (generation.c); NULL in unit tests */
	struct health *health;	  /* its checks, for probes a worker asks for */
	/* health policy */
	unsigned rise, fall;
	bool active_checks;  /* health-check tcp: checks alone bring a server back UP */
	bool none_up_logged; /* under the health lock */
};

/* The client's address (not its port), hashed; 0 without one. */
uint64_t lb_client_hash(const struct sockaddr *client);
/* xorshift64*: the one small pseudo-random generator; `state` must not be 0. */
uint64_t lb_random_next(uint64_t *state);
/* A seed that differs between processes, runs and threads (never 0). */
uint64_t lb_random_seed(void);

/* Whether a has fewer connections than b relative to their weights. */
bool lb_less_loaded(const struct server *a, const struct server *b);

/* Helpers for the lb_*.c files. */
/* The server of `tier` whose share of the laid-out weights holds `point` (< total). */
struct server *lb_weighted_at(const struct pool *pool, const struct lb_tier *tier, uint64_t point);
/* A usable server drawn at random in proportion to weight, or NULL if none is usable. */
struct server *lb_draw(struct pool *pool, const struct lb_tier *tier, const struct lb_pick *pick);
/* The usable server at `point` of the usable servers' weights laid end to end (a scan). */
struct server *lb_scan_weighted(struct pool *pool, const struct lb_tier *tier,
				const struct lb_pick *pick, uint64_t point);
/* The first usable server of the tier from position `start` on, round the end (a scan). */
struct server *lb_scan_from(struct pool *pool, const struct lb_tier *tier,
			    const struct lb_pick *pick, size_t start);
/* Places tried before a pick falls back to scanning. */
#define LB_PROBES 16

/*
 * Resolve every spec (a name may give several servers), each server a new object with one
 * reference, and lay out the tables of `lb`. Errors as addr_resolve: -ENOENT, -EAGAIN,
 * -ENOMEM, with the sentence in `err`.
 */
int pool_build(struct pool *pool, const struct server_spec *specs, size_t n,
	       const struct lb_ops *lb, struct weir_err *err) WEIR_WUR;
/* Release the pool's references (a server goes when its last pool does). */
void pool_fini(struct pool *pool);
/* Build the pool of backend `be`, with its algorithm and health policy. */
int pool_build_backend(struct pool *pool, const struct backend_cfg *be,
		       struct weir_err *err) WEIR_WUR;

/*
 * Whether `s` may take this client: right tier, not tried yet, ready (not drained),
 * weight > 0, under maxconn and UP; in its slow start (pick->ramp), only for the part of
 * clients its time so far gives it.
 */
bool pool_usable(const struct pool *pool, const struct server *s, const struct lb_pick *pick);

/* The part of its share `s` takes at `now_ms` (clock_mono in ms), in thousandths: 1000
 * unless it is in its slow start. */
unsigned pool_server_share(const struct pool *pool, const struct server *s, uint64_t now_ms);

/* Start the slow start of `s`, which came back UP or was set ready, if `pool` has one. */
void pool_server_ramp(const struct pool *pool, struct server *s);

/* Whether some server is UP with weight > 0, and every such server is at its maxconn. */
bool pool_full(const struct pool *pool);

/* What any thread's log lines call a server: its name=, or else its address. */
static inline const char *pool_server_name(const struct server *s)
{
	return s->given[0] ? s->given : s->name;
}

/* "BACKEND/NAME" into `buf`, for the logs of any thread (pool_server_name). */
#define SERVER_REF_MAX 320
const char *pool_server_ref(const struct pool *pool, const struct server *s, char *buf, size_t len);

/* Whether server line `spec` may go: every server it gave is drained (or in maintenance)
 * and has no connection; if not, `err` says why. */
bool pool_spec_drained(const struct pool *pool, size_t spec, struct weir_err *err);

/* A server for a new client, primaries first; NULL if none can take it. */
struct server *pool_pick(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client);

/*
 * The same, with one of the server's slots taken (counted in `active`): under maxconn
 * however many workers pick at once. NULL if none can take it.
 */
struct server *pool_take(struct pool *pool, struct server *const *exclude, size_t n_exclude,
			 const struct sockaddr *client);

/* A connection to `s` ended, or its connect failed: the slot it held is free. */
static inline void pool_server_release(struct server *s)
{
	shared_sub(&s->active, 1);
}

#endif
