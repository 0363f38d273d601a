/* weir: wiring only. Parse the command line, resolve, bind, run the loop, tear down. */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/resource.h>

#include "config.h"
#include "health.h"
#include "log.h"
#include "pool.h"
#include "worker.h"

/* sysexits(3) */
enum {
	EXIT_USAGE = 64,
	EXIT_UNAVAILABLE = 69,
	EXIT_OSERR = 71,
	EXIT_CONFIG = 78,
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: weir [OPTIONS] -l ADDR [-l ADDR ...] -b SERVER [-b SERVER ...]\n"
		     "       weir -t -l ADDR ... -b SERVER ...\n"
		     "TCP proxy and load balancer: relays every client of ADDR to one of the "
		     "SERVERs.\n\n"
		     "Options:\n");
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		char left[64], shortopt[8] = "    ";
		if (k->short_name)
			snprintf(shortopt, sizeof(shortopt), "-%c, ", k->short_name);
		snprintf(left, sizeof(left), "%s--%s %s", shortopt, k->name, k->arg);
		fprintf(out, "  %-30s %s", left, k->help);
		if (k->def)
			fprintf(out, " (default %s)", k->def);
		fputc('\n', out);
	}
	fprintf(out, "  %-30s %s\n  %-30s %s\n  %-30s %s\n\n", "-t, --check-config",
		"check the configuration, print it and exit", "-h, --help",
		"print this help and exit", "-V, --version", "print version information and exit");
	fprintf(out, "ADDR is host:port, :port (every address), [v6]:port, [v6%%scope]:port or\n"
		     "unix:/path. Durations take ms, s, m, h or d (bare numbers are seconds);\n"
		     "sizes take k, m or g.\n\n"
		     "Exit status: 0 ok, 64 usage error, 69 resolver unavailable, 71 cannot\n"
		     "listen, 78 configuration error. See weir(8).\n\n"
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

static void print_summary(const struct weir_config *cfg, const struct pool *pool)
{
	char value[64];

	for (size_t i = 0; i < cfg->n_listens; i++)
		printf("listen %s\n", cfg->listens[i]);
	for (size_t i = 0; i < pool->n; i++) {
		const struct server *s = &pool->servers[i];
		printf("server %s weight=%u maxconn=%u%s\n", s->name, s->weight, s->maxconn,
		       s->backup ? " backup" : "");
	}
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->type == CT_LISTEN || k->type == CT_SERVER)
			continue;
		config_format_value(cfg, k, value, sizeof(value));
		printf("%s %s\n", k->name, value);
	}
	printf("configuration ok\n");
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
static uint64_t connection_limit(const struct weir_config *cfg, size_t n_listeners)
{
	uint64_t budget = worker_connection_budget(raise_fd_limit(), n_listeners);

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

/* First SIGTERM/SIGINT: drain. A second one: stop now. */
static void stop_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct worker *w = sig->data;

	if (w->state == WORKER_RUNNING) {
		log_msg(WLOG_INFO, "%s: stopping", strsignal(sig->signum));
		worker_drain(w);
	} else {
		log_msg(WLOG_INFO, "%s again: stopping now", strsignal(sig->signum));
		worker_stop(w);
	}
}

static int run(const struct weir_config *cfg, struct pool *pool)
{
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	struct weir_err err = {""};
	struct worker w;
	struct health health = {0};
	ev_signal sigint, sigterm;
	int status = 0;

	if (!loop) {
		fprintf(stderr, "weir: cannot start the event loop\n");
		return EXIT_OSERR;
	}
	if (worker_init(&w, loop, cfg, pool, connection_limit(cfg, cfg->n_listens), &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		return EXIT_OSERR;
	}
	for (size_t i = 0; i < cfg->n_listens && status == 0; i++) {
		int r = worker_listen(&w, cfg->listens[i], &err);
		if (r < 0) {
			fprintf(stderr, "weir: %s\n", err.msg);
			status = r == -EAGAIN	? EXIT_UNAVAILABLE
				 : r == -ENOENT ? EXIT_CONFIG
						: EXIT_OSERR;
		}
	}
	if (status == 0 && cfg->health_check == HEALTH_TCP &&
	    health_start(&health, loop, pool, cfg, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = EXIT_OSERR;
	}
	if (status == 0) {
		ev_signal_init(&sigint, stop_cb, SIGINT);
		ev_signal_init(&sigterm, stop_cb, SIGTERM);
		sigint.data = sigterm.data = &w;
		ev_signal_start(loop, &sigint);
		ev_signal_start(loop, &sigterm);
		log_msg(WLOG_INFO, "weir " PACKAGE_VERSION " running with %zu server(s)", pool->n);
		ev_run(loop, 0);
		ev_signal_stop(loop, &sigint);
		ev_signal_stop(loop, &sigterm);
	}
	health_stop(&health);
	worker_fini(&w);
	ev_loop_destroy(loop);
	return status;
}

int main(int argc, char **argv)
{
	struct weir_config cfg;
	struct weir_err err = {""};
	enum config_action action;
	struct pool pool;
	int r, status;

	signal(SIGPIPE, SIG_IGN);
	if (config_init(&cfg) < 0) {
		fprintf(stderr, "weir: cannot initialise the configuration\n");
		return EXIT_OSERR;
	}
	r = config_parse_args(&cfg, argc, argv, &action, &err);
	if (r < 0) {
		fprintf(stderr, "weir: %s\nTry 'weir --help' for more information.\n", err.msg);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	if (action == CONFIG_HELP || action == CONFIG_VERSION) {
		if (action == CONFIG_HELP)
			usage(stdout);
		else
			version();
		config_free(&cfg);
		return 0;
	}
	log_init(2, cfg.log_level);
	r = pool_build(&pool, cfg.servers, cfg.n_servers, cfg.balance, &err);
	if (r < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		config_free(&cfg);
		return r == -EAGAIN ? EXIT_UNAVAILABLE : EXIT_CONFIG;
	}
	pool.rise = (unsigned)cfg.rise;
	pool.fall = (unsigned)cfg.fall;
	pool.retry_interval = (double)cfg.health_interval_ms / 1e3;
	if (action == CONFIG_CHECK) {
		print_summary(&cfg, &pool);
		status = 0;
	} else {
		status = run(&cfg, &pool);
	}
	pool_fini(&pool);
	config_free(&cfg);
	return status;
}
