#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipepool.h"

void pipepool_init(struct pipepool *p, size_t max, size_t keep, size_t size)
{
	p->free = NULL;
	p->n_free = p->in_use = 0;
	p->max = max;
	p->keep = keep;
	p->size = size;
}

static void pipe_close(struct splice_pipe *pipe)
{
	close(pipe->rd);
	close(pipe->wr);
	free(pipe);
}

void pipepool_fini(struct pipepool *p)
{
	while (p->free) {
		struct splice_pipe *pipe = p->free;
		p->free = pipe->next;
		pipe_close(pipe);
	}
	p->n_free = 0;
}

struct splice_pipe *pipepool_get(struct pipepool *p)
{
	struct splice_pipe *pipe = p->free;
	int fds[2];

	if (pipe) {
		p->free = pipe->next;
		p->n_free--;
	} else {
		if (p->in_use >= p->max || !(pipe = malloc(sizeof(*pipe))))
			return NULL;
		if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
			free(pipe);
			return NULL;
		}
		pipe->rd = fds[0];
		pipe->wr = fds[1];
		pipe->pending = 0;
		/* Room for a whole buffer's worth at once; the kernel may give less. */
		if (p->size)
			(void)fcntl(pipe->wr, F_SETPIPE_SZ, (int)p->size);
	}
	p->in_use++;
	pipe->next = NULL;
	return pipe;
}

void pipepool_put(struct pipepool *p, struct splice_pipe *pipe)
{
	p->in_use--;
	if (pipe->pending || p->n_free >= p->keep) {
		pipe_close(pipe);
		return;
	}
	pipe->next = p->free;
	p->free = pipe;
	p->n_free++;
}
