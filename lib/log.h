/*
 * One line per event on a descriptor (stderr by default), text or JSON. Under journald
 * (JOURNAL_STREAM names that descriptor) lines carry a <N> priority prefix and no timestamp.
 *
 * Logging never blocks the proxy: a reader that stalls (journald throttled, a pipe nobody
 * drains, a terminal paused with Ctrl-S) gets what it can take, the rest waits in a bounded
 * queue flushed when the descriptor is writable, and beyond that lines are dropped, counted
 * (log_dropped_total) and reported in one line once the reader catches up. Lines are never
 * torn. Never allocates, and opens nothing after log_init: logging works with the
 * descriptor table full. Shared: any thread may log (one lock); what a stalled reader
 * leaves queued is flushed by the loop given to log_attach.
 */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "util.h"

enum wlog_level {
	WLOG_ERROR,
	WLOG_WARN,
	WLOG_INFO,
	WLOG_DEBUG,
};

enum wlog_format {
	WLOG_TEXT,
	WLOG_JSON, /* "event key=value ..." messages become JSON fields */
};

void log_init(int fd, enum wlog_level level, enum wlog_format format);
/* A new level and format (a reload), same descriptor. */
void log_configure(enum wlog_level level, enum wlog_format format);
/* Flush what a stalled reader left queued from `loop`, whenever the descriptor is writable. */
void log_attach(struct ev_loop *loop);
/* Stop flushing from the loop; give what is queued up to `wait` seconds, then drop it. */
void log_detach(double wait);
/*
 * From now on, lines this thread logs wait until its loop's iteration ends (log_flush, from
 * the loop's prepare watcher) and go out in one write: a busy loop that logs every
 * connection writes once per iteration, not once per line.
 */
void log_defer(bool on);
/* Write what deferring threads gathered (from a loop's prepare watcher). */
void log_flush(void);
/* Lines lost because the reader fell behind (or went away). */
uint64_t log_dropped_total(void);
bool log_enabled(enum wlog_level level);
void log_msg(enum wlog_level level, const char *fmt, ...) WEIR_PRINTF(2, 3);

/*
 * A line that could repeat once per client (a shortage of descriptors or local ports) is
 * written at most once a second, with the number of lines held back since.
 */
struct log_limit {
	double next;		 /* clock_mono() before which lines are held back */
	unsigned long long held; /* lines held back since the last one written */
};

void log_limited(struct log_limit *lim, enum wlog_level level, const char *fmt, ...)
	WEIR_PRINTF(3, 4);

const char *log_level_name(enum wlog_level level);
int log_level_parse(const char *name, enum wlog_level *level) WEIR_WUR;

/* Format `msg` as the JSON object log_msg writes (without time, level and newline), for tests. */
size_t log_json_fields(const char *msg, char *out, size_t size);

#endif
