/*
 * The relay on socketpairs: bytes pass unchanged, a full consumer pauses the producer with
 * bounded memory and resumes when drained, EOF becomes a half-close, failures name the side.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "pipepool.h"
#include "relay.h"

#define BUFSZ 4096

/* The next send() or splice() fails with this errno (0: they are real); see Makefile.am. */
static int send_fails, splice_fails;

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags);
ssize_t __wrap_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags);

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
	if (send_fails) {
		errno = send_fails;
		send_fails = 0;
		return -1;
	}
	return __real_send(fd, buf, len, flags);
}

ssize_t __wrap_splice(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags)
{
	if (splice_fails) {
		errno = splice_fails;
		splice_fails = 0;
		return -1;
	}
	return __real_splice(in, in_off, out, out_off, len, flags);
}

struct rig {
	int client[2]; /* [0] the client application, [1] weir's client socket */
	int server[2]; /* [0] weir's server socket, [1] the server application */
	struct bufpool pool;
	char scratch[BUFSZ];
	struct relay_ctx ctx;
	struct relay up, down;
};

static void nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static int setup(void **state)
{
	static struct rig rig;
	struct rig *r = &rig;

	memset(r, 0, sizeof(*r));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, r->client), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, r->server), 0);
	for (int i = 0; i < 2; i++) {
		nonblock(r->client[i]);
		nonblock(r->server[i]);
	}
	bufpool_init(&r->pool, BUFSZ, 4);
	r->ctx.pool = &r->pool;
	r->ctx.scratch = r->scratch;
	relay_init(&r->up);
	relay_init(&r->down);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	relay_release(&r->up, &r->ctx);
	relay_release(&r->down, &r->ctx);
	bufpool_fini(&r->pool);
	for (int i = 0; i < 2; i++) {
		close(r->client[i]);
		close(r->server[i]);
	}
	return 0;
}

static void fill(unsigned char *p, size_t n, size_t from)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((from + i) * 2654435761u >> 13);
}

static size_t read_all(int fd, unsigned char *p, size_t max)
{
	size_t got = 0;
	ssize_t n;

	while (got < max && (n = read(fd, p + got, max - got)) > 0)
		got += (size_t)n;
	return got;
}

/*
 * The client sends patterned bytes, the relay moving them up, until it stops reading the
 * client (the server, which never reads, is full). Returns how many were sent.
 */
static size_t send_until_paused(struct rig *r)
{
	static unsigned char chunk[BUFSZ];
	size_t sent = 0;

	for (int rounds = 0; rounds < 10000 && relay_wants_read(&r->up); rounds++) {
		ssize_t n;
		fill(chunk, sizeof(chunk), sent);
		n = write(r->client[0], chunk, sizeof(chunk));
		if (n > 0)
			sent += (size_t)n;
		assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
				 RELAY_FAULT_NONE);
	}
	return sent;
}

/* `got` holds the first `n` bytes of the pattern, in order. */
static void assert_pattern(const unsigned char *got, size_t n)
{
	static unsigned char chunk[BUFSZ];

	for (size_t i = 0; i < n; i += BUFSZ) {
		size_t len = n - i < BUFSZ ? n - i : BUFSZ;
		fill(chunk, len, i);
		assert_memory_equal(got + i, chunk, len);
	}
}

static void bytes_pass_unchanged_both_ways(void **state)
{
	struct rig *r = *state;
	unsigned char out[1000], in[1000];

	fill(out, sizeof(out), 0);
	assert_int_equal(write(r->client[0], out, sizeof(out)), sizeof(out));
	assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
			 RELAY_FAULT_NONE);
	assert_int_equal(read_all(r->server[1], in, sizeof(in)), sizeof(in));
	assert_memory_equal(in, out, sizeof(out));

	fill(out, sizeof(out), 77);
	assert_int_equal(write(r->server[1], out, sizeof(out)), sizeof(out));
	assert_int_equal(relay_on_readable(&r->down, r->server[0], r->client[1], &r->ctx),
			 RELAY_FAULT_NONE);
	assert_int_equal(read_all(r->client[0], in, sizeof(in)), sizeof(in));
	assert_memory_equal(in, out, sizeof(out));

	assert_int_equal(r->up.bytes, 1000);
	assert_int_equal(r->down.bytes, 1000);
	assert_int_equal(r->pool.in_use, 0); /* nothing pending: no buffer held */
}

/*
 * The server never reads: once its socket is full the relay keeps at most one buffer, stops
 * reading the client, and resumes when the server drains. Every byte arrives in order.
 */
static void full_consumer_pauses_producer(void **state)
{
	struct rig *r = *state;
	static unsigned char chunk[BUFSZ], got[1 << 22];
	size_t sent = send_until_paused(r), received = 0;
	int rounds;

	assert_false(relay_wants_read(&r->up));
	assert_true(relay_wants_write(&r->up));
	assert_int_equal(r->up.state, RELAY_BLOCKED);
	assert_int_equal(r->up.pauses, 1);
	assert_int_equal(r->pool.in_use, 1);
	assert_true(r->up.len - r->up.off <= BUFSZ);

	/* While blocked, more client data waits in the kernel, not in weir. */
	fill(chunk, 1, sent);
	if (write(r->client[0], chunk, 1) == 1)
		sent += 1;
	assert_int_equal(r->pool.in_use, 1);

	/* Drain the server side and let the relay catch up until everything has arrived. */
	for (rounds = 0; rounds < 100000 && received < sent; rounds++) {
		ssize_t n = read(r->server[1], got + received, sizeof(got) - received);
		if (n > 0)
			received += (size_t)n;
		if (relay_wants_write(&r->up))
			assert_int_equal(relay_on_writable(&r->up, r->server[0], &r->ctx),
					 RELAY_FAULT_NONE);
		else
			assert_int_equal(
				relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
				RELAY_FAULT_NONE);
	}
	assert_int_equal(received, sent);
	assert_pattern(got, sent);
	assert_int_equal(r->up.state, RELAY_READING);
	assert_int_equal(r->pool.in_use, 0); /* the buffer went back once drained */
	assert_int_equal(r->up.bytes, sent);
}

/*
 * The same through a pipe (splice on): the pipe is held while the consumer is full, and goes
 * back once it has drained, so a connection that then goes quiet holds no descriptors.
 */
static void a_drained_pipe_goes_back(void **state)
{
	struct rig *r = *state;
	static unsigned char got[1 << 22];
	size_t sent, received = 0;
	struct pipepool pipes;

	pipepool_init(&pipes, 4, 4, 0);
	r->ctx.pipes = &pipes;
	r->ctx.splice = RELAY_SPLICE_ON;
	sent = send_until_paused(r);
	assert_int_equal(r->up.state, RELAY_BLOCKED);
	assert_true(r->up.piped);
	assert_int_equal(pipes.in_use, 1);
	while (received < sent && relay_wants_write(&r->up)) {
		ssize_t n = read(r->server[1], got + received, sizeof(got) - received);
		if (n > 0)
			received += (size_t)n;
		assert_int_equal(relay_on_writable(&r->up, r->server[0], &r->ctx),
				 RELAY_FAULT_NONE);
	}
	/* The client sends nothing more: the pipe is back although nothing read it dry. */
	assert_int_equal(r->up.state, RELAY_READING);
	assert_false(r->up.piped);
	assert_int_equal(pipes.in_use, 0);
	received += read_all(r->server[1], got + received, sizeof(got) - received);
	assert_int_equal(received, sent);
	assert_pattern(got, sent);
	relay_release(&r->up, &r->ctx);
	pipepool_fini(&pipes);
}

/*
 * The kernel has no memory for weir's write or splice: a fault of weir's own, not the
 * peer's, so that the caller resets both sides rather than pass a cut stream on as whole.
 * A reset is still the peer's.
 */
static void no_kernel_memory_is_a_local_fault(void **state)
{
	struct rig *r = *state;
	struct pipepool pipes;

	assert_int_equal(write(r->client[0], "abc", 3), 3);
	send_fails = ENOBUFS;
	assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
			 RELAY_FAULT_LOCAL);
	assert_int_equal(write(r->client[0], "def", 3), 3);
	send_fails = ECONNRESET;
	assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
			 RELAY_FAULT_DST);

	pipepool_init(&pipes, 4, 4, 0);
	r->ctx.pipes = &pipes;
	r->ctx.splice = RELAY_SPLICE_ON;
	assert_int_equal(write(r->server[1], "ghi", 3), 3);
	splice_fails = ENOMEM;
	assert_int_equal(relay_on_readable(&r->down, r->server[0], r->client[1], &r->ctx),
			 RELAY_FAULT_LOCAL);
	relay_release(&r->down, &r->ctx);
	pipepool_fini(&pipes);
}

static void eof_becomes_half_close(void **state)
{
	struct rig *r = *state;
	unsigned char buf[16];

	assert_int_equal(write(r->client[0], "request", 7), 7);
	assert_int_equal(shutdown(r->client[0], SHUT_WR), 0);
	assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
			 RELAY_FAULT_NONE);
	if (!relay_done(&r->up))
		assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
				 RELAY_FAULT_NONE);
	assert_true(relay_done(&r->up));
	assert_false(relay_wants_read(&r->up));
	/* The server sees the bytes, then EOF... */
	assert_int_equal(read(r->server[1], buf, sizeof(buf)), 7);
	assert_int_equal(read(r->server[1], buf, sizeof(buf)), 0);
	/* ...and its answer still reaches the client. */
	assert_int_equal(write(r->server[1], "response", 8), 8);
	assert_int_equal(relay_on_readable(&r->down, r->server[0], r->client[1], &r->ctx),
			 RELAY_FAULT_NONE);
	assert_int_equal(read(r->client[0], buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "response", 8);
	assert_false(relay_done(&r->down));
}

static void consumer_gone_is_a_dst_fault(void **state)
{
	struct rig *r = *state;

	close(r->server[1]);
	r->server[1] = -1;
	assert_int_equal(write(r->client[0], "x", 1), 1);
	assert_int_equal(relay_on_readable(&r->up, r->client[1], r->server[0], &r->ctx),
			 RELAY_FAULT_DST);
	assert_int_equal(errno, EPIPE);
	/* Reading from the gone server is an EOF, not a fault. */
	assert_int_equal(relay_on_readable(&r->down, r->server[0], r->client[1], &r->ctx),
			 RELAY_FAULT_NONE);
	assert_true(relay_done(&r->down));
}

static void producer_error_is_a_src_fault(void **state)
{
	struct rig *r = *state;

	/* A descriptor that cannot be read stands in for a reset producer. */
	assert_int_equal(relay_on_readable(&r->up, -1, r->server[0], &r->ctx), RELAY_FAULT_SRC);
	assert_int_equal(errno, EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(bytes_pass_unchanged_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(full_consumer_pauses_producer, setup, teardown),
		cmocka_unit_test_setup_teardown(a_drained_pipe_goes_back, setup, teardown),
		cmocka_unit_test_setup_teardown(no_kernel_memory_is_a_local_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(eof_becomes_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(consumer_gone_is_a_dst_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(producer_error_is_a_src_fault, setup, teardown),
	};
	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
