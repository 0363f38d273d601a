/*
 * Per-loop pool of equal-sized buffers. A connection holds a buffer only while bytes are
 * pending for a slow consumer; an idle or fast connection holds none.
 */
#ifndef WEIR_BUFPOOL_H
#define WEIR_BUFPOOL_H

#include <stddef.h>

#include "util.h"

struct bufpool {
	size_t size;	    /* bytes per buffer */
	void **free;	    /* buffers ready for reuse */
	size_t nfree, keep; /* cached now / at most */
	size_t in_use;	    /* handed out and not yet returned */
};

void bufpool_init(struct bufpool *p, size_t size, size_t keep);
void bufpool_fini(struct bufpool *p);
void *bufpool_get(struct bufpool *p) WEIR_WUR;
void bufpool_put(struct bufpool *p, void *buf);

#endif
