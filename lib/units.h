/* Strict parsing of the numbers operators type: durations, sizes, counts. */
#ifndef WEIR_UNITS_H
#define WEIR_UNITS_H

#include <stdint.h>

#include "util.h"

/* "250ms", "5s", "10m", "1h", "1d" or bare seconds ("30") into milliseconds. */
int units_parse_duration(const char *text, uint64_t *ms) WEIR_WUR;

/* "65536", "64k", "1m", "1g" (powers of 1024) into bytes. */
int units_parse_size(const char *text, uint64_t *bytes) WEIR_WUR;

/* A plain decimal count, no sign, no suffix. */
int units_parse_uint(const char *text, uint64_t *value) WEIR_WUR;

/* Shortest exact rendering of a duration ("1500ms", "5s", "2m"), for summaries. */
void units_format_duration(uint64_t ms, char *buf, size_t len);

/* Shortest exact rendering of a size ("64k", "1m", "1000"). */
void units_format_size(uint64_t bytes, char *buf, size_t len);

#endif
