/*
 * Pipes for splice(2), one pool per worker. A relay in splice mode moves its bytes from one
 * socket into a pipe and from the pipe into the other socket, inside the kernel; it holds a
 * pipe only while bytes move and gives it back when its producer runs dry, so an idle
 * connection holds none. Each pipe is two descriptors: at most `max` exist at once, and up
 * to `keep` idle ones are kept for the next taker. Per loop.
 */
#ifndef WEIR_PIPEPOOL_H
#define WEIR_PIPEPOOL_H

#include <stddef.h>
#include <stdint.h>

struct splice_pipe {
	int rd, wr;
	uint32_t pending; /* bytes in the pipe, not yet given to the consumer */
	struct splice_pipe *next;
};

struct pipepool {
	struct splice_pipe *free;
	size_t n_free, keep;
	size_t in_use, max;
	size_t size; /* asked of each new pipe (F_SETPIPE_SZ); 0: the kernel's default */
};

void pipepool_init(struct pipepool *p, size_t max, size_t keep, size_t size);
void pipepool_fini(struct pipepool *p);
/* A pipe with nothing in it, or NULL (the limit is reached, or no descriptor is left). */
struct splice_pipe *pipepool_get(struct pipepool *p);
/* Give a pipe back; one that still holds bytes (a connection cut short) is closed. */
void pipepool_put(struct pipepool *p, struct splice_pipe *pipe);

#endif
