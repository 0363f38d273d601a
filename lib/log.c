#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Bytes a reader may fall behind by before lines are dropped. */
#define LOG_QUEUE_MAX (128 * 1024)
/* Bytes of lines a loop's iteration gathers before writing them (log_defer). */
#define LOG_BATCH    (16 * 1024)
#define LOG_LINE_MAX 2048

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* syslog priorities of the levels, for journald's <N> prefixes. */
static const int level_priority[] = {3, 4, 6, 7};

/*
 * Shared by every thread that logs: `lock` guards the output and the queue. The loop that
 * flushes the queue is the one log_attach was given; other threads wake it (ev_async).
 */
static struct {
	pthread_mutex_t lock;
	enum wlog_level level;
	enum wlog_format format;
	bool journal;
	int fd;		/* where lines go: our own nonblocking description, or `given` */
	int given;	/* the descriptor log_init was given */
	bool is_socket; /* written with send(MSG_DONTWAIT) */
	char queue[LOG_QUEUE_MAX + LOG_LINE_MAX]; /* what the reader has not taken yet */
	size_t queued;
	uint64_t dropped, dropped_unsaid; /* lines lost; those not yet reported */
	struct ev_loop *loop;
	pthread_t loop_thread;
	ev_io writable;
	ev_async wake;
} lg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.level = WLOG_INFO,
	.fd = 2,
	.given = 2,
};

/* Whether `fd` is the stream systemd connected to the journal (JOURNAL_STREAM=dev:inode). */
static bool is_journal(int fd)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 && fstat(fd, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/*
 * A way to write to `fd` that never blocks. A pipe or terminal is opened again through
 * /proc, which gives weir a file description of its own to make nonblocking: setting
 * O_NONBLOCK on the inherited one would change it for the shell and every other process
 * sharing it. A socket (journald) takes MSG_DONTWAIT per send. A regular file never blocks.
 */
static void open_output(int fd)
{
	struct stat st;
	char path[40];
	int own;

	lg.given = lg.fd = fd;
	lg.is_socket = false;
	if (fstat(fd, &st) < 0)
		return;
	if (S_ISSOCK(st.st_mode)) {
		lg.is_socket = true;
		return;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_APPEND);
	if (own >= 0)
		lg.fd = own;
}

static void close_output(void)
{
	if (lg.fd != lg.given && lg.fd >= 0)
		close(lg.fd);
	lg.fd = lg.given;
}

void log_init(int fd, enum wlog_level level, enum wlog_format format)
{
	pthread_mutex_lock(&lg.lock);
	close_output();
	open_output(fd);
	shared_store(&lg.level, level);
	lg.format = format;
	lg.journal = is_journal(fd);
	lg.queued = 0;
	pthread_mutex_unlock(&lg.lock);
}

void log_configure(enum wlog_level level, enum wlog_format format)
{
	pthread_mutex_lock(&lg.lock);
	shared_store(&lg.level, level); /* log_enabled reads it unlocked */
	lg.format = format;
	pthread_mutex_unlock(&lg.lock);
}

bool log_enabled(enum wlog_level level)
{
	return level <= shared_load(&lg.level);
}

uint64_t log_dropped_total(void)
{
	uint64_t n;

	pthread_mutex_lock(&lg.lock);
	n = lg.dropped;
	pthread_mutex_unlock(&lg.lock);
	return n;
}

const char *log_level_name(enum wlog_level level)
{
	return level_names[level];
}

int log_level_parse(const char *name, enum wlog_level *level)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum wlog_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warn") == 0) {
		*level = WLOG_WARN;
		return 0;
	}
	return -EINVAL;
}

/* Append `len` bytes of `src` to out[*n..size) as a JSON string body. */
static void json_escape(const char *src, size_t len, char *out, size_t *n, size_t size)
{
	for (size_t i = 0; i < len && *n + 7 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '"' || c == '\\') {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)c;
		} else if (c < 0x20) {
			*n += (size_t)snprintf(out + *n, size - *n, "\\u%04x", c);
		} else {
			out[(*n)++] = (char)c;
		}
	}
}

static bool is_number(const char *p, size_t len)
{
	size_t i = 0, digits = 0;

	if (i < len && p[i] == '-')
		i++;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	if (i < len && p[i] == '.' && digits) {
		size_t frac = 0;
		for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			frac++;
		if (!frac)
			return false; /* "1." is not a JSON number */
	}
	/* JSON numbers have no leading zeros: "007" stays a string. */
	return digits && i == len &&
	       !(digits > 1 && p[p[0] == '-'] == '0' && p[(p[0] == '-') + 1] != '.');
}

/* Append `text` (len bytes) to the object: as "key": ... with the given key. */
static void json_field(const char *key, const char *val, size_t len, bool raw, char *out, size_t *n,
		       size_t size)
{
	*n += (size_t)snprintf(out + *n, size - *n, ",\"%s\":", key);
	if (*n >= size)
		return;
	if (raw && is_number(val, len)) {
		if (*n + len < size) {
			memcpy(out + *n, val, len);
			*n += len;
		}
		return;
	}
	out[(*n)++] = '"';
	json_escape(val, len, out, n, size);
	if (*n < size)
		out[(*n)++] = '"';
}

/*
 * "closed client=1.2.3.4:5 end=idle ..." becomes "event":"closed","client":"1.2.3.4:5",...
 * when every word after the first is key=value; any other message is "msg":"...".
 */
size_t log_json_fields(const char *msg, char *out, size_t size)
{
	size_t n = 0, first = strcspn(msg, " ");
	bool structured = first > 0 && !memchr(msg, '=', first);
	const char *p;

	for (p = msg + first; structured && *p;) {
		size_t w;
		p += strspn(p, " ");
		w = strcspn(p, " ");
		if (w && (!memchr(p, '=', w) || *p == '='))
			structured = false;
		p += w;
	}
	if (!structured) {
		json_field("msg", msg, strlen(msg), false, out, &n, size);
		goto out;
	}
	json_field("event", msg, first, false, out, &n, size);
	for (p = msg + first; *p && n < size;) {
		size_t w, k;
		char key[64];
		p += strspn(p, " ");
		w = strcspn(p, " ");
		if (!w)
			break;
		k = (size_t)((const char *)memchr(p, '=', w) - p);
		snprintf(key, sizeof(key), "%.*s", (int)k, p);
		json_field(key, p + k + 1, w - k - 1, true, out, &n, size);
		p += w;
	}
out:
	if (n >= size)
		n = size - 1;
	out[n] = '\0';
	return n;
}

/* One line, with time and level, in the configured format, ending in a newline. */
static size_t format_line(enum wlog_level level, const char *msg, char *line, size_t size)
{
	char stamp[40] = "";
	struct timeval tv;
	struct tm tm;
	size_t n = 0;

	if (lg.journal) {
		n = (size_t)snprintf(line, size, "<%d>", level_priority[level]);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
		n = 0;
	}
	if (lg.format == WLOG_JSON) {
		char fields[1536];
		size_t f = log_json_fields(msg, fields, sizeof(fields));
		n += (size_t)snprintf(line + n, size - n, "{");
		if (!lg.journal)
			n += (size_t)snprintf(line + n, size - n, "\"time\":\"%s\",", stamp);
		n += (size_t)snprintf(line + n, size - n, "\"level\":\"%s\"%.*s}",
				      level_names[level], (int)f, fields);
	} else if (lg.journal) {
		n += (size_t)snprintf(line + n, size - n, "%s", msg);
	} else {
		n += (size_t)snprintf(line + n, size - n, "%s %s: %s", stamp, level_names[level],
				      msg);
	}
	if (n > size - 2)
		n = size - 2;
	line[n++] = '\n';
	return n;
}

/* Write without blocking: the count written, 0 if the reader is full, -1 if it is gone. */
static ssize_t out_write(const char *p, size_t n)
{
	ssize_t w;

	do
		w = lg.is_socket ? send(lg.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
				 : write(lg.fd, p, n);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return w;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

static void arm_flush(void)
{
	if (!lg.loop)
		return;
	if (pthread_equal(pthread_self(), lg.loop_thread)) {
		if (!ev_is_active(&lg.writable))
			ev_io_start(lg.loop, &lg.writable);
	} else {
		ev_async_send(lg.loop, &lg.wake);
	}
}

static void emit_locked(const char *line, size_t n);

/* Write what is queued; once the reader has caught up, say how much was lost. */
static void flush_locked(void)
{
	while (lg.queued) {
		ssize_t w = out_write(lg.queue, lg.queued);
		if (w == 0)
			return;
		if (w < 0) {
			/* The reader is gone: nobody will read these. */
			lg.dropped += count_lines(lg.queue, lg.queued);
			lg.queued = 0;
			return;
		}
		memmove(lg.queue, lg.queue + w, lg.queued - (size_t)w);
		lg.queued -= (size_t)w;
	}
	if (lg.dropped_unsaid) {
		char msg[128], line[LOG_LINE_MAX];
		snprintf(msg, sizeof(msg), "%llu log lines dropped: the log reader fell behind",
			 (unsigned long long)lg.dropped_unsaid);
		lg.dropped_unsaid = 0;
		emit_locked(line, format_line(WLOG_WARN, msg, line, sizeof(line)));
	}
}

/* Whether this thread's lines wait for its loop's iteration to end (log_defer). */
static __thread bool deferring;

/*
 * Write a line now if the reader takes it and nothing is queued before it; else queue it,
 * or, with the queue full, drop it and count it. Never blocks, never tears a line. A thread
 * that defers queues its lines while they fit in a batch: log_flush writes them together.
 */
static void emit_locked(const char *line, size_t n)
{
	ssize_t w = 0;

	if (deferring && lg.queued + n <= LOG_BATCH) {
		memcpy(lg.queue + lg.queued, line, n);
		lg.queued += n;
		return;
	}
	if (lg.queued)
		flush_locked();
	if (!lg.queued) {
		w = out_write(line, n);
		if (w < 0) {
			lg.dropped++;
			return;
		}
		if ((size_t)w == n)
			return;
	}
	/* A partly written line always fits (the queue was empty); a whole one must. */
	if (w == 0 && lg.queued + n > LOG_QUEUE_MAX) {
		lg.dropped++;
		lg.dropped_unsaid++;
		return;
	}
	memcpy(lg.queue + lg.queued, line + w, n - (size_t)w);
	lg.queued += n - (size_t)w;
	arm_flush();
}

static void writable_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	pthread_mutex_lock(&lg.lock);
	flush_locked();
	if (!lg.queued)
		ev_io_stop(loop, io);
	pthread_mutex_unlock(&lg.lock);
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	pthread_mutex_lock(&lg.lock);
	if (lg.queued && !ev_is_active(&lg.writable))
		ev_io_start(loop, &lg.writable);
	pthread_mutex_unlock(&lg.lock);
}

void log_defer(bool on)
{
	deferring = on;
}

void log_flush(void)
{
	pthread_mutex_lock(&lg.lock);
	flush_locked();
	if (lg.queued)
		arm_flush(); /* the reader is slow: the control loop waits for it */
	pthread_mutex_unlock(&lg.lock);
}

void log_attach(struct ev_loop *loop)
{
	pthread_mutex_lock(&lg.lock);
	lg.loop = loop;
	lg.loop_thread = pthread_self();
	ev_io_init(&lg.writable, writable_cb, lg.fd, EV_WRITE);
	ev_async_init(&lg.wake, wake_cb);
	ev_async_start(loop, &lg.wake);
	if (lg.queued)
		ev_io_start(loop, &lg.writable);
	pthread_mutex_unlock(&lg.lock);
}

void log_detach(double wait)
{
	double until = clock_mono() + wait;

	pthread_mutex_lock(&lg.lock);
	if (lg.loop) {
		ev_io_stop(lg.loop, &lg.writable);
		ev_async_stop(lg.loop, &lg.wake);
		lg.loop = NULL;
	}
	/* What is still queued gets `wait` seconds to go; a reader that stalled loses it. */
	while (lg.queued && clock_mono() < until) {
		struct pollfd p = {.fd = lg.fd, .events = POLLOUT};
		int ms = (int)((until - clock_mono()) * 1e3) + 1;
		pthread_mutex_unlock(&lg.lock);
		(void)poll(&p, 1, ms);
		pthread_mutex_lock(&lg.lock);
		flush_locked();
	}
	if (lg.queued) {
		lg.dropped += count_lines(lg.queue, lg.queued);
		lg.queued = 0;
	}
	close_output();
	pthread_mutex_unlock(&lg.lock);
}

void log_msg(enum wlog_level level, const char *fmt, ...)
{
	char msg[1024], line[LOG_LINE_MAX];
	va_list ap;
	size_t n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lg.lock);
	n = format_line(level, msg, line, sizeof(line));
	emit_locked(line, n);
	pthread_mutex_unlock(&lg.lock);
}

void log_limited(struct log_limit *lim, enum wlog_level level, const char *fmt, ...)
{
	static pthread_mutex_t limits = PTHREAD_MUTEX_INITIALIZER; /* workers share limiters */
	double now = clock_mono();
	unsigned long long held;
	char msg[900];
	va_list ap;

	if (!log_enabled(level))
		return;
	pthread_mutex_lock(&limits);
	if (now < lim->next) {
		lim->held++;
		pthread_mutex_unlock(&limits);
		return;
	}
	lim->next = now + 1;
	held = lim->held;
	lim->held = 0;
	pthread_mutex_unlock(&limits);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held)
		log_msg(level, "%s (%llu more like it since the last such line)", msg, held);
	else
		log_msg(level, "%s", msg);
}
