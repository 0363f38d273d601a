#include <assert.h>
#include <errno.h>
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
	if (r->buf && r->owned)
		free(r->buf);
	else if (r->buf)
		bufpool_put(ctx->pool, r->buf);
	r->buf = NULL;
	r->owned = false;
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

enum relay_fault relay_on_readable(struct relay *r, int src, int dst, struct relay_ctx *ctx)
{
	size_t size = ctx->pool->size;

	for (int i = 0; i < RELAY_READS_PER_EVENT && r->state == RELAY_READING; i++) {
		ssize_t n = read(src, ctx->scratch, size), w;

		if (n == 0) {
			pass_eof(r, dst);
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return RELAY_FAULT_SRC;
		}
		w = send_some(dst, ctx->scratch, (size_t)n);
		if (w < 0)
			return RELAY_FAULT_DST;
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
			break;
		}
		if ((size_t)n < size)
			break; /* the socket is most likely empty: skip the read that says EAGAIN */
	}
	return RELAY_FAULT_NONE;
}

enum relay_fault relay_on_writable(struct relay *r, int dst, struct relay_ctx *ctx)
{
	ssize_t w;

	assert(relay_wants_write(r) && r->off < r->len);
	w = send_some(dst, r->buf + r->off, r->len - r->off);
	if (w < 0)
		return RELAY_FAULT_DST;
	r->off += (uint32_t)w;
	r->bytes += (uint64_t)w;
	if (r->off == r->len) {
		relay_release(r, ctx);
		r->state = RELAY_READING;
	}
	return RELAY_FAULT_NONE;
}
