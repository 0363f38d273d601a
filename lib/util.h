/* Small helpers shared by every module of libweir. */
#ifndef WEIR_UTIL_H
#define WEIR_UTIL_H

#include <stddef.h>

#define WEIR_WUR	       __attribute__((warn_unused_result))
#define WEIR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Recover the object that embeds `ptr` as its member `member`. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Error text for the caller: every fallible lib function that can explain itself takes one. */
struct weir_err {
	char msg[256];
};

void err_set(struct weir_err *err, const char *fmt, ...) WEIR_PRINTF(2, 3);

/*
 * Seconds on the monotonic clock. Every activity stamp, deadline and duration uses it:
 * libev's ev_now() follows the wall clock, and a clock step would expire every idle
 * connection at once (or none for an hour).
 */
double clock_mono(void);

/* strerror(error) starting in lower case, to read well inside a log sentence. */
const char *err_text(int error, char *buf, size_t len);

#endif
