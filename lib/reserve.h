/*
 * The emergency descriptor: one spare descriptor (on /dev/null) held by each loop. When
 * accept() fails because the descriptor table is full, releasing the spare makes room to
 * accept the pending client and close it at once, so it sees a prompt close instead of
 * hanging in the backlog; then the spare is taken back. Taking it back can fail while the
 * table is still full: the reservation is then unavailable until a later retry succeeds,
 * never assumed.
 */
#ifndef WEIR_RESERVE_H
#define WEIR_RESERVE_H

#include <stdbool.h>

#include "util.h"

struct reserve {
	int fd; /* -1: unavailable */
};

void reserve_init(struct reserve *r);
/* Take the spare if it is not held. 0 or -errno (EMFILE while the table is full). */
int reserve_acquire(struct reserve *r) WEIR_WUR;
/* Give the spare's slot back to the process. */
void reserve_release(struct reserve *r);

static inline bool reserve_available(const struct reserve *r)
{
	return r->fd >= 0;
}

#endif
