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
#include "proxy.h"
#include "reserve.h"
#include "sockopt.h"
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
static void listener_pause(struct listener_watch *lw, double delay)
{
	ev_io_stop(lw->w->loop, &lw->io);
	if (!ev_is_active(&lw->backoff)) {
		ev_timer_set(&lw->backoff, delay, 0.);
		ev_timer_start(lw->w->loop, &lw->backoff);
	}
}

static void backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct listener_watch *lw = container_of(t, struct listener_watch, backoff);

	assert(lw->l->magic == LISTENER_MAGIC);
	if (!lw->held && lw->fd >= 0)
		ev_io_start(loop, &lw->io);
}

void listener_hold(struct listener_watch *lw, bool hold)
{
	lw->held = hold;
	if (hold || lw->fd < 0 || !lw->fe)
		ev_io_stop(lw->w->loop, &lw->io);
	else if (!ev_is_active(&lw->backoff))
		ev_io_start(lw->w->loop, &lw->io);
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
 * Out of descriptors: give up a spare, accept the pending client into its slot and close it
 * at once, so it sees a prompt close instead of waiting in the backlog; its slot becomes the
 * spare again (reserve_refill). False if there was no spare to give (taking one back failed
 * and still fails) or nothing was pending. A spare not taken back is retried on a timer.
 *
 * The descriptor table is the process's, and so are the spares: a worker whose own spare is
 * gone sheds with another worker's. Otherwise a worker could keep shedding for its own
 * listening socket while the clients the kernel put on another worker's socket hang there
 * until some connection closes. All of it under reserve_lock, so two workers' sheds never
 * interleave (one could take the slot the other just freed, and with the slot its own shed
 * frees, set up a connection that keeps both).
 */
static struct reserve *spare_to_shed(struct worker *w)
{
	struct proxy *p = w->p;

	if (reserve_available(&w->spare))
		return &w->spare;
	for (unsigned i = 0; i < p->n_workers; i++)
		if (reserve_available(&p->workers[i].spare))
			return &p->workers[i].spare;
	return reserve_acquire(&w->spare) == 0 ? &w->spare : NULL;
}

static bool shed_one(struct listener_watch *lw)
{
	struct reserve *spare;
	int fd;

	reserve_lock();
	if (!(spare = spare_to_shed(lw->w))) {
		reserve_unlock();
		worker_spare_lost(lw->w);
		return false;
	}
	reserve_release(spare);
	fd = accept4(lw->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		counter_add(&lw->w->shed, 1);
		if (reserve_refill(spare, fd) < 0)
			worker_spare_lost(lw->w);
	} else if (reserve_acquire(spare) < 0) {
		worker_spare_lost(lw->w);
	}
	reserve_unlock();
	return fd >= 0;
}

/* Log the first error of an episode only: under a flood, one line, not one per client. */
static void note_trouble(struct listener_watch *lw, int error)
{
	lw->trouble_at = ev_now(lw->w->loop);
	if (lw->trouble == error)
		return;
	lw->trouble = error;
	if (error == EMFILE || error == ENFILE)
		log_msg(WLOG_WARN,
			"accept on %s: %s; closing new clients at once until descriptors free up",
			lw->l->name, strerror(error));
	else
		log_msg(WLOG_WARN, "accept on %s failed: %s; pausing", lw->l->name,
			strerror(error));
}

/*
 * The frontend's rate: take a token for the client about to be accepted, or say how long
 * until there is one. Workers share the bucket.
 */
static double take_token(struct frontend *fe, uint64_t rate)
{
	struct frontend_stats *st = fe->stats;
	double wait = 0;

	pthread_mutex_lock(&st->lock);
	if (!bucket_take(&st->rate, rate, clock_mono()))
		wait = bucket_wait(&st->rate, rate, clock_mono());
	pthread_mutex_unlock(&st->lock);
	return wait;
}

static void put_token_back(struct frontend *fe, uint64_t rate)
{
	pthread_mutex_lock(&fe->stats->lock);
	bucket_put_back(&fe->stats->rate, rate);
	pthread_mutex_unlock(&fe->stats->lock);
}

/*
 * Accept up to `batch` clients; false if accepting must pause (a resource error). `closing`:
 * the listener is about to close, so neither the frontend's rate nor the connection limit
 * holds anyone back (nobody else would take them).
 */
static bool accept_some(struct listener_watch *lw, int batch, bool closing)
{
	struct worker *w = lw->w;
	bool shed = false;

	for (int i = 0; i < batch && !lw->held; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		uint64_t rate = closing ? 0 : lw->fe->cfg->rate;
		double wait = rate ? take_token(lw->fe, rate) : 0;
		int fd, error;

		if (wait > 0) {
			/* Over the frontend's rate: the client waits in the backlog, not refused.
			 */
			listener_pause(lw, wait);
			return true;
		}
		if (closing) {
			proxy_conn_force(w->p);
		} else if (!proxy_conn_reserve(w->p)) {
			if (rate)
				put_token_back(lw->fe, rate);
			worker_at_limit(w);
			return true;
		}
		fd = reserve_check(accept4(lw->fd, (struct sockaddr *)&peer, &len,
					   SOCK_NONBLOCK | SOCK_CLOEXEC));
		error = errno;
		if (fd >= 0) {
			/* Out of descriptors, accept fails and works by turns: the episode
			 * ends once it has worked for a second, not at the first success. */
			if (lw->trouble && ev_now(w->loop) - lw->trouble_at >= 1.) {
				log_msg(WLOG_INFO, "accept on %s works again (%llu clients shed)",
					lw->l->name, (unsigned long long)shared_load(&w->shed));
				lw->trouble = 0;
			}
			worker_accepted(w);
			conn_accept(w, lw->fe, fd, (struct sockaddr *)&peer, len);
			continue;
		}
		proxy_conn_release(w->p);
		if (rate)
			put_token_back(lw->fe, rate);
		if (error == EAGAIN || error == EWOULDBLOCK)
			break;
		if (accept_error_is_transient(error))
			continue;
		counter_add(&w->accept_errors[error == EMFILE	 ? ACCEPT_EMFILE
					      : error == ENFILE	 ? ACCEPT_ENFILE
					      : error == ENOBUFS ? ACCEPT_ENOBUFS
					      : error == ENOMEM	 ? ACCEPT_ENOMEM
								 : ACCEPT_OTHER],
			    1);
		note_trouble(lw, error);
		if ((error == EMFILE || error == ENFILE) && shed_one(lw)) {
			shed = true;
			continue;
		}
		return false;
	}
	return !shed;
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct listener_watch *lw = container_of(io, struct listener_watch, io);

	assert(lw->l->magic == LISTENER_MAGIC);
	if (!accept_some(lw, LISTENER_BATCH, false))
		listener_pause(lw, LISTENER_BACKOFF);
}

static int set_options(int fd, const struct addr *a, bool reuseport)
{
	int one = 1;

	if (a->ss.ss_family == AF_UNIX)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
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

	if (getsockname(l->watch[0].fd, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != a->ss.ss_family || port_of(&ss) != port_of(&a->ss))
		return false;
	return is_wildcard(&ss) || is_wildcard(&a->ss) ||
	       addr_equal((const struct sockaddr *)&a->ss, a->len, (struct sockaddr *)&ss, len);
}

/*
 * SO_REUSEPORT lets a new listener bind where one of weir's own still listens, but it would
 * also let weir share a port with another process doing the same (a second weir started by
 * mistake would silently take half the clients). So a plain socket tries the address first:
 * taken, with none of weir's own listeners there, means another process has it. Unless the
 * address is `shared`: then other processes listening there is what the operator wants.
 */
static int check_not_taken(struct proxy *p, const struct addr *a, const char *name,
			   struct weir_err *err)
{
	int fd, one = 1, r = 0;

	if (addr_is_unix(a) || port_of(&a->ss) == 0)
		return 0;
	for (size_t i = 0; i < p->n_listeners; i++)
		if (overlaps(a, p->listeners[i]))
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

static struct listener *listener_new(struct proxy *p)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->watch = aligned_alloc(64, p->n_workers * sizeof(*l->watch));
	if (!l->watch) {
		free(l);
		return NULL;
	}
	memset(l->watch, 0, p->n_workers * sizeof(*l->watch));
	l->magic = LISTENER_MAGIC;
	l->p = p;
	l->n_watch = p->n_workers;
	for (unsigned i = 0; i < l->n_watch; i++) {
		struct listener_watch *lw = &l->watch[i];
		lw->l = l;
		lw->w = &p->workers[i];
		lw->fd = -1;
		ev_io_init(&lw->io, accept_cb, -1, EV_READ);
		ev_init(&lw->backoff, backoff_cb);
	}
	return l;
}

/* Every worker accepts from the one socket `fd`. */
static void share_socket(struct listener *l, int fd)
{
	l->shared = true;
	for (unsigned i = 0; i < l->n_watch; i++)
		l->watch[i].fd = fd;
}

/* Name the listener after its bound address (port 0 resolved); set up its watchers. */
static void listener_ready(struct listener *l)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	if (getsockname(l->watch[0].fd, (struct sockaddr *)&bound, &blen) == 0 &&
	    (bound.ss_family != AF_UNIX || !l->name[0]))
		addr_format((const struct sockaddr *)&bound, blen, l->name, sizeof(l->name));
	for (unsigned i = 0; i < l->n_watch; i++)
		ev_io_set(&l->watch[i].io, l->watch[i].fd, EV_READ);
}

/* Close the sockets still open; free. */
static void listener_free(struct listener *l, bool close_fds)
{
	assert(l->magic == LISTENER_MAGIC);
	for (unsigned i = 0; i < l->n_watch; i++) {
		struct listener_watch *lw = &l->watch[i];
		assert(!ev_is_active(&lw->io) && !ev_is_active(&lw->backoff));
		if (close_fds && lw->fd >= 0 && (!l->shared || i == 0))
			close(lw->fd);
		lw->fd = -1;
	}
	if (l->unlink_path)
		(void)unlink(l->name + strlen("unix:"));
	l->magic = 0;
	free(l->watch);
	free(l);
}

int listener_socket(const struct addr *a, const char *name, int backlog, bool reuseport,
		    struct weir_err *err)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), r;

	if (fd < 0) {
		r = -errno;
		err_set(err, "cannot listen on %s: %s", name, strerror(-r));
		return r;
	}
	r = set_options(fd, a, reuseport);
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

	for (unsigned i = 0; !l->passed && i < (l->shared ? 1 : l->n_watch); i++) {
		if (l->watch[i].fd >= 0 && listen(l->watch[i].fd, la->backlog) < 0) {
			err_set(err, "cannot set the backlog of %s: %s", l->name, strerror(errno));
			return -errno;
		}
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

/* The same address with the port the first socket got (port 0: the kernel chose it). */
static struct addr same_port(const struct addr *a, int first)
{
	struct sockaddr_storage bound;
	socklen_t len = sizeof(bound);
	struct addr copy = *a;

	if (getsockname(first, (struct sockaddr *)&bound, &len) == 0) {
		if (a->ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&copy.ss)->sin6_port = port_of(&bound);
		else
			((struct sockaddr_in *)&copy.ss)->sin_port = port_of(&bound);
	}
	return copy;
}

int listener_open(struct listener **out, struct proxy *p, const struct listen_addr *la,
		  struct weir_err *err)
{
	struct listener *l = listener_new(p);
	int r = 0;

	*out = NULL;
	if (!l) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	addr_format((const struct sockaddr *)&la->a.ss, la->a.len, l->name, sizeof(l->name));
	r = la->shared ? 0 : check_not_taken(p, &la->a, l->name, err);
	if (r == 0 && addr_is_unix(&la->a)) {
		/* A file with a mode to set is made with none to spare, so it is never looser. */
		mode_t old = la->mode ? umask(0177) : 0;
		r = listener_socket(&la->a, l->name, la->backlog, true, err);
		if (la->mode)
			umask(old);
		if (r >= 0) {
			share_socket(l, r);
			l->unlink_path = true;
		}
	} else if (r == 0) {
		/* A socket per worker, all on the port the first one got. */
		for (unsigned i = 0; i < l->n_watch && r >= 0; i++) {
			struct addr a = i ? same_port(&la->a, l->watch[0].fd) : la->a;
			r = listener_socket(&a, l->name, la->backlog, true, err);
			l->watch[i].fd = r;
		}
	}
	if (r < 0) {
		listener_free(l, true);
		return r;
	}
	listener_ready(l);
	if ((r = listener_set_access(l, la, err)) < 0) {
		listener_close(l);
		return r;
	}
	*out = l;
	return 0;
}

int listener_adopt(struct listener **out, struct proxy *p, int fd, const char *name,
		   struct weir_err *err)
{
	struct listener *l = listener_new(p);
	int flags = fcntl(fd, F_GETFL);

	*out = NULL;
	if (!l || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err_set(err, "cannot use passed descriptor %d: %s", fd,
			l ? strerror(errno) : "out of memory");
		if (l)
			listener_free(l, false);
		return -EBADF;
	}
	share_socket(l, fd); /* the socket file, if any, belongs to systemd: never unlinked */
	l->passed = true;
	snprintf(l->passed_name, sizeof(l->passed_name), "%s", name);
	listener_ready(l);
	*out = l;
	return 0;
}

void listener_start(struct listener_watch *lw, struct frontend *fe, bool held)
{
	assert(lw->l->magic == LISTENER_MAGIC);
	/* What every client of the frontend gets comes with the accepted socket. */
	if (lw->fe != fe && lw->fd >= 0) {
		sockopt_tcp(lw->fd, &fe->cfg->keepalive, false);
		sockopt_defer_accept(lw->fd, fe->cfg->defer_accept_ms); /* unix: refused, fine */
		sockopt_buffers(lw->fd, lw->l->p->rcvbuf, lw->l->p->sndbuf);
	}
	lw->fe = fe;
	listener_hold(lw, held);
}

bool listener_bound_any_port(const struct listener *l, const struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct addr bound;

	if (addr_is_unix(a) || port_of(&a->ss) != 0 ||
	    getsockname(l->watch[0].fd, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != a->ss.ss_family)
		return false;
	/* The listener's address with the port a asks for (none), compared whole. */
	memcpy(&bound.ss, &ss, len);
	bound.len = len;
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&bound.ss)->sin6_port = 0;
	else
		((struct sockaddr_in *)&bound.ss)->sin_port = 0;
	return addr_equal((const struct sockaddr *)&a->ss, a->len, (struct sockaddr *)&bound.ss,
			  bound.len);
}

bool listener_bound_at(const struct listener *l, const struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(l->watch[0].fd, (struct sockaddr *)&ss, &len) == 0 &&
	       addr_equal((const struct sockaddr *)&a->ss, a->len, (struct sockaddr *)&ss, len);
}

void listener_stop(struct listener_watch *lw)
{
	ev_io_stop(lw->w->loop, &lw->io);
	ev_timer_stop(lw->w->loop, &lw->backoff);
	lw->fe = NULL;
	if (!lw->l->shared && lw->fd >= 0) {
		close(lw->fd);
		lw->fd = -1;
	}
}

void listener_stop_gently(struct listener_watch *lw)
{
	/*
	 * Closing a listening socket resets the clients in its queue: take them first, even
	 * past the connection limit (held), since no other socket can take them over.
	 */
	lw->held = false;
	if (lw->fe && lw->fd >= 0)
		(void)accept_some(lw, LISTENER_CLOSE_ACCEPT_MAX, true);
	listener_stop(lw);
}

void listener_close(struct listener *l)
{
	listener_free(l, true);
}

void listener_disown(struct listener *l)
{
	listener_free(l, false);
}
