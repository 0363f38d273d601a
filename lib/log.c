#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

static int log_fd = 2;
static enum wlog_level log_level = WLOG_INFO;

void log_init(int fd, enum wlog_level level)
{
	log_fd = fd;
	log_level = level;
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

/*
 * The line is built on the stack and written with one write(2): lines from several threads
 * never interleave, and logging works even when the descriptor table is full.
 */
void log_msg(enum wlog_level level, const char *fmt, ...)
{
	char line[1024];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if (!log_enabled(level))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s: ", (long)(tv.tv_usec / 1000),
		     level_names[level]);
	n += (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	while (write(log_fd, line, n) < 0 && errno == EINTR)
		;
}
