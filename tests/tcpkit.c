/*
 * tcpkit: traffic generator and verifier for weir's tests and benchmarks.
 *
 * Servers and clients exchange deterministic byte streams, pattern(seed, offset), over TCP or
 * unix sockets and check every byte. One process, one thread, nonblocking sockets and poll(2).
 * Build: gcc -std=gnu11 -Wall -Wextra -O2 -o tcpkit tests/tcpkit.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SCRATCH_SIZE	(256 * 1024)
#define ECHO_BUF_SIZE	(256 * 1024)
#define GEN_BUF_SIZE	(64 * 1024)
#define HTTP_MAX_REQ	8192
#define SIGNAL_POLL_MS	200
#define RATE_READ_MAX	16384
#define MAX_UNCONFIRMED 256 /* connections opened that have not received anything yet */

/* clang-format off */
static const char usage_text[] =
	"usage: tcpkit server ADDR --port-file FILE [--mode MODE] [--bytes N] [--seed S]\n"
	"                          [--name NAME] [--backlog N]\n"
	"       tcpkit client ADDR [--mode MODE] [--connections C] [--bytes N] [--expect M]\n"
	"                          [--rate BYTES_PER_SEC] [--seed S] [--timeout SEC]\n"
	"                          [--requests R] [--size Z] [--duration SEC] [--ready-file FILE]\n"
	"                          [--shutdown 0] [--rcvbuf SIZE]\n"
	"       tcpkit --help\n"
	"ADDR is HOST:PORT, [V6]:PORT or unix:/path. Sizes take k/m/g suffixes (powers of 1024).\n"
	"\n"
	"server modes (serve until SIGTERM/SIGINT; FILE gets the bound port, 0 for unix):\n"
	"  echo       echo everything back, shut down the write side after the client's EOF\n"
	"  sink-send  verify pattern(S) until EOF, then send N bytes of pattern(S+1)\n"
	"  send       send N bytes of pattern(S) at once, discard what is received\n"
	"  sink       discard input; after EOF send the byte count (8 bytes, big-endian)\n"
	"  http       answer one HTTP/1.0 request with 'hello from NAME' (default tcpkit)\n"
	"  source     send N bytes as fast as it can (one buffer resent: not a checked pattern)\n"
	"  blackhole  never accept, and fill the accept queue at start: later connects hang\n"
	"             (their SYNs are dropped), as to a host that has gone away (TCP only)\n"
	"  udp-silent a UDP port that reads what comes and never answers (a mute name server)\n"
	"client modes (all but flood fail with exit 1 after --timeout SEC, default 60):\n"
	"  echo       C connections (default 1) each send N bytes of pattern(S+i) and verify\n"
	"             the echo\n"
	"  half-close send N bytes of pattern(S), shut down, expect M bytes of pattern(S+1), EOF\n"
	"  slow-read  read M bytes of pattern(S) at most --rate bytes/s (default 1m), then EOF\n"
	"  drain      read M bytes as fast as they come (counted, not checked: for a source\n"
	"             server), then EOF; print MB/s\n"
	"  rr         R round trips (default 10000) of Z bytes (default 64) to an echo server\n"
	"  connect    for --duration SEC (default 3), keep C (default 16) connections in flight,\n"
	"             each connecting, echoing 1 byte and closing\n"
	"  bulk       send N bytes to a sink server and check the count it returns\n"
	"  hold       open C connections (default 1) to an echo server, echo 1 byte on each,\n"
	"             write 'ready' to --ready-file, keep them open until a signal or --timeout\n"
	"             (exit 0 either way)\n"
	"  flood      start all C connections at once, each sending 1 byte to an echo server;\n"
	"             each is served (the byte came back), closed (EOF, reset or refused) or\n"
	"             hung (neither within --timeout SEC, default 10). Then write 'ready' to\n"
	"             --ready-file, keep the served ones open for --duration SEC (default 0;\n"
	"             those closed meanwhile are dropped) and print the counts (exit 0)\n"
	"Defaults: --bytes 1m, --expect = --bytes, --seed 1. MB/s means 10^6 bytes per second.\n"
	"--shutdown 0: never half-close after sending; done once everything expected arrived\n"
	"(for proxies that end both directions at the first end of stream).\n"
	"--rcvbuf SIZE: the receive buffer of each client socket (a small one makes the proxy\n"
	"hold what the client has not read yet, where the kernel would otherwise grow it).\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n";
/* clang-format on */

static volatile sig_atomic_t g_stop;
static uint8_t g_scratch[SCRATCH_SIZE];
static uint64_t g_deadline_ns = UINT64_MAX;
static double g_timeout_s = 60;

static void __attribute__((format(printf, 1, 2))) msg(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tcpkit: %s\n", line);
}

#define fail(...)                                                                                  \
	do {                                                                                       \
		msg(__VA_ARGS__);                                                                  \
		exit(1);                                                                           \
	} while (0)
#define usage_error(...)                                                                           \
	do {                                                                                       \
		msg(__VA_ARGS__);                                                                  \
		fputs("tcpkit: try 'tcpkit --help'\n", stderr);                                    \
		exit(2);                                                                           \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Poll timeout in ms until the client deadline, at most cap_ms (-1: no cap); -1 if expired. */
static int deadline_ms(int cap_ms)
{
	uint64_t now = now_ns(), left;

	if (now >= g_deadline_ns)
		return -1;
	left = (g_deadline_ns - now + 999999) / 1000000;
	if (left > INT_MAX)
		left = INT_MAX;
	return cap_ms >= 0 && (uint64_t)cap_ms < left ? cap_ms : (int)left;
}

/* poll(2): the number of ready fds, 0 on timeout or signal (revents are then not looked at). */
static int xpoll(struct pollfd *pfds, nfds_t n, int ms)
{
	int r = poll(pfds, n, ms);

	if (r < 0 && errno != EINTR)
		fail("poll: %s", strerror(errno));
	return r < 0 ? 0 : r;
}

/* poll(2) is never restarted after a handler, so a signal wakes the loops at once. */
static void on_stop_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void install_stop_handlers(void)
{
	signal(SIGTERM, on_stop_signal);
	signal(SIGINT, on_stop_signal);
}

/* ---- byte pattern: splitmix64 over (seed, offset / 8), byte offset % 8 of each word ---- */

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t seed_base(uint64_t seed)
{
	return mix64(seed ^ 0x7463706b69742121ULL);
}

/* Word idx (stream bytes 8*idx .. 8*idx+7, least significant first) for a seed_base. */
static inline uint64_t pattern_word(uint64_t base, uint64_t idx)
{
	return mix64(base + (idx + 1) * 0x9e3779b97f4a7c15ULL);
}

static uint8_t pattern_byte(uint64_t seed, uint64_t offset)
{
	return (uint8_t)(pattern_word(seed_base(seed), offset >> 3) >> (8 * (offset & 7)));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t w = 0;

	for (int i = 0; i < 8; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return w;
}

static void pattern_fill(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t base = seed_base(seed);

	for (size_t i = 0; i < len;) {
		uint64_t w = pattern_word(base, off >> 3);
		unsigned k = (unsigned)(off & 7);

		if (k == 0 && len - i >= 8) {
			for (k = 0; k < 8; k++)
				buf[i + k] = (uint8_t)(w >> (8 * k));
			i += 8;
			off += 8;
			continue;
		}
		for (; k < 8 && i < len; k++, i++, off++)
			buf[i] = (uint8_t)(w >> (8 * k));
	}
}

/* Index of the first byte of buf that differs from the pattern at off, or len if none. */
static size_t pattern_check(uint64_t seed, uint64_t off, const uint8_t *buf, size_t len)
{
	uint64_t base = seed_base(seed);

	for (size_t i = 0; i < len;) {
		uint64_t w = pattern_word(base, off >> 3);
		unsigned k = (unsigned)(off & 7);

		if (k == 0 && len - i >= 8 && load_le64(buf + i) == w) {
			i += 8;
			off += 8;
			continue;
		}
		for (; k < 8 && i < len; k++, i++, off++)
			if (buf[i] != (uint8_t)(w >> (8 * k)))
				return i;
	}
	return len;
}

/* ---- parsing ---- */

/* Decimal number with an optional k/m/g suffix (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned shift = 0;
	uint64_t v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end && strchr("kKmMgG", *end)) {
		shift = *end == 'k' || *end == 'K' ? 10 : *end == 'm' || *end == 'M' ? 20 : 30;
		end++;
	}
	if (errno || *end || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

static bool parse_secs(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*out) && *out > 0 && *out < 1e9;
}

struct opts {
	const char *addr, *mode, *port_file, *name, *ready_file;
	uint64_t bytes, expect, rate, seed, requests, size, conns, backlog, shutdown, rcvbuf;
	double timeout, duration;
};

enum { FOR_SERVER = 1, FOR_CLIENT = 2 };

/* --rcvbuf: a client socket's receive buffer, set before it connects (0: the kernel's). */
static int rcvbuf;
/* clang-format off */
#define OPT(name, kind, field, where) {name, kind, offsetof(struct opts, field), where}

static const struct opt_def {
	const char *name;
	int kind; /* 0: size, 1: seconds, 2: string */
	size_t off;
	int where;
} opt_defs[] = {
	OPT("mode", 2, mode, FOR_SERVER | FOR_CLIENT),
	OPT("bytes", 0, bytes, FOR_SERVER | FOR_CLIENT),
	OPT("seed", 0, seed, FOR_SERVER | FOR_CLIENT),
	OPT("name", 2, name, FOR_SERVER),
	OPT("port-file", 2, port_file, FOR_SERVER),
	OPT("backlog", 0, backlog, FOR_SERVER),
	OPT("connections", 0, conns, FOR_CLIENT),
	OPT("expect", 0, expect, FOR_CLIENT),
	OPT("rate", 0, rate, FOR_CLIENT),
	OPT("timeout", 1, timeout, FOR_CLIENT),
	OPT("requests", 0, requests, FOR_CLIENT),
	OPT("size", 0, size, FOR_CLIENT),
	OPT("duration", 1, duration, FOR_CLIENT),
	OPT("ready-file", 2, ready_file, FOR_CLIENT),
	OPT("shutdown", 0, shutdown, FOR_CLIENT),
	OPT("rcvbuf", 0, rcvbuf, FOR_CLIENT),
};
/* clang-format on */

/* Parses "ADDR --opt VALUE --opt=VALUE ..." (argv[0] is the command name). */
static void parse_opts(int argc, char **argv, int where, struct opts *o)
{
	*o = (struct opts){.mode = "echo",
			   .backlog = 1024,
			   .shutdown = 1,
			   .name = "tcpkit",
			   .bytes = 1 << 20,
			   .expect = UINT64_MAX, /* not given: same as --bytes */
			   .rate = 1 << 20,
			   .seed = 1,
			   .requests = 10000,
			   .size = 64}; /* --timeout, --duration: 0 until given, see client_main */
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '='), *val;
		const struct opt_def *d = NULL;
		size_t nlen = eq ? (size_t)(eq - arg) - 2 : strlen(arg) - 2;
		void *field;

		if (!strcmp(arg, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0) {
			if (o->addr)
				usage_error("unexpected argument '%s'", arg);
			o->addr = arg;
			continue;
		}
		for (size_t k = 0; k < sizeof(opt_defs) / sizeof(opt_defs[0]); k++)
			if ((opt_defs[k].where & where) && strlen(opt_defs[k].name) == nlen &&
			    !strncmp(opt_defs[k].name, arg + 2, nlen))
				d = &opt_defs[k];
		if (!d)
			usage_error("unknown option '%s'", arg);
		if (!(val = eq ? eq + 1 : argv[++i]))
			usage_error("option '%s' needs a value", arg);
		field = (char *)o + d->off;
		if (d->kind == 2)
			*(const char **)field = val;
		else if (d->kind == 1 ? !parse_secs(val, field) : !parse_size(val, field))
			usage_error("bad value '%s' for --%s", val, d->name);
	}
	if (!o->addr)
		usage_error("missing ADDR");
	rcvbuf = (int)(o->rcvbuf < (1u << 30) ? o->rcvbuf : 1u << 30);
}

/* ---- addresses and sockets ---- */

struct endpoint {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
	const char *text, *unix_path;
};

static void resolve(const char *text, bool passive, struct endpoint *ep)
{
	char host[256];
	const char *h = text, *port;
	size_t hlen;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	int rc;

	memset(ep, 0, sizeof(*ep));
	ep->text = text;
	if (strncmp(text, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ep->ss;
		size_t plen = strlen(text + 5);

		if (plen == 0 || plen >= sizeof(sun->sun_path))
			usage_error("bad unix socket path in '%s'", text);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, text + 5, plen + 1);
		ep->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
		ep->family = AF_UNIX;
		ep->unix_path = text + 5;
		return;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			usage_error("bad address '%s' (expected [V6]:PORT)", text);
		h = text + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon)
			usage_error("address '%s' has no port (expected HOST:PORT)", text);
		if (memchr(text, ':', (size_t)(colon - text)))
			usage_error("bad address '%s' (write IPv6 addresses as [V6]:PORT)", text);
		hlen = (size_t)(colon - text);
		port = colon + 1;
	}
	if (hlen >= sizeof(host))
		usage_error("host name too long in '%s'", text);
	if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    atoi(port) > 65535 || (atoi(port) == 0 && !passive))
		usage_error("bad port in address '%s'", text);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if ((rc = getaddrinfo(hlen ? host : NULL, port, &hints, &res)) != 0)
		fail("cannot resolve '%s': %s", text, gai_strerror(rc));
	memcpy(&ep->ss, res->ai_addr, res->ai_addrlen);
	ep->len = res->ai_addrlen;
	ep->family = res->ai_family;
	freeaddrinfo(res);
}

static void tune_socket(int fd, int family)
{
	int one = 1;

	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
}

/* Starts a nonblocking connect; *connected tells whether it already completed. soft: return -1
 * if the connect fails at once, unless the client itself is out of local ports. */
static int connect_start(const struct endpoint *ep, long idx, bool *connected, bool soft)
{
	for (;;) {
		int fd = socket(ep->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e;

		if (fd < 0)
			fail("conn %ld: socket: %s", idx, strerror(errno));
		tune_socket(fd, ep->family);
		if (connect(fd, (const struct sockaddr *)&ep->ss, ep->len) == 0 ||
		    errno == EINPROGRESS) {
			*connected = errno != EINPROGRESS;
			return fd;
		}
		e = errno;
		close(fd);
		if (soft && e != EADDRNOTAVAIL && (e != EAGAIN || ep->family == AF_UNIX))
			return -1;
		/* A unix listener with a full backlog: try again shortly. */
		if (e != EAGAIN || ep->family != AF_UNIX || deadline_ms(-1) < 0)
			fail("conn %ld: connect to %s: %s", idx, ep->text, strerror(e));
		poll(NULL, 0, 1);
	}
}

static void connect_finish(int fd, const struct endpoint *ep, long idx)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		fail("conn %ld: connect to %s: %s", idx, ep->text, strerror(err));
}

/* recv (rd) or send: >0 bytes, 0 EOF, -1 would block (*err = 0) or failed (*err = errno). */
static ssize_t sock_io(int fd, bool rd, void *buf, size_t len, int *err)
{
	ssize_t n;

	do
		n = rd ? recv(fd, buf, len, 0) : send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	*err = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK ? errno : 0;
	return n < 0 ? -1 : n;
}

static void write_file_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		fail("file name too long: %s", path);
	if (!(f = fopen(tmp, "w")))
		fail("cannot create %s: %s", tmp, strerror(errno));
	if (fputs(text, f) == EOF || fclose(f) != 0)
		fail("cannot write %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) < 0)
		fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

/* ---- server ---- */

static const char *const server_modes[] = {"echo", "sink-send", "send",	  "sink",
					   "http", "blackhole", "source", "udp-silent"};
enum smode {
	S_ECHO,
	S_SINK_SEND,
	S_SEND,
	S_SINK,
	S_HTTP,
	S_BLACKHOLE,
	S_SOURCE,
	S_UDP_SILENT,
	S_NMODES
};

struct sconn {
	int fd;
	uint64_t id;
	uint64_t rx;	      /* bytes received */
	uint64_t gen;	      /* pattern bytes generated for sending */
	size_t off, len, cap; /* pending output is buf[off..len) */
	bool rd_eof;	      /* the client sent EOF */
	bool gen_on;	      /* generating pattern output (send; sink-send after EOF) */
	bool out_done;	      /* all output is queued; after flushing, shut down or close */
	bool wr_shut;
	uint8_t buf[];
};

struct server {
	enum smode mode;
	uint64_t bytes, seed;
	const char *name;
	struct sconn **conns;
	struct pollfd *pfds;
	size_t n, cap;
	uint64_t next_id;
};

/* Closes a connection; reset: with an RST (SO_LINGER 0) instead of a FIN. */
static void sconn_close(struct sconn *c, bool reset)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (reset)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
}

/* sock_io for a server connection, which is reported and closed on errors. */
static ssize_t sconn_io(struct sconn *c, bool rd, void *buf, size_t len)
{
	int err;
	ssize_t n = sock_io(c->fd, rd, buf, len, &err);

	if (err) {
		msg("server conn %" PRIu64 ": %s: %s", c->id, rd ? "recv" : "send", strerror(err));
		sconn_close(c, false);
	}
	return n;
}

static void http_respond(struct server *s, struct sconn *c)
{
	c->len = (size_t)snprintf((char *)c->buf, c->cap,
				  "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
				  "Content-Length: %zu\r\nConnection: close\r\n\r\nhello from %s\n",
				  strlen(s->name) + 12, s->name);
	c->off = 0;
	c->out_done = true;
}

static void server_on_eof(struct server *s, struct sconn *c)
{
	c->rd_eof = true;
	if (s->mode == S_ECHO) {
		c->out_done = true;
	} else if (s->mode == S_SINK_SEND) {
		c->gen_on = true;
	} else if (s->mode == S_SINK) {
		for (int i = 0; i < 8; i++)
			c->buf[i] = (uint8_t)(c->rx >> (56 - 8 * i));
		c->off = 0;
		c->len = 8;
		c->out_done = true;
	} else if (s->mode == S_HTTP && !c->out_done) {
		http_respond(s, c);
	}
}

static void server_read(struct server *s, struct sconn *c)
{
	for (int r = 0; r < 8 && c->fd >= 0 && !c->rd_eof; r++) {
		/* echo keeps its input in buf[off..len), http the request in buf[0..rx); the
		 * other modes only look at what they read */
		bool keep = (s->mode == S_ECHO || s->mode == S_HTTP) && !c->out_done;
		size_t lim = s->mode == S_HTTP ? HTTP_MAX_REQ : c->cap, have, bad;
		uint8_t *dst;
		ssize_t n;

		if (keep && s->mode == S_ECHO && c->len == c->cap && c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		have = s->mode == S_HTTP ? (size_t)c->rx : c->len;
		if (keep && have >= lim)
			return;
		dst = keep ? c->buf + have : g_scratch;
		if ((n = sconn_io(c, true, dst, keep ? lim - have : sizeof(g_scratch))) <= 0) {
			if (n == 0)
				server_on_eof(s, c);
			return;
		}
		if (s->mode == S_SINK_SEND &&
		    (bad = pattern_check(s->seed, c->rx, dst, (size_t)n)) < (size_t)n) {
			msg("server conn %" PRIu64 ": data mismatch at offset %" PRIu64
			    ": expected 0x%02x, got 0x%02x; resetting",
			    c->id, c->rx + bad, pattern_byte(s->seed, c->rx + bad), dst[bad]);
			sconn_close(c, true);
			return;
		}
		c->rx += (uint64_t)n;
		if (keep && s->mode == S_ECHO)
			c->len += (size_t)n;
		if (keep && s->mode == S_HTTP &&
		    (memmem(c->buf, (size_t)c->rx, "\r\n\r\n", 4) || c->rx >= HTTP_MAX_REQ))
			http_respond(s, c);
	}
}

static void server_write(struct server *s, struct sconn *c)
{
	for (int w = 0; w < 8; w++) {
		ssize_t n;

		if (c->off == c->len) {
			size_t k =
				s->bytes - c->gen < c->cap ? (size_t)(s->bytes - c->gen) : c->cap;

			if (!c->gen_on || k == 0)
				break;
			if (s->mode != S_SOURCE || c->gen == 0) /* source: filled once */
				pattern_fill(s->mode == S_SINK_SEND ? s->seed + 1 : s->seed,
					     s->mode == S_SOURCE ? 0 : c->gen, c->buf,
					     s->mode == S_SOURCE ? c->cap : k);
			c->gen += k;
			c->off = 0;
			c->len = k;
		}
		if ((n = sconn_io(c, false, c->buf + c->off, c->len - c->off)) < 0)
			return;
		c->off += (size_t)n;
	}
}

/* After all output is flushed: close if the client has finished too, else shut down writing
 * and discard input until its EOF (closing with unread input would reset the connection). */
static void server_progress(struct server *s, struct sconn *c)
{
	if (c->fd < 0)
		return;
	if (s->mode == S_ECHO && c->off == c->len)
		c->off = c->len = 0;
	if (c->gen_on && c->gen == s->bytes)
		c->out_done = true;
	if (!c->out_done || c->off != c->len)
		return;
	if (c->rd_eof) {
		shutdown(c->fd, SHUT_WR);
		sconn_close(c, false);
	} else if (!c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
}

static void server_accept(struct server *s, int lfd, int family, uint64_t *pause_until)
{
	for (int k = 0; k < 1024; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		size_t cap = s->mode == S_ECHO	 ? ECHO_BUF_SIZE
			     : s->mode == S_HTTP ? HTTP_MAX_REQ + 512
			     : s->mode == S_SINK ? 8
						 : GEN_BUF_SIZE;
		struct sconn *c;

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				msg("accept: %s", strerror(errno));
				*pause_until = now_ns() + 100000000u; /* e.g. out of fds */
			}
			return;
		}
		tune_socket(fd, family);
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 64;
			s->conns = realloc(s->conns, s->cap * sizeof(*s->conns));
			s->pfds = realloc(s->pfds, (s->cap + 1) * sizeof(*s->pfds));
		}
		/* malloc, not calloc: touching all of a 256 KiB buffer per connection is slow */
		if (!s->conns || !s->pfds || !(c = malloc(sizeof(*c) + cap)))
			fail("out of memory");
		*c = (struct sconn){.fd = fd,
				    .id = s->next_id++,
				    .cap = cap,
				    .gen_on = s->mode == S_SEND || s->mode == S_SOURCE};
		s->conns[s->n++] = c;
		server_progress(s, c); /* send mode with --bytes 0 */
	}
}

static int server_main(int argc, char **argv)
{
	struct opts o;
	struct server s = {0};
	struct endpoint ep;
	struct stat st;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	uint64_t pause_until = 0;
	int lfd, one = 1;
	char portbuf[32] = "0\n";

	parse_opts(argc, argv, FOR_SERVER, &o);
	for (s.mode = 0; s.mode < S_NMODES && strcmp(o.mode, server_modes[s.mode]); s.mode++)
		;
	if (s.mode == S_NMODES)
		usage_error("unknown server mode '%s'", o.mode);
	if (!o.port_file)
		usage_error("server needs --port-file FILE");
	if (strlen(o.name) > 200)
		usage_error("--name is too long");
	s.bytes = o.bytes;
	s.seed = o.seed;
	s.name = o.name;
	resolve(o.addr, true, &ep);

	if (s.mode == S_UDP_SILENT) {
		/* A UDP port that takes what comes and never answers: a name server gone mute. */
		if ((lfd = socket(ep.family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
		    bind(lfd, (struct sockaddr *)&ep.ss, ep.len) < 0 ||
		    getsockname(lfd, (struct sockaddr *)&ss, &sslen) < 0)
			fail("udp %s: %s", o.addr, strerror(errno));
		snprintf(portbuf, sizeof(portbuf), "%u\n",
			 ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port));
		install_stop_handlers();
		write_file_atomic(o.port_file, portbuf);
		while (!g_stop)
			usleep(SIGNAL_POLL_MS * 1000);
		close(lfd);
		return 0;
	}
	if ((lfd = socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		fail("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ep.unix_path && lstat(ep.unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(ep.unix_path); /* left over from an earlier run */
	if (bind(lfd, (struct sockaddr *)&ep.ss, ep.len) < 0)
		fail("bind %s: %s", o.addr, strerror(errno));
	if (listen(lfd, s.mode == S_BLACKHOLE ? 0 : (int)o.backlog) < 0)
		fail("listen %s: %s", o.addr, strerror(errno));
	if (ep.family != AF_UNIX) {
		if (getsockname(lfd, (struct sockaddr *)&ss, &sslen) < 0)
			fail("getsockname: %s", strerror(errno));
		snprintf(portbuf, sizeof(portbuf), "%u\n",
			 ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port));
	}
	install_stop_handlers();
	if (s.mode == S_BLACKHOLE) {
		/* Fill the queue (backlog 0 takes one); the rest of our own connects hang too. */
		int fill[4];
		if (ep.family == AF_UNIX)
			usage_error("blackhole needs a TCP address");
		memcpy(&ep.ss, &ss, sslen);
		for (int i = 0; i < 4; i++) {
			fill[i] = socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			(void)connect(fill[i], (struct sockaddr *)&ss, sslen);
		}
		usleep(100000);
		write_file_atomic(o.port_file, portbuf);
		while (!g_stop)
			usleep(SIGNAL_POLL_MS * 1000);
		for (int i = 0; i < 4; i++)
			close(fill[i]);
		close(lfd);
		return 0;
	}
	write_file_atomic(o.port_file, portbuf);

	if (!(s.pfds = calloc(1, sizeof(*s.pfds))))
		fail("out of memory");
	while (!g_stop) {
		size_t n = s.n, k, j;
		bool listening = now_ns() >= pause_until;

		s.pfds[0] = (struct pollfd){.fd = listening ? lfd : -1, .events = POLLIN};
		for (k = 0; k < n; k++) {
			struct sconn *c = s.conns[k];
			short ev = 0;

			/* echo: stop reading while the buffer is full */
			if (!c->rd_eof && (s.mode != S_ECHO || c->len < c->cap || c->off > 0))
				ev |= POLLIN;
			if (c->off < c->len || (c->gen_on && c->gen < s.bytes))
				ev |= POLLOUT;
			s.pfds[k + 1] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		if (xpoll(s.pfds, n + 1, listening ? SIGNAL_POLL_MS : 100) <= 0)
			continue;
		for (k = 0; k < n; k++) {
			struct sconn *c = s.conns[k];
			short re = s.pfds[k + 1].revents, ev = s.pfds[k + 1].events;

			if ((re & (POLLIN | POLLERR | POLLHUP)) && (ev & POLLIN))
				server_read(&s, c);
			if (c->fd >= 0 && (re & (POLLOUT | POLLERR | POLLHUP)) && (ev & POLLOUT))
				server_write(&s, c);
			server_progress(&s, c);
		}
		if (s.pfds[0].revents & POLLIN)
			server_accept(&s, lfd, ep.family, &pause_until);
		for (k = 0, j = 0; k < s.n; k++) {
			if (s.conns[k]->fd >= 0)
				s.conns[j++] = s.conns[k];
			else
				free(s.conns[k]);
		}
		s.n = j;
	}
	for (size_t k = 0; k < s.n; k++) {
		close(s.conns[k]->fd);
		free(s.conns[k]);
	}
	free(s.conns);
	free(s.pfds);
	close(lfd);
	if (ep.unix_path)
		unlink(ep.unix_path);
	return 0;
}

/* ---- client ---- */

/*
 * Every client mode runs C streams through one poll loop. Stream i sends tx_bytes of
 * pattern(tx_seed + i) while reading and verifying rx_bytes of pattern(rx_seed + i).
 */
struct plan {
	long conns;
	uint64_t tx_bytes, rx_bytes, tx_seed, rx_seed;
	uint64_t window;      /* rr: send at most one request ahead of what came back */
	uint64_t rate;	      /* slow-read: read at most this many bytes per second */
	bool no_check;	      /* drain: count what arrives, do not check it */
	uint64_t recycle_ns;  /* connect: reopen finished streams during this time */
	bool shut_after_send; /* shutdown(SHUT_WR) once everything is sent */
	bool wait_eof;	      /* finished at EOF (else as soon as rx_bytes arrived) */
	bool fixed_tx;	      /* bulk: resend one pre-filled buffer */
	bool count_reply;     /* bulk: the reply is tx_bytes as 8 bytes big-endian */
	bool hold;	      /* hold: keep finished streams open until a signal */
	const char *ready_file;
	uint64_t *lat;	    /* rr: latency of each round trip in ns */
	uint64_t completed; /* out: finished streams (connect counts reopened ones too) */
};

struct stream {
	int fd;
	bool connected, confirmed, shut, eof, done;
	uint64_t sent, gen, recvd, t_req;
	size_t off, len, bufsz;
	uint8_t *txbuf;
	uint8_t head[8];
};

static void stream_open(const struct endpoint *ep, const struct plan *pl, struct stream *st, long i)
{
	*st = (struct stream){.txbuf = st->txbuf, .bufsz = st->bufsz, .t_req = now_ns()};
	if (!st->txbuf && pl->tx_bytes) {
		st->bufsz = pl->fixed_tx ? SCRATCH_SIZE : pl->conns <= 256 ? GEN_BUF_SIZE : 4096;
		if (st->bufsz > pl->tx_bytes)
			st->bufsz = (size_t)pl->tx_bytes;
		if (!(st->txbuf = malloc(st->bufsz)))
			fail("out of memory");
		if (pl->fixed_tx)
			pattern_fill(pl->tx_seed, 0, st->txbuf, st->bufsz);
	}
	st->fd = connect_start(ep, i, &st->connected, false);
}

/* How far the stream may send now. */
static uint64_t tx_limit(const struct plan *pl, const struct stream *st)
{
	uint64_t lim;

	if (!pl->window)
		return pl->tx_bytes;
	lim = st->recvd - st->recvd % pl->window + pl->window;
	return lim < pl->tx_bytes ? lim : pl->tx_bytes;
}

static bool want_write(const struct plan *pl, const struct stream *st)
{
	return st->off < st->len || st->gen < tx_limit(pl, st);
}

static void stream_read(struct plan *pl, struct stream *st, long i, double *tokens)
{
	for (int r = 0; r < 64 && !st->eof; r++) {
		size_t want = sizeof(g_scratch), bad;
		uint64_t seed = pl->rx_seed + (uint64_t)i, count = 0;
		int err;
		ssize_t n;

		if (pl->rate &&
		    (want = *tokens < RATE_READ_MAX ? (size_t)*tokens : RATE_READ_MAX) == 0)
			return;
		if ((n = sock_io(st->fd, true, g_scratch, want, &err)) < 0 && err)
			fail("conn %ld: recv: %s", i, strerror(err));
		if (n < 0)
			return;
		if (n == 0 && pl->hold)
			fail("conn %ld: closed by the peer while held open", i);
		if (n == 0 && st->recvd != pl->rx_bytes)
			fail("conn %ld: premature EOF after %" PRIu64 " of %" PRIu64
			     " bytes received",
			     i, st->recvd, pl->rx_bytes);
		if (n == 0) {
			st->eof = true;
			return;
		}
		if ((uint64_t)n > pl->rx_bytes - st->recvd)
			fail("conn %ld: received more than the expected %" PRIu64 " bytes", i,
			     pl->rx_bytes);
		if (pl->count_reply)
			memcpy(st->head + st->recvd, g_scratch, (size_t)n);
		else if (!pl->no_check &&
			 (bad = pattern_check(seed, st->recvd, g_scratch, (size_t)n)) < (size_t)n)
			fail("conn %ld: data mismatch at offset %" PRIu64
			     ": expected 0x%02x, got 0x%02x",
			     i, st->recvd + bad, pattern_byte(seed, st->recvd + bad),
			     g_scratch[bad]);
		st->recvd += (uint64_t)n;
		for (int k = 0; pl->count_reply && st->recvd == 8 && k < 8; k++)
			count = count << 8 | st->head[k];
		if (pl->count_reply && st->recvd == 8 && count != pl->tx_bytes)
			fail("conn %ld: the sink counted %" PRIu64 " bytes, %" PRIu64 " were sent",
			     i, count, pl->tx_bytes);
		if (pl->rate)
			*tokens -= (double)n;
		if (pl->lat && st->recvd % pl->window == 0) {
			uint64_t now = now_ns();

			pl->lat[st->recvd / pl->window - 1] = now - st->t_req;
			st->t_req = now;
		}
	}
}

static void stream_write(const struct plan *pl, struct stream *st, long i)
{
	for (int w = 0; w < 8; w++) {
		uint64_t lim = tx_limit(pl, st);
		int err;
		ssize_t n;

		if (st->off == st->len) {
			size_t k = lim - st->gen < st->bufsz ? (size_t)(lim - st->gen) : st->bufsz;

			if (k == 0)
				return;
			if (!pl->fixed_tx)
				pattern_fill(pl->tx_seed + (uint64_t)i, st->gen, st->txbuf, k);
			st->gen += k;
			st->off = 0;
			st->len = k;
		}
		n = sock_io(st->fd, false, st->txbuf + st->off, st->len - st->off, &err);
		if (n < 0 && err)
			fail("conn %ld: send: %s", i, strerror(err));
		if (n < 0)
			return;
		st->off += (size_t)n;
		st->sent += (uint64_t)n;
	}
}

static bool stream_finished(const struct plan *pl, const struct stream *st)
{
	if (st->sent != pl->tx_bytes)
		return false;
	if (pl->wait_eof)
		return st->eof && (st->shut || !pl->shut_after_send);
	return st->recvd == pl->rx_bytes;
}

/* Token bucket: -1 if a small read's worth of tokens is there, else the ms to wait for it.
 * Up to 20 ms of tokens are kept so that ms-granular poll timeouts still reach the rate. */
static int rate_wait_ms(const struct plan *pl, double *tokens, uint64_t *last)
{
	double rate = (double)pl->rate, need = rate / 20, burst = rate / 50;
	uint64_t now = now_ns();

	need = need > RATE_READ_MAX ? RATE_READ_MAX : need < 1 ? 1 : need;
	burst = burst < need ? need : burst;
	*tokens += (double)(now - *last) * 1e-9 * rate;
	*tokens = *tokens > burst ? burst : *tokens;
	*last = now;
	return *tokens >= need ? -1 : (int)((need - *tokens) * 1000 / rate) + 1;
}

/* Runs the plan to completion; returns the elapsed seconds. */
static double run_streams(const struct endpoint *ep, struct plan *pl)
{
	long n = pl->conns, done = 0, opened = 0, unconfirmed = 0, i;
	struct stream *sts = calloc((size_t)n, sizeof(*sts));
	struct pollfd *pfds = calloc((size_t)n, sizeof(*pfds));
	long *map = calloc((size_t)n, sizeof(*map));
	uint64_t t0 = now_ns(), last = t0;
	double tokens = 0;
	bool ready = false;

	if (!sts || !pfds || !map)
		fail("out of memory");
	if (pl->hold)
		install_stop_handlers();
	while (done < n || pl->hold) {
		int cap = pl->rate ? rate_wait_ms(pl, &tokens, &last) : -1, np = 0, t;
		uint64_t now = now_ns();

		/* Open connections gradually: those not accepted yet are among the unconfirmed
		 * ones, so the listener's backlog never overflows (that would cost 1 s SYN
		 * retransmits). */
		for (; opened < n && unconfirmed < MAX_UNCONFIRMED; opened++, unconfirmed++)
			stream_open(ep, pl, &sts[opened], opened);

		if (pl->hold && g_stop && !ready)
			fail("interrupted with %ld of %ld connections ready", done, n);
		if (pl->hold && g_stop)
			break;
		if (pl->hold && done == n && !ready) {
			if (pl->ready_file)
				write_file_atomic(pl->ready_file, "ready\n");
			printf("hold: %ld connections open\n", n);
			fflush(stdout);
			ready = true;
		}
		for (i = 0; i < opened; i++) {
			struct stream *st = &sts[i];
			short ev = st->connected ? 0 : POLLOUT;

			if (st->done && !pl->hold)
				continue;
			if (st->connected && pl->shut_after_send && !st->shut &&
			    st->sent == pl->tx_bytes) {
				if (shutdown(st->fd, SHUT_WR) < 0)
					fail("conn %ld: shutdown: %s", i, strerror(errno));
				st->shut = true;
			}
			if (st->connected && !st->eof && cap < 0)
				ev |= POLLIN;
			if (st->connected && want_write(pl, st))
				ev |= POLLOUT;
			if (!ev)
				continue; /* throttled: not even POLLHUP is wanted now */
			pfds[np] = (struct pollfd){.fd = st->fd, .events = ev};
			map[np++] = i;
		}
		if (pl->hold)
			cap = SIGNAL_POLL_MS;
		else if (now < t0 + pl->recycle_ns)
			cap = (int)((t0 + pl->recycle_ns - now) / 1000000) + 1;
		if ((t = deadline_ms(cap)) < 0 && ready)
			break;
		if (t < 0) {
			for (i = 0; i < n - 1 && sts[i].done; i++)
				;
			fail("timeout after %.1f s: %ld of %ld connections done; conn %ld sent "
			     "%" PRIu64 " of %" PRIu64 " bytes, received %" PRIu64 " of %" PRIu64,
			     g_timeout_s, done, n, i, sts[i].sent, pl->tx_bytes, sts[i].recvd,
			     pl->rx_bytes);
		}
		if (xpoll(pfds, (nfds_t)np, t) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			short re = pfds[k].revents;
			struct stream *st = &sts[map[k]];

			i = map[k];
			if (!re)
				continue;
			if (!st->connected) {
				connect_finish(st->fd, ep, i);
				st->connected = true;
				st->t_req = now_ns();
			}
			if ((re & (POLLIN | POLLERR | POLLHUP)) && (pfds[k].events & POLLIN))
				stream_read(pl, st, i, &tokens);
			/* rr: a complete response opens the window, send the next request now */
			if (want_write(pl, st) &&
			    ((re & (POLLOUT | POLLERR | POLLHUP)) || pl->window))
				stream_write(pl, st, i);
			if (!st->confirmed && (st->recvd || st->eof)) {
				st->confirmed = true;
				unconfirmed--;
			}
			if (st->done || !stream_finished(pl, st))
				continue;
			pl->completed++;
			if (!pl->hold) {
				close(st->fd);
				if (now_ns() < t0 + pl->recycle_ns) {
					stream_open(ep, pl, st, i);
					unconfirmed++;
					continue;
				}
			}
			st->done = true;
			done++;
		}
	}
	for (i = 0; i < opened; i++) {
		if (pl->hold)
			close(sts[i].fd);
		free(sts[i].txbuf);
	}
	free(sts);
	free(pfds);
	free(map);
	return (double)(now_ns() - t0) * 1e-9;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p of n sorted ns values, in us. */
static uint64_t percentile_us(const uint64_t *sorted, uint64_t n, unsigned p)
{
	uint64_t rank = (n * p + 99) / 100;

	return (sorted[rank ? rank - 1 : 0] + 500) / 1000;
}

/* ---- flood: C connections at once, each sending 1 byte; classify them, then hold ---- */

enum { F_PENDING, F_SERVED, F_CLOSED, F_HUNG };

struct fconn {
	int fd, cls;
	bool sent;
	uint64_t t0; /* just before connect() */
};

static void flood_closed(struct fconn *f, uint64_t *slowest)
{
	uint64_t t = now_ns() - f->t0;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->cls = F_CLOSED;
	*slowest = t > *slowest ? t : *slowest;
}

static void run_flood(const struct endpoint *ep, long n, double timeout, double duration,
		      const char *ready_file)
{
	struct fconn *fs = calloc((size_t)n, sizeof(*fs));
	struct pollfd *pfds = calloc((size_t)n, sizeof(*pfds));
	long *map = calloc((size_t)n, sizeof(*map)), cnt[4] = {0}, dropped = 0, i;
	uint64_t tmo = (uint64_t)(timeout * 1e9), slowest = 0, now, end;
	bool connected;
	char x = 'x';

	if (!fs || !pfds || !map)
		fail("out of memory");
	for (i = 0; i < n; i++) {
		fs[i].t0 = now_ns();
		if ((fs[i].fd = connect_start(ep, i, &connected, true)) < 0)
			flood_closed(&fs[i], &slowest);
	}
	for (;;) {
		uint64_t first = UINT64_MAX;
		int np = 0;

		now = now_ns();
		for (i = 0; i < n; i++) {
			struct fconn *f = &fs[i];

			if (f->cls == F_PENDING && now >= f->t0 + tmo)
				f->cls = F_HUNG; /* left open until the end */
			if (f->cls != F_PENDING)
				continue;
			first = f->t0 + tmo < first ? f->t0 + tmo : first;
			pfds[np] = (struct pollfd){f->fd, f->sent ? POLLIN : POLLOUT, 0};
			map[np++] = i;
		}
		if (np == 0)
			break;
		if (xpoll(pfds, (nfds_t)np, (int)((first - now + 999999) / 1000000)) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			struct fconn *f = &fs[map[k]];
			socklen_t len = sizeof(int);
			int err = 0;
			ssize_t r;

			if (!pfds[k].revents)
				continue;
			if (!f->sent) { /* connect finished: send the byte */
				if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
				if (!err && sock_io(f->fd, false, &x, 1, &err) == 1)
					f->sent = true;
			} else if ((r = sock_io(f->fd, true, g_scratch, 1, &err)) > 0) {
				f->cls = F_SERVED;
			} else if (r == 0) {
				err = ECONNRESET; /* EOF: closed all the same */
			}
			if (err)
				flood_closed(f, &slowest);
		}
	}
	if (ready_file)
		write_file_atomic(ready_file, "ready\n");
	for (end = now_ns() + (uint64_t)(duration * 1e9); (now = now_ns()) < end;) {
		int np = 0;

		for (i = 0; i < n; i++) {
			if (fs[i].cls != F_SERVED || fs[i].fd < 0)
				continue;
			pfds[np] = (struct pollfd){.fd = fs[i].fd, .events = POLLIN};
			map[np++] = i;
		}
		if (xpoll(pfds, (nfds_t)np, (int)((end - now + 999999) / 1000000)) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			struct fconn *f = &fs[map[k]];
			int err;

			if (pfds[k].revents &&
			    (sock_io(f->fd, true, g_scratch, SCRATCH_SIZE, &err) == 0 || err)) {
				close(f->fd); /* still counted as served */
				f->fd = -1;
				dropped++;
			}
		}
	}
	for (i = 0; i < n; i++) {
		cnt[fs[i].cls]++;
		if (fs[i].fd >= 0)
			close(fs[i].fd);
	}
	printf("flood: %ld connections, %ld served, %ld closed, %ld hung, %ld dropped, slowest "
	       "close %" PRIu64 " ms\n",
	       n, cnt[F_SERVED], cnt[F_CLOSED], cnt[F_HUNG], dropped, (slowest + 500000) / 1000000);
	free(fs);
	free(pfds);
	free(map);
}

static const char *const client_modes[] = {"echo",    "half-close", "slow-read", "drain", "rr",
					   "connect", "bulk",	    "hold",	 "flood"};
enum cmode {
	C_ECHO,
	C_HALF_CLOSE,
	C_SLOW_READ,
	C_DRAIN,
	C_RR,
	C_CONNECT,
	C_BULK,
	C_HOLD,
	C_FLOOD,
	C_N
};

static int client_main(int argc, char **argv)
{
	struct opts o;
	struct endpoint ep;
	struct plan pl = {0};
	enum cmode m;
	uint64_t expect;
	double secs;

	parse_opts(argc, argv, FOR_CLIENT, &o);
	for (m = 0; m < C_N && strcmp(o.mode, client_modes[m]); m++)
		;
	if (m == C_N)
		usage_error("unknown client mode '%s'", o.mode);
	if (o.conns && m != C_ECHO && m != C_CONNECT && m != C_HOLD && m != C_FLOOD)
		usage_error("--connections applies to echo, connect, hold and flood only");
	if (!o.conns && m == C_FLOOD)
		usage_error("flood needs --connections C");
	if (o.conns > 1000000 || o.rate == 0 || o.requests == 0 || o.requests > 100000000 ||
	    o.size == 0 || o.size > (64u << 20))
		usage_error("--connections, --rate, --requests or --size out of range");
	if (!o.timeout)
		o.timeout = m == C_FLOOD ? 10 : 60;
	if (!o.duration && m != C_FLOOD)
		o.duration = 3;
	g_timeout_s = o.timeout;
	g_deadline_ns = now_ns() + (uint64_t)(o.timeout * 1e9);
	expect = o.expect == UINT64_MAX ? o.bytes : o.expect;
	resolve(o.addr, false, &ep);
	pl.conns = o.conns ? (long)o.conns : m == C_CONNECT ? 16 : 1;
	pl.tx_seed = pl.rx_seed = o.seed;
	pl.shut_after_send = pl.wait_eof = o.shutdown != 0;
	switch (m) {
	case C_ECHO:
		pl.tx_bytes = pl.rx_bytes = o.bytes;
		secs = run_streams(&ep, &pl);
		printf("echo ok: %ld connections, %" PRIu64 " bytes each way, %.1f MB/s\n",
		       pl.conns, o.bytes, (double)o.bytes * (double)pl.conns / 1e6 / secs);
		break;
	case C_HALF_CLOSE:
		pl.tx_bytes = o.bytes;
		pl.rx_bytes = expect;
		pl.rx_seed = o.seed + 1;
		run_streams(&ep, &pl);
		printf("half-close ok: sent %" PRIu64 ", received %" PRIu64 "\n", o.bytes, expect);
		break;
	case C_SLOW_READ:
		pl.rx_bytes = expect;
		pl.rate = o.rate;
		pl.shut_after_send = false;
		run_streams(&ep, &pl);
		printf("slow-read ok: %" PRIu64 " bytes\n", expect);
		break;
	case C_DRAIN:
		pl.rx_bytes = expect;
		pl.rate = 0; /* no limit */
		pl.no_check = true;
		pl.shut_after_send = false;
		secs = run_streams(&ep, &pl);
		printf("drain: %" PRIu64 " bytes in %.2f s, %.1f MB/s\n", expect, secs,
		       (double)expect / secs / 1e6);
		break;
	case C_RR:
		pl.tx_bytes = pl.rx_bytes = o.requests * o.size;
		pl.window = o.size;
		if (!(pl.lat = malloc(o.requests * sizeof(*pl.lat))))
			fail("out of memory");
		run_streams(&ep, &pl);
		qsort(pl.lat, o.requests, sizeof(*pl.lat), cmp_u64);
		printf("rr: %" PRIu64 " requests, p50 %" PRIu64 " us, p99 %" PRIu64
		       " us, max %" PRIu64 " us\n",
		       o.requests, percentile_us(pl.lat, o.requests, 50),
		       percentile_us(pl.lat, o.requests, 99), pl.lat[o.requests - 1] / 1000);
		free(pl.lat);
		break;
	case C_FLOOD:
		run_flood(&ep, pl.conns, o.timeout, o.duration, o.ready_file);
		break;
	case C_CONNECT:
	case C_HOLD:
		pl.tx_bytes = pl.rx_bytes = 1;
		pl.shut_after_send = pl.wait_eof = false;
		pl.recycle_ns = m == C_CONNECT ? (uint64_t)(o.duration * 1e9) : 0;
		pl.hold = m == C_HOLD;
		pl.ready_file = o.ready_file;
		secs = run_streams(&ep, &pl);
		if (m == C_CONNECT)
			printf("connect: %" PRIu64 " connections in %.2f s, %.1f conn/s\n",
			       pl.completed, secs, (double)pl.completed / secs);
		break;
	default: /* bulk */
		pl.tx_bytes = o.bytes;
		pl.rx_bytes = 8;
		pl.fixed_tx = pl.count_reply = true;
		secs = run_streams(&ep, &pl);
		printf("bulk: %" PRIu64 " bytes in %.2f s, %.1f MB/s\n", o.bytes, secs,
		       (double)o.bytes / 1e6 / secs);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	if (argc < 2)
		usage_error("missing command (server or client)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!strcmp(argv[1], "server"))
		return server_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return client_main(argc - 1, argv + 1);
	usage_error("unknown command '%s' (expected server or client)", argv[1]);
}
