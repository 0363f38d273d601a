/*
 * The emergency descriptor: one spare descriptor (on /dev/null) held by each loop. When
 * accept() fails because the descriptor table is full, releasing the spare makes room to
 * accept the pending client; that client is then closed at once, so it sees a prompt close
 * instead of hanging in the backlog, and its slot becomes the spare again. Taking the spare
 * back can fail while the table is still full: the reservation is then unavailable until a
 * later retry succeeds, never assumed.
 *
 * The descriptor table is the process's, shared by every thread: a slot freed by one thread
 * can be taken by another's accept() or socket() at any moment. So the client is closed and
 * the spare retaken in one step (dup3() of a /dev/null descriptor kept for the purpose onto
 * the client's slot), never close() and then open(), which leaves the slot free in between.
 * That leaves the moment between giving the spare up and accept(): the slot is claimed
 * first, and whoever else is handed a claimed slot by accept() or socket() gives it back at
 * once (reserve_check) as if the table were full, which it was. Otherwise another worker
 * could set up a connection on two such slots and keep them, and one spare after another
 * would be lost while clients wait in the backlogs.
 */
#ifndef WEIR_RESERVE_H
#define WEIR_RESERVE_H

#include <stdbool.h>

#include "util.h"

struct reserve {
	int fd;	   /* -1: unavailable */
	int claim; /* the index of the slot given up and not yet retaken, or -1 */
};

/*
 * Spares are given up, retaken and lent between loops only under this one process-wide
 * lock (taken when the descriptor table is full, never on the accept path itself).
 */
void reserve_lock(void);
void reserve_unlock(void);

/* Also opens, once per process, the /dev/null descriptor that reserve_refill copies. */
void reserve_init(struct reserve *r);
/* Take the spare if it is not held. 0 or -errno (EMFILE while the table is full). */
int reserve_acquire(struct reserve *r) WEIR_WUR;
/* Give the spare's slot up, for a moment, to accept into it: the slot is claimed. */
void reserve_release(struct reserve *r);
/* Give the spare up for good (the loop is closing): no claim. */
void reserve_fini(struct reserve *r);
/*
 * After reserve_release: `fd` (a client accepted into the freed slot) is closed and its slot
 * becomes the spare, atomically where possible. 0, or -errno if the spare could not be
 * retaken (the client is closed either way).
 */
int reserve_refill(struct reserve *r, int fd) WEIR_WUR;

/*
 * `fd` as returned by accept() or socket() (or -1): -1 with errno EMFILE, the descriptor
 * closed, if it is a slot some spare has claimed; otherwise `fd`. One atomic load when no
 * spare is given up, which is always but under a shortage.
 */
int reserve_check(int fd);

static inline bool reserve_available(const struct reserve *r)
{
	return r->fd >= 0;
}

#endif
