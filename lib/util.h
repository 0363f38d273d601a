/* Small helpers shared by every module of libweir. */
#ifndef WEIR_UTIL_H
#define WEIR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define WEIR_WUR	       __attribute__((warn_unused_result))
#define WEIR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Recover the object that embeds `ptr` as its member `member`. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/*
 * Fields that more than one thread touches are plain types accessed only through these
 * (relaxed: each is a counter or a flag on its own, ordering nothing else). A counter that
 * one thread writes and others only read is bumped with counter_add, which needs no locked
 * instruction.
 */
#define shared_load(p)	   __atomic_load_n((p), __ATOMIC_RELAXED)
#define shared_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define shared_add(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define shared_sub(p, v)   __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define counter_add(p, v)  shared_store((p), shared_load(p) + (v))

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
/* The same in whole milliseconds (never 0: the clock counts from boot). */
uint64_t clock_mono_ms(void);

/*
 * Room for element `n` of an array of `size`-byte elements appended one at a time: the
 * array doubles when n reaches a power of two, so appending n elements copies O(n) bytes,
 * not O(n^2) (ASan's realloc always copies). Only for arrays grown from empty by this
 * alone. NULL if out of memory (`arr` is untouched then).
 */
void *grow_array(void *arr, size_t n, size_t size) WEIR_WUR;

/* strerror(error) starting in lower case, to read well inside a log sentence. */
const char *err_text(int error, char *buf, size_t len);

#endif
