/* weir: wiring only. Parse the command line, resolve, bind, run the loop, tear down. */
#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "generation.h"
#include "health.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "stats.h"
#include "worker.h"

/* sysexits(3) */
enum {
	EXIT_USAGE = 64,
	EXIT_NOINPUT = 66,
	EXIT_UNAVAILABLE = 69,
	EXIT_OSERR = 71,
	EXIT_CONFIG = 78,
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: weir [OPTIONS] -l ADDR [-l ADDR ...] -b SERVER [-b SERVER ...]\n"
		     "       weir -c FILE [OPTIONS]\n"
		     "       weir -t [-c FILE | -l ADDR ... -b SERVER ...]\n"
		     "TCP proxy and load balancer: relays every client of ADDR to one of the "
		     "SERVERs.\n\n"
		     "Options:\n");
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		char left[64], shortopt[8] = "    ";
		if (!config_flag(k))
			continue; /* config file only */
		if (k->short_name)
			snprintf(shortopt, sizeof(shortopt), "-%c, ", k->short_name);
		snprintf(left, sizeof(left), "%s--%s %s", shortopt, config_flag(k), k->arg);
		fprintf(out, "  %-30s %s", left, k->help);
		if (k->def)
			fprintf(out, " (default %s)", k->def);
		fputc('\n', out);
	}
	fprintf(out, "  %-30s %s\n", "-c, --config FILE",
		"read frontends, backends and settings from FILE (see weir.conf(5));\n"
		"                                 flags given as well override it");
	fprintf(out, "  %-30s %s\n  %-30s %s\n  %-30s %s\n\n", "-t, --check-config",
		"check the configuration, print it and exit", "-h, --help",
		"print this help and exit", "-V, --version", "print version information and exit");
	fprintf(out, "ADDR is host:port, :port (every address), [v6]:port, [v6%%scope]:port or\n"
		     "unix:/path. Durations take ms, s, m, h or d (bare numbers are seconds);\n"
		     "sizes take k, m or g.\n\n"
		     "Exit status: 0 ok, 64 usage error, 66 config file unreadable, 69 resolver\n"
		     "unavailable, 71 cannot listen, 78 configuration error. See weir(8).\n\n"
		     "Report bugs to: " PACKAGE_BUGREPORT "\n");
}

static const char *backend_name(unsigned backend)
{
	switch (backend) {
	case EVBACKEND_SELECT:
		return "select";
	case EVBACKEND_POLL:
		return "poll";
	case EVBACKEND_EPOLL:
		return "epoll";
	case EVBACKEND_KQUEUE:
		return "kqueue";
	case EVBACKEND_DEVPOLL:
		return "devpoll";
	case EVBACKEND_PORT:
		return "port";
	default:
		return "unknown";
	}
}

static void version(void)
{
	struct ev_loop *loop = ev_default_loop(0);

	printf("weir " PACKAGE_VERSION "\nlibev %d.%d (backend %s)\n", ev_version_major(),
	       ev_version_minor(), loop ? backend_name(ev_backend(loop)) : "none");
}

/* Every scalar key of `scope` in `section`, one "key value" line each. */
static void print_keys(const void *section, enum config_scope scope, const char *indent)
{
	char value[128];

	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != scope || k->type == CT_LISTEN || k->type == CT_SERVER ||
		    k->type == CT_NAME)
			continue;
		if ((k->type == CT_STRING || k->type == CT_ADDR) &&
		    !*(char *const *)((const char *)section + k->offset))
			continue; /* not set: nothing to write that would read back the same */
		config_format_value(section, k, value, sizeof(value));
		printf("%s%s = %s\n", indent, k->name, value);
	}
}

/* The effective configuration, every default filled in, in the config file's own syntax. */
static void print_summary(const struct weir_config *cfg, const struct pool *pools)
{
	printf("[global]\n");
	print_keys(cfg, SCOPE_GLOBAL, "");
	for (size_t i = 0; i < cfg->n_frontends; i++) {
		const struct frontend_cfg *fe = &cfg->frontends[i];
		printf("\n[frontend %s]\n", fe->name);
		for (size_t j = 0; j < fe->n_listens; j++)
			printf("listen = %s\n", fe->listens[j]);
		printf("backend = %s\n", fe->backend);
		print_keys(fe, SCOPE_FRONTEND, "");
	}
	for (size_t i = 0; i < cfg->n_backends; i++) {
		const struct pool *pool = &pools[i];
		printf("\n[backend %s]\n", cfg->backends[i].name);
		for (size_t j = 0; j < pool->n; j++) {
			const struct server *s = &pool->servers[j];
			printf("server = %s weight=%u maxconn=%u%s\n", s->name, s->weight,
			       s->maxconn, s->backup ? " backup" : "");
		}
		print_keys(&cfg->backends[i], SCOPE_BACKEND, "");
	}
	printf("\n# configuration ok\n");
}

/* Raise the soft descriptor limit to the hard one; return the limit in force. */
static uint64_t raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_msg(WLOG_DEBUG, "cannot raise the descriptor limit: %s",
				strerror(errno));
			rl.rlim_cur = soft;
		}
	}
	log_msg(WLOG_DEBUG, "descriptor limit %llu", (unsigned long long)rl.rlim_cur);
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX / 4 : (uint64_t)rl.rlim_cur;
}

/* --max-connections, or what the descriptor limit allows; warn when asked for more. */
static uint64_t connection_limit(const struct weir_config *cfg)
{
	size_t n_listeners = 0;
	uint64_t budget;

	for (size_t i = 0; i < cfg->n_frontends; i++)
		n_listeners += cfg->frontends[i].n_listens;
	budget = worker_connection_budget(raise_fd_limit(), n_listeners);

	if (cfg->max_connections == 0) {
		log_msg(WLOG_DEBUG, "max-connections %llu (from the descriptor limit)",
			(unsigned long long)budget);
		return budget;
	}
	if (cfg->max_connections > budget)
		log_msg(WLOG_WARN,
			"max-connections %llu is more than the descriptor limit allows (%llu); "
			"clients beyond that are closed at once",
			(unsigned long long)cfg->max_connections, (unsigned long long)budget);
	return cfg->max_connections;
}

/* --user and --group, looked up before anything is bound. */
struct identity {
	bool change;
	uid_t uid;
	gid_t gid;
	const char *user;
};

static int lookup_identity(const struct weir_config *cfg, struct identity *id)
{
	memset(id, 0, sizeof(*id));
	if (!cfg->user && !cfg->group)
		return 0;
	id->change = true;
	id->uid = getuid();
	id->gid = getgid();
	if (cfg->user) {
		struct passwd *pw = getpwnam(cfg->user);
		if (!pw) {
			fprintf(stderr, "weir: user: no user called '%s'\n", cfg->user);
			return EXIT_CONFIG;
		}
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
		id->user = cfg->user;
	}
	if (cfg->group) {
		struct group *gr = getgrnam(cfg->group);
		if (!gr) {
			fprintf(stderr, "weir: group: no group called '%s'\n", cfg->group);
			return EXIT_CONFIG;
		}
		id->gid = gr->gr_gid;
	}
	return 0;
}

/* Become the configured user and group, for good: no way back to root afterwards. */
static int drop_privileges(const struct identity *id)
{
	if (!id->change)
		return 0;
	if ((id->user ? initgroups(id->user, id->gid) : setgroups(0, NULL)) < 0 ||
	    setgid(id->gid) < 0 || setuid(id->uid) < 0) {
		fprintf(stderr, "weir: cannot change to uid %u gid %u: %s\n", (unsigned)id->uid,
			(unsigned)id->gid, strerror(errno));
		return EXIT_OSERR;
	}
	if (id->uid != 0 && setuid(0) == 0) {
		fprintf(stderr, "weir: dropped privileges could be regained; refusing to run\n");
		return EXIT_OSERR;
	}
	log_msg(WLOG_INFO, "running as uid %u gid %u", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}

static void notify(const char *state)
{
	int r = notify_send(state);

	if (r < 0)
		log_msg(WLOG_DEBUG, "cannot notify systemd: %s", strerror(-r));
}

/* SIGUSR1: one line of numbers in the log. */
static void usr1_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	const struct worker *w = sig->data;
	char line[256];

	stats_summary(w, line, sizeof(line));
	log_msg(WLOG_INFO, "%s", line);
}

/* First SIGTERM/SIGINT: drain. A second one: stop now. */
static void stop_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct worker *w = sig->data;

	if (w->state == WORKER_RUNNING) {
		log_msg(WLOG_INFO, "%s: stopping", strsignal(sig->signum));
		notify("STOPPING=1\nSTATUS=draining connections");
		worker_drain(w);
	} else {
		log_msg(WLOG_INFO, "%s again: stopping now", strsignal(sig->signum));
		worker_stop(w);
	}
}

/*
 * The command line, and the file it names, as they read now. 0, or the exit status with the
 * reason in `err`; on a usage error the caller adds the --help hint.
 */
static int read_config(int argc, char **argv, struct weir_config *cfg, enum config_action *action,
		       struct weir_err *err)
{
	int r;

	if (config_init(cfg) < 0) {
		err_set(err, "cannot initialise the configuration");
		return EXIT_OSERR;
	}
	if (config_parse_args(cfg, argc, argv, action, err) < 0)
		return EXIT_USAGE;
	if (*action != CONFIG_HELP && *action != CONFIG_VERSION && cfg->file &&
	    (r = config_load(cfg, err)) < 0)
		return r == -EINVAL ? EXIT_CONFIG : EXIT_NOINPUT;
	return 0;
}

static size_t count_servers(const struct generation *g)
{
	size_t n = 0;

	for (size_t b = 0; b < g->cfg.n_backends; b++)
		n += g->pools[b].n;
	return n;
}

static void notify_ready(const struct generation *g)
{
	char state[128];

	snprintf(state, sizeof(state), "READY=1\nSTATUS=serving %zu frontend(s), %zu server(s)",
		 g->n_frontends, count_servers(g));
	notify(state);
}

struct app {
	int argc;
	char **argv;
	struct worker w;
};

/* Keys a running weir cannot take over; a reload keeps the values it started with. */
static void warn_fixed(const struct weir_config *now, const struct weir_config *next)
{
	char a[128], b[128];

	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (!k->restart_only)
			continue;
		config_format_value(now, k, a, sizeof(a));
		config_format_value(next, k, b, sizeof(b));
		if (strcmp(a, b) != 0)
			log_msg(WLOG_WARN, "reload: %s changes only on restart (still %s)", k->name,
				a);
	}
}

/* SIGHUP: read the configuration again; switch to it if it is sound, else keep running. */
static void hup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct app *app = sig->data;
	struct weir_config cfg;
	struct weir_err err = {""};
	enum config_action action;
	struct generation *next;
	struct timespec ts;
	char state[96];
	int status;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000);
	notify(state);
	log_msg(WLOG_INFO, "SIGHUP: reloading the configuration");
	status = read_config(app->argc, app->argv, &cfg, &action, &err);
	if (status == 0 && app->w.state != WORKER_RUNNING) {
		err_set(&err, "weir is stopping");
		status = -1;
	}
	if (status == 0 && gen_new(&next, &cfg, &err) < 0)
		status = -1;
	if (status == 0) {
		warn_fixed(&app->w.gen->cfg, &next->cfg);
		gen_carry_state(next, app->w.gen);
		if (worker_reload(&app->w, next, &err) < 0) {
			status = -1;
		} else {
			if (gen_start_health(next, loop, &err) < 0)
				log_msg(WLOG_ERROR, "reload: %s", err.msg);
			log_init(2, next->cfg.log_level, next->cfg.log_format);
			worker_set_max_conns(&app->w, connection_limit(&next->cfg));
			log_msg(WLOG_INFO, "reloaded: %zu frontend(s), %zu server(s)",
				next->n_frontends, count_servers(next));
		}
	}
	if (status)
		log_msg(WLOG_ERROR, "reload failed, keeping the running configuration: %s",
			err.msg);
	config_free(&cfg);
	notify_ready(app->w.gen);
}

static int run(struct app *app, struct generation *gen)
{
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	struct weir_err err = {""};
	struct worker *w = &app->w;
	struct inherited *inherited = NULL;
	struct identity id;
	ev_signal sigint, sigterm, sighup, sigusr1;
	struct stats stats = {.fd = -1, .w = w};
	const struct weir_config *cfg = &gen->cfg;
	int status, r;
	size_t n_inherited = 0;

	if (!loop) {
		fprintf(stderr, "weir: cannot start the event loop\n");
		gen_free(gen);
		return EXIT_OSERR;
	}
	status = lookup_identity(cfg, &id);
	if (status == 0 && notify_inherited(&inherited, &n_inherited, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = EXIT_OSERR;
	}
	if (status) {
		gen_free(gen);
		ev_loop_destroy(loop);
		return status;
	}
	/* From here the worker owns the generation, and worker_fini undoes what was done. */
	if (worker_init(w, loop, gen, connection_limit(cfg), &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = EXIT_OSERR;
	} else if ((r = worker_listen_all(w, inherited, n_inherited, &err)) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = r == -EAGAIN ? EXIT_UNAVAILABLE : r == -ENOENT ? EXIT_CONFIG : EXIT_OSERR;
	} else if (cfg->stats && (r = stats_open(&stats, w, cfg->stats, &err)) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = r == -EAGAIN ? EXIT_UNAVAILABLE : EXIT_OSERR;
	} else if ((status = drop_privileges(&id)) == 0 && gen_start_health(gen, loop, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = EXIT_OSERR;
	}
	free(inherited);
	if (status == 0) {
		ev_signal_init(&sigint, stop_cb, SIGINT);
		ev_signal_init(&sigterm, stop_cb, SIGTERM);
		ev_signal_init(&sighup, hup_cb, SIGHUP);
		ev_signal_init(&sigusr1, usr1_cb, SIGUSR1);
		sigint.data = sigterm.data = sigusr1.data = w;
		sighup.data = app;
		ev_signal_start(loop, &sigint);
		ev_signal_start(loop, &sigterm);
		ev_signal_start(loop, &sighup);
		ev_signal_start(loop, &sigusr1);
		log_msg(WLOG_INFO,
			"weir " PACKAGE_VERSION " running: %zu frontend(s), %zu server(s)",
			gen->n_frontends, count_servers(gen));
		notify_ready(gen);
		ev_run(loop, 0);
		ev_signal_stop(loop, &sigint);
		ev_signal_stop(loop, &sigterm);
		ev_signal_stop(loop, &sighup);
		ev_signal_stop(loop, &sigusr1);
	}
	stats_close(&stats);
	worker_fini(w);
	ev_loop_destroy(loop);
	return status;
}

int main(int argc, char **argv)
{
	struct app app = {.argc = argc, .argv = argv};
	struct weir_config cfg;
	struct weir_err err = {""};
	enum config_action action;
	struct generation *gen;
	int r, status;

	signal(SIGPIPE, SIG_IGN);
	status = read_config(argc, argv, &cfg, &action, &err);
	if (status) {
		fprintf(stderr, "weir: %s\n%s", err.msg,
			status == EXIT_USAGE ? "Try 'weir --help' for more information.\n" : "");
		config_free(&cfg);
		return status;
	}
	if (action == CONFIG_HELP || action == CONFIG_VERSION) {
		if (action == CONFIG_HELP)
			usage(stdout);
		else
			version();
		config_free(&cfg);
		return 0;
	}
	log_init(2, cfg.log_level, cfg.log_format);
	r = gen_new(&gen, &cfg, &err);
	if (r < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		return r == -EAGAIN ? EXIT_UNAVAILABLE : r == -ENOMEM ? EXIT_OSERR : EXIT_CONFIG;
	}
	if (action == CONFIG_CHECK) {
		print_summary(&gen->cfg, gen->pools);
		gen_free(gen);
		return 0;
	}
	return run(&app, gen);
}
