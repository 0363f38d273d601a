/*
 * The accept path under faults, with accept4(), open() and dup3() scripted through
 * -Wl,--wrap: out of descriptors the pending client is accepted into the spare's slot and
 * closed at once, the spare is taken back (or retried later if that fails), and the listener backs off instead of
 * spinning; transient errors are skipped; one event accepts a bounded batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "listener.h"
#include "reload.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

/* --- scripted syscalls ------------------------------------------------------------------- */

#define REAL 0 /* a script step that calls the real function */

struct step {
	int error; /* REAL, or the errno to fail with */
};

static struct step accept_script[256], open_script[16], dup_script[16];
static size_t accept_len, accept_pos, open_len, open_pos, dup_len, dup_pos;
static size_t accept_calls;

int __real_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __real_dup3(int fd, int to, int flags);
int __wrap_dup3(int fd, int to, int flags);

int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct step s = {EAGAIN};

	accept_calls++;
	if (accept_pos < accept_len)
		s = accept_script[accept_pos++];
	if (s.error == REAL)
		return __real_accept4(fd, sa, len, flags);
	errno = s.error;
	return -1;
}

int __wrap_open(const char *path, int flags, ...)
{
	struct step s = {REAL};

	if (open_pos < open_len)
		s = open_script[open_pos++];
	if (s.error == REAL)
		return __real_open(path, flags);
	errno = s.error;
	return -1;
}

int __wrap_dup3(int fd, int to, int flags)
{
	struct step s = {REAL};

	if (dup_pos < dup_len)
		s = dup_script[dup_pos++];
	if (s.error == REAL)
		return __real_dup3(fd, to, flags);
	errno = s.error;
	return -1;
}

static void script_accept(size_t n, const int *errors)
{
	for (size_t i = 0; i < n; i++)
		accept_script[i].error = errors[i];
	accept_len = n;
	accept_pos = 0;
	accept_calls = 0;
}

static void script_open(size_t n, const int *errors)
{
	for (size_t i = 0; i < n; i++)
		open_script[i].error = errors[i];
	open_len = n;
	open_pos = 0;
}

static void script_dup(size_t n, const int *errors)
{
	for (size_t i = 0; i < n; i++)
		dup_script[i].error = errors[i];
	dup_len = n;
	dup_pos = 0;
}

/* --- a worker with one listener on loopback ------------------------------------------------ */

struct rig {
	struct ev_loop *loop;
	struct proxy p; /* one worker; owns the generation built from the command line below */
	struct listener_watch *l; /* the worker's watch of the one listener */
	struct sockaddr_in addr;
};

static int setup(void **state)
{
	static struct rig rig;
	struct rig *r = &rig;
	struct weir_err err;
	char *argv[] = {"weir", "-l", "127.0.0.1:0", "-b", "127.0.0.1:1", NULL};
	enum config_action action;
	struct weir_config cfg;
	struct generation *gen;
	struct reload rl;
	socklen_t len = sizeof(r->addr);

	memset(r, 0, sizeof(*r));
	log_init(2, WLOG_ERROR, WLOG_TEXT);
	script_accept(0, NULL);
	script_open(0, NULL);
	r->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(r->loop);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 5, argv, &action, &err), 0);
	assert_int_equal(gen_new(&gen, &cfg, 1, &err), 0);
	assert_int_equal(proxy_init(&r->p, r->loop, 1, 0, 1000, 0, 65536, &err), 0);
	assert_int_equal(reload_prepare(&rl, &r->p, gen, NULL, 0, &err), 0);
	reload_commit(&rl);
	assert_int_equal(r->p.n_listeners, 1);
	r->l = &r->p.listeners[0]->watch[0];
	assert_int_equal(getsockname(r->l->fd, (struct sockaddr *)&r->addr, &len), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	proxy_fini(&r->p);
	ev_loop_destroy(r->loop);
	return 0;
}

/* A client connected to the listener, waiting in its backlog. */
static int pending_client(struct rig *r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&r->addr, sizeof(r->addr)), 0);
	return fd;
}

/* The client is closed by the other end within a second (EOF or reset), not left hanging. */
static void assert_closed_promptly(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_true(recv(fd, &c, 1, 0) <= 0);
}

static void accept_ready(struct rig *r)
{
	ev_invoke(r->loop, &r->l->io, EV_READ);
}

static bool accepting(struct rig *r)
{
	return ev_is_active(&r->l->io);
}

static void emfile_closes_the_pending_client_and_backs_off(void **state)
{
	struct rig *r = *state;
	int client = pending_client(r);
	/* accept: out of descriptors; the shed accept takes the client; then nothing pending. */
	static const int errors[] = {EMFILE, REAL, EMFILE, EAGAIN};

	script_accept(4, errors);
	accept_ready(r);
	assert_int_equal(r->p.workers[0].shed, 1);
	assert_closed_promptly(client);
	assert_true(reserve_available(&r->p.workers[0].spare)); /* taken back */
	assert_false(accepting(r));				/* backing off: no spinning */
	assert_true(ev_is_active(&r->l->backoff));
	assert_int_equal(r->p.workers[0].n_conns, 0);

	/* When the back-off ends, accepting resumes by itself. */
	ev_invoke(r->loop, &r->l->backoff, EV_TIMER);
	ev_timer_stop(r->loop, &r->l->backoff);
	assert_true(accepting(r));
	close(client);
}

static void enfile_is_handled_like_emfile(void **state)
{
	struct rig *r = *state;
	int client = pending_client(r);
	static const int errors[] = {ENFILE, REAL, EAGAIN};

	script_accept(3, errors);
	accept_ready(r);
	assert_int_equal(r->p.workers[0].shed, 1);
	assert_closed_promptly(client);
	close(client);
}

static void failed_reacquire_is_retried_later(void **state)
{
	struct rig *r = *state;
	int c1 = pending_client(r), c2 = pending_client(r);
	static const int errors[] = {EMFILE, REAL, EMFILE, REAL, EAGAIN};
	static const int open_fails[] = {EMFILE}, dup_fails[] = {EBUSY};

	/*
	 * Taking the spare back fails once (the client's slot cannot become the spare, and
	 * opening another fails): the reservation is unavailable, not assumed.
	 */
	script_dup(1, dup_fails);
	script_open(1, open_fails);
	script_accept(2, errors);
	accept_ready(r);
	assert_int_equal(r->p.workers[0].shed, 1);
	assert_false(reserve_available(&r->p.workers[0].spare));
	assert_closed_promptly(c1);
	/* The worker keeps trying on a timer, not only when the next shortage comes. */
	assert_true(ev_is_active(&r->p.workers[0].spare_retry));
	script_open(1, open_fails);
	ev_invoke(r->loop, &r->p.workers[0].spare_retry, EV_TIMER);
	assert_false(reserve_available(&r->p.workers[0].spare)); /* still failing: still trying */
	assert_true(ev_is_active(&r->p.workers[0].spare_retry));
	ev_invoke(r->loop, &r->p.workers[0].spare_retry, EV_TIMER);
	assert_true(reserve_available(&r->p.workers[0].spare));
	assert_false(ev_is_active(&r->p.workers[0].spare_retry));
	reserve_release(&r->p.workers[0].spare); /* as lost again, for what follows */

	/* The next shortage retakes the spare first (open works again), then sheds. */
	ev_timer_stop(r->loop, &r->l->backoff);
	script_accept(3, errors + 2);
	accept_ready(r);
	assert_int_equal(r->p.workers[0].shed, 2);
	assert_true(reserve_available(&r->p.workers[0].spare));
	assert_closed_promptly(c2);
	close(c1);
	close(c2);
}

static void no_spare_means_back_off_without_spinning(void **state)
{
	struct rig *r = *state;
	static const int errors[] = {EMFILE, EMFILE, EMFILE};
	static const int open_fails[] = {EMFILE, EMFILE};

	reserve_release(&r->p.workers[0].spare);
	script_open(2, open_fails);
	script_accept(3, errors);
	accept_ready(r);
	assert_int_equal(accept_calls, 1); /* one attempt, then the back-off */
	assert_int_equal(r->p.workers[0].shed, 0);
	assert_false(accepting(r));
	assert_true(ev_is_active(&r->l->backoff));
}

static void transient_errors_are_skipped(void **state)
{
	struct rig *r = *state;
	int client = pending_client(r);
	static const int errors[] = {ECONNABORTED, EINTR, EPROTO, ENETUNREACH, REAL, EAGAIN};

	script_accept(6, errors);
	accept_ready(r);
	assert_int_equal(accept_calls, 6);
	assert_int_equal(r->p.workers[0].n_conns, 1); /* the client became a connection */
	assert_true(accepting(r));
	assert_false(ev_is_active(&r->l->backoff));
	close(client);
}

static void enobufs_pauses_briefly(void **state)
{
	struct rig *r = *state;
	static const int errors[] = {ENOBUFS, ENOMEM};

	script_accept(1, errors);
	accept_ready(r);
	assert_false(accepting(r));
	assert_true(ev_is_active(&r->l->backoff));
	assert_int_equal(r->l->trouble, ENOBUFS);
	ev_invoke(r->loop, &r->l->backoff, EV_TIMER);
	ev_timer_stop(r->loop, &r->l->backoff);
	script_accept(1, errors + 1);
	accept_ready(r);
	assert_int_equal(r->l->trouble, ENOMEM);
	assert_false(accepting(r));
}

static void unknown_errors_back_off_and_never_exit(void **state)
{
	struct rig *r = *state;
	static const int errors[] = {EINVAL};

	script_accept(1, errors);
	accept_ready(r);
	assert_false(accepting(r));
	assert_true(ev_is_active(&r->l->backoff));
}

static void one_event_accepts_a_bounded_batch(void **state)
{
	struct rig *r = *state;
	static int errors[200];

	for (size_t i = 0; i < 200; i++)
		errors[i] = EINTR;
	script_accept(200, errors);
	accept_ready(r);
	assert_int_equal(accept_calls, 64);
	assert_true(accepting(r));
}

static void held_listener_does_not_accept(void **state)
{
	struct rig *r = *state;

	listener_hold(r->l, true);
	assert_false(accepting(r));
	/* A back-off ending while held must not restart accepting. */
	ev_invoke(r->loop, &r->l->backoff, EV_TIMER);
	assert_false(accepting(r));
	listener_hold(r->l, false);
	assert_true(accepting(r));
}

/*
 * A unix path held by a live listener whose backlog is full: the probe that tells a stale
 * socket file from a live one must not block (a blocking connect would wait until the other
 * process accepts, freezing the loop). It says the path is in use, at once.
 */
static void stale_socket_probe_never_blocks(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct addr a;
	struct weir_err err;
	int live = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), fillers[8];

	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/weir-test-probe-%d.sock", (int)getpid());
	unlink(sun.sun_path);
	assert_int_equal(bind(live, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(live, 0), 0);
	for (int i = 0; i < 8; i++) { /* fill its backlog; the later ones fail with EAGAIN */
		fillers[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		(void)connect(fillers[i], (struct sockaddr *)&sun, sizeof(sun));
	}
	memcpy(&a.ss, &sun, sizeof(sun));
	a.len = sizeof(sun);
	alarm(5); /* a probe that blocks fails the test instead of hanging it */
	assert_int_equal(listener_socket(&a, "unix:probe", 16, true, &err), -EADDRINUSE);
	alarm(0);
	assert_non_null(strstr(err.msg, "another process is listening"));
	for (int i = 0; i < 8; i++)
		close(fillers[i]);
	close(live);
	unlink(sun.sun_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(emfile_closes_the_pending_client_and_backs_off,
						setup, teardown),
		cmocka_unit_test_setup_teardown(enfile_is_handled_like_emfile, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_reacquire_is_retried_later, setup, teardown),
		cmocka_unit_test_setup_teardown(no_spare_means_back_off_without_spinning, setup,
						teardown),
		cmocka_unit_test_setup_teardown(transient_errors_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(enobufs_pauses_briefly, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_errors_back_off_and_never_exit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(one_event_accepts_a_bounded_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(held_listener_does_not_accept, setup, teardown),
		cmocka_unit_test(stale_socket_probe_never_blocks),
	};
	return cmocka_run_group_tests_name("listener", tests, NULL, NULL);
}
