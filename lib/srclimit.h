/*
 * A frontend's rate and per-client limits.
 *
 * A token bucket holds up to a second's worth of tokens and refills at the rate; taking
 * one per new connection limits the rate with a one-second burst.
 *
 * The source table tracks each client address's open connections and connection rate in a
 * fixed number of slots: an address is looked for in a short window of slots from its hash,
 * and a new one takes a free slot there or replaces the stalest address with no connection
 * open. So memory stays bounded however many addresses come by, a flood from one address
 * only ever touches its own slot, and a slot an open connection points at never moves.
 * State shared by a frontend's configurations across reloads; per loop.
 */
#ifndef WEIR_SRCLIMIT_H
#define WEIR_SRCLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util.h"

struct bucket {
	double tokens;
	double last; /* clock_mono() of the last refill */
};

/* Take a token at `rate` per second (0: no limit); false if none is left. */
bool bucket_take(struct bucket *b, uint64_t rate, double now);
/* Give back a token taken for a client that was not there after all. */
void bucket_put_back(struct bucket *b, uint64_t rate);
/* Seconds until a token will be there. */
double bucket_wait(const struct bucket *b, uint64_t rate, double now);

struct source_slot {
	unsigned char addr[16];
	uint8_t family; /* 0: free */
	uint32_t conns; /* open now */
	struct bucket rate;
	double seen;
};

struct source_table {
	struct source_slot *slots;
	size_t mask;
	uint64_t untracked; /* admitted without a slot: every slot nearby was busy */
};

/* Slots for `n` addresses at once (rounded up to a power of two). -ENOMEM or 0. */
int source_table_init(struct source_table *t, size_t n) WEIR_WUR;
void source_table_fini(struct source_table *t);

enum source_verdict {
	SOURCE_OK,
	SOURCE_TOO_MANY, /* max-connections-per-source reached */
	SOURCE_TOO_FAST, /* rate-per-source exceeded */
};

/*
 * A new connection from `addr` under the limits (0: none). On SOURCE_OK, *slot is the slot to
 * release when the connection closes (NULL if it could not be tracked, or for a unix client).
 */
enum source_verdict source_admit(struct source_table *t, const struct sockaddr *addr,
				 uint64_t max_conns, uint64_t rate, double now,
				 struct source_slot **slot);
void source_release(struct source_slot *slot);

#endif
