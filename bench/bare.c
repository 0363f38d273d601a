/*
 * bench/bare: a TCP proxy with nothing but what every proxy must do, as a yardstick for
 * bench/run --peers. One thread, one epoll set, every socket in it once (edge-triggered);
 * for each client: accept, connect, relay both ways with backpressure (a side is not read
 * while the bytes it sent before wait for its peer), pass each half-close on, close. No
 * limits, timeouts, logs, stats, retries or balancing, and it exits on the first thing it
 * cannot handle. What it costs per connection is, near enough, what the kernel charges any
 * proxy: the part no proxy's own code can save.
 *
 *   make bench/bare && bench/bare LISTEN-PORT:SERVER-PORT... (both on 127.0.0.1)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE   65536
#define MAX_LISTEN 8

/* One direction: bytes read from `from` that `to` has not taken yet. */
struct pipe_dir {
	char *buf; /* only while bytes wait: an idle connection holds none */
	size_t off, len;
	bool eof;  /* `from` ended; passed on once the bytes are out */
	bool shut; /* passed on */
};

struct conn {
	int fd[2];		/* client, server */
	struct pipe_dir dir[2]; /* dir[i]: from fd[i] to fd[!i] */
	bool connected, dead;
	struct conn *next_dead;
};

static int ep;
static struct conn *dead;
static struct sockaddr_in servers[MAX_LISTEN];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void conn_close(struct conn *c)
{
	close(c->fd[0]);
	close(c->fd[1]);
	free(c->dir[0].buf);
	free(c->dir[1].buf);
	c->dead = true; /* freed after the batch, which may still name it */
	c->next_dead = dead;
	dead = c;
}

/* Send what waits in `d` to `to`; false if the peer is gone. */
static bool flush(struct pipe_dir *d, int to)
{
	while (d->len) {
		ssize_t n = send(to, d->buf + d->off, d->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN;
		d->off += (size_t)n;
		d->len -= (size_t)n;
	}
	free(d->buf);
	d->buf = NULL;
	d->off = 0;
	return true;
}

/* Move what fd[i] has to fd[!i] until one of them cannot go on; false: close. */
static bool pump(struct conn *c, int i)
{
	struct pipe_dir *d = &c->dir[i];
	char buf[BUF_SIZE];

	if (!c->connected || !flush(d, c->fd[!i]))
		return c->connected ? false : true;
	while (!d->len && !d->eof) {
		ssize_t n = recv(c->fd[i], buf, sizeof(buf), 0), sent;
		if (n == 0) {
			d->eof = true;
			break;
		}
		if (n < 0)
			return errno == EAGAIN;
		sent = send(c->fd[!i], buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0 && errno != EAGAIN)
			return false;
		if (sent < 0)
			sent = 0;
		if (sent < n) { /* the peer is full: keep the rest, read no more */
			d->buf = malloc(BUF_SIZE);
			if (!d->buf)
				die("malloc");
			d->len = (size_t)(n - sent);
			memcpy(d->buf, buf + sent, d->len);
		}
	}
	if (d->eof && !d->len && !d->shut) {
		d->shut = true;
		if (c->dir[!i].shut)
			return false; /* both ways over */
		shutdown(c->fd[!i], SHUT_WR);
	}
	return true;
}

static void watch(int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.u64 = tag};

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
}

static void accept_all(int lfd, const struct sockaddr_in *server)
{
	int one = 1;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EAGAIN)
				return;
			die("accept4");
		}
		c = calloc(1, sizeof(*c));
		if (!c)
			die("calloc");
		c->fd[0] = fd;
		c->fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd[1] < 0)
			die("socket");
		(void)setsockopt(c->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd[1], (const struct sockaddr *)server, sizeof(*server)) < 0 &&
		    errno != EINPROGRESS)
			die("connect");
		/* A tag is the connection's address, bit 0 set for its server's socket. */
		watch(c->fd[1], (uint64_t)(uintptr_t)c | 1);
		watch(c->fd[0], (uint64_t)(uintptr_t)c);
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[64];
	int lfd[MAX_LISTEN], n_listen = argc - 1, one = 1;

	if (n_listen < 1 || n_listen > MAX_LISTEN) {
		fprintf(stderr, "usage: bare LISTEN-PORT:SERVER-PORT... (at most %d)\n",
			MAX_LISTEN);
		return 64;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < n_listen; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		unsigned lport, sport;

		if (sscanf(argv[i + 1], "%u:%u", &lport, &sport) != 2 || lport > 65535 ||
		    sport > 65535) {
			fprintf(stderr, "bare: %s is not LISTEN-PORT:SERVER-PORT\n", argv[i + 1]);
			return 64;
		}
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		servers[i] = a;
		servers[i].sin_port = htons((uint16_t)sport);
		a.sin_port = htons((uint16_t)lport);
		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (lfd[i] < 0)
			die("socket");
		(void)setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* Accepted sockets inherit TCP_NODELAY from their listener. */
		(void)setsockopt(lfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (bind(lfd[i], (const struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(lfd[i], 4096) < 0)
			die("listen");
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i << 1};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev) < 0)
			die("epoll_ctl");
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			struct conn *c = (struct conn *)(uintptr_t)(tag & ~(uint64_t)1);
			int side = (int)(tag & 1);

			if (tag < 2 * MAX_LISTEN) { /* a listener: small numbers, no pointers */
				accept_all(lfd[tag >> 1], &servers[tag >> 1]);
				continue;
			}
			if (c->dead)
				continue;
			if (side && !c->connected) {
				int error = 0;
				socklen_t len = sizeof(error);

				if (!(evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
					continue;
				if (evs[i].events & EPOLLERR) {
					(void)getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &error,
							 &len);
					errno = error;
					die("connect");
				}
				c->connected = true;
			}
			/* Either edge on a side may unblock both directions through it. */
			if (!pump(c, side) || !pump(c, !side))
				conn_close(c);
		}
		while (dead) {
			struct conn *c = dead;
			dead = c->next_dead;
			free(c);
		}
	}
}
