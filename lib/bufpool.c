#include <stdlib.h>

#include "bufpool.h"

void bufpool_init(struct bufpool *p, size_t size, size_t keep)
{
	p->size = size;
	p->free = NULL;
	p->nfree = 0;
	p->keep = keep;
	p->in_use = 0;
}

void bufpool_fini(struct bufpool *p)
{
	while (p->nfree)
		free(p->free[--p->nfree]);
	free(p->free);
	p->free = NULL;
}

void *bufpool_get(struct bufpool *p)
{
	void *buf = p->nfree ? p->free[--p->nfree] : malloc(p->size);

	if (buf)
		p->in_use++;
	return buf;
}

void bufpool_put(struct bufpool *p, void *buf)
{
	p->in_use--;
	if (p->nfree == p->keep || (!p->free && !(p->free = calloc(p->keep, sizeof(void *))))) {
		free(buf);
		return;
	}
	p->free[p->nfree++] = buf;
}
