/*
 * The stats endpoint: a small HTTP/1.0 server, meant for loopback or a unix socket (it has
 * no authentication; weir warns when it listens anywhere else). GET (or HEAD) /metrics
 * answers in Prometheus text format, /stats in JSON (see metrics.h). Answers are rendered
 * a chunk at a time as the socket drains, so a large one never holds up the loop.
 *
 * Clients cannot starve it: a request must arrive whole within STATS_REQUEST_TIMEOUT, and
 * when every slot is taken the oldest client still sending its request makes room. Runs on
 * the control loop.
 */
#ifndef WEIR_STATS_H
#define WEIR_STATS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Scrapers served at once; each holds a descriptor. */
#define STATS_MAX_CLIENTS 256
/* The longest request (request line and headers) read. */
#define STATS_REQUEST_MAX 4096
/* Seconds a client has to send its whole request. */
#define STATS_REQUEST_TIMEOUT 2.0

struct proxy;
struct stats_client;

struct stats {
	struct proxy *p;
	int fd;
	ev_io io;
	ev_timer backoff; /* accepting paused after a resource error */
	char name[128];
	bool unlink_path;	      /* a unix socket file this weir created */
	struct stats_client *clients; /* oldest first */
	size_t n_clients;
};

/* Listen on `spec` (loopback or unix:/path). */
int stats_open(struct stats *st, struct proxy *p, const char *spec, struct weir_err *err) WEIR_WUR;
void stats_close(struct stats *st);

enum stats_doc {
	STATS_DOC_NONE,
	STATS_DOC_METRICS, /* /metrics */
	STATS_DOC_JSON,	   /* /stats */
};

struct stats_request {
	int status; /* 200, or 400, 404, 405, 431 */
	bool head;  /* HEAD: the headers only */
	enum stats_doc doc;
};

/*
 * Parse what a client sent so far (`len` bytes, at most STATS_REQUEST_MAX are ever
 * offered). 0: not complete yet, read more. Otherwise the request is decided and `req`
 * says how to answer: a malformed one (a NUL byte, a bad request line or header) is 400 as
 * soon as it is seen, one longer than STATS_REQUEST_MAX is 431.
 */
int stats_parse_request(const char *buf, size_t len, struct stats_request *req) WEIR_WUR;

#endif
