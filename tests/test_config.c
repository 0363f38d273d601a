/* The command line: every key, repeated keys, server options and each kind of usage error. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "pool.h"

#define ARGS(...) ((char *[]){"weir", __VA_ARGS__, NULL})

static int parse(char **argv, struct weir_config *cfg, enum config_action *action,
		 struct weir_err *err)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	assert_int_equal(config_init(cfg), 0);
	err->msg[0] = '\0';
	return config_parse_args(cfg, argc, argv, action, err);
}

#define FE(cfg) ((cfg).frontends[0])
#define BE(cfg) ((cfg).backends[0])

static void defaults_come_from_the_table(void **state)
{
	struct weir_config cfg;
	void *sections[3];

	assert_int_equal(config_init(&cfg), 0);
	sections[SCOPE_GLOBAL] = &cfg;
	sections[SCOPE_FRONTEND] = config_add_frontend(&cfg, "f", 1);
	sections[SCOPE_BACKEND] = config_add_backend(&cfg, "b", 2);
	assert_non_null(sections[SCOPE_FRONTEND]);
	assert_non_null(sections[SCOPE_BACKEND]);
	assert_int_equal(BE(cfg).connect_timeout_ms, 5000);
	assert_int_equal(FE(cfg).idle_timeout_ms, 300000);
	assert_int_equal(cfg.buffer_size, 65536);
	assert_int_equal(cfg.rcvbuf, 0);
	assert_int_equal(cfg.sndbuf, 0);
	assert_int_equal(cfg.log_level, WLOG_INFO);
	/* Every default is itself a valid value, written as the man page shows it. */
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		char buf[64];
		if (!k->def)
			continue;
		config_format_value(sections[k->scope], k, buf, sizeof(buf));
		assert_string_equal(buf, k->def);
	}
	config_free(&cfg);
}

static void full_command_line(void **state)
{
	char **argv = ARGS("-l", "127.0.0.1:8080", "--listen", "[::1]:8080", "-b",
			   "10.0.0.1:80,weight=3,maxconn=100", "--backend", "10.0.0.2:80,backup",
			   "--connect-timeout", "250ms", "--buffer-size", "16k", "--log-level",
			   "debug", "--rcvbuf", "48k", "--sndbuf", "1m");
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;

	assert_int_equal(parse(argv, &cfg, &action, &err), 0);
	assert_int_equal(action, CONFIG_RUN);
	assert_int_equal(FE(cfg).n_listens, 2);
	assert_string_equal(FE(cfg).listens[1], "[::1]:8080");
	assert_int_equal(BE(cfg).n_servers, 2);
	assert_string_equal(BE(cfg).servers[0].addr, "10.0.0.1:80");
	assert_int_equal(BE(cfg).servers[0].weight, 3);
	assert_int_equal(BE(cfg).servers[0].maxconn, 100);
	assert_false(BE(cfg).servers[0].backup);
	assert_int_equal(BE(cfg).servers[1].weight, 1);
	assert_true(BE(cfg).servers[1].backup);
	assert_int_equal(BE(cfg).connect_timeout_ms, 250);
	assert_int_equal(cfg.buffer_size, 16384);
	assert_int_equal(cfg.rcvbuf, 48 << 10);
	assert_int_equal(cfg.sndbuf, 1 << 20);
	assert_int_equal(cfg.log_level, WLOG_DEBUG);
	config_free(&cfg);
}

static void actions(void **state)
{
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;

	assert_int_equal(parse(ARGS("--help"), &cfg, &action, &err), 0);
	assert_int_equal(action, CONFIG_HELP);
	config_free(&cfg);
	assert_int_equal(parse(ARGS("-V"), &cfg, &action, &err), 0);
	assert_int_equal(action, CONFIG_VERSION);
	config_free(&cfg);
	assert_int_equal(parse(ARGS("-t", "-l", ":1", "-b", "h:2"), &cfg, &action, &err), 0);
	assert_int_equal(action, CONFIG_CHECK);
	config_free(&cfg);
}

static void server_spec_forms(void **state)
{
	struct server_spec s;
	struct weir_err err;

	/* The config file separates options with blanks instead of commas. */
	assert_int_equal(config_parse_server("10.0.0.1:8080 weight=3  backup", &s, &err), 0);
	assert_string_equal(s.addr, "10.0.0.1:8080");
	assert_int_equal(s.weight, 3);
	assert_true(s.backup);
	config_server_free(&s);
	assert_int_equal(config_parse_server("[::1]:80,weight=0,maxconn=0", &s, &err), 0);
	assert_int_equal(s.weight, 0);
	config_server_free(&s);
}

/* A source is an address, with a range of ports (or one port) for weir to connect from. */
static void source_forms(void **state)
{
	static const struct {
		const char *text, *ip;
		uint16_t lo, hi;
	} good[] = {
		{"10.0.0.1", "10.0.0.1", 0, 0},
		{"10.0.0.1:1024-2047", "10.0.0.1", 1024, 2047},
		{"10.0.0.1:7", "10.0.0.1", 7, 7},
		{"10.0.0.1:1-65535", "10.0.0.1", 1, 65535},
		{"::1", "::1", 0, 0},
		{"[::1]:20000-20009", "::1", 20000, 20009},
		{"[fe80::1]", "fe80::1", 0, 0},
	};
	static const char *const bad[] = {
		"",
		"10.0.0.1:",
		"10.0.0.1:0",
		"10.0.0.1:65536",
		"10.0.0.1:9-8",
		"10.0.0.1:1-",
		"10.0.0.1:-5",
		"10.0.0.1:1-2-3",
		"10.0.0.1:x",
		"10.0.0.1:1 ",
		"::1:80-90",
		"[::1]80",
		"[::1",
		"[10.0.0.1]:80",
		"host:80",
		"10.0.0.1:000001-2",
		"[::1]:",
		"10.0.0.256",
		"10.0.0.1:80:90",
		"[::1]:1-100000",
	};
	char ip[INET6_ADDRSTRLEN];
	uint16_t lo, hi;
	struct weir_err err;
	struct server_spec s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(config_parse_source(good[i].text, ip, &lo, &hi, &err), 0);
		assert_string_equal(ip, good[i].ip);
		assert_int_equal(lo, good[i].lo);
		assert_int_equal(hi, good[i].hi);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (config_parse_source(bad[i], ip, &lo, &hi, &err) == 0)
			fail_msg("'%s' was taken for a source", bad[i]);
		assert_non_null(strstr(err.msg, "LO-HI"));
	}
	/* On a server line too, kept as written (weir -t prints it back). */
	assert_int_equal(config_parse_server("10.0.0.2:80,source=[::1]:5-6", &s, &err), 0);
	assert_string_equal(s.source, "[::1]:5-6");
	config_server_free(&s);
	assert_int_equal(config_parse_server("10.0.0.2:80,source=10.0.0.1:6-5", &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "LO no more than HI"));
}

static void usage_errors(void **state)
{
	static const struct {
		char *argv[8];
		const char *says;
	} bad[] = {
		{{"weir", "--bogus"}, "unknown option '--bogus'"},
		{{"weir", "-x"}, "unknown option '-x'"},
		{{"weir", "-l"}, "needs a value"},
		{{"weir", "-b", "h:1", "--connect-timeout"}, "needs a value"},
		{{"weir", "-b", "h:1"}, "give at least one -l"},
		{{"weir", "-l", ":1"}, "give at least one -b"},
		{{"weir", "-l", ":1", "-b", "h:1", "extra"}, "unexpected argument 'extra'"},
		{{"weir", "-l", "nonsense", "-b", "h:1"}, "listen: address 'nonsense'"},
		{{"weir", "-l", ":1", "-b", ":80"}, "needs a host"},
		{{"weir", "-l", ":1", "-b", "h:1,weight=257"}, "weight must be a number from 0"},
		{{"weir", "-l", ":1", "-b", "h:1,weight=x"}, "weight must be"},
		{{"weir", "-l", ":1", "-b", "h:1,maxconn=-1"}, "maxconn must be"},
		{{"weir", "-l", ":1", "-b", "h:1,weight=1,weight=2"}, "given twice"},
		{{"weir", "-l", ":1", "-b", "h:1,fast"}, "unknown option 'fast'"},
		{{"weir", "-l", ":1", "-b", "h:1", "--connect-timeout", "5x"}, "not a duration"},
		{{"weir", "-l", ":1", "-b", "h:1", "--connect-timeout", "0"}, "out of range"},
		{{"weir", "-l", ":1", "-b", "h:1", "--buffer-size", "1g"}, "out of range"},
		{{"weir", "-l", ":1", "-b", "h:1", "--buffer-size", "big"}, "not a size"},
		{{"weir", "-l", ":1", "-b", "h:1", "--log-level", "loud"}, "not one of"},
		{{"weir", "-l", ":1", "-b", "h:1", "-B", "fastest"}, "not one of roundrobin"},
		{{"weir", "-l", ":1", "-b", "h:1", "--health-check", "http"},
		 "not one of none, tcp"},
		{{"weir", "-l", ":1", "-b", "h:1", "--rise", "0"}, "out of range"},
		{{"weir", "-l", ":1", "-b", "h:1", "--fall", "x"}, "not a whole number"},
		{{"weir", "-l", ":1", "-b", "h:1", "--health-send", "a\\q"}, "bad escape"},
		{{"weir", "-l", ":1", "-b", "h:1", "--health-send", "\\x00"}, "bad escape"},
		{{"weir", "-l", ":1", "-b", "h:1", "--health-expect", ""}, "empty string"},
		{{"weir", "-l", ":1", "-b", "h:1", "--max-connections", "lots"}, "or 'auto'"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct weir_config cfg;
		enum config_action action;
		struct weir_err err;

		assert_int_equal(parse((char **)bad[i].argv, &cfg, &action, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].says))
			fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, bad[i].says);
		config_free(&cfg);
	}
}

static void parsing_twice_starts_afresh(void **state)
{
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;

	/* getopt keeps state between calls; a second parse must not inherit it. */
	assert_int_equal(parse(ARGS("-l", ":1", "-b", "h:1"), &cfg, &action, &err), 0);
	config_free(&cfg);
	assert_int_equal(parse(ARGS("-l", ":2", "-b", "h:2"), &cfg, &action, &err), 0);
	assert_string_equal(FE(cfg).listens[0], ":2");
	config_free(&cfg);
}

static void health_and_balance_keys(void **state)
{
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;
	char buf[64];

	assert_int_equal(
		parse(ARGS("-l", ":1", "-b", "h:1", "-B", "hash", "--health-check", "tcp", "--rise",
			   "5", "--health-send", "PING\\r\\n", "--health-expect", "+PONG\\x21"),
		      &cfg, &action, &err),
		0);
	assert_string_equal(BE(cfg).balance->name, "hash");
	assert_int_equal(BE(cfg).health_check, HEALTH_TCP);
	assert_int_equal(BE(cfg).rise, 5);
	assert_int_equal(BE(cfg).fall, 3);
	assert_string_equal(BE(cfg).health_send, "PING\r\n");
	assert_string_equal(BE(cfg).health_expect, "+PONG!");
	/* The summary writes strings back with the escapes they need. */
	config_format_value(&BE(cfg), config_find("health-send"), buf, sizeof(buf));
	assert_string_equal(buf, "PING\\r\\n");
	config_free(&cfg);
}

static void timeouts_and_limits(void **state)
{
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;

	/* The linger timeout follows the idle timeout unless given. */
	assert_int_equal(
		parse(ARGS("-l", ":1", "-b", "h:1", "--idle-timeout", "90s"), &cfg, &action, &err),
		0);
	assert_int_equal(FE(cfg).idle_timeout_ms, 90000);
	assert_int_equal(FE(cfg).linger_timeout_ms, 90000);
	assert_int_equal(cfg.max_connections, 0); /* auto */
	config_free(&cfg);
	assert_int_equal(parse(ARGS("-l", ":1", "-b", "h:1", "--linger-timeout", "5s",
				    "--max-connections", "10", "--drain-timeout", "0"),
			       &cfg, &action, &err),
			 0);
	assert_int_equal(FE(cfg).idle_timeout_ms, 300000);
	assert_int_equal(FE(cfg).linger_timeout_ms, 5000);
	assert_int_equal(cfg.max_connections, 10);
	assert_int_equal(cfg.drain_timeout_ms, 0);
	config_free(&cfg);
}

static void keys_are_found_by_name(void **state)
{
	assert_non_null(config_find("listen"));
	assert_int_equal(config_find("listen")->short_name, 'l');
	assert_non_null(config_find("connect-timeout"));
	assert_null(config_find("listne"));
	/* -b/--backend on the command line is the file's "server"; "backend" is file only. */
	assert_string_equal(config_flag(config_find("server")), "backend");
	assert_int_equal(config_find("server")->short_name, 'b');
	assert_null(config_flag(config_find("backend")));
	assert_string_equal(config_flag(config_find("balance")), "balance");
}

/* The keys weir.conf(5) says change only on restart, and no others. */
static void restart_only_keys(void **state)
{
	static const char *const fixed[] = {"buffer-size", "rcvbuf",   "sndbuf",	"stats",
					    "stats-admin", "admin",    "resolvers",	"user",
					    "group",	   "pid-file", "event-backend", "workers"};
	size_t n = 0;

	for (size_t i = 0; i < config_n_keys; i++)
		n += config_keys[i].restart_only;
	assert_int_equal(n, sizeof(fixed) / sizeof(fixed[0]));
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		assert_true(config_find(fixed[i])->restart_only);
}

static void command_line_makes_one_frontend_and_backend(void **state)
{
	struct weir_config cfg;
	enum config_action action;
	struct weir_err err;

	assert_int_equal(parse(ARGS("-b", "h:1", "-l", ":1", "-b", "h:2"), &cfg, &action, &err), 0);
	assert_int_equal(cfg.n_frontends, 1);
	assert_int_equal(cfg.n_backends, 1);
	assert_string_equal(FE(cfg).backend, BE(cfg).name);
	assert_int_equal(FE(cfg).backend_index, 0);
	assert_int_equal(BE(cfg).n_servers, 2);
	assert_null(cfg.file);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_come_from_the_table),
		cmocka_unit_test(full_command_line),
		cmocka_unit_test(actions),
		cmocka_unit_test(server_spec_forms),
		cmocka_unit_test(source_forms),
		cmocka_unit_test(usage_errors),
		cmocka_unit_test(parsing_twice_starts_afresh),
		cmocka_unit_test(health_and_balance_keys),
		cmocka_unit_test(timeouts_and_limits),
		cmocka_unit_test(keys_are_found_by_name),
		cmocka_unit_test(command_line_makes_one_frontend_and_backend),
		cmocka_unit_test(restart_only_keys),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
