/*
 * The numbers weir reports, rendered as Prometheus text (GET /metrics) or JSON (GET /stats)
 * a chunk at a time: a cursor remembers where the document is, so a scrape of tens of
 * thousands of servers never holds up the loop for long or needs the whole document in
 * memory. The cursor pins the generation it walks (a reload meanwhile cannot free it).
 *
 * Names are escaped for each format: JSON strings as \uXXXX for control and non-ASCII bytes,
 * Prometheus label values with \\, \" and \n, and non-ASCII bytes as the UTF-8 of U+0080 to
 * U+00FF, so the output is valid whatever bytes a name (a unix socket path) holds. Runs
 * on the control loop; what workers count is read with shared_load and summed.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct proxy;
struct generation;

enum metrics_format {
	METRICS_PROMETHEUS,
	METRICS_JSON,
};

struct metrics_cursor {
	enum metrics_format format;
	struct generation *gen; /* pinned while the cursor lives */
	unsigned section;
	size_t a, b, c; /* positions within the section */
	bool done;
	bool admin; /* JSON: say that this endpoint takes commands (POST /admin) */
};

/* Start a document of the current configuration, every worker's counts summed. */
void metrics_begin(struct metrics_cursor *cur, struct proxy *p, enum metrics_format format);
/*
 * Append the next part of the document to buf (at most `cap` bytes, at least a few KiB) and
 * return how many bytes were written; 0 once the document is complete.
 */
size_t metrics_render(struct metrics_cursor *cur, struct proxy *p, char *buf, size_t cap);
/* Unpin the generation (every cursor begun must end, complete or not). */
void metrics_end(struct metrics_cursor *cur, struct proxy *p);

/* One line for the log (SIGUSR1). */
void metrics_summary(const struct proxy *p, char *buf, size_t len);

/* Escape `s` as a JSON string body or a Prometheus label value into buf; returns buf. */
const char *metrics_escape(const char *s, enum metrics_format format, char *buf, size_t len);

#endif
