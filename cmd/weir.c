/* weir: wiring only. Parse the command line, resolve, bind, run the loop, tear down. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "dns.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "privs.h"
#include "proxy.h"
#include "reload.h"
#include "sockopt.h"
#include "stats.h"

/* sysexits(3) */
enum {
	EXIT_USAGE = 64,
	EXIT_NOINPUT = 66,
	EXIT_UNAVAILABLE = 69,
	EXIT_OSERR = 71,
	EXIT_CANTCREAT = 73,
	EXIT_CONFIG = 78,
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: weir [OPTIONS] -l ADDR [-l ADDR ...] -b SERVER [-b SERVER ...]\n"
		     "       weir -c FILE [OPTIONS]\n"
		     "       weir -t [-c FILE | -l ADDR ... -b SERVER ...]\n"
		     "       weir ctl [--socket ADDR] COMMAND...   (weir ctl --help)\n"
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
	fprintf(out,
		"ADDR is host:port, :port (every address), [v6]:port, [v6%%scope]:port or\n"
		"unix:/path; a unix listener may add ,mode=0660 ,user=NAME ,group=NAME, a\n"
		"TCP one ,shared (other processes may listen there too).\n"
		"SERVER is ADDR with options: ,weight=N ,maxconn=N ,backup ,name=NAME\n"
		",send-proxy=v1|v2 ,source=IP[:LO-HI], and ,resolve or ,resolve=srv for a name\n"
		"looked up again while weir runs.\n"
		"Durations take ms, s, m, h or d (bare numbers are seconds); sizes take\n"
		"k, m or g.\n\n"
		"Exit status: 0 ok, 64 usage error, 66 config file unreadable, 69 resolver\n"
		"unavailable, 71 cannot listen, 73 cannot write the pid file, 78\n"
		"configuration error. See weir(8).\n\n"
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
	char value[1024];

	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope != scope || k->type == CT_LISTEN || k->type == CT_SERVER ||
		    k->type == CT_NAME)
			continue;
		if (k->type == CT_LIST) {
			const struct config_list *l =
				(const void *)((const char *)section + k->offset);
			for (size_t j = 0; j < l->n; j++)
				printf("%s%s = %s\n", indent, k->name, l->items[j]);
			continue;
		}
		if ((k->type == CT_STRING || k->type == CT_ADDR) &&
		    !*(char *const *)((const char *)section + k->offset))
			continue; /* not set: nothing to write that would read back the same */
		config_format_value(section, k, value, sizeof(value));
		printf("%s%s = %s\n", indent, k->name, value);
	}
}

/* The rest of a server line, as written: what reads back as the same server. */
static void print_server_options(const struct server_spec *sp)
{
	static const char *const versions[] = {"none", "v1", "v2"};

	printf(" weight=%u maxconn=%u%s", sp->weight, sp->maxconn, sp->backup ? " backup" : "");
	if (sp->name)
		printf(" name=%s", sp->name);
	if (sp->send_proxy < ARRAY_SIZE(versions))
		printf(" send-proxy=%s", versions[sp->send_proxy]);
	if (sp->source)
		printf(" source=%s", sp->source);
	putchar('\n');
}

/* A backend's servers in the order of their lines: a name looked up again and again stays a
 * name (with what it gives now), the others are the addresses they gave. */
static int print_servers(const struct backend_cfg *be, const struct pool *pool)
{
	/* pool->servers by line, in one pass each way (a backend may have 50,000). */
	size_t *first = calloc(be->n_servers + 1, sizeof(*first));
	size_t *order = calloc(pool->n ? pool->n : 1, sizeof(*order));

	if (!first || !order) {
		free(first);
		free(order);
		return -ENOMEM;
	}
	for (size_t j = 0; j < pool->n; j++)
		first[pool->servers[j]->spec + 1]++;
	for (size_t k = 0; k < be->n_servers; k++)
		first[k + 1] += first[k];
	for (size_t j = 0; j < pool->n; j++)
		order[first[pool->servers[j]->spec]++] = j;
	/* first[k] is now where line k + 1's servers begin. */
	for (size_t k = 0, j = 0; k < be->n_servers; k++) {
		const struct server_spec *sp = &be->servers[k];
		if (sp->resolve != RESOLVE_ONCE) {
			printf("server = %s %s", sp->addr,
			       sp->resolve == RESOLVE_SRV ? "resolve=srv" : "resolve");
			print_server_options(sp);
		}
		for (; j < first[k]; j++) {
			const struct server *s = pool->servers[order[j]];
			if (sp->resolve != RESOLVE_ONCE) {
				printf("# %s: now %s\n", sp->addr, s->name);
				continue;
			}
			printf("server = %s", s->name);
			print_server_options(sp);
		}
	}
	free(first);
	free(order);
	return 0;
}

/* The effective configuration, every default filled in, in the config file's own syntax. */
static int print_summary(const struct weir_config *cfg, const struct pool *pools)
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
		const struct backend_cfg *be = &cfg->backends[i];
		printf("\n[backend %s]\n", be->name);
		if (print_servers(be, pool) < 0)
			return -ENOMEM;
		print_keys(&cfg->backends[i], SCOPE_BACKEND, "");
	}
	printf("\n# configuration ok\n");
	return 0;
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

static void notify(const char *state)
{
	int r = notify_send(state);

	if (r < 0)
		log_msg(WLOG_DEBUG, "cannot notify systemd: %s", strerror(-r));
}

/* The signals weir handles; blocked while no handler is in place (start-up, teardown). */
static void block_signals(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

struct app {
	struct proxy p;
	struct reloader reloader;
	struct stats stats, admin;
};

/* SIGUSR1: one line of numbers in the log. */
static void usr1_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	const struct app *app = sig->data;
	char line[256];

	metrics_summary(&app->p, line, sizeof(line));
	log_msg(WLOG_INFO, "%s", line);
}

/* First SIGTERM/SIGINT: drain. A second one: stop now. */
static void stop_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct app *app = sig->data;

	if (app->p.state == PROXY_RUNNING) {
		log_msg(WLOG_INFO, "%s: stopping", strsignal(sig->signum));
		notify("STOPPING=1\nSTATUS=draining connections");
		proxy_drain(&app->p);
	} else {
		log_msg(WLOG_INFO, "%s again: stopping now", strsignal(sig->signum));
		proxy_stop(&app->p);
	}
}

/* SIGHUP: read the configuration again, off the loop; switch to it if it is sound. */
static void hup_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
	struct app *app = sig->data;

	reloader_request(&app->reloader);
}

/* --pid-file: written once listening (before privileges go), removed on the way out. */
static int write_pid_file(const char *path)
{
	char line[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), n;

	if (fd < 0) {
		fprintf(stderr, "weir: pid-file: cannot write %s: %s\n", path, strerror(errno));
		return EXIT_CANTCREAT;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write(fd, line, (size_t)n) != n) {
		fprintf(stderr, "weir: pid-file: cannot write %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return EXIT_CANTCREAT;
	}
	close(fd);
	return 0;
}

/* Listen, write the pid file, drop privileges: 0 or the exit status, the reason printed. */
static int start(struct app *app, struct generation *gen, const struct identity *id,
		 const char *pid_file)
{
	struct weir_err err = {""};
	struct inherited *inherited = NULL;
	struct reload rl;
	size_t n_inherited = 0;
	int r;

	if (notify_inherited(&inherited, &n_inherited, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		gen_free(gen);
		return EXIT_OSERR;
	}
	r = reload_prepare(&rl, &app->p, gen, inherited, n_inherited, &err);
	if (r < 0) {
		reload_abort(&rl);
		for (size_t k = 0; k < n_inherited; k++)
			close(inherited[k].fd);
		free(inherited);
		fprintf(stderr, "weir: %s\n", err.msg);
		return EXIT_OSERR;
	}
	reload_commit(&rl);
	free(inherited);
	if (app->p.gen->cfg.stats &&
	    (r = stats_open(&app->stats, &app->p, app->p.gen->cfg.stats,
			    app->p.gen->cfg.stats_admin, &app->reloader, "stats", &err)) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		return r == -EAGAIN ? EXIT_UNAVAILABLE : r == -ENOENT ? EXIT_CONFIG : EXIT_OSERR;
	}
	if (app->p.gen->cfg.admin && (r = stats_open(&app->admin, &app->p, app->p.gen->cfg.admin,
						     true, &app->reloader, "admin", &err)) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		return r == -EAGAIN		      ? EXIT_UNAVAILABLE
		       : r == -ENOENT || r == -EINVAL ? EXIT_CONFIG
						      : EXIT_OSERR;
	}
	if (pid_file && (r = write_pid_file(pid_file)) != 0)
		return r;
	if (privs_drop(id, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		return EXIT_OSERR;
	}
	if (proxy_start(&app->p, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		return EXIT_OSERR;
	}
	if (id->change)
		log_msg(WLOG_INFO, "running as uid %u gid %u", (unsigned)getuid(),
			(unsigned)getgid());
	return 0;
}

/* libev's flags for event-backend (auto, epoll, poll, select). */
static unsigned loop_flags(unsigned choice)
{
	static const unsigned flags[] = {EVFLAG_AUTO, EVBACKEND_EPOLL, EVBACKEND_POLL,
					 EVBACKEND_SELECT};

	return choice < ARRAY_SIZE(flags) ? flags[choice] : EVFLAG_AUTO;
}

static int run(int argc, char **argv, struct generation *gen, const struct identity *id)
{
	struct ev_loop *loop = ev_default_loop(loop_flags(gen->cfg.event_backend));
	char *pid_file = NULL;
	struct weir_err err = {""};
	struct app app;
	ev_signal sigint, sigterm, sighup, sigusr1;
	uint64_t nofile = raise_fd_limit();
	size_t stats_fds = (gen->cfg.stats ? 1 + stats_max_clients(nofile) : 0) +
			   (gen->cfg.admin ? 1 + stats_max_clients(nofile) : 0);
	char state[128];
	int status;

	memset(&app, 0, sizeof(app));
	app.stats.fd = app.admin.fd = -1;
	if (!loop) {
		char name[16];
		config_format_value(&gen->cfg, config_find("event-backend"), name, sizeof(name));
		fprintf(stderr, "weir: cannot start the event loop (event-backend %s)\n", name);
		gen_free(gen);
		return EXIT_OSERR;
	}
	if (proxy_init(&app.p, loop, gen->n_workers, loop_flags(gen->cfg.event_backend), nofile,
		       stats_fds, gen->cfg.buffer_size, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		gen_free(gen);
		status = EXIT_OSERR;
		goto out;
	}
	log_attach(loop);
	/* Restart-only: a reload keeps these (it warns when the file changes them). */
	app.p.rcvbuf = gen->cfg.rcvbuf;
	app.p.sndbuf = gen->cfg.sndbuf;
	sockopt_check_buffers(app.p.rcvbuf, app.p.sndbuf);
	reloader_init(&app.reloader, &app.p, argc, argv);
	if (gen->cfg.pid_file && !(pid_file = strdup(gen->cfg.pid_file))) {
		status = EXIT_OSERR;
		goto out;
	}
	status = start(&app, gen, id, pid_file);
	if (!status && dns_start(loop, &app.p, &app.reloader, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		status = EXIT_OSERR;
	}
	if (status)
		goto out;
	app.reloader.settled = dns_follow;
	ev_signal_init(&sigint, stop_cb, SIGINT);
	ev_signal_init(&sigterm, stop_cb, SIGTERM);
	ev_signal_init(&sighup, hup_cb, SIGHUP);
	ev_signal_init(&sigusr1, usr1_cb, SIGUSR1);
	sigint.data = sigterm.data = sighup.data = sigusr1.data = &app;
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sighup);
	ev_signal_start(loop, &sigusr1);
	block_signals(false);
	gen = app.p.gen;
	log_msg(WLOG_INFO,
		"weir " PACKAGE_VERSION " running: %zu frontend(s), %zu server(s), %u worker(s)",
		gen->n_frontends, gen_count_servers(gen), app.p.n_workers);
	snprintf(state, sizeof(state), "READY=1\nSTATUS=serving %zu frontend(s), %zu server(s)",
		 gen->n_frontends, gen_count_servers(gen));
	notify(state);
	ev_run(loop, 0);
	/* A signal landing during the teardown must not kill weir with its default action. */
	block_signals(true);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	ev_signal_stop(loop, &sighup);
	ev_signal_stop(loop, &sigusr1);
out:
	dns_stop();
	stats_close(&app.admin);
	stats_close(&app.stats);
	reloader_fini(&app.reloader);
	proxy_fini(&app.p);
	if (pid_file && status != EXIT_CANTCREAT && unlink(pid_file) < 0 && errno != ENOENT)
		log_msg(WLOG_WARN, "cannot remove the pid file %s: %s", pid_file, strerror(errno));
	free(pid_file);
	log_detach(0.5); /* a reader that stalled does not hold up the exit */
	ev_loop_destroy(loop);
	return status;
}

/* The admin socket weir ctl talks to unless told otherwise. */
#define CTL_SOCKET "/run/weir/admin.sock"

static void ctl_usage(FILE *out)
{
	fprintf(out, "Usage: weir ctl [-s|--socket ADDR] COMMAND...\n"
		     "Send COMMAND to a running weir's admin socket (--admin) and print the "
		     "answer.\n"
		     "ADDR is unix:/path or a loopback host:port (default unix:" CTL_SOCKET ").\n\n"
		     "Commands:\n"
		     "  help\n"
		     "  show servers\n"
		     "  show conns\n"
		     "  set server BACKEND/SERVER state ready|drain|maint\n"
		     "  set server BACKEND/SERVER weight N\n"
		     "  add server BACKEND ADDR[,options]\n"
		     "  del server BACKEND/SERVER\n"
		     "  shutdown sessions server BACKEND/SERVER\n\n"
		     "Exit status: 0 done, 1 the command was refused (the reason on stderr),\n"
		     "64 usage error, 69 weir cannot be reached. See weir(8).\n");
}

/* weir ctl: one command, its answer printed; the last line says how it went. */
static int ctl_main(int argc, char **argv)
{
	const char *where = "unix:" CTL_SOCKET;
	char line[4200], buf[65536], *last;
	struct weir_err err = {""};
	struct addr *a = NULL;
	size_t n_addrs, len = 0, got = 0, cap = 0;
	char *answer = NULL;
	int i = 1, fd;
	ssize_t k;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		ctl_usage(stdout);
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "--socket") || !strcmp(argv[1], "-s"))) {
		if (argc == 2) {
			fprintf(stderr, "weir ctl: %s needs an address\n", argv[1]);
			return EXIT_USAGE;
		}
		where = argv[2];
		i = 3;
	}
	if (i < argc && argv[i][0] == '-') {
		fprintf(stderr, "weir ctl: unknown option '%s'. Try 'weir ctl --help'.\n", argv[i]);
		return EXIT_USAGE;
	}
	if (i >= argc) {
		fprintf(stderr, "weir ctl: which command? Try 'weir ctl --help'.\n");
		return EXIT_USAGE;
	}
	for (; i < argc; i++) {
		int w = snprintf(line + len, sizeof(line) - len, "%s%s", len ? " " : "", argv[i]);
		if (w < 0 || (size_t)w >= sizeof(line) - len - 1) {
			fprintf(stderr, "weir ctl: the command is too long\n");
			return EXIT_USAGE;
		}
		len += (size_t)w;
	}
	line[len++] = '\n';
	if (addr_resolve(where, ADDR_CONNECT, &a, &n_addrs, &err) < 0) {
		fprintf(stderr, "weir ctl: %s\n", err.msg);
		return EXIT_USAGE;
	}
	fd = socket(a[0].ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&a[0].ss, a[0].len) < 0) {
		fprintf(stderr, "weir ctl: cannot reach weir at %s: %s\n", where, strerror(errno));
		free(a);
		return EXIT_UNAVAILABLE;
	}
	free(a);
	if (write(fd, line, len) != (ssize_t)len) {
		fprintf(stderr, "weir ctl: cannot send the command: %s\n", strerror(errno));
		close(fd);
		return EXIT_UNAVAILABLE;
	}
	while ((k = read(fd, buf, sizeof(buf))) > 0) {
		if (got + (size_t)k + 1 > cap) {
			char *grown = realloc(answer, cap = (got + (size_t)k + 1) * 2);
			if (!grown) {
				fprintf(stderr, "weir ctl: out of memory\n");
				free(answer);
				close(fd);
				return EXIT_OSERR;
			}
			answer = grown;
		}
		memcpy(answer + got, buf, (size_t)k);
		got += (size_t)k;
	}
	close(fd);
	if (!answer || got == 0 || answer[got - 1] != '\n') {
		fprintf(stderr, "weir ctl: no complete answer from weir\n");
		free(answer);
		return EXIT_UNAVAILABLE;
	}
	answer[got - 1] = '\0';
	last = strrchr(answer, '\n');
	last = last ? last + 1 : answer;
	fwrite(answer, 1, (size_t)(last - answer), stdout);
	if (strcmp(last, "ok") == 0) {
		free(answer);
		return 0;
	}
	fprintf(stderr, "weir ctl: %s\n", strncmp(last, "error: ", 7) == 0 ? last + 7 : last);
	free(answer);
	return 1;
}

int main(int argc, char **argv)
{
	struct weir_config cfg;
	struct weir_err err = {""};
	enum config_action action;
	struct generation *gen;
	struct identity id;
	int r;

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return ctl_main(argc - 1, argv + 1);
	block_signals(true);
	switch (config_read(&cfg, argc, argv, &action, &err)) {
	case CONFIG_OK:
		break;
	case CONFIG_USAGE:
		fprintf(stderr, "weir: %s\nTry 'weir --help' for more information.\n", err.msg);
		config_free(&cfg);
		return EXIT_USAGE;
	case CONFIG_UNREADABLE:
		fprintf(stderr, "weir: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_NOINPUT;
	case CONFIG_INVALID:
		fprintf(stderr, "weir: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_CONFIG;
	case CONFIG_NOMEM:
		fprintf(stderr, "weir: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_OSERR;
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
	if (privs_lookup(&cfg, &id, &err) < 0 || dns_setup(cfg.resolvers, &err) < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	r = gen_new(&gen, &cfg, cfg.workers ? (unsigned)cfg.workers : proxy_cpus(), &err);
	/* The stats and admin addresses too, so that -t refuses what starting would. */
	if (r == 0 && gen->cfg.stats)
		r = stats_check(gen->cfg.stats, "stats", &err);
	if (r == 0 && gen->cfg.admin)
		r = stats_check(gen->cfg.admin, "admin", &err);
	if (r < 0) {
		fprintf(stderr, "weir: %s\n", err.msg);
		if (gen)
			gen_free(gen);
		return r == -EAGAIN ? EXIT_UNAVAILABLE : r == -ENOMEM ? EXIT_OSERR : EXIT_CONFIG;
	}
	if (action == CONFIG_CHECK) {
		r = print_summary(&gen->cfg, gen->pools);
		gen_free(gen);
		dns_cleanup();
		if (r < 0)
			fprintf(stderr, "weir: out of memory\n");
		return r < 0 ? EXIT_OSERR : 0;
	}
	r = run(argc, argv, gen, &id);
	dns_cleanup();
	return r;
}
