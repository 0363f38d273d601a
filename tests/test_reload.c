/*
 * The reload transaction, on a real worker and real sockets on loopback:
 *   - a server that stays across reloads is one object with one count: a client queued
 *     before a reload and a connect retried after it add and release on the same counter,
 *     which never wraps;
 *   - every step of a prepare that can fail (each allocation, each bind) is made to fail in
 *     turn through -Wl,--wrap: the abort leaves listeners, generation, servers and the
 *     descriptor table exactly as they were, and weir serves on.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "listener.h"
#include "open_fds.h"
#include "log.h"
#include "reload.h"
#include "proxy.h"
#include "worker.h"

/* --- fault injection: the Nth call of an allocator, or every bind, fails ------------------ */

static long alloc_countdown = -1; /* the call that reaches 0 fails; -1: none */
static bool bind_fails;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);

static bool alloc_fails(void)
{
	return alloc_countdown >= 0 && alloc_countdown-- == 0;
}

void *__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (bind_fails) {
		errno = EADDRINUSE;
		return -1;
	}
	return __real_bind(fd, sa, len);
}

/* --- a worker, backends and clients on loopback ------------------------------------------- */

struct rig {
	struct ev_loop *loop;
	struct proxy p;	  /* one worker, on the test's loop */
	int backend[2];	  /* listening sockets the servers are */
	bool silent[2];	  /* a backend nobody accepts on (a black hole once its queue is full) */
	int accepted[16]; /* the backends' side of relayed connections */
	size_t n_accepted;
	int port; /* weir's listener */
};

static struct rig rig;

static int listen_on_loopback(int backlog)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static int port_of(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

/* Build a generation from a command line ("%d" in it takes the ports given). */
static struct generation *config(const char *fmt, ...)
{
	char line[512], *argv[32], *save = NULL;
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;
	struct generation *g;
	va_list ap;
	int argc = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	argv[argc++] = "weir";
	for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	assert_int_equal(config_read(&cfg, argc, argv, &action, &err), CONFIG_OK);
	if (gen_new(&g, &cfg, 1, &err) < 0)
		fail_msg("gen_new: %s", err.msg);
	return g;
}

static void apply(struct generation *g)
{
	struct reload rl;
	struct weir_err err;

	if (reload_prepare(&rl, &rig.p, g, NULL, 0, &err) < 0)
		fail_msg("prepare: %s", err.msg);
	reload_commit(&rl);
}

static int client_to(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
	return fd;
}

static int client(void)
{
	return client_to(rig.port);
}

/* Leave with a reset, so weir closes both sides at once. */
static void reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
}

/* Run the loop (and accept on the backends) until `cond` holds, for at most `ms`. */
#define RUN_UNTIL(cond, ms)                                                                        \
	do {                                                                                       \
		double until_ = clock_mono() + (ms) / 1e3;                                         \
		bool met_;                                                                         \
		while (!(met_ = (cond)) && clock_mono() < until_) {                                \
			ev_run(rig.loop, EVRUN_NOWAIT);                                            \
			accept_backends();                                                         \
			usleep(1000);                                                              \
		}                                                                                  \
		if (!met_)                                                                         \
			fail_msg("not within %d ms: %s", (int)(ms), #cond);                        \
	} while (0)

static void accept_backends(void)
{
	for (int b = 0; b < 2; b++) {
		int fd;
		if (rig.backend[b] < 0 || rig.silent[b])
			continue;
		while (rig.n_accepted < 16 &&
		       (fd = accept4(rig.backend[b], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			rig.accepted[rig.n_accepted++] = fd;
	}
}

static int setup(void **state)
{
	struct weir_err err;

	memset(&rig, 0, sizeof(rig));
	rig.backend[0] = rig.backend[1] = -1;
	log_init(2, WLOG_ERROR, WLOG_TEXT);
	rig.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(rig.loop);
	assert_int_equal(proxy_init(&rig.p, rig.loop, 1, 0, 1024, 0, 65536, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	proxy_fini(&rig.p);
	ev_loop_destroy(rig.loop);
	for (int b = 0; b < 2; b++)
		if (rig.backend[b] >= 0)
			close(rig.backend[b]);
	for (size_t i = 0; i < rig.n_accepted; i++)
		close(rig.accepted[i]);
	return 0;
}

static struct server *server0(void)
{
	return rig.p.gen->pools[0].servers[0];
}

/* One server of maxconn=1 (rig.backend[0]): client *c1 holds its slot, *c2 waits for it. */
static struct server *hold_one_queue_one(int *c1, int *c2)
{
	struct server *s;

	rig.backend[0] = listen_on_loopback(16);
	apply(config("-l 127.0.0.1:0 -b 127.0.0.1:%d,maxconn=1 --connect-timeout 5s",
		     port_of(rig.backend[0])));
	rig.port = port_of(rig.p.listeners[0]->watch[0].fd);
	s = server0();
	*c1 = client();
	RUN_UNTIL(s->active == 1 && rig.n_accepted == 1, 2000);
	*c2 = client();
	RUN_UNTIL(rig.p.workers[0].n_queued == 1, 2000);
	return s;
}

/*
 * maxconn=1: one client holds the slot, a second waits; a reload with the same servers;
 * the holder leaves. The waiting client (of the retired generation) takes the slot on the
 * shared server, and every count returns to zero, never below.
 */
static void a_queued_client_across_a_reload_counts_once(void **state)
{
	struct server *s;
	int c1, c2;

	s = hold_one_queue_one(&c1, &c2);

	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d,maxconn=1 --connect-timeout 5s", rig.port,
		     port_of(rig.backend[0])));
	assert_ptr_equal(server0(), s); /* one object, shared by both generations */
	assert_int_equal(s->refs, 2);
	assert_int_equal(s->active, 1);

	reset(c1);
	RUN_UNTIL(rig.p.workers[0].n_queued == 0 && rig.n_accepted == 2, 2000);
	assert_int_equal(s->active, 1); /* the waiting client's, not 0 or 4294967295 */
	reset(c2);
	RUN_UNTIL(rig.p.workers[0].n_conns == 0, 2000);
	assert_int_equal(s->active, 0);
	RUN_UNTIL(s->refs == 1, 2000); /* the retired generation is gone, its reference too */

	/* And the server serves the next client at once. */
	c1 = client();
	RUN_UNTIL(s->active == 1, 2000);
	assert_int_equal(rig.p.workers[0].n_queued, 0);
	reset(c1);
	RUN_UNTIL(s->active == 0 && rig.p.workers[0].n_conns == 0, 2000);
}

/*
 * maxconn=1, a client holds the slot and a second waits; a reload adds a second server: the
 * waiting client moves to the new configuration and is served by it at once, and the retired
 * generation, which the holder alone still uses, goes when the holder does.
 */
static void a_queued_client_moves_to_a_server_a_reload_adds(void **state)
{
	struct server *s;
	int c1, c2;

	rig.backend[1] = listen_on_loopback(16);
	s = hold_one_queue_one(&c1, &c2);

	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d,maxconn=1 -b 127.0.0.1:%d,maxconn=1 "
		     "--connect-timeout 5s",
		     rig.port, port_of(rig.backend[0]), port_of(rig.backend[1])));
	RUN_UNTIL(rig.p.workers[0].n_queued == 0 && rig.n_accepted == 2, 2000);
	assert_int_equal(s->active, 1);
	assert_int_equal(rig.p.gen->pools[0].servers[1]->active, 1); /* the new server's */
	assert_int_equal(rig.p.gen->pools[0].stats->queued, 0);
	assert_int_equal(rig.p.gen->local[0].conns, 1); /* the moved client counts here */
	reset(c1);
	RUN_UNTIL(s->active == 0, 2000);
	RUN_UNTIL(s->refs == 1, 2000); /* the retired generation is gone, its reference too */
	reset(c2);
	RUN_UNTIL(rig.p.workers[0].n_conns == 0, 2000);
	assert_int_equal(rig.p.gen->local[0].conns, 0);
}

/*
 * leastconn, one server black-holed (its backlog full, so SYNs are dropped): a client tries
 * it first, a reload lands while the connect hangs, and the retry goes to the healthy
 * server under the old generation. The count it adds is released on the same object.
 */
static void a_retry_after_a_reload_counts_on_the_server_it_used(void **state)
{
	struct server *hole, *good;
	int filler[4], n_fill = 0, c;
	const char *fmt = "-l 127.0.0.1:%d -B leastconn -b 127.0.0.1:%d -b 127.0.0.1:%d "
			  "--connect-timeout 300ms --fall 100";

	rig.backend[0] = listen_on_loopback(0); /* the black hole, once full */
	rig.backend[1] = listen_on_loopback(16);
	{
		struct sockaddr_in sin = {.sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port_of(rig.backend[0]))};
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		for (; n_fill < 4; n_fill++) {
			filler[n_fill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			(void)connect(filler[n_fill], (struct sockaddr *)&sin, sizeof(sin));
		}
	}
	rig.silent[0] = true;
	usleep(50000);
	apply(config(fmt, 0, port_of(rig.backend[0]), port_of(rig.backend[1])));
	rig.port = port_of(rig.p.listeners[0]->watch[0].fd);
	hole = rig.p.gen->pools[0].servers[0];
	good = rig.p.gen->pools[0].servers[1];
	c = client();
	RUN_UNTIL(hole->active == 1, 2000); /* the first pick of a tie: the black hole */
	apply(config(fmt, rig.port, port_of(rig.backend[0]), port_of(rig.backend[1])));
	assert_ptr_equal(rig.p.gen->pools[0].servers[1], good);
	RUN_UNTIL(good->active == 1, 3000); /* retried, under the retired generation */
	assert_int_equal(hole->active, 0);
	reset(c);
	RUN_UNTIL(rig.p.workers[0].n_conns == 0, 2000);
	assert_int_equal(good->active, 0);
	assert_int_equal(hole->active, 0);
	for (int i = 0; i < n_fill; i++)
		close(filler[i]);
}

/*
 * A server removed by one reload while a connection still runs on it, and listed again by the
 * next, is the same object: its maxconn counts the connection it still has. To the operator
 * it is new: the drain set on the one removed does not come back with it.
 */
static void a_server_removed_and_added_back_is_the_same_object(void **state)
{
	struct server *a, *b;
	int c1, c2;

	rig.backend[0] = listen_on_loopback(16);
	rig.backend[1] = listen_on_loopback(16);
	apply(config("-l 127.0.0.1:0 -b 127.0.0.1:%d,maxconn=1 -b 127.0.0.1:%d",
		     port_of(rig.backend[0]), port_of(rig.backend[1])));
	rig.port = port_of(rig.p.listeners[0]->watch[0].fd);
	a = rig.p.gen->pools[0].servers[0];
	b = rig.p.gen->pools[0].servers[1];
	c1 = client();
	RUN_UNTIL(a->active == 1, 2000); /* round robin's first pick */
	shared_store(&a->admin, ADMIN_DRAIN);
	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d", rig.port, port_of(rig.backend[1])));
	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d,maxconn=1 -b 127.0.0.1:%d", rig.port,
		     port_of(rig.backend[0]), port_of(rig.backend[1])));
	assert_ptr_equal(rig.p.gen->pools[0].servers[0], a);
	assert_ptr_equal(rig.p.gen->pools[0].servers[1], b);
	assert_int_equal(a->active, 1);
	assert_int_equal(a->admin, ADMIN_READY);
	c2 = client();
	RUN_UNTIL(b->active == 1, 2000); /* a is full: its old connection still counts */
	assert_int_equal(a->active, 1);
	reset(c1);
	reset(c2);
	RUN_UNTIL(rig.p.workers[0].n_conns == 0, 2000);
	assert_int_equal(a->active, 0);
	assert_int_equal(b->active, 0);
}

/* Workers read a server's source port range as they connect: a reload that changes the
 * range brings a new server, one that keeps it keeps the server. */
static void a_new_source_port_range_is_a_new_server(void **state)
{
	struct server *a;

	rig.backend[0] = listen_on_loopback(16);
	apply(config("-l 127.0.0.1:0 -b 127.0.0.1:%d,source=127.0.0.1:20000-20009",
		     port_of(rig.backend[0])));
	rig.port = port_of(rig.p.listeners[0]->watch[0].fd);
	a = rig.p.gen->pools[0].servers[0];
	assert_int_equal(a->source_lo, 20000);
	assert_int_equal(a->source_hi, 20009);
	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d,source=127.0.0.1:20000-20009", rig.port,
		     port_of(rig.backend[0])));
	assert_ptr_equal(rig.p.gen->pools[0].servers[0], a);
	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d,source=127.0.0.1:20000-20019", rig.port,
		     port_of(rig.backend[0])));
	assert_ptr_not_equal(rig.p.gen->pools[0].servers[0], a);
	assert_int_equal(rig.p.gen->pools[0].servers[0]->source_hi, 20019);
}

/*
 * A reload removes two listeners whose queues hold clients, and taking the second one's
 * client brings weir to its connection limit (which holds every listener it has): the
 * clients are taken over, past the limit, not reset, and holding must not touch the
 * listener already closed (a use-after-free under ASan before).
 */
static void removed_listeners_hand_over_their_queues_at_the_limit(void **state)
{
	int ports[3], c[3];

	rig.backend[0] = listen_on_loopback(16);
	apply(config("-l 127.0.0.1:0 -l 127.0.0.1:0 -l 127.0.0.1:0 -b 127.0.0.1:%d "
		     "--max-connections 3",
		     port_of(rig.backend[0])));
	for (int i = 0; i < 3; i++)
		ports[i] = port_of(rig.p.listeners[i]->watch[0].fd);
	c[0] = client_to(ports[0]);
	RUN_UNTIL(rig.p.workers[0].n_conns == 1, 2000);
	assert_false(rig.p.workers[0].held);
	/* Two clients arrive and the reload runs before the loop gets to them. */
	c[1] = client_to(ports[1]);
	c[2] = client_to(ports[2]);
	usleep(100000);
	apply(config("-l 127.0.0.1:%d -b 127.0.0.1:%d --max-connections 3", ports[0],
		     port_of(rig.backend[0])));
	assert_int_equal(rig.p.n_listeners, 1);
	assert_int_equal(rig.p.workers[0].n_conns, 3);
	RUN_UNTIL(rig.n_accepted == 3, 2000);
	for (int i = 0; i < 3; i++)
		reset(c[i]);
	RUN_UNTIL(rig.p.workers[0].n_conns == 0, 2000);
}

/* Everything a running configuration is, to compare before and after a failed reload. */
struct snapshot {
	struct generation *gen;
	struct listener *listeners[4];
	size_t n_listeners;
	struct server *server;
	unsigned refs, weight;
	size_t fds;
};

static void take(struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->gen = rig.p.gen;
	s->n_listeners = rig.p.n_listeners;
	memcpy(s->listeners, rig.p.listeners, s->n_listeners * sizeof(*s->listeners));
	s->server = server0();
	s->refs = s->server->refs;
	s->weight = s->server->weight;
	s->fds = open_fds();
}

static void assert_unchanged(const struct snapshot *s)
{
	struct snapshot now;

	take(&now);
	assert_ptr_equal(now.gen, s->gen);
	assert_null(rig.p.gen->older);
	assert_int_equal(now.n_listeners, s->n_listeners);
	for (size_t i = 0; i < s->n_listeners; i++) {
		assert_ptr_equal(now.listeners[i], s->listeners[i]);
		assert_ptr_equal(now.listeners[i]->watch[0].fe, &rig.p.gen->frontends[0]);
	}
	assert_ptr_equal(now.server, s->server);
	assert_int_equal(now.refs, s->refs);
	assert_int_equal(now.weight, s->weight);
	assert_int_equal(now.fds, s->fds);
}

/*
 * Each allocation of a prepare, and the bind of a new listener, fails in turn; then the
 * reload that finally prepares is aborted too. After each, nothing of the running
 * configuration changed and no descriptor leaked; at the end weir still relays.
 */
static void every_failure_of_a_prepare_leaves_the_running_state(void **state)
{
	struct snapshot before;
	struct weir_err err;
	struct reload rl;
	char sock[64];
	long n;
	int c;

	rig.backend[0] = listen_on_loopback(16);
	apply(config("-l 127.0.0.1:0 -b 127.0.0.1:%d --health-check tcp", port_of(rig.backend[0])));
	rig.port = port_of(rig.p.listeners[0]->watch[0].fd);
	c = client();
	RUN_UNTIL(server0()->active == 1 && rig.n_accepted == 1, 2000);
	snprintf(sock, sizeof(sock), "/tmp/weir-test-reload-%d.sock", (int)getpid());
	take(&before);

	for (n = 0;; n++) {
		/* Kept listener, two new ones, a unix one with a mode, a new server weight. */
		struct generation *g =
			config("-l 127.0.0.1:%d -l 127.0.0.1:0 -l 127.0.0.1:0 -l unix:%s,mode=0600 "
			       "-b 127.0.0.1:%d,weight=7 -b 127.0.0.1:1 --health-check tcp",
			       rig.port, sock, port_of(rig.backend[0]));
		int r;
		alloc_countdown = n;
		r = reload_prepare(&rl, &rig.p, g, NULL, 0, &err);
		alloc_countdown = -1;
		reload_abort(&rl);
		assert_unchanged(&before);
		assert_int_equal(access(sock, F_OK), -1); /* the socket file went with it */
		if (r == 0)
			break; /* no allocation left to fail: this one prepared, and was undone */
		assert_int_equal(r, -ENOMEM);
	}
	assert_true(n > 5);

	bind_fails = true;
	{
		struct generation *g = config("-l 127.0.0.1:%d -l 127.0.0.1:0 -b 127.0.0.1:%d",
					      rig.port, port_of(rig.backend[0]));
		assert_int_equal(reload_prepare(&rl, &rig.p, g, NULL, 0, &err), -EADDRINUSE);
		reload_abort(&rl);
	}
	bind_fails = false;
	assert_unchanged(&before);

	/* The connection across all of it is intact, and new clients are served. */
	assert_int_equal(send(c, "x", 1, MSG_NOSIGNAL), 1);
	{
		char b;
		RUN_UNTIL(recv(rig.accepted[0], &b, 1, MSG_DONTWAIT) == 1, 2000);
	}
	reset(c);
	c = client();
	RUN_UNTIL(rig.n_accepted == 2, 2000);
	reset(c);
	RUN_UNTIL(rig.p.workers[0].n_conns == 0, 2000);
}

/*
 * The connection limit from the descriptor limit leaves room for what else holds
 * descriptors: listeners, one per health check or probe, the stats endpoint and scrapers.
 */
static void the_descriptor_budget_counts_checks_and_stats(void **state)
{
	struct proxy p = {.n_workers = 2, .nofile = 1000, .fixed_fds = 17};
	struct generation *g = config("-l 127.0.0.1:0 -l 127.0.0.1:0 -b 127.0.0.1:1 -b 127.0.0.1:2 "
				      "-b 127.0.0.1:3 --health-check tcp");

	/* 1000 descriptors less weir's own and its 2 workers', the stats' 17, 2 listeners of
	 * a socket per worker and 3 checks. */
	assert_int_equal(proxy_connection_limit(&p, g),
			 (1000 - PROXY_FD_OVERHEAD - 2 * WORKER_FD_OVERHEAD - 17 - 2 * 2 - 3) / 2);
	gen_free(g);
}

/* gen_new fails cleanly (nothing leaks) whichever of its allocations fails. */
static void every_failure_of_building_a_generation_is_clean(void **state)
{
	long n;

	for (n = 0;; n++) {
		struct weir_config cfg;
		enum config_action action;
		struct weir_err err;
		struct generation *g = NULL;
		char *argv[] = {"weir",
				"-l",
				"127.0.0.1:0",
				"-l",
				"unix:/tmp/x.sock,mode=0600",
				"-b",
				"127.0.0.1:1",
				"-b",
				"127.0.0.1:1",
				"-b",
				"localhost:2",
				NULL};
		int r;
		assert_int_equal(config_read(&cfg, 11, argv, &action, &err), CONFIG_OK);
		alloc_countdown = n;
		r = gen_new(&g, &cfg, 2, &err);
		alloc_countdown = -1;
		config_free(&cfg);
		if (r == 0) {
			gen_free(g);
			break;
		}
		assert_null(g);
		assert_int_equal(r, -ENOMEM);
	}
	assert_true(n > 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_queued_client_across_a_reload_counts_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_queued_client_moves_to_a_server_a_reload_adds,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_retry_after_a_reload_counts_on_the_server_it_used,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_server_removed_and_added_back_is_the_same_object,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_new_source_port_range_is_a_new_server, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			removed_listeners_hand_over_their_queues_at_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(every_failure_of_a_prepare_leaves_the_running_state,
						setup, teardown),
		cmocka_unit_test_setup_teardown(the_descriptor_budget_counts_checks_and_stats,
						setup, teardown),
		cmocka_unit_test_setup_teardown(every_failure_of_building_a_generation_is_clean,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("reload", tests, NULL, NULL);
}
