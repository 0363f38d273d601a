/*
 * The stats endpoint: a small HTTP/1.0 server, meant for loopback or a unix socket (it has
 * no authentication; weir warns when it listens anywhere else). GET (or HEAD) /metrics
 * answers in Prometheus text format, /stats in JSON (see metrics.h), / with the status
 * page (one self-contained HTML page that reads /stats). Answers are rendered a chunk at a
 * time as the socket drains, so a large one never holds up the loop.
 *
 * With admin on (the admin socket, or a stats listener given stats-admin), it also takes
 * the commands of ctl.h: as POST /admin with the command as the body (the status page's
 * buttons), or as a plain line ("show servers\n", what weir ctl sends), answered in plain
 * lines.
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
#include <stdint.h>

#include "util.h"

/*
 * Clients served at once by a stats or admin listener, each holding a descriptor: a 64th of
 * the descriptor limit, from 8 to 256, so that a low limit goes to connections first.
 */
size_t stats_max_clients(uint64_t nofile);
/* The longest request (request line and headers) read. */
#define STATS_REQUEST_MAX 4096
/* Seconds a client has to send its whole request. */
#define STATS_REQUEST_TIMEOUT 2.0

struct proxy;
struct reloader;
struct stats_client;

struct stats {
	struct proxy *p;
	struct reloader *r; /* for commands that change the configuration */
	bool admin;	    /* commands are taken */
	int fd;
	ev_io io;
	ev_timer backoff; /* accepting paused after a resource error */
	char name[128];
	bool unlink_path;	      /* a unix socket file this weir created */
	struct stats_client *clients; /* oldest first */
	size_t n_clients, max_clients;
};

/*
 * Listen on `spec` (loopback or unix:/path); with `admin`, take commands too (through `r`),
 * and make a unix socket file readable and writable by its owner only. `what` names it in
 * the log ("stats", "admin").
 */
int stats_open(struct stats *st, struct proxy *p, const char *spec, bool admin, struct reloader *r,
	       const char *what, struct weir_err *err) WEIR_WUR;

/* Whether stats_open could listen on `spec` as `what`, short of binding (weir -t): 0, or
 * -ENOENT or -EAGAIN (the name does not resolve, or not now), -EINVAL (admin not local). */
int stats_check(const char *spec, const char *what, struct weir_err *err) WEIR_WUR;

/* The status page. */
extern const char stats_status_page[];
void stats_close(struct stats *st);

enum stats_doc {
	STATS_DOC_NONE,
	STATS_DOC_METRICS, /* /metrics */
	STATS_DOC_JSON,	   /* /stats */
	STATS_DOC_PAGE,	   /* / */
	STATS_DOC_ADMIN,   /* POST /admin: a command in the body */
};

struct stats_request {
	int status; /* 200, or 400, 403, 404, 405, 411, 413, 431 */
	bool head;  /* HEAD: the headers only */
	enum stats_doc doc;
	size_t body, body_len; /* POST: where the body starts, and its length */
	bool cross_site;       /* 403: a POST a page of another site may have sent */
};

/*
 * Parse what a client sent so far (`len` bytes, at most STATS_REQUEST_MAX are ever
 * offered). 0: not complete yet, read more. Otherwise the request is decided and `req`
 * says how to answer: a malformed one (a NUL byte, a bad request line or header) is 400 as
 * soon as it is seen, one longer than STATS_REQUEST_MAX is 431. A POST (to /admin only)
 * needs a Content-Length (411 without) of a body that fits (413 if not), and is complete
 * once the body is in; one a browser may have sent for a page of another site (an Origin
 * that is not its Host, or a Host that is not loopback) is 403.
 */
int stats_parse_request(const char *buf, size_t len, struct stats_request *req) WEIR_WUR;

#endif
