/*
 * One connection from accept to close (conn.c), on a real worker and loop, with clients
 * handed to weir as socketpairs or loopback TCP connections and servers the test owns
 * (unix listeners, or TCP where a reset or a black hole must be seen). What users rely on:
 *   - bytes arrive intact both ways, and a half-close passes on: after one side's EOF the
 *     other can still send and be heard;
 *   - every way a connection ends is counted under its own name (w.closed[], the end= of
 *     the log line): client-closed, server-closed, client-reset, server-reset,
 *     client-aborted, connect-failed, connect-timeout, no-server, queue-timeout, idle,
 *     linger, local-error, drain-timeout, shutdown, denied, source-limit, bad-header,
 *     header-timeout;
 *   - a PROXY header is read first and never relayed, and names the client; a client
 *     refused before a server is chosen (access list, per-source limit, a bad or late
 *     header) is reset and no server hears of it;
 *   - a failed or slow connect goes on to the next server (counted as a retry, held
 *     against the server that failed); a full unix backlog or weir's own shortage of
 *     descriptors is held against no server;
 *   - at maxconn clients wait, in order, for the connect timeout at most; a waiting client
 *     that leaves takes no slot; a client that waits for a full unix backlog is served
 *     once it drains, however late the loop's clock runs;
 *   - a stream weir cuts (timeouts, stop, its own shortage) is a reset to the peers, and a
 *     reset by one peer is a reset to the other; a clean end is a clean end;
 *   - whatever the ending, every count (server slots, open connections, the queue) returns
 *     to zero.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"
#include "open_fds.h"
#include "log.h"
#include "proxy.h"
#include "reload.h"
#include "worker.h"

/* --- fault injection: socket() fails with a chosen error -------------------------------- */

static int socket_errno; /* nonzero: socket() fails with it */

int __real_socket(int domain, int type, int protocol);
int __wrap_socket(int domain, int type, int protocol);

int __wrap_socket(int domain, int type, int protocol)
{
	if (socket_errno) {
		errno = socket_errno;
		return -1;
	}
	return __real_socket(domain, type, protocol);
}

/* --- a worker, servers the test owns, clients handed straight to conn_accept ------------ */

#define N_BACKENDS 3
#define MAX_FDS	   64

struct backend {
	int fd;		/* the listening socket, -1: none (or nothing listening) */
	char path[108]; /* a unix one's socket file */
	char addr[128]; /* as -b takes it */
};

struct rig {
	struct ev_loop *loop;
	struct proxy p; /* one worker, on the test's loop */
	FILE *log;	/* what weir logged during the test */
	struct backend be[N_BACKENDS];
	int tcp_front;	  /* where TCP clients come from (the test accepts them for weir) */
	int fds[MAX_FDS]; /* every descriptor the test holds, closed by the teardown */
	size_t n_fds;
	uint32_t covered; /* close reasons some test asserted (see every_close_reason_...) */
};

static struct rig rig;

/* The one worker. */
#define W (&rig.p.workers[0])

static int keep(int fd)
{
	assert_true(fd >= 0);
	assert_true(rig.n_fds < MAX_FDS);
	rig.fds[rig.n_fds++] = fd;
	return fd;
}

/* Close a descriptor of the test's (so the teardown does not close it again). */
static void drop(int fd)
{
	for (size_t i = 0; i < rig.n_fds; i++) {
		if (rig.fds[i] == fd) {
			rig.fds[i] = rig.fds[--rig.n_fds];
			close(fd);
			return;
		}
	}
	fail_msg("descriptor %d is not the test's", fd);
}

/* Leave with a reset (TCP). */
static void reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	drop(fd);
}

/* Run the loop until `cond` holds, for at most `ms`. */
#define RUN_UNTIL(cond, ms)                                                                        \
	do {                                                                                       \
		double until_ = clock_mono() + (ms) / 1e3;                                         \
		bool met_;                                                                         \
		while (!(met_ = (cond)) && clock_mono() < until_) {                                \
			ev_run(rig.loop, EVRUN_NOWAIT);                                            \
			usleep(500);                                                               \
		}                                                                                  \
		if (!met_)                                                                         \
			fail_msg("not within %d ms: %s", (int)(ms), #cond);                        \
	} while (0)

/* Run the loop for `ms`, whatever happens. */
static void run_for(int ms)
{
	double until = clock_mono() + ms / 1e3;

	while (clock_mono() < until) {
		ev_run(rig.loop, EVRUN_NOWAIT);
		usleep(500);
	}
}

/* Build a generation from a command line and commit it, as a start-up does. */
static void apply(const char *fmt, ...)
{
	char line[1024], *argv[32], *save = NULL;
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;
	struct generation *g;
	struct reload rl;
	va_list ap;
	int argc = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	argv[argc++] = "weir";
	for (char *tok = strtok_r(line, " ", &save); tok && argc < 31;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (config_read(&cfg, argc, argv, &action, &err) != CONFIG_OK)
		fail_msg("config: %s", err.msg);
	if (gen_new(&g, &cfg, 1, &err) < 0)
		fail_msg("gen_new: %s", err.msg);
	if (reload_prepare(&rl, &rig.p, g, NULL, 0, &err) < 0)
		fail_msg("prepare: %s", err.msg);
	reload_commit(&rl);
}

static struct frontend *fe(void)
{
	return &W->gen->frontends[0];
}

static struct pool *pool(void)
{
	return &W->gen->pools[0];
}

/* The server of backend `b` (the b-th -b of the command line). */
static struct server *srv(int b)
{
	assert_true((size_t)b < pool()->n);
	return pool()->servers[b];
}

/* --- servers ------------------------------------------------------------------------------ */

static void unix_path(int b)
{
	char path[sizeof(rig.be[b].path)];

	snprintf(path, sizeof(path), "/tmp/weir-test-conn-%d-%d.sock", (int)getpid(), b);
	memcpy(rig.be[b].path, path, sizeof(path));
	snprintf(rig.be[b].addr, sizeof(rig.be[b].addr), "unix:%s", path);
	unlink(path);
}

static int unix_socket_at(int b)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, rig.be[b].path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* A unix server listening with `backlog`. */
static const char *unix_server(int b, int backlog)
{
	unix_path(b);
	rig.be[b].fd = unix_socket_at(b);
	assert_int_equal(listen(rig.be[b].fd, backlog), 0);
	return rig.be[b].addr;
}

/* A unix socket file with nothing listening: connects are refused (ECONNREFUSED). */
static const char *refusing_unix_server(int b)
{
	unix_path(b);
	close(unix_socket_at(b));
	return rig.be[b].addr;
}

static int port_of(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static int tcp_socket_on_loopback(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* A TCP server on loopback listening with `backlog`. */
static const char *tcp_server(int b, int backlog)
{
	rig.be[b].fd = tcp_socket_on_loopback();
	assert_int_equal(listen(rig.be[b].fd, backlog), 0);
	snprintf(rig.be[b].addr, sizeof(rig.be[b].addr), "127.0.0.1:%d", port_of(rig.be[b].fd));
	return rig.be[b].addr;
}

/* A loopback port nobody listens on: connects in flight end in a refusal (a RST). */
static const char *refusing_tcp_server(int b)
{
	int fd = tcp_socket_on_loopback();

	snprintf(rig.be[b].addr, sizeof(rig.be[b].addr), "127.0.0.1:%d", port_of(fd));
	close(fd);
	return rig.be[b].addr;
}

static int connect_to(int fd, const struct sockaddr *sa, socklen_t len)
{
	return connect(fd, sa, len) == 0 || errno == EINPROGRESS ? 0 : -errno;
}

/* A TCP server whose accept queue is full and never drained: SYNs go unanswered. */
static const char *black_hole(int b)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	tcp_server(b, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port_of(rig.be[b].fd));
	for (int i = 0; i < 4; i++) {
		int fd = keep(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
		assert_int_equal(connect_to(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	usleep(50000);
	return rig.be[b].addr;
}

/* The server side of the next connection to backend `b` (within 2s, the loop running). */
static int accept_on(int b)
{
	double until = clock_mono() + 2;
	int fd;

	while ((fd = accept4(rig.be[b].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
		if (clock_mono() > until)
			fail_msg("no connection reached backend %d within 2s (%zu waiting for a "
				 "slot, %zu open)",
				 b, W->n_queued, W->n_conns);
		ev_run(rig.loop, EVRUN_NOWAIT);
		usleep(500);
	}
	return keep(fd);
}

/* Nothing more was accepted on backend `b` (no connection weir should not have made). */
static void assert_nothing_to_accept(int b)
{
	int fd = accept4(rig.be[b].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		fail_msg("backend %d has a connection it should not have", b);
	}
}

/* --- clients: weir gets one end as if its listener had accepted it ----------------------- */

/*
 * As from the listener's callback: the loop's clock is that of this iteration, which began
 * `lag_us` before (what earlier callbacks of the iteration took).
 */
static void hand_over(int fd, const struct sockaddr *peer, socklen_t len, int socket_error,
		      unsigned lag_us)
{
	ev_now_update(rig.loop);
	if (lag_us)
		usleep(lag_us);
	socket_errno = socket_error;
	proxy_conn_force(&rig.p); /* the slot the listener would have taken */
	conn_accept(W, fe(), fd, peer, len);
	socket_errno = 0;
}

/*
 * A client on a socketpair; with `socket_error`, weir's socket() for its server fails;
 * `lag_us`: how far the loop's clock is behind when weir takes it (see hand_over).
 */
static int unix_client_at(int socket_error, unsigned lag_us)
{
	struct sockaddr_un peer = {.sun_family = AF_UNIX};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	hand_over(sv[1], (struct sockaddr *)&peer, sizeof(sa_family_t), socket_error, lag_us);
	return keep(sv[0]);
}

static int unix_client(void)
{
	return unix_client_at(0, 0);
}

/* A client on loopback TCP, where a reset can be told from an end; with `rcvbuf`, that
 * receive buffer (a small one keeps what it has not read in weir's socket). */
static int tcp_client_with(int socket_error, int rcvbuf)
{
	struct sockaddr_in sin = {.sin_family = AF_INET}, peer;
	socklen_t len = sizeof(peer);
	int fd, weir_side;

	if (rig.tcp_front < 0) {
		rig.tcp_front = tcp_socket_on_loopback();
		assert_int_equal(listen(rig.tcp_front, 16), 0);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port_of(rig.tcp_front));
	fd = keep(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (rcvbuf)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	assert_int_equal(connect_to(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	{
		double until = clock_mono() + 2;
		while ((weir_side = accept4(rig.tcp_front, (struct sockaddr *)&peer, &len,
					    SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0 &&
		       clock_mono() < until)
			usleep(500);
	}
	assert_true(weir_side >= 0);
	hand_over(weir_side, (struct sockaddr *)&peer, len, socket_error, 0);
	return fd;
}

static int tcp_client_failing(int socket_error)
{
	return tcp_client_with(socket_error, 0);
}

static int tcp_client(void)
{
	return tcp_client_with(0, 0);
}

/* --- what the peers see ------------------------------------------------------------------ */

static void put(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT), (ssize_t)strlen(s));
}

/* Receive exactly `s` on `fd` (the loop running meanwhile). */
static void get(int fd, const char *s)
{
	char buf[256];
	size_t want = strlen(s), got = 0;
	double until = clock_mono() + 2;

	assert_true(want < sizeof(buf));
	while (got < want) {
		ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (n == 0)
			fail_msg("EOF after %zu of the %zu bytes of \"%s\"", got, want, s);
		if (n < 0 && errno != EAGAIN)
			fail_msg("recv: %s, after %zu bytes of \"%s\"", strerror(errno), got, s);
		if (n > 0)
			got += (size_t)n;
		else if (clock_mono() > until)
			fail_msg("only %zu of the %zu bytes of \"%s\" within 2s", got, want, s);
		else {
			ev_run(rig.loop, EVRUN_NOWAIT);
			usleep(500);
		}
	}
	buf[got] = '\0';
	assert_string_equal(buf, s);
}

static bool is_tcp(int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len), 0);
	return domain == AF_INET;
}

/*
 * How the stream on `fd` ended for its reader: 0 not yet, 'E' an end (EOF), 'R' a reset.
 * Bytes still unread are a failure. A TCP socket that had the peer's FIN before the reset
 * keeps reading EOF; the reset shows in its state and pending error (EPIPE then).
 */
static int ending(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

	if (n > 0)
		fail_msg("unread bytes where the stream should have ended");
	if (n < 0 && errno == ECONNRESET)
		return 'R';
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		fail_msg("recv: %s", strerror(errno));
	if (is_tcp(fd)) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		int error = 0;
		assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
		if (ti.tcpi_state == TCP_CLOSE) {
			len = sizeof(error);
			assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len), 0);
			if (error == ECONNRESET || error == EPIPE)
				return 'R';
		}
	}
	return 'E';
}

static void assert_end(int fd)
{
	int e;

	RUN_UNTIL((e = ending(fd)) != 0, 2000);
	if (e != 'E')
		fail_msg("the stream was reset; a clean end was expected");
}

static void assert_reset(int fd)
{
	int e;

	RUN_UNTIL((e = ending(fd)) != 0, 2000);
	if (e != 'R')
		fail_msg("the stream ended cleanly (EOF); a reset was expected");
}

/* Nothing has arrived and the stream is open. */
static void assert_open(int fd)
{
	assert_int_equal(ending(fd), 0);
}

/*
 * The client leaves; once the server has seen its EOF the server leaves too, so the
 * connection ends as client-closed (leaving together, either EOF could be seen first).
 */
static void both_leave(int c, int s)
{
	drop(c);
	assert_end(s);
	drop(s);
}

/*
 * Send `n` patterned bytes from `from` and receive them at `to`, writing and reading as the
 * sockets allow while the loop runs: more than the sockets and weir's buffer hold, so the
 * relay has to pause its producer and resume.
 */
static void stream(int from, int to, size_t n, unsigned seed)
{
	static unsigned char out[1 << 20], in[1 << 20];
	size_t sent = 0, got = 0;
	double until = clock_mono() + 10;

	assert_true(n <= sizeof(out));
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(i * 131 + seed + (i >> 12));
	while (got < n) {
		ssize_t k;
		if (sent < n) {
			k = send(from, out + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (k < 0 && errno != EAGAIN)
				fail_msg("send: %s after %zu bytes", strerror(errno), sent);
			if (k > 0)
				sent += (size_t)k;
		}
		k = recv(to, in + got, n - got, MSG_DONTWAIT);
		if (k == 0)
			fail_msg("EOF after %zu of %zu bytes", got, n);
		if (k < 0 && errno != EAGAIN)
			fail_msg("recv: %s after %zu bytes", strerror(errno), got);
		if (k > 0)
			got += (size_t)k;
		ev_run(rig.loop, EVRUN_NOWAIT);
		if (clock_mono() > until)
			fail_msg("%zu of %zu bytes within 10s", got, n);
	}
	if (memcmp(in, out, n) != 0)
		fail_msg("the %zu bytes arrived, but changed", n);
}

/* --- what weir counted and logged --------------------------------------------------------- */

static unsigned end_index(const char *name)
{
	for (unsigned i = 0; i < CONN_END_MAX && conn_end_name(i); i++)
		if (strcmp(conn_end_name(i), name) == 0)
			return i;
	fail_msg("no close reason is called '%s'", name);
	return 0;
}

static uint64_t closed(const char *name)
{
	return W->closed[end_index(name)];
}

/* Exactly these closes ("client-closed=1 idle=2"), and none of any other reason. */
static void assert_closes(const char *expect)
{
	char padded[256];

	snprintf(padded, sizeof(padded), " %s", expect);
	for (unsigned i = 0; i < CONN_END_MAX; i++) {
		const char *name = conn_end_name(i), *at;
		char key[40];
		uint64_t want = 0;
		if (!name) {
			assert_int_equal(W->closed[i], 0);
			continue;
		}
		snprintf(key, sizeof(key), " %s=", name);
		if ((at = strstr(padded, key))) {
			want = strtoull(at + strlen(key), NULL, 10);
			rig.covered |= 1u << i;
		}
		if (W->closed[i] != want)
			fail_msg("closed %s: %llu, expected %llu (expected in all: %s)", name,
				 (unsigned long long)W->closed[i], (unsigned long long)want,
				 expect);
	}
}

/* Whether the log has a line containing every one of the `;`-separated parts of `what`. */
static bool logged(const char *what)
{
	static char text[1 << 16];
	ssize_t n;

	fflush(rig.log);
	n = pread(fileno(rig.log), text, sizeof(text) - 1, 0);
	assert_true(n >= 0);
	text[n] = '\0';
	for (char *line = text, *next; line && *line; line = next) {
		char parts[256], *save = NULL;
		bool all = true;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		snprintf(parts, sizeof(parts), "%s", what);
		for (char *p = strtok_r(parts, ";", &save); p && all;
		     p = strtok_r(NULL, ";", &save))
			all = strstr(line, p) != NULL;
		if (next)
			next[-1] = '\n';
		if (all)
			return true;
	}
	return false;
}

static void assert_logged(const char *what)
{
	if (!logged(what)) {
		static char text[1 << 14];
		ssize_t n = pread(fileno(rig.log), text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		fail_msg("no log line with %s; the log:\n%s", what, text);
	}
}

/* Every count a connection holds is back to zero. */
static void assert_all_released(void)
{
	struct generation *g = W->gen;

	assert_int_equal(W->n_conns, 0);
	assert_int_equal(W->n_queued, 0);
	assert_int_equal(g->local[0].conns, 0);
	assert_int_equal(rig.p.n_conns, 0);
	assert_int_equal(fe()->stats->open, 0);
	assert_int_equal(fe()->local[0].active.n, 0);
	assert_int_equal(fe()->local[0].lingering.n, 0);
	assert_int_equal(pool()->local[0].queue.n, 0);
	assert_int_equal(pool()->stats->queued, 0);
	for (size_t i = 0; i < pool()->n; i++)
		assert_int_equal(pool()->servers[i]->active, 0);
}

static int setup(void **state)
{
	struct weir_err err;

	memset(&rig, 0, sizeof(rig));
	for (int b = 0; b < N_BACKENDS; b++)
		rig.be[b].fd = -1;
	rig.tcp_front = -1;
	rig.log = tmpfile();
	assert_non_null(rig.log);
	log_init(fileno(rig.log), WLOG_INFO, WLOG_TEXT);
	rig.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(rig.loop);
	assert_int_equal(proxy_init(&rig.p, rig.loop, 1, 0, 1024, 0, 65536, &err), 0);
	return 0;
}

static uint32_t covered; /* over every test: close reasons asserted */

static int teardown(void **state)
{
	covered |= rig.covered;
	proxy_fini(&rig.p);
	ev_loop_destroy(rig.loop);
	for (size_t i = 0; i < rig.n_fds; i++)
		close(rig.fds[i]);
	for (int b = 0; b < N_BACKENDS; b++) {
		if (rig.be[b].fd >= 0)
			close(rig.be[b].fd);
		if (rig.be[b].path[0])
			unlink(rig.be[b].path);
	}
	if (rig.tcp_front >= 0)
		close(rig.tcp_front);
	log_init(2, WLOG_ERROR, WLOG_TEXT);
	fclose(rig.log);
	return 0;
}

/* --- relaying: the two clean ends, the two resets ----------------------------------------- */

/*
 * Bytes both ways, more than any buffer holds, arrive intact. The client ends first: the
 * server sees EOF, still sends, and the client gets it; the server's end closes the
 * connection as client-closed, with the byte counts in the log.
 */
static void the_client_ends_first(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", unix_server(0, 16));
	c = unix_client();
	s = accept_on(0);
	assert_int_equal(srv(0)->active, 1);
	stream(c, s, 600000, 1);
	stream(s, c, 700000, 2);
	put(c, "bye");
	get(s, "bye");
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	assert_end(s);
	assert_int_equal(fe()->local[0].lingering.n, 1); /* half-closed */
	put(s, "after your EOF");
	get(c, "after your EOF");
	assert_open(c);
	assert_closes("");
	drop(s);
	assert_end(c);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
	assert_int_equal(fe()->stats->bytes_to_server, 600003);
	assert_int_equal(fe()->stats->bytes_to_client, 700014);
	assert_int_equal(srv(0)->total, 1);
	assert_logged("end=client-closed;to_server=600003 to_client=700014;attempts=1");
}

/* The server ends first; the client can still send, then ends too: server-closed. */
static void the_server_ends_first(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", unix_server(0, 16));
	c = unix_client();
	s = accept_on(0);
	put(c, "hello");
	get(s, "hello");
	put(s, "last words");
	assert_int_equal(shutdown(s, SHUT_WR), 0);
	get(c, "last words");
	assert_end(c);
	put(c, "heard you");
	get(s, "heard you");
	assert_closes("");
	drop(c);
	assert_end(s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("server-closed=1");
	assert_all_released();
	assert_logged("end=server-closed;to_server=14 to_client=10");
}

/* A client's reset is passed on to the server as a reset: client-reset. */
static void a_client_reset_is_passed_on(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", tcp_server(0, 16));
	c = tcp_client();
	s = accept_on(0);
	put(c, "x");
	get(s, "x");
	reset(c);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-reset=1");
	assert_reset(s);
	assert_all_released();
	assert_int_equal(srv(0)->connect_failures, 0);
}

/* A server's reset is passed on to the client as a reset: server-reset. */
static void a_server_reset_is_passed_on(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", tcp_server(0, 16));
	c = tcp_client();
	s = accept_on(0);
	put(s, "y");
	get(c, "y");
	reset(s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("server-reset=1");
	assert_reset(c);
	assert_all_released();
}

/*
 * Urgent data (TCP's; MSG_OOB on a unix socket) stops a read at its mark with bytes queued
 * behind it, and a splice never gets past the mark. The client sends "hello", an urgent
 * byte and "world" before weir's loop runs, so one edge reports all three: what follows
 * the mark must still go through. The urgent byte itself is not relayed (weir relays the
 * stream, as HAProxy and nginx do).
 */
static void send_with_urgent_byte(int c)
{
	int one = 1;

	(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on unix */
	put(c, "hello");
	if (send(c, "!", 1, MSG_OOB | MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
		skip(); /* a unix socket before Linux 5.15 */
	put(c, "world");
	usleep(50000); /* all of it queued before weir reads */
}

static void relay_past_urgent_data(bool over_tcp, const char *splice)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --splice %s", unix_server(0, 16), splice);
	c = over_tcp ? tcp_client() : unix_client();
	s = accept_on(0);
	put(c, "x");
	get(s, "x");
	send_with_urgent_byte(c);
	get(s, "helloworld");
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
}

static void urgent_data_does_not_stall_the_relay(void **state)
{
	relay_past_urgent_data(true, "off");
}

static void urgent_data_does_not_stall_a_splicing_relay(void **state)
{
	relay_past_urgent_data(true, "on");
}

static void unix_oob_data_does_not_stall_the_relay(void **state)
{
	relay_past_urgent_data(false, "off");
}

/* The same while the client is read ahead during the connect. */
static void urgent_data_during_the_connect_does_not_stall(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", tcp_server(0, 16));
	c = tcp_client();
	send_with_urgent_byte(c);
	s = accept_on(0);
	get(s, "helloworld");
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
}

/*
 * A read of a unix socket stops before a message that carried descriptors, with that message
 * behind it. Weir relays bytes, not descriptors: they are dropped (closed), and what follows
 * must still go through. Each peer sends "hello" with a descriptor, then "world", before
 * weir's loop runs.
 */
static void put_with_descriptor(int fd, const char *s)
{
	char control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = (void *)s, .iov_len = strlen(s)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	int p[2];

	assert_int_equal(pipe(p), 0);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
	assert_int_equal(sendmsg(fd, &msg, MSG_NOSIGNAL), (ssize_t)strlen(s));
	close(p[0]);
	close(p[1]);
}

static void descriptors_passed_on_unix_sockets_do_not_stall_the_relay(void **state)
{
	size_t before;
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", unix_server(0, 16));
	c = unix_client();
	s = accept_on(0);
	put(c, "x");
	get(s, "x");
	before = open_fds();
	put_with_descriptor(c, "hello");
	put(c, "world");
	put_with_descriptor(s, "HELLO");
	put(s, "WORLD");
	usleep(50000); /* all of it queued before weir reads */
	get(s, "helloworld");
	get(c, "HELLOWORLD");
	assert_int_equal(open_fds(), before); /* none kept by weir */
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
}

/* --- connecting: retries, failures, no server -------------------------------------------- */

/* The first server refuses, the second takes the client: one retry, two attempts. */
static void a_refused_connect_is_retried_on_the_next_server(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s -b %s --fall 3", refusing_unix_server(0), unix_server(1, 16));
	c = unix_client();
	s = accept_on(1);
	put(c, "retried");
	get(s, "retried");
	assert_int_equal(pool()->stats->retries, 1);
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_int_equal(srv(0)->fails, 1);
	assert_int_equal(srv(0)->active, 0);
	assert_int_equal(srv(1)->active, 1);
	assert_int_equal(srv(1)->total, 1);
	assert_int_equal(srv(1)->connect_failures, 0);
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
	assert_logged("end=client-closed;attempts=2");
}

/*
 * Every server refuses, one at once (unix) and one after the connect was in flight (TCP):
 * connect-failed, each failure counted against its server, the client closed (not reset).
 */
static void every_server_refusing_is_connect_failed(void **state)
{
	int c;

	apply("-l 127.0.0.1:0 -b %s -b %s --fall 3", refusing_tcp_server(0),
	      refusing_unix_server(1));
	c = tcp_client();
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("connect-failed=1");
	assert_end(c);
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_int_equal(srv(1)->connect_failures, 1);
	assert_int_equal(pool()->stats->retries, 1);
	assert_all_released();
	assert_logged("end=connect-failed;attempts=2");
}

/*
 * A client that speaks at once: its bytes are read while weir connects and go first to the
 * server. When that first send is what finds the connect refused (TCP), the next server gets
 * the same bytes, whole and once; and when the client ends right after its bytes, the end
 * still reaches the server after them.
 */
static void bytes_sent_during_the_connect_survive_a_refusal(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s -b %s --fall 3", refusing_tcp_server(0), tcp_server(1, 16));
	c = tcp_client();
	put(c, "early bytes");
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	s = accept_on(1);
	get(s, "early bytes");
	assert_end(s); /* the client's end, after its bytes */
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_int_equal(pool()->stats->retries, 1);
	put(s, "reply");
	get(c, "reply");
	drop(s);
	assert_end(c);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
	assert_logged("end=client-closed;attempts=2;to_server=11 ");
}

/* Only a server of weight 0: no-server, and it is never tried. */
static void a_weight_0_server_is_no_server(void **state)
{
	int c;

	apply("-l 127.0.0.1:0 -b %s,weight=0", unix_server(0, 16));
	c = unix_client();
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("no-server=1");
	assert_end(c);
	assert_nothing_to_accept(0);
	assert_int_equal(srv(0)->total, 0);
	assert_all_released();
	assert_logged("end=no-server;attempts=0");
}

/* The only server went DOWN (one failure with --fall 1): the next client is no-server. */
static void every_server_down_is_no_server(void **state)
{
	int c1, c2;

	apply("-l 127.0.0.1:0 -b %s --fall 1", refusing_unix_server(0));
	c1 = unix_client();
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_int_equal(srv(0)->state, SERVER_DOWN);
	c2 = unix_client();
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("connect-failed=1 no-server=1");
	assert_end(c1);
	assert_end(c2);
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_all_released();
}

/* The only server does not answer within the connect timeout: connect-timeout. */
static void a_black_hole_is_connect_timeout(void **state)
{
	double t0;
	int c;

	apply("-l 127.0.0.1:0 -b %s --connect-timeout 200ms --fall 3", black_hole(0));
	t0 = clock_mono();
	c = unix_client();
	RUN_UNTIL(srv(0)->active == 1, 2000);
	run_for(100);
	assert_open(c); /* still waiting for the connect */
	assert_closes("");
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_true(clock_mono() - t0 >= 0.199);
	assert_closes("connect-timeout=1");
	assert_end(c);
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_all_released();
	assert_logged("connect to default/127.0.0.1:;failed: connect timed out");
}

/* A connect that times out goes on to the next server, which serves the client. */
static void a_connect_timeout_is_retried_on_the_next_server(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s -b %s --connect-timeout 200ms --fall 3", black_hole(0),
	      unix_server(1, 16));
	c = unix_client();
	put(c, "patient"); /* sent while connecting: kept for the server that takes it */
	s = accept_on(1);
	get(s, "patient");
	put(s, "served");
	get(c, "served");
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_int_equal(srv(0)->active, 0);
	assert_int_equal(pool()->stats->retries, 1);
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
	assert_logged("end=client-closed;attempts=2");
}

/* A client that leaves while its connect is in flight: client-aborted, no server blamed. */
static void a_client_leaving_during_the_connect_is_client_aborted(void **state)
{
	int c;

	apply("-l 127.0.0.1:0 -b %s --connect-timeout 5s", black_hole(0));
	c = unix_client();
	RUN_UNTIL(srv(0)->active == 1, 2000);
	drop(c);
	RUN_UNTIL(W->n_conns == 0, 1000); /* long before the connect timeout */
	assert_closes("client-aborted=1");
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_int_equal(srv(0)->fails, 0);
	assert_all_released();
}

/*
 * Weir itself has no descriptor for the server socket (EMFILE): local-error, the client
 * reset at once, the server not blamed (with --fall 1 one failure would take it DOWN).
 * The next client, with descriptors back, is served.
 */
static void no_descriptor_for_the_server_socket_is_local_error(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --fall 1", unix_server(0, 16));
	c = tcp_client_failing(EMFILE);
	assert_closes("local-error=1");
	assert_reset(c);
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_int_equal(srv(0)->fails, 0);
	assert_int_equal(srv(0)->state, SERVER_UP);
	assert_int_equal(srv(0)->total, 0);
	assert_int_equal(pool()->stats->retries, 0);
	assert_all_released();
	assert_logged("end=local-error");
	assert_logged("weir's own shortage");

	c = unix_client();
	s = accept_on(0);
	put(c, "again");
	get(s, "again");
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("local-error=1 client-closed=1");
	assert_all_released();
}

/* --- waiting for a slot ------------------------------------------------------------------- */

/*
 * maxconn=1 and it is taken: the next clients wait, in order, and each is served when the
 * slot frees; what a waiting client sent first reaches its server.
 */
static void at_maxconn_clients_wait_in_order(void **state)
{
	int a, b, c, sa, sb, sc;

	apply("-l 127.0.0.1:0 -b %s,maxconn=1 --connect-timeout 5s", unix_server(0, 16));
	a = unix_client();
	sa = accept_on(0);
	b = unix_client();
	put(b, "B first");
	c = unix_client();
	put(c, "C second");
	run_for(50);
	assert_int_equal(W->n_queued, 2);
	assert_int_equal(pool()->local[0].queue.n, 2);
	assert_int_equal(pool()->stats->queued, 2);
	assert_int_equal(srv(0)->active, 1);
	assert_nothing_to_accept(0);
	assert_open(b);
	assert_open(c);

	both_leave(a, sa);
	sb = accept_on(0);
	get(sb, "B first");
	assert_int_equal(W->n_queued, 1);
	assert_int_equal(srv(0)->active, 1);
	both_leave(b, sb);
	sc = accept_on(0);
	get(sc, "C second");
	both_leave(c, sc);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=3");
	assert_int_equal(srv(0)->total, 3);
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_all_released();
}

/* No slot frees within the connect timeout: queue-timeout, the waiting client closed. */
static void no_slot_within_the_connect_timeout_is_queue_timeout(void **state)
{
	double t0;
	int a, b, sa;

	apply("-l 127.0.0.1:0 -b %s,maxconn=1 --connect-timeout 200ms", unix_server(0, 16));
	a = unix_client();
	sa = accept_on(0);
	t0 = clock_mono();
	b = unix_client();
	RUN_UNTIL(W->n_queued == 0, 2000);
	assert_true(clock_mono() - t0 >= 0.199);
	assert_closes("queue-timeout=1");
	assert_end(b);
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_int_equal(srv(0)->active, 1);
	/* The client that held the slot is untouched. */
	put(a, "still here");
	get(sa, "still here");
	both_leave(a, sa);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("queue-timeout=1 client-closed=1");
	assert_all_released();
	assert_logged("end=queue-timeout;server=-");
}

/*
 * A waiting client that leaves without a word: client-aborted at once, and the slot it
 * would have taken stays free for the next client.
 */
static void a_waiting_client_that_leaves_takes_no_slot(void **state)
{
	int a, b, c, sa, sc;

	apply("-l 127.0.0.1:0 -b %s,maxconn=1 --connect-timeout 5s", unix_server(0, 16));
	a = unix_client();
	sa = accept_on(0);
	b = unix_client();
	RUN_UNTIL(W->n_queued == 1, 2000);
	drop(b);
	RUN_UNTIL(closed("client-aborted") == 1, 1000);
	assert_int_equal(W->n_queued, 0);
	assert_int_equal(pool()->stats->queued, 0);
	assert_int_equal(srv(0)->active, 1);
	assert_int_equal(W->n_conns, 1);

	both_leave(a, sa);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_int_equal(srv(0)->active, 0);
	assert_nothing_to_accept(0); /* nobody took the freed slot */
	assert_int_equal(srv(0)->total, 1);

	c = unix_client();
	sc = accept_on(0);
	assert_int_equal(W->n_queued, 0);
	put(c, "my turn");
	get(sc, "my turn");
	both_leave(c, sc);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-aborted=1 client-closed=2");
	assert_all_released();
}

/*
 * A waiting client that sends part of a request, then resets: client-reset at once. Its
 * bytes must not reach a server later as a whole stream (the relay would read the reset as
 * an end of stream and pass that on as a clean one).
 */
static void a_waiting_client_that_resets_after_sending_reaches_no_server(void **state)
{
	int a, b, sa;

	apply("-l 127.0.0.1:0 -b %s,maxconn=1 --connect-timeout 5s", tcp_server(0, 16));
	a = tcp_client();
	sa = accept_on(0);
	b = tcp_client();
	RUN_UNTIL(W->n_queued == 1, 2000);
	put(b, "GET /half");
	run_for(50); /* read ahead */
	reset(b);
	RUN_UNTIL(closed("client-reset") == 1, 1000);
	assert_int_equal(closed("client-reset"), 1);
	assert_int_equal(W->n_queued, 0);
	both_leave(a, sa);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_nothing_to_accept(0);
	assert_closes("client-reset=1 client-closed=1");
	assert_all_released();
}

/*
 * A client refused by X waits (a full unix backlog); a reload drops X, and the older
 * configuration, X's last holder, is freed. When the client then ends connect-failed, its
 * log line must not read X (under ASan: a use after free).
 */
static void a_waiting_client_outlives_the_server_that_refused_it(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int filler, probe;
	char u[128];

	refusing_unix_server(1);
	unix_server(0, 0);
	snprintf(u, sizeof(u), "%s", rig.be[0].addr);
	apply("-l 127.0.0.1:0 -b %s -b %s --retries 1 --fall 3", rig.be[1].addr, u);
	strcpy(sun.sun_path, rig.be[0].path);
	filler = keep(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	assert_int_equal(connect_to(filler, (struct sockaddr *)&sun, sizeof(sun)), 0);
	probe = keep(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	assert_int_equal(connect_to(probe, (struct sockaddr *)&sun, sizeof(sun)), -EAGAIN);
	put(unix_client(), "hello");
	run_for(60);
	assert_int_equal(W->n_queued, 1);
	assert_logged("connect to default/unix:");
	apply("-l 127.0.0.1:0 -b %s --retries 1", u);
	run_for(100);
	assert_int_equal(W->n_queued, 1);
	assert_null(W->gen->older);
	apply("-l 127.0.0.1:0 -b %s --retries 0", u);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("connect-failed=1");
	assert_logged("server=- server_name=- end=connect-failed");
}

/*
 * A waiting client whose turn comes when its server has gone (the socket's path removed):
 * connect-failed at once, and nothing of its wait is left counted.
 */
static void a_waiting_client_whose_turn_fails_leaves_nothing_counted(void **state)
{
	int a, b, sa;

	apply("-l 127.0.0.1:0 -b %s,maxconn=1 --connect-timeout 5s --fall 3", unix_server(0, 16));
	a = unix_client();
	sa = accept_on(0);
	put(a, "relaying");
	get(sa, "relaying");
	b = unix_client();
	put(b, "never delivered");
	RUN_UNTIL(W->n_queued == 1, 2000);
	assert_int_equal(pool()->stats->queued, 1);
	assert_int_equal(unlink(rig.be[0].path), 0);
	both_leave(a, sa);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("connect-failed=1 client-closed=1");
	assert_end(b);
	assert_int_equal(srv(0)->connect_failures, 1);
	assert_int_equal(pool()->local[0].head_ticket, 0);
	assert_all_released();
	assert_logged("end=connect-failed;attempts=1");
}

/*
 * A unix server's backlog is full (EAGAIN): the client waits instead of failing, is served
 * once the server drains its backlog, and nothing is held against the server.
 */
static void a_full_unix_backlog_makes_the_client_wait(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int filler, probe, filled, c, s;

	apply("-l 127.0.0.1:0 -b %s --fall 1", unix_server(0, 0));
	strcpy(sun.sun_path, rig.be[0].path);
	filler = keep(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	assert_int_equal(connect_to(filler, (struct sockaddr *)&sun, sizeof(sun)), 0);
	probe = keep(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	assert_int_equal(connect_to(probe, (struct sockaddr *)&sun, sizeof(sun)), -EAGAIN);

	c = unix_client();
	put(c, "queued behind a full backlog");
	run_for(150); /* a few congestion retries, each EAGAIN again */
	assert_int_equal(W->n_queued, 1);
	assert_int_equal(srv(0)->active, 0);
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_int_equal(srv(0)->state, SERVER_UP);
	assert_open(c);
	assert_closes("");

	filled = accept_on(0); /* the server drains its backlog: the filler */
	s = accept_on(0);      /* and weir gets in */
	get(s, "queued behind a full backlog");
	put(s, "welcome");
	get(c, "welcome");
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_int_equal(srv(0)->fails, 0);
	assert_int_equal(pool()->stats->retries, 0);
	drop(filled);
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
	assert_logged("end=client-closed;attempts=1");
}

/*
 * The same when the loop's clock runs a few milliseconds behind as weir takes the client
 * (earlier callbacks of the iteration took that long, as a burst of accepts or relays
 * can): the retry after a full backlog must not be lost, so the client is served once
 * the backlog drains, long before its connect timeout.
 */
static void a_full_unix_backlog_retry_survives_a_late_loop_clock(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int filler, filled, c, s;

	apply("-l 127.0.0.1:0 -b %s --connect-timeout 5s", unix_server(0, 0));
	strcpy(sun.sun_path, rig.be[0].path);
	filler = keep(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	assert_int_equal(connect_to(filler, (struct sockaddr *)&sun, sizeof(sun)), 0);

	c = unix_client_at(0, 10000);
	put(c, "late clock");
	run_for(100);
	assert_int_equal(W->n_queued, 1);
	assert_int_equal(srv(0)->connect_failures, 0);
	filled = accept_on(0);
	s = accept_on(0); /* within 2s, not at the 5s connect timeout */
	get(s, "late clock");
	drop(filled);
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_int_equal(srv(0)->connect_failures, 0);
	assert_all_released();
}

/* --- timeouts of an established connection ---------------------------------------------- */

/*
 * Traffic either way keeps a connection open past its idle timeout; silence for the idle
 * timeout cuts it: idle, and both peers see a reset.
 */
static void silence_for_the_idle_timeout_is_idle(void **state)
{
	double quiet = 0;
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --idle-timeout 300ms", tcp_server(0, 16));
	c = tcp_client();
	s = accept_on(0);
	for (int i = 0; i < 8; i++) { /* 480ms of a byte every 60ms, each way in turn */
		run_for(60);
		quiet = clock_mono(); /* the last byte moves after this */
		put(i % 2 ? c : s, "t");
		get(i % 2 ? s : c, "t");
	}
	assert_closes("");
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_true(clock_mono() - quiet >= 0.299);
	assert_closes("idle=1");
	assert_reset(c);
	assert_reset(s);
	assert_all_released();
	assert_logged("end=idle");
}

/* Half-closed and silent for the linger timeout (shorter than idle's): linger, resets. */
static void a_half_closed_connection_left_silent_is_linger(void **state)
{
	double quiet;
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --idle-timeout 10s --linger-timeout 200ms", tcp_server(0, 16));
	c = tcp_client();
	s = accept_on(0);
	put(c, "done talking");
	get(s, "done talking");
	quiet = clock_mono();
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	assert_end(s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_true(clock_mono() - quiet >= 0.199);
	assert_closes("linger=1");
	assert_reset(c);
	assert_reset(s);
	assert_all_released();
	assert_logged("end=linger");
}

/*
 * A client that ended its stream, and then resets while its server is silent: nothing is
 * being read from it or written to it, yet the reset passes on to the server at once
 * (client-reset), not at the linger timeout.
 */
static void a_reset_after_a_half_close_is_passed_on_at_once(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --idle-timeout 10s --linger-timeout 10s", tcp_server(0, 16));
	c = tcp_client();
	s = accept_on(0);
	put(c, "done talking");
	get(s, "done talking");
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	assert_end(s);
	reset(c);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-reset=1");
	assert_reset(s);
	assert_all_released();
}

/*
 * libev fails to watch the worker's epoll set (its epoll_ctl: ENOMEM, ENOSPC), which it
 * reports as its fd_kill does: the watcher stopped, EV_ERROR fed. The worker says so and
 * watches the set again, and its connections move on.
 */
static void a_lost_watch_on_the_epoll_set_is_taken_again(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s", tcp_server(0, 16));
	c = tcp_client();
	s = accept_on(0);
	put(c, "before");
	get(s, "before");
	ev_io_stop(rig.loop, &W->polled);
	ev_feed_event(rig.loop, &W->polled, EV_ERROR | EV_READ | EV_WRITE);
	run_for(10);
	assert_logged("cannot watch the connections of worker 0");
	put(c, "after");
	get(s, "after");
	put(s, "back");
	get(c, "back");
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
}

/*
 * The server answers and ends cleanly, most of the answer still on its way to a slow client
 * in weir's socket; the client's next byte meets the closed server's reset. The client must
 * still get the whole answer and a clean end: a reset passed on at once would drop the rest.
 */
static void a_late_server_reset_does_not_cut_a_finished_answer(void **state)
{
	static char out[12000], in[12000];
	size_t got = 0;
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --idle-timeout 10s --linger-timeout 10s", tcp_server(0, 16));
	c = tcp_client_with(0, 2048);
	put(c, "GET");
	s = accept_on(0);
	get(s, "GET");
	memset(out, 'x', sizeof(out));
	assert_int_equal(send(s, out, sizeof(out), MSG_NOSIGNAL), (ssize_t)sizeof(out));
	drop(s);
	run_for(200);
	put(c, "!"); /* the closed server's kernel answers with a reset */
	run_for(200);
	for (int i = 0; i < 2000 && got < sizeof(in); i++) {
		ssize_t n = recv(c, in + got, sizeof(in) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			break;
		ev_run(rig.loop, EVRUN_NOWAIT);
		usleep(500);
	}
	assert_int_equal(got, sizeof(out));
	assert_memory_equal(in, out, sizeof(out));
	assert_end(c);
}

/* --- weir stopping ------------------------------------------------------------------------ */

/*
 * Stopping at once cuts every connection, relaying, half-closed or waiting: shutdown, and
 * each peer sees a reset.
 */
static void stopping_cuts_every_connection(void **state)
{
	int a, b, q, sa, sb;

	apply("-l 127.0.0.1:0 -b %s,maxconn=2", tcp_server(0, 16));
	a = tcp_client();
	sa = accept_on(0);
	b = tcp_client();
	sb = accept_on(0);
	q = tcp_client();
	RUN_UNTIL(W->n_queued == 1, 2000);
	put(a, "a");
	get(sa, "a");
	assert_int_equal(shutdown(b, SHUT_WR), 0);
	assert_end(sb);
	assert_int_equal(fe()->local[0].lingering.n, 1);

	proxy_stop(&rig.p);
	assert_int_equal(rig.p.state, PROXY_STOPPED);
	assert_closes("shutdown=3");
	assert_reset(a);
	assert_reset(sa);
	assert_reset(b);
	assert_reset(sb);
	assert_reset(q);
	assert_all_released();
	assert_int_equal(srv(0)->total, 2);
	assert_logged("end=shutdown");
}

/*
 * Draining: connections go on relaying; one that ends in time is client-closed, the one
 * still open at the drain timeout is cut (drain-timeout, resets), and the worker stops.
 */
static void the_drain_timeout_cuts_what_is_left(void **state)
{
	double t0;
	int a, b, sa, sb;

	apply("-l 127.0.0.1:0 -b %s --drain-timeout 300ms", tcp_server(0, 16));
	a = tcp_client();
	sa = accept_on(0);
	b = tcp_client();
	sb = accept_on(0);
	t0 = clock_mono();
	ev_now_update(rig.loop); /* as from the SIGTERM callback */
	proxy_drain(&rig.p);
	assert_int_equal(rig.p.state, PROXY_DRAINING);
	put(a, "still relaying");
	get(sa, "still relaying");
	put(sa, "yes");
	get(a, "yes");
	drop(b);
	assert_end(sb);
	drop(sb);
	RUN_UNTIL(closed("client-closed") == 1, 2000);
	assert_int_equal(rig.p.state, PROXY_DRAINING);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_true(clock_mono() - t0 >= 0.299);
	RUN_UNTIL(rig.p.state == PROXY_STOPPED, 1000);
	assert_closes("client-closed=1 drain-timeout=1");
	assert_reset(a);
	assert_reset(sa);
	assert_all_released();
	assert_logged("end=drain-timeout");
}

/* --- before a server is chosen: the PROXY header, the access list, per-source limits ------ */

/*
 * A PROXY header is read before anything else; the server gets only what follows it, and
 * the client is known by the address the header gives.
 */
static void a_proxy_header_names_the_client(void **state)
{
	int c, s;

	apply("-l 127.0.0.1:0 -b %s --accept-proxy v1", unix_server(0, 16));
	c = tcp_client();
	put(c, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\nhello");
	s = accept_on(0);
	get(s, "hello");
	put(s, "hi");
	get(c, "hi");
	both_leave(c, s);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=1");
	assert_all_released();
	assert_logged("client=192.0.2.7:40000;end=client-closed;to_server=5 to_client=2");
}

/*
 * A client past its PROXY header waits for a full server as long as the queue timeout says,
 * not for what was left of its header timeout.
 */
static void a_client_past_its_proxy_header_waits_the_queue_timeout(void **state)
{
	int a, b, sa, sb;

	apply("-l 127.0.0.1:0 -b %s,maxconn=1 --accept-proxy v1 --header-timeout 300ms "
	      "--queue-timeout 5s",
	      unix_server(0, 16));
	a = tcp_client();
	put(a, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n");
	sa = accept_on(0);
	b = tcp_client();
	put(b, "PROXY TCP4 192.0.2.8 198.51.100.1 40000 443\r\nwaiting");
	RUN_UNTIL(W->n_queued == 1, 2000);
	run_for(600); /* twice the header timeout */
	assert_int_equal(W->n_queued, 1);
	assert_int_equal(closed("queue-timeout"), 0);
	both_leave(a, sa);
	sb = accept_on(0);
	get(sb, "waiting");
	both_leave(b, sb);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("client-closed=2");
	assert_all_released();
}

/* A malformed PROXY header: bad-header, the client reset, no server contacted. */
static void a_malformed_proxy_header_is_bad_header(void **state)
{
	int c;

	apply("-l 127.0.0.1:0 -b %s --accept-proxy v1", unix_server(0, 16));
	c = tcp_client();
	put(c, "GET / HTTP/1.0\r\n\r\n");
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("bad-header=1");
	assert_reset(c);
	assert_nothing_to_accept(0);
	assert_int_equal(srv(0)->total, 0);
	assert_all_released();
	assert_logged("end=bad-header");
}

/* No complete PROXY header within the header timeout: header-timeout, the client reset. */
static void no_proxy_header_in_time_is_header_timeout(void **state)
{
	double t0;
	int c;

	apply("-l 127.0.0.1:0 -b %s --accept-proxy v1 --header-timeout 200ms", unix_server(0, 16));
	t0 = clock_mono();
	c = tcp_client();
	put(c, "PROXY TCP4 192.0.2.7"); /* and no more */
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_true(clock_mono() - t0 >= 0.199);
	assert_closes("header-timeout=1");
	assert_reset(c);
	assert_nothing_to_accept(0);
	assert_all_released();
}

/* A client that leaves before its PROXY header is complete: client-aborted. */
static void a_client_leaving_during_its_proxy_header_is_client_aborted(void **state)
{
	int c;

	apply("-l 127.0.0.1:0 -b %s --accept-proxy v1", unix_server(0, 16));
	c = unix_client();
	put(c, "PROXY TCP4 ");
	run_for(20);
	drop(c);
	RUN_UNTIL(W->n_conns == 0, 1000);
	assert_closes("client-aborted=1");
	assert_nothing_to_accept(0);
	assert_all_released();
}

/* A client the access list refuses: denied, reset, no server contacted, counted. */
static void a_client_outside_the_access_list_is_denied(void **state)
{
	int c;

	apply("-l 127.0.0.1:0 -b %s --allow 10.0.0.0/8", unix_server(0, 16));
	c = tcp_client();
	assert_closes("denied=1");
	assert_reset(c);
	assert_nothing_to_accept(0);
	assert_int_equal(fe()->stats->denied, 1);
	assert_all_released();
}

/*
 * One address at its max-connections-per-source: the next client from it is refused
 * (source-limit, reset); once one of its connections closes, it may come in again.
 */
static void past_the_per_source_limit_is_source_limit(void **state)
{
	int a, b, c, sa, sc;

	apply("-l 127.0.0.1:0 -b %s --max-connections-per-source 1", unix_server(0, 16));
	a = tcp_client();
	sa = accept_on(0);
	b = tcp_client();
	assert_closes("source-limit=1");
	assert_reset(b);
	assert_int_equal(fe()->stats->limited, 1);
	put(a, "unharmed");
	get(sa, "unharmed");
	both_leave(a, sa);
	RUN_UNTIL(W->n_conns == 0, 2000);
	c = tcp_client();
	sc = accept_on(0);
	put(c, "in again");
	get(sc, "in again");
	both_leave(c, sc);
	RUN_UNTIL(W->n_conns == 0, 2000);
	assert_closes("source-limit=1 client-closed=2");
	assert_all_released();
}

/* --- the names ---------------------------------------------------------------------------- */

/* Every reason has a distinct name, and the list ends (NULL) within CONN_END_MAX. */
static void every_close_reason_has_one_name(void **state)
{
	unsigned n = 0;

	while (n < CONN_END_MAX && conn_end_name(n))
		n++;
	assert_true(n >= 14);
	assert_null(conn_end_name(n));
	assert_null(conn_end_name(1000));
	for (unsigned i = 0; i < n; i++) {
		assert_true(conn_end_name(i)[0] != '\0');
		for (unsigned j = i + 1; j < n; j++)
			assert_string_not_equal(conn_end_name(i), conn_end_name(j));
	}
}

/* Run last: every reason was made to happen by some test above. */
static void every_close_reason_is_tested(void **state)
{
	for (unsigned i = 0; i < CONN_END_MAX && conn_end_name(i); i++)
		if (!(covered & (1u << i)))
			fail_msg("no test ends a connection as %s", conn_end_name(i));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(the_client_ends_first),
		T(the_server_ends_first),
		T(a_client_reset_is_passed_on),
		T(a_server_reset_is_passed_on),
		T(urgent_data_does_not_stall_the_relay),
		T(urgent_data_does_not_stall_a_splicing_relay),
		T(unix_oob_data_does_not_stall_the_relay),
		T(descriptors_passed_on_unix_sockets_do_not_stall_the_relay),
		T(urgent_data_during_the_connect_does_not_stall),
		T(a_refused_connect_is_retried_on_the_next_server),
		T(every_server_refusing_is_connect_failed),
		T(bytes_sent_during_the_connect_survive_a_refusal),
		T(a_weight_0_server_is_no_server),
		T(every_server_down_is_no_server),
		T(a_black_hole_is_connect_timeout),
		T(a_connect_timeout_is_retried_on_the_next_server),
		T(a_client_leaving_during_the_connect_is_client_aborted),
		T(no_descriptor_for_the_server_socket_is_local_error),
		T(at_maxconn_clients_wait_in_order),
		T(no_slot_within_the_connect_timeout_is_queue_timeout),
		T(a_waiting_client_that_leaves_takes_no_slot),
		T(a_waiting_client_that_resets_after_sending_reaches_no_server),
		T(a_waiting_client_outlives_the_server_that_refused_it),
		T(a_waiting_client_whose_turn_fails_leaves_nothing_counted),
		T(a_full_unix_backlog_makes_the_client_wait),
		T(a_full_unix_backlog_retry_survives_a_late_loop_clock),
		T(silence_for_the_idle_timeout_is_idle),
		T(a_half_closed_connection_left_silent_is_linger),
		T(a_reset_after_a_half_close_is_passed_on_at_once),
		T(a_lost_watch_on_the_epoll_set_is_taken_again),
		T(a_late_server_reset_does_not_cut_a_finished_answer),
		T(stopping_cuts_every_connection),
		T(the_drain_timeout_cuts_what_is_left),
		T(a_proxy_header_names_the_client),
		T(a_client_past_its_proxy_header_waits_the_queue_timeout),
		T(a_malformed_proxy_header_is_bad_header),
		T(no_proxy_header_in_time_is_header_timeout),
		T(a_client_leaving_during_its_proxy_header_is_client_aborted),
		T(a_client_outside_the_access_list_is_denied),
		T(past_the_per_source_limit_is_source_limit),
		cmocka_unit_test(every_close_reason_has_one_name),
		cmocka_unit_test(every_close_reason_is_tested),
	};
#undef T
	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
