#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

/* Reads per readiness event: enough to move bulk data, few enough to keep the loop fair. */
#define RELAY_READS_PER_EVENT 4

void relay_init(struct relay *r)
{
	memset(r, 0, sizeof(*r));
	r->state = RELAY_READING;
}

void relay_prefill(struct relay *r, char *buf, uint32_t sent, uint32_t len)
{
	r->buf = buf;
	r->owned = true;
	r->off = sent;
	r->len = len;
	r->state = RELAY_BLOCKED;
}

void relay_release(struct relay *r, struct relay_ctx *ctx)
{
	if (r->piped)
		pipepool_put(ctx->pipes, r->pipe);
	else if (r->buf && r->owned)
		free(r->buf);
	else if (r->buf)
		bufpool_put(ctx->pool, r->buf);
	r->buf = NULL;
	r->owned = r->piped = false;
	r->off = r->len = 0;
}

static void pass_eof(struct relay *r, int dst)
{
	/* The consumer may already be gone (ENOTCONN): nothing left to tell it then. */
	if (!r->eof_closes)
		(void)shutdown(dst, SHUT_WR);
	r->state = RELAY_DONE;
}

/* Write what we can; -1 with errno set on a real failure, else the count (maybe 0). */
static ssize_t send_some(int fd, const char *p, size_t n)
{
	ssize_t w;

	do
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return w;
}

/* What a read (or a splice from the producer) that returned `n` means. */
enum read_result {
	GOT_BYTES,
	GOT_RETRY,   /* interrupted */
	GOT_NOTHING, /* the producer is empty for now, or ended (passed on) */
	GOT_FAULT,   /* the producer failed (errno says why) */
};

static enum read_result read_result(struct relay *r, ssize_t n, int dst)
{
	if (n > 0)
		return GOT_BYTES;
	if (n == 0) {
		pass_eof(r, dst);
		return GOT_NOTHING;
	}
	if (errno == EINTR)
		return GOT_RETRY;
	return errno == EAGAIN || errno == EWOULDBLOCK ? GOT_NOTHING : GOT_FAULT;
}

/*
 * A read, write or splice failed: the peer's doing (a reset, a broken pipe), unless the kernel
 * had no memory for weir (ENOMEM, ENOBUFS). Then the stream is cut short by weir, and neither
 * peer may take it for complete.
 */
static enum relay_fault failed(enum relay_fault side)
{
	return errno == ENOMEM || errno == ENOBUFS ? RELAY_FAULT_LOCAL : side;
}

/* Move what the pipe holds on to the consumer: BLOCKED while some is left. */
static enum relay_fault pipe_out(struct relay *r, int dst, struct relay_ctx *ctx)
{
	struct splice_pipe *p = r->pipe;
	ssize_t w;

	do
		w = splice(p->rd, NULL, dst, NULL, p->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return failed(RELAY_FAULT_DST);
	if (w > 0) {
		p->pending -= (uint32_t)w;
		r->bytes += (uint64_t)w;
	}
	ctx->dst_full = p->pending != 0;
	if (p->pending && r->state == RELAY_READING) {
		r->state = RELAY_BLOCKED;
		r->pauses++;
	} else if (!p->pending) {
		r->state = RELAY_READING;
	}
	return RELAY_FAULT_NONE;
}

/* The producer's bytes through a pipe: read as the plain path does, never copied to weir. */
static enum relay_fault splice_readable(struct relay *r, int src, int dst, struct relay_ctx *ctx)
{
	size_t chunk = ctx->pool->size;

	for (int i = 0; i < RELAY_READS_PER_EVENT && r->state == RELAY_READING; i++) {
		ssize_t n = splice(src, NULL, r->pipe->wr, NULL, chunk,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		enum read_result got = read_result(r, n, dst);
		enum relay_fault f;

		if (got == GOT_RETRY)
			continue;
		if (got == GOT_FAULT)
			return failed(RELAY_FAULT_SRC);
		if (got == GOT_NOTHING) {
			ctx->src_dry = true;
			break;
		}
		r->pipe->pending += (uint32_t)n;
		if ((f = pipe_out(r, dst, ctx)) != RELAY_FAULT_NONE)
			return f;
		/* Most likely empty; not certain, as the pipe may hold less than a chunk. */
		if ((size_t)n < chunk)
			break;
	}
	/* Dry (or done): the pipe goes back for another connection's bulk. */
	if (r->state != RELAY_BLOCKED)
		relay_release(r, ctx);
	return RELAY_FAULT_NONE;
}

/* Whether this read goes through a pipe: taken now if there is one to spare. */
static bool use_pipe(struct relay *r, struct relay_ctx *ctx)
{
	if (r->piped)
		return true;
	if (ctx->splice == RELAY_SPLICE_OFF || (ctx->splice == RELAY_SPLICE_AUTO && !r->bulk))
		return false;
	r->pipe = pipepool_get(ctx->pipes);
	r->piped = r->pipe != NULL;
	return r->piped;
}

enum relay_fault relay_on_readable(struct relay *r, int src, int dst, struct relay_ctx *ctx)
{
	size_t size = ctx->pool->size;

	ctx->src_dry = ctx->dst_full = false;
	if (ctx->src_urgent && r->piped && !r->pipe->pending)
		relay_release(r, ctx); /* an empty pipe: read past the mark, then splice again */
	if (!ctx->src_urgent && use_pipe(r, ctx))
		return splice_readable(r, src, dst, ctx);
	for (int i = 0; i < RELAY_READS_PER_EVENT && r->state == RELAY_READING; i++) {
		ssize_t n = read(src, ctx->scratch, size), w;
		enum read_result got = read_result(r, n, dst);

		if (got == GOT_RETRY)
			continue;
		if (got == GOT_FAULT)
			return failed(RELAY_FAULT_SRC);
		if (got == GOT_NOTHING) {
			ctx->src_dry = true;
			break;
		}
		if ((size_t)n == size)
			r->bulk = true; /* a whole buffer at once: in auto, later reads splice */
		w = send_some(dst, ctx->scratch, (size_t)n);
		if (w < 0)
			return failed(RELAY_FAULT_DST);
		r->bytes += (uint64_t)w;
		if (w < n) {
			/* The consumer is full: keep the rest and stop reading until it drains. */
			r->buf = bufpool_get(ctx->pool);
			if (!r->buf) {
				errno = ENOMEM;
				return RELAY_FAULT_LOCAL;
			}
			r->len = (uint32_t)(n - w);
			r->off = 0;
			memcpy(r->buf, ctx->scratch + w, r->len);
			r->state = RELAY_BLOCKED;
			r->pauses++;
			ctx->dst_full = true;
			break;
		}
		if ((size_t)n < size && !ctx->src_stops_short) {
			/* Less than asked: the socket is empty; skip the read that says EAGAIN. */
			ctx->src_dry = true;
			break;
		}
	}
	return RELAY_FAULT_NONE;
}

enum relay_fault relay_on_writable(struct relay *r, int dst, struct relay_ctx *ctx)
{
	ssize_t w;

	ctx->src_dry = ctx->dst_full = false;
	if (r->piped) {
		enum relay_fault f = pipe_out(r, dst, ctx);
		/* Drained: the pipe goes back, as when the producer runs dry, so a connection
		 * that goes quiet now holds none. */
		if (f == RELAY_FAULT_NONE && !r->pipe->pending)
			relay_release(r, ctx);
		return f;
	}
	assert(relay_wants_write(r) && r->off < r->len);
	w = send_some(dst, r->buf + r->off, r->len - r->off);
	if (w < 0)
		return failed(RELAY_FAULT_DST);
	r->off += (uint32_t)w;
	r->bytes += (uint64_t)w;
	ctx->dst_full = r->off < r->len;
	if (r->off == r->len) {
		relay_release(r, ctx);
		r->state = RELAY_READING;
	}
	return RELAY_FAULT_NONE;
}
