#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* syslog priorities of the levels, for journald's <N> prefixes. */
static const int level_priority[] = {3, 4, 6, 7};

static int log_fd = 2;
static enum wlog_level log_level = WLOG_INFO;
static enum wlog_format log_format = WLOG_TEXT;
static bool log_journal;

/* Whether `fd` is the stream systemd connected to the journal (JOURNAL_STREAM=dev:inode). */
static bool is_journal(int fd)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 && fstat(fd, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int fd, enum wlog_level level, enum wlog_format format)
{
	log_fd = fd;
	log_level = level;
	log_format = format;
	log_journal = is_journal(fd);
}

void log_configure(enum wlog_level level, enum wlog_format format)
{
	log_level = level;
	log_format = format;
}

bool log_enabled(enum wlog_level level)
{
	return level <= log_level;
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

/*
 * The line is built on the stack and written with one write(2): lines from several threads
 * never interleave, and logging works even when the descriptor table is full.
 */
void log_msg(enum wlog_level level, const char *fmt, ...)
{
	char msg[1024], line[2048], stamp[40] = "";
	struct timeval tv;
	struct tm tm;
	size_t n = 0;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_journal) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", level_priority[level]);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
		n = 0;
	}
	if (log_format == WLOG_JSON) {
		char fields[1536];
		size_t f = log_json_fields(msg, fields, sizeof(fields));
		n += (size_t)snprintf(line + n, sizeof(line) - n, "{");
		if (!log_journal)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\"time\":\"%s\",",
					      stamp);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"level\":\"%s\"%.*s}",
				      level_names[level], (int)f, fields);
	} else if (log_journal) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s", msg);
	} else {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s: %s", stamp,
				      level_names[level], msg);
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	while (write(log_fd, line, n) < 0 && errno == EINTR)
		;
}

void log_limited(struct log_limit *lim, enum wlog_level level, const char *fmt, ...)
{
	double now = clock_mono();
	char msg[900];
	va_list ap;

	if (!log_enabled(level))
		return;
	if (now < lim->next) {
		lim->held++;
		return;
	}
	lim->next = now + 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lim->held)
		log_msg(level, "%s (%llu more like it since the last such line)", msg, lim->held);
	else
		log_msg(level, "%s", msg);
	lim->held = 0;
}
