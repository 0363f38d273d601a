/*
 * The stats endpoint: a small HTTP/1.0 server on loopback or a unix socket. GET /metrics
 * answers in Prometheus text format, GET /stats in JSON: per frontend, backend and server,
 * connections active and total, bytes, connect failures, retries, health and its last
 * change; process-wide accept errors by kind, descriptor-reservation uses and closes by
 * reason. Clients are read and written without blocking and dropped after a timeout.
 */
#ifndef WEIR_STATS_H
#define WEIR_STATS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Scrapers served at once; each holds a descriptor. */
#define STATS_MAX_CLIENTS 16

struct worker;
struct stats_client;

struct stats {
	struct worker *w;
	int fd;
	ev_io io;
	ev_timer backoff; /* accepting paused after a resource error */
	char name[128];
	bool unlink_path;	      /* a unix socket file this weir created */
	struct stats_client *clients; /* fixed slots; a free one has magic 0 */
	size_t n_clients;
};

/* Listen on `spec` (loopback or unix:/path). */
int stats_open(struct stats *st, struct worker *w, const char *spec, struct weir_err *err) WEIR_WUR;
void stats_close(struct stats *st);

/* The two documents, of the current configuration; malloc'd; NULL when out of memory. */
char *stats_metrics(const struct worker *w);
char *stats_json(const struct worker *w);
/* One line for the log (SIGUSR1). */
void stats_summary(const struct worker *w, char *buf, size_t len);

#endif
