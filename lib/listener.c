#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "reserve.h"
#include "worker.h"

#define LISTENER_MAGIC 0x6c69736eu
/* Connections accepted per readiness event, so one busy listener cannot starve the loop. */
#define LISTENER_BATCH 64
/* How long accepting pauses after a resource error (HAProxy waits up to 100 ms). */
#define LISTENER_BACKOFF 0.1
/* At most this many queued clients are taken over from a listener that closes. */
#define LISTENER_CLOSE_ACCEPT_MAX 4096

/*
 * A unix socket path left by a weir that died is in the way of bind(); one that a live
 * process still accepts on is not ours to remove. The probe is nonblocking: a live
 * listener with a full backlog answers EAGAIN, which must not stall the loop.
 */
static int clear_stale_unix(const struct addr *a, struct weir_err *err, const char *name)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
	struct stat st;
	int fd, r = 0;

	if (lstat(sun->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		err_set(err, "cannot listen on %s: the path exists and is not a socket", name);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS) {
		err_set(err, "cannot listen on %s: another process is listening there", name);
		r = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		(void)unlink(sun->sun_path);
	}
	close(fd);
	return r;
}

/* Accepting pauses for `delay`: after a resource error (so it can never spin), or until the
 * frontend's rate allows another client. */
static void listener_pause(struct listener *l, double delay)
{
	ev_io_stop(l->w->loop, &l->io);
	if (!ev_is_active(&l->backoff)) {
		ev_timer_set(&l->backoff, delay, 0.);
		ev_timer_start(l->w->loop, &l->backoff);
	}
}

static void backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct listener *l = container_of(t, struct listener, backoff);

	assert(l->magic == LISTENER_MAGIC);
	if (!l->held)
		ev_io_start(loop, &l->io);
}

void listener_hold(struct listener *l, bool hold)
{
	l->held = hold;
	if (hold)
		ev_io_stop(l->w->loop, &l->io);
	else if (!ev_is_active(&l->backoff))
		ev_io_start(l->w->loop, &l->io);
}

static bool accept_error_is_transient(int error)
{
	/* Errors of the one pending connection, not of the listener (see accept(2)). */
	switch (error) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case EPERM: /* a firewall rule refused it */
		return true;
	default:
		return false;
	}
}

/*
 * Out of descriptors: give up the spare, accept the pending client into its slot and close
 * it at once, so it sees a prompt close instead of waiting in the backlog, then take the
 * spare back. False if there was no spare to give (taking it back failed earlier and still
 * fails) or nothing was pending. A spare not taken back is retried on the worker's timer.
 */
static bool shed_one(struct listener *l)
{
	struct reserve *spare = &l->w->spare;
	int fd;

	if (!reserve_available(spare) && reserve_acquire(spare) < 0)
		return false;
	reserve_release(spare);
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		l->w->shed++;
	}
	if (reserve_acquire(spare) < 0)
		worker_spare_lost(l->w);
	return fd >= 0;
}

/* Log the first error of an episode only: under a flood, one line, not one per client. */
static void note_trouble(struct listener *l, int error)
{
	if (l->trouble == error)
		return;
	l->trouble = error;
	if (error == EMFILE || error == ENFILE)
		log_msg(WLOG_WARN,
			"accept on %s: %s; closing new clients at once until descriptors free up",
			l->name, strerror(error));
	else
		log_msg(WLOG_WARN, "accept on %s failed: %s; pausing", l->name, strerror(error));
}

/*
 * Accept up to `batch` clients; false if accepting must pause (a resource error). `closing`:
 * the listener is about to close, so the frontend's rate does not hold anyone back.
 */
static bool accept_some(struct listener *l, int batch, bool closing)
{
	bool shed = false;

	for (int i = 0; i < batch && !l->held; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		uint64_t rate = closing ? 0 : l->fe->cfg->rate;
		double wait = rate ? bucket_wait(&l->fe->stats->rate, rate, clock_mono()) : 0;
		int fd, error;

		if (wait > 0) {
			/* Over the frontend's rate: the client waits in the backlog, not refused.
			 */
			listener_pause(l, wait);
			return true;
		}
		fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		error = errno;
		if (fd >= 0) {
			(void)bucket_take(&l->fe->stats->rate, rate, clock_mono());
			if (l->trouble)
				log_msg(WLOG_INFO, "accept on %s works again (%llu clients shed)",
					l->name, (unsigned long long)l->w->shed);
			l->trouble = 0;
			conn_accept(l->w, l->fe, fd, (struct sockaddr *)&peer, len);
			continue;
		}
		if (error == EAGAIN || error == EWOULDBLOCK)
			break;
		if (accept_error_is_transient(error))
			continue;
		l->w->accept_errors[error == EMFILE    ? ACCEPT_EMFILE
				    : error == ENFILE  ? ACCEPT_ENFILE
				    : error == ENOBUFS ? ACCEPT_ENOBUFS
				    : error == ENOMEM  ? ACCEPT_ENOMEM
						       : ACCEPT_OTHER]++;
		note_trouble(l, error);
		if ((error == EMFILE || error == ENFILE) && shed_one(l)) {
			shed = true;
			continue;
		}
		return false;
	}
	return !shed;
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener *l = container_of(io, struct listener, io);

	assert(l->magic == LISTENER_MAGIC);
	if (!accept_some(l, LISTENER_BATCH, false))
		listener_pause(l, LISTENER_BACKOFF);
}

static int set_options(int fd, const struct addr *a)
{
	int one = 1;

	if (a->ss.ss_family == AF_UNIX)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	/* [::] means IPv6 only, as in nginx: ":port" binds 0.0.0.0 and [::] separately. */
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
					 : ((const struct sockaddr_in *)ss)->sin_port;
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Whether a socket bound at `a` would share its port with `l` (IPv6 listeners are v6-only). */
static bool overlaps(const struct addr *a, const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != a->ss.ss_family || port_of(&ss) != port_of(&a->ss))
		return false;
	return is_wildcard(&ss) || is_wildcard(&a->ss) ||
	       addr_equal((const struct sockaddr *)&a->ss, a->len, (struct sockaddr *)&ss, len);
}

/*
 * SO_REUSEPORT lets a new listener bind where one of weir's own still listens, but it would
 * also let weir share a port with another process doing the same (a second weir started by
 * mistake would silently take half the clients). So a plain socket tries the address first:
 * taken, with none of weir's own listeners there, means another process has it.
 */
static int check_not_taken(struct worker *w, const struct addr *a, const char *name,
			   struct weir_err *err)
{
	int fd, one = 1, r = 0;

	if (addr_is_unix(a) || port_of(&a->ss) == 0)
		return 0;
	for (size_t i = 0; i < w->n_listeners; i++)
		if (overlaps(a, w->listeners[i]))
			return 0;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* the real socket() will say what is wrong */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno == EADDRINUSE) {
		err_set(err, "cannot listen on %s: %s", name, strerror(EADDRINUSE));
		r = -EADDRINUSE;
	}
	close(fd);
	return r;
}

static struct listener *listener_new(struct worker *w)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->magic = LISTENER_MAGIC;
	l->w = w;
	l->fd = -1;
	return l;
}

/* Name the listener after its bound address (port 0 resolved); set up its watchers. */
static void listener_ready(struct listener *l)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	if (getsockname(l->fd, (struct sockaddr *)&bound, &blen) == 0 &&
	    (bound.ss_family != AF_UNIX || !l->name[0]))
		addr_format((const struct sockaddr *)&bound, blen, l->name, sizeof(l->name));
	ev_io_init(&l->io, accept_cb, l->fd, EV_READ);
	ev_init(&l->backoff, backoff_cb);
}

int listener_socket(const struct addr *a, const char *name, int backlog, struct weir_err *err)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), r;

	if (fd < 0) {
		r = -errno;
		err_set(err, "cannot listen on %s: %s", name, strerror(-r));
		return r;
	}
	r = set_options(fd, a);
	if (r < 0)
		err_set(err, "cannot listen on %s: %s", name, strerror(-r));
	else if (addr_is_unix(a))
		r = clear_stale_unix(a, err, name);
	if (r == 0 &&
	    (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, backlog) < 0)) {
		r = -errno;
		err_set(err, "cannot listen on %s: %s", name, strerror(-r));
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* The socket file's permissions and owner, before the process may give up the right. */
int listener_set_access(const struct listener *l, const struct listen_addr *la,
			struct weir_err *err)
{
	const char *path = l->name + strlen("unix:");

	if (!l->passed && listen(l->fd, la->backlog) < 0) {
		err_set(err, "cannot set the backlog of %s: %s", l->name, strerror(errno));
		return -errno;
	}
	if (!l->unlink_path)
		return 0; /* a TCP socket, or a file that belongs to systemd */

	if (la->mode && chmod(path, la->mode) < 0) {
		err_set(err, "cannot set mode %04o on %s: %s", la->mode, path, strerror(errno));
		return -errno;
	}
	if ((la->uid != (uid_t)-1 || la->gid != (gid_t)-1) && chown(path, la->uid, la->gid) < 0) {
		err_set(err, "cannot set the owner of %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int listener_open(struct listener **out, struct worker *w, const struct listen_addr *la,
		  struct weir_err *err)
{
	struct listener *l = listener_new(w);
	int r;

	*out = NULL;
	if (!l) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	addr_format((const struct sockaddr *)&la->a.ss, la->a.len, l->name, sizeof(l->name));
	r = check_not_taken(w, &la->a, l->name, err);
	if (r == 0) {
		/* A file with a mode to set is made with none to spare, so it is never looser. */
		mode_t old = la->mode ? umask(0177) : 0;
		r = listener_socket(&la->a, l->name, la->backlog, err);
		if (la->mode)
			umask(old);
	}
	l->fd = r;
	if (l->fd < 0) {
		r = l->fd;
		free(l);
		return r;
	}
	l->unlink_path = addr_is_unix(&la->a);
	listener_ready(l);
	if ((r = listener_set_access(l, la, err)) < 0) {
		listener_close(l);
		return r;
	}
	*out = l;
	return 0;
}

int listener_adopt(struct listener **out, struct worker *w, int fd, const char *name,
		   struct weir_err *err)
{
	struct listener *l = listener_new(w);
	int flags = fcntl(fd, F_GETFL);

	*out = NULL;
	if (!l || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err_set(err, "cannot use passed descriptor %d: %s", fd,
			l ? strerror(errno) : "out of memory");
		free(l);
		return -EBADF;
	}
	l->fd = fd; /* the socket file, if any, belongs to systemd: never unlinked */
	l->passed = true;
	snprintf(l->passed_name, sizeof(l->passed_name), "%s", name);
	listener_ready(l);
	*out = l;
	return 0;
}

void listener_start(struct listener *l, struct frontend *fe, bool held)
{
	assert(l->magic == LISTENER_MAGIC);
	l->fe = fe;
	listener_hold(l, held);
}

bool listener_bound_at(const struct listener *l, const struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(l->fd, (struct sockaddr *)&ss, &len) == 0 &&
	       addr_equal((const struct sockaddr *)&a->ss, a->len, (struct sockaddr *)&ss, len);
}

void listener_close_gently(struct listener *l)
{
	/*
	 * Closing a listening socket resets the clients in its queue: take them first, even
	 * past the connection limit (held), since no other socket can take them over.
	 */
	l->held = false;
	if (l->fe)
		(void)accept_some(l, LISTENER_CLOSE_ACCEPT_MAX, true);
	listener_close(l);
}

static void listener_free(struct listener *l, bool close_fd)
{
	assert(l->magic == LISTENER_MAGIC);
	ev_io_stop(l->w->loop, &l->io);
	ev_timer_stop(l->w->loop, &l->backoff);
	if (l->unlink_path)
		(void)unlink(l->name + strlen("unix:"));
	if (close_fd)
		close(l->fd);
	l->magic = 0;
	free(l);
}

void listener_close(struct listener *l)
{
	listener_free(l, true);
}

void listener_disown(struct listener *l)
{
	listener_free(l, false);
}
