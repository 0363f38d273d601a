/*
 * One direction of a proxied connection: bytes read from a producer socket are written to a
 * consumer socket. The common case costs one read into the loop's scratch buffer and one
 * write; only what the consumer does not take is copied into a pooled buffer, and while that
 * buffer holds bytes the producer is not read (backpressure). Memory per direction is thus
 * bounded by the buffer size. EOF from the producer becomes shutdown(SHUT_WR) on the consumer
 * (half-close); since the producer is not read while bytes are pending, EOF is only ever seen
 * after every earlier byte was written.
 *
 * With splice on (or, in auto, once a read fills the whole scratch buffer: bulk data), the
 * bytes go from the producer into a pipe and from the pipe to the consumer without being
 * copied to weir (splice(2)); the pipe, taken from the loop's pool, plays the pending
 * buffer's part, and goes back to the pool when the producer runs dry. Without a pipe to
 * spare, the relay reads and writes as usual.
 *
 * The relay does not know about event loops: it says what it wants (relay_wants_read/write)
 * and its owner watches the descriptors accordingly.
 */
#ifndef WEIR_RELAY_H
#define WEIR_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "pipepool.h"
#include "util.h"

enum relay_state {
	RELAY_READING, /* nothing pending: the producer is read */
	RELAY_BLOCKED, /* bytes pending for the consumer: the producer is not read */
	RELAY_DONE,    /* EOF passed on; nothing more will move this way */
};

/* Which socket failed, when a pump returns an error. */
enum relay_fault {
	RELAY_FAULT_NONE,
	RELAY_FAULT_SRC,   /* reading the producer failed (usually a reset) */
	RELAY_FAULT_DST,   /* writing the consumer failed (reset, broken pipe) */
	RELAY_FAULT_LOCAL, /* weir's own: no memory to keep the bytes the consumer refused, or
			    * the kernel had none for a read, write or splice (ENOMEM, ENOBUFS) */
};

enum relay_splice {
	RELAY_SPLICE_OFF,
	RELAY_SPLICE_AUTO, /* once a read shows bulk data */
	RELAY_SPLICE_ON,
};

/* 32 bytes: the sockets are its owner's, passed in. */
struct relay {
	uint8_t state;		/* enum relay_state */
	uint8_t owned : 1;	/* buf is a prefill, freed rather than returned to the pool */
	uint8_t eof_closes : 1; /* the other way is done: EOF ends the connection, whose
				   close sends the FIN (no shutdown needed) */
	uint8_t piped : 1;	/* `pipe` holds a pipe rather than `buf` a buffer */
	uint8_t bulk : 1;	/* a read filled the scratch buffer: splice from now on (auto) */
	uint32_t pauses;	/* times the producer was paused for a slow consumer */
	union {
		char *buf;		  /* pooled (or, prefilled, malloc'd), only while BLOCKED */
		struct splice_pipe *pipe; /* while bytes move through one (piped) */
	};
	uint32_t off, len;
	uint64_t bytes; /* delivered to the consumer */
};

/* What every relay of a loop shares. */
struct relay_ctx {
	struct bufpool *pool;
	struct pipepool *pipes;
	enum relay_splice splice;
	char *scratch; /* pool->size bytes */
	/* What the last relay_on_readable or relay_on_writable saw of the sockets, for a
	 * caller that waits for edges (epoll's EPOLLET): the producer had nothing more to
	 * give, or the consumer would take no more. Set only when certain. */
	bool src_dry, dst_full;
	/* Told by the caller before relay_on_readable. src_stops_short: a read that returns
	 * less than asked may have left bytes behind (the producer's end has arrived, urgent
	 * data is pending, or it is a unix socket), so another read follows it. src_urgent:
	 * urgent data is pending; a splice never gets past its mark, so it is read without
	 * splice (which skips the urgent byte). */
	bool src_stops_short, src_urgent;
};

void relay_init(struct relay *r);
/*
 * Bytes the consumer gets before anything read from the producer (a PROXY header, what was
 * read ahead of the connect), of which the first `sent` went already: `buf` (malloc'd) is
 * taken over.
 */
void relay_prefill(struct relay *r, char *buf, uint32_t sent, uint32_t len);
/* Return the pending buffer, if any, to the pool. */
void relay_release(struct relay *r, struct relay_ctx *ctx);

/* The producer `src` is readable. Returns RELAY_FAULT_NONE or which side failed (errno
 * says why). */
enum relay_fault relay_on_readable(struct relay *r, int src, int dst,
				   struct relay_ctx *ctx) WEIR_WUR;
/* The consumer `dst` is writable. */
enum relay_fault relay_on_writable(struct relay *r, int dst, struct relay_ctx *ctx) WEIR_WUR;

static inline bool relay_wants_read(const struct relay *r)
{
	return r->state == RELAY_READING;
}

static inline bool relay_wants_write(const struct relay *r)
{
	return r->state == RELAY_BLOCKED;
}

static inline bool relay_done(const struct relay *r)
{
	return r->state == RELAY_DONE;
}

#endif
