/*
 * weir's configuration: one table of keys (the long option names, later also the config
 * file's keys) drives parsing, validation, defaults, --help and the --check-config summary.
 */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "util.h"

struct server_spec {
	char *addr; /* as written, syntax checked */
	unsigned weight;
	unsigned maxconn; /* 0: no limit */
	bool backup;
};

struct lb_ops;

enum health_kind {
	HEALTH_NONE, /* passive only: failed connects take a server out for a while */
	HEALTH_TCP,  /* connect (and optionally send/expect) every health-interval */
};

struct weir_config {
	char **listens;
	size_t n_listens;
	struct server_spec *servers;
	size_t n_servers;
	uint64_t connect_timeout_ms;
	uint64_t idle_timeout_ms;   /* 0: never */
	uint64_t linger_timeout_ms; /* 0: never; unset (CONFIG_UNSET): the idle timeout */
	uint64_t drain_timeout_ms;
	uint64_t max_connections; /* 0: derived from the descriptor limit */
	const struct lb_ops *balance;
	enum health_kind health_check;
	uint64_t health_interval_ms;
	uint64_t health_timeout_ms;
	uint64_t rise, fall;
	char *health_send;   /* escapes decoded; NULL: send nothing */
	char *health_expect; /* NULL: connecting is enough */
	uint64_t buffer_size;
	enum wlog_level log_level;
};

enum config_type {
	CT_LISTEN,   /* repeatable address */
	CT_SERVER,   /* repeatable ADDR[,weight=N][,maxconn=N][,backup] */
	CT_DURATION, /* uint64_t milliseconds */
	CT_SIZE,     /* uint64_t bytes */
	CT_COUNT,    /* uint64_t; "auto" is 0 */
	CT_UINT,     /* uint64_t */
	CT_BALANCE,  /* const struct lb_ops * */
	CT_HEALTH,   /* enum health_kind */
	CT_STRING,   /* char *, C escapes (\r \n \t \\ \xHH) decoded */
	CT_LOGLEVEL, /* enum wlog_level */
};

struct config_key {
	const char *name; /* long option and config key */
	char short_name;  /* 0: none */
	enum config_type type;
	size_t offset;	 /* of the value in struct weir_config (scalars) */
	const char *def; /* default, as an operator would write it; NULL: none */
	uint64_t min, max;
	const char *arg;  /* placeholder in --help */
	const char *help; /* one line for --help */
};

/* A scalar whose default is derived from another key once parsing is done. */
#define CONFIG_UNSET UINT64_MAX

extern const struct config_key config_keys[];
extern const size_t config_n_keys;

/* What the command line asks for besides running. */
enum config_action {
	CONFIG_RUN,
	CONFIG_CHECK,
	CONFIG_HELP,
	CONFIG_VERSION,
};

/* Defaults from the table. Returns -ENOMEM or 0. */
int config_init(struct weir_config *cfg) WEIR_WUR;
void config_free(struct weir_config *cfg);

/* Validate `value` for `key` and store it; the same path serves a flag and a file key. */
int config_set(struct weir_config *cfg, const struct config_key *key, const char *value,
	       struct weir_err *err) WEIR_WUR;

const struct config_key *config_find(const char *name);

/*
 * Parse the command line into `cfg`. -EINVAL: a usage error explained in `err`.
 * Checks that something to run was given unless the action is help or version.
 */
int config_parse_args(struct weir_config *cfg, int argc, char **argv, enum config_action *action,
		      struct weir_err *err) WEIR_WUR;

/* The value of a scalar key in `cfg`, written as it would be typed. */
void config_format_value(const struct weir_config *cfg, const struct config_key *key, char *buf,
			 size_t len);

/* "10.0.0.1:80,weight=2,backup" into `spec` (addr malloc'd). */
int config_parse_server(const char *text, struct server_spec *spec, struct weir_err *err) WEIR_WUR;

#endif
