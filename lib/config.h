/*
 * weir's configuration: one table of keys drives the command line, the config file,
 * validation, defaults, --help and the --check-config summary. Keys belong to a scope: the
 * whole process ([global]), a frontend (where clients arrive) or a backend (the servers
 * they are sent to). The command line's -l and -b define one implicit frontend and backend.
 */
#ifndef WEIR_CONFIG_H
#define WEIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "util.h"

/* A server's send-proxy when the server line does not say: its backend's. */
#define CONFIG_SEND_PROXY_BACKEND 3u

/* How a server's name becomes addresses. */
enum server_resolve {
	RESOLVE_ONCE, /* at start-up and on reload, with the system's resolver */
	RESOLVE_A,    /* `resolve`: again every resolve-interval, the answer applied live */
	RESOLVE_SRV,  /* `resolve=srv`: an SRV name, giving addresses and ports */
};

/* A server name= given (or taken from the address): letters, digits and ._:- only. */
#define SERVER_NAME_MAX 64

struct server_spec {
	char *addr; /* as written, syntax checked (a bare name for resolve=srv) */
	unsigned weight;
	unsigned maxconn; /* 0: no limit */
	bool backup;
	unsigned send_proxy; /* 0 none, 1 v1, 2 v2, CONFIG_SEND_PROXY_BACKEND */
	char *source;	     /* the address to connect from; NULL: the backend's */
	char *name;	     /* name=; NULL: the address, as stats show it */
	enum server_resolve resolve;
};

/* A listen key's value: ADDR[,mode=OCTAL][,user=NAME][,group=NAME] (options: unix only). */
struct listen_spec {
	char *addr;	    /* malloc'd */
	unsigned mode;	    /* 0: not set */
	char *user, *group; /* malloc'd; NULL: not set */
	bool shared;	    /* other processes may listen on the address too (SO_REUSEPORT) */
};

struct lb_ops;

enum health_kind {
	HEALTH_NONE, /* passive only: failed connects take a server out for a while */
	HEALTH_TCP,  /* connect (and optionally send/expect) every health-interval */
};

/* A repeatable key's values, in the order given. */
struct config_list {
	char **items;
	size_t n;
};

/* TCP keepalive: idle_ms 0 means off. */
struct config_keepalive {
	uint64_t idle_ms, interval_ms, count;
};

struct frontend_cfg {
	char *name;
	unsigned line; /* of its [frontend] header; 0: from the command line */
	char **listens;
	size_t n_listens;
	char *backend;		    /* the name of the backend it sends clients to */
	size_t backend_index;	    /* into weir_config.backends, once checked */
	uint64_t idle_timeout_ms;   /* 0: never */
	uint64_t linger_timeout_ms; /* 0: never; CONFIG_UNSET: the idle timeout */
	unsigned accept_proxy;	    /* 0 none, 1 v1, 2 v2, 3 any (enum proxyproto_accept) */
	uint64_t header_timeout_ms; /* for the PROXY header and the TLS hello */
	struct config_list allow, deny;
	struct config_list route_sni; /* "PATTERN BACKEND" each */
	size_t *route_backend;	      /* each route's backend index, once checked */
	uint64_t max_conns_per_source, rate_per_source, rate; /* 0: no limit */
	uint64_t backlog;				      /* 0: the kernel's maximum */
	struct config_keepalive keepalive;
	uint64_t defer_accept_ms; /* accept a client once it has sent something; 0: at once */
	uint64_t seen;		  /* keys set in the file, by table index (duplicates) */
};

struct backend_cfg {
	char *name;
	unsigned line;
	struct server_spec *servers;
	size_t n_servers;
	const struct lb_ops *balance;
	uint64_t connect_timeout_ms;
	enum health_kind health_check;
	uint64_t health_interval_ms;
	uint64_t health_timeout_ms;
	uint64_t rise, fall;
	char *health_send;	   /* escapes decoded; NULL: send nothing */
	char *health_expect;	   /* NULL: connecting is enough */
	unsigned send_proxy;	   /* 0 none, 1 v1, 2 v2 */
	char *source;		   /* the address to connect from; NULL: any */
	uint64_t retries;	   /* other servers tried after a failed connect */
	uint64_t queue_timeout_ms; /* CONFIG_UNSET until checked: the connect timeout */
	uint64_t slow_start_ms;	   /* 0: a server back UP takes its whole share at once */
	uint64_t seen;
};

/* A setting from the command line, applied over the file's. */
struct config_override {
	const struct config_key *key;
	const char *value;
};

struct weir_config {
	/* [global] */
	uint64_t drain_timeout_ms;
	uint64_t max_connections; /* 0: derived from the descriptor limit */
	uint64_t workers;	  /* 0: one per CPU weir may run on */
	unsigned splice;	  /* enum relay_splice: 0 off, 1 auto, 2 on */
	uint64_t buffer_size;
	/* SO_RCVBUF, SO_SNDBUF of clients' and servers' sockets; 0: the kernel sizes them */
	uint64_t rcvbuf, sndbuf;
	enum wlog_level log_level;
	enum wlog_format log_format;
	char *user, *group;	/* to run as once listening; NULL: stay as started */
	char *stats;		/* address of the stats endpoint; NULL: none */
	unsigned stats_admin;	/* 1: the stats endpoint takes commands too */
	char *admin;		/* address of the admin socket; NULL: none */
	char *resolvers;	/* name servers for resolve servers; NULL: the system's */
	uint64_t resolve_interval_ms;
	unsigned event_backend; /* 0 auto, 1 epoll, 2 poll, 3 select */
	char *pid_file;
	uint64_t seen;

	struct frontend_cfg *frontends;
	size_t n_frontends;
	struct backend_cfg *backends;
	size_t n_backends;

	const char *file; /* -c FILE; NULL: command line only */
	char *text;	  /* the file as it was read (every line, with its newline) */
	size_t text_len;
	struct config_override *overrides;
	size_t n_overrides;
	struct config_op *ops; /* changes made at run time since the file was read */
	size_t n_ops;
};

enum config_scope {
	SCOPE_GLOBAL,
	SCOPE_FRONTEND,
	SCOPE_BACKEND,
};

enum config_type {
	CT_LISTEN,    /* repeatable address */
	CT_SERVER,    /* repeatable ADDR[,weight=N][,maxconn=N][,backup] */
	CT_NAME,      /* char *: a section name */
	CT_ADDR,      /* char *: a listening address */
	CT_DURATION,  /* uint64_t milliseconds */
	CT_SIZE,      /* uint64_t bytes */
	CT_COUNT,     /* uint64_t; "auto" is 0 */
	CT_UINT,      /* uint64_t */
	CT_BALANCE,   /* const struct lb_ops * */
	CT_HEALTH,    /* enum health_kind */
	CT_STRING,    /* char *, C escapes (\r \n \t \\ \xHH) decoded */
	CT_LOGLEVEL,  /* enum wlog_level */
	CT_LOGFORMAT, /* enum wlog_format */
	CT_CHOICE,    /* unsigned: the index of the value in `choices` ("a|b|c") */
	CT_LIST,      /* struct config_list: repeatable, each value checked by `check` */
	CT_KEEPALIVE, /* struct config_keepalive: off, or IDLE[,INTERVAL[,COUNT]] */
};

struct config_key {
	const char *name; /* the config file's key */
	const char *flag; /* the long option, if it differs from name; "": file only */
	char short_name;  /* 0: none */
	enum config_scope scope;
	size_t offset; /* of the value in the scope's struct */
	enum config_type type;
	const char *def; /* default, as an operator would write it; NULL: none */
	uint64_t min, max;
	const char *arg;     /* placeholder in --help */
	const char *help;    /* one line for --help */
	bool restart_only;   /* a reload (SIGHUP) keeps the value weir started with */
	const char *choices; /* CT_CHOICE: "a|b|c" */
	int (*check)(const char *value, struct weir_err *err); /* a value's syntax, if set */
};

/* The longest health-expect: a check reads at most this much of a reply. */
#define CONFIG_EXPECT_MAX 1024

/* A scalar whose default is derived from another key once parsing is done. */
#define CONFIG_UNSET UINT64_MAX

/* At most this many keys: the `seen` masks that catch duplicate keys have one bit each. */
#define CONFIG_MAX_KEYS 64

extern const struct config_key config_keys[];
extern const size_t config_n_keys;

/* What the command line asks for besides running. */
enum config_action {
	CONFIG_RUN,
	CONFIG_CHECK,
	CONFIG_HELP,
	CONFIG_VERSION,
};

/* Global defaults from the table, no frontends or backends. Returns -ENOMEM or 0. */
int config_init(struct weir_config *cfg) WEIR_WUR;
void config_free(struct weir_config *cfg);

/* The key called `name` in the file, or NULL. */
const struct config_key *config_find(const char *name);
/* The long option of a key ("backend" for the key "server"), or NULL if it has none. */
const char *config_flag(const struct config_key *key);

/* A new frontend or backend with the table's defaults, appended to `cfg`. */
struct frontend_cfg *config_add_frontend(struct weir_config *cfg, const char *name,
					 unsigned line) WEIR_WUR;
struct backend_cfg *config_add_backend(struct weir_config *cfg, const char *name,
				       unsigned line) WEIR_WUR;

/*
 * Validate `value` for `key` and store it in `section` (the weir_config, frontend_cfg or
 * backend_cfg of the key's scope): the same path serves a flag and a file key.
 */
int config_set(void *section, const struct config_key *key, const char *value,
	       struct weir_err *err) WEIR_WUR;

/*
 * Parse the command line. -EINVAL: a usage error explained in `err`. Without -c the
 * configuration is complete and checked on return; with -c, config_load finishes it.
 */
int config_parse_args(struct weir_config *cfg, int argc, char **argv, enum config_action *action,
		      struct weir_err *err) WEIR_WUR;

/*
 * Read cfg->file, apply the command line over it and check the result. -EINVAL with
 * "FILE:LINE: message" in `err`; -ENOENT and the like if the file cannot be read.
 */
int config_load(struct weir_config *cfg, struct weir_err *err) WEIR_WUR;
/* The same from `text`, the file as it was read before (cfg->text of that load). */
int config_load_from(struct weir_config *cfg, const char *text, size_t text_len,
		     struct weir_err *err) WEIR_WUR;

/*
 * A change made at run time (the admin interface), kept with the configuration it changed
 * and made again whenever that configuration is rebuilt (a change after it, DNS), until the
 * file is read again (SIGHUP).
 */
enum config_op_kind {
	CONFIG_OP_ADD,	  /* a server line at the end of the backend */
	CONFIG_OP_DEL,	  /* the backend's server line `spec` removed */
	CONFIG_OP_WEIGHT, /* the weight of its server line `spec` */
};

struct config_op {
	enum config_op_kind kind;
	char *backend; /* its name */
	char *server;  /* ADD: the server as -b takes it */
	size_t spec;   /* DEL, WEIGHT: the server line, counted after earlier changes */
	unsigned weight;
};

/* Make `op` on `cfg` and keep a copy of it in cfg->ops. -EINVAL (err says why) or -ENOMEM. */
int config_apply_op(struct weir_config *cfg, const struct config_op *op,
		    struct weir_err *err) WEIR_WUR;

/* What config_read found wrong, for the caller to turn into an exit status. */
enum config_status {
	CONFIG_OK,
	CONFIG_USAGE,	   /* the command line is wrong */
	CONFIG_UNREADABLE, /* the file cannot be read */
	CONFIG_INVALID,	   /* the file is wrong */
	CONFIG_NOMEM,
};

/*
 * The command line and the file it names, as they read now (config_init, then
 * config_parse_args, then config_load unless the action is help or version). `cfg` is
 * initialised either way: config_free it.
 */
enum config_status config_read(struct weir_config *cfg, int argc, char **argv,
			       enum config_action *action, struct weir_err *err) WEIR_WUR;
/*
 * The configuration as it ran: the command line, the file as read then (`text`, NULL
 * without a file) and the changes made since (`ops`). Nothing is read from the disk.
 */
enum config_status config_reread(struct weir_config *cfg, int argc, char **argv, const char *text,
				 size_t text_len, const struct config_op *ops, size_t n_ops,
				 struct weir_err *err) WEIR_WUR;

/* The value of a scalar key in `section`, written as it would be typed. */
void config_format_value(const void *section, const struct config_key *key, char *buf, size_t len);

/* "unix:/run/weir.sock,mode=0660" into `spec`; free it with config_listen_free. */
int config_parse_listen(const char *text, struct listen_spec *spec, struct weir_err *err) WEIR_WUR;
void config_listen_free(struct listen_spec *spec);

/* "10.0.0.1:80,weight=2,backup" into `spec`; free it with config_server_free. */
int config_parse_server(const char *text, struct server_spec *spec, struct weir_err *err) WEIR_WUR;
void config_server_free(struct server_spec *spec);
/* A route-sni value: "PATTERN BACKEND" (or "PATTERN=BACKEND"), the pattern lower-cased. */
int config_split_route(const char *value, char *pattern, size_t plen, char *backend, size_t blen,
		       struct weir_err *err) WEIR_WUR;
int config_check_route(const char *value, struct weir_err *err) WEIR_WUR;
/* A socket buffer size: 0 (the kernel's) or at least 1k. */
int config_check_sockbuf(const char *value, struct weir_err *err) WEIR_WUR;
/* A source: an IPv4 or IPv6 literal (no name), with or without a range of ports for weir to
 * connect from: IP, IP:LO-HI or IP:PORT ([IP]:LO-HI for IPv6). */
#define SOURCE_TEXT_MAX 64
int config_check_source(const char *text, struct weir_err *err) WEIR_WUR;
/* The same, split: the address's text into `ip` (INET6_ADDRSTRLEN bytes) and the ports into
 * *lo and *hi (both 0 without a range: the kernel picks). */
int config_parse_source(const char *text, char *ip, uint16_t *lo, uint16_t *hi,
			struct weir_err *err) WEIR_WUR;

/* "weir.conf:12: " for a section from the file ("weir.conf: " without a line), "" without one. */
void config_where(const struct weir_config *cfg, unsigned line, char *buf, size_t len);

/* For conffile.c: every frontend names a backend that exists, has a listener, and so on. */
int config_check(struct weir_config *cfg, struct weir_err *err) WEIR_WUR;
/* For conffile.c: apply the command line's settings over the file's. */
int config_apply_overrides(struct weir_config *cfg, struct weir_err *err) WEIR_WUR;

#endif
