/*
 * The config file: a full good file, the command line over it, and every kind of mistake
 * reported as FILE:LINE with the exact line, including what Debian's inih would otherwise
 * silently reinterpret (indented lines, over-long lines and names); files that are not
 * configurations at all (a directory, /dev/zero) fail at once with bounded memory; a UTF-8
 * byte-order mark is accepted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "pool.h"

static char path[64];

static int make_dir(void **state)
{
	snprintf(path, sizeof(path), "/tmp/weir-conffile-%ld.conf", (long)getpid());
	return 0;
}

static int remove_file(void **state)
{
	unlink(path);
	return 0;
}

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Load `text` as the config file, with extra command-line arguments before it. */
static int load(const char *text, struct weir_config *cfg, struct weir_err *err, char **extra_args)
{
	char *argv[16] = {"weir", "-c", path};
	int argc = 3;
	enum config_action action;

	while (extra_args && *extra_args)
		argv[argc++] = *extra_args++;
	write_file(text, strlen(text));
	assert_int_equal(config_init(cfg), 0);
	err->msg[0] = '\0';
	assert_int_equal(config_parse_args(cfg, argc, argv, &action, err), 0);
	return config_load(cfg, err);
}

static const char good[] = "# a comment\n"
			   "[global]\n"
			   "max-connections = 100\n"
			   "log-level = debug\n"
			   "\n"
			   "[frontend web]\n"
			   "listen = 127.0.0.1:8080\n"
			   "listen = [::1]:8080 ; inline comment\n"
			   "backend = app\n"
			   "idle-timeout = 90s\n"
			   "\n"
			   "[frontend db]\n"
			   "  listen = unix:/tmp/db.sock\n"
			   "  backend = pg\n"
			   "\n"
			   "[backend app]\n"
			   "balance = leastconn\n"
			   "server = 10.0.0.1:8080 weight=3\n"
			   "server = 10.0.0.2:8080\n"
			   "    server = 10.0.0.3:8080 backup\n"
			   "health-check = tcp\n"
			   "health-send = PING\\r\\n\n"
			   "\n"
			   "[backend pg]\n"
			   "server = 10.0.0.9:5432\n";

static void good_file(void **state)
{
	struct weir_config cfg;
	struct weir_err err;

	assert_int_equal(load(good, &cfg, &err, NULL), 0);
	assert_int_equal(cfg.max_connections, 100);
	assert_int_equal(cfg.log_level, WLOG_DEBUG);
	assert_int_equal(cfg.n_frontends, 2);
	assert_int_equal(cfg.n_backends, 2);
	assert_string_equal(cfg.frontends[0].name, "web");
	assert_int_equal(cfg.frontends[0].line, 6);
	assert_int_equal(cfg.frontends[0].n_listens, 2);
	assert_string_equal(cfg.frontends[0].listens[1], "[::1]:8080");
	assert_int_equal(cfg.frontends[0].idle_timeout_ms, 90000);
	assert_int_equal(cfg.frontends[0].linger_timeout_ms, 90000);
	assert_int_equal(cfg.frontends[0].backend_index, 0);
	assert_int_equal(cfg.frontends[1].backend_index, 1);
	assert_string_equal(cfg.frontends[1].listens[0], "unix:/tmp/db.sock");
	/* The indented server line is a server of its own, not part of the line above. */
	assert_int_equal(cfg.backends[0].n_servers, 3);
	assert_string_equal(cfg.backends[0].servers[1].addr, "10.0.0.2:8080");
	assert_true(cfg.backends[0].servers[2].backup);
	assert_int_equal(cfg.backends[0].servers[0].weight, 3);
	assert_string_equal(cfg.backends[0].balance->name, "leastconn");
	assert_string_equal(cfg.backends[0].health_send, "PING\r\n");
	assert_string_equal(cfg.backends[1].balance->name, "roundrobin");
	config_free(&cfg);
}

static void command_line_overrides_the_file(void **state)
{
	struct weir_config cfg;
	struct weir_err err;

	assert_int_equal(load(good, &cfg, &err,
			      (char *[]){"--connect-timeout", "1s", "--log-level", "error",
					 "--idle-timeout", "10s", "-l", ":9", "-b", "h:9", NULL}),
			 0);
	assert_int_equal(cfg.log_level, WLOG_ERROR);
	for (size_t i = 0; i < cfg.n_backends; i++)
		assert_int_equal(cfg.backends[i].connect_timeout_ms, 1000);
	for (size_t i = 0; i < cfg.n_frontends; i++)
		assert_int_equal(cfg.frontends[i].idle_timeout_ms, 10000);
	/* -l and -b add a frontend and backend of their own beside the file's. */
	assert_int_equal(cfg.n_frontends, 3);
	assert_string_equal(cfg.frontends[0].name, "command-line");
	assert_string_equal(cfg.backends[cfg.frontends[0].backend_index].servers[0].addr, "h:9");
	config_free(&cfg);
}

static void bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *says; /* after "FILE:" */
	} bad[] = {
		{"[frontend web]\nlisten = :80\nlistne = :81\n",
		 "3: unknown key \"listne\" in [frontend web]"},
		{"[frontend web]\nlisten = :80\nbackend = app\n[backend app]\nserver = "
		 "h:1\nconnect-timeout = 5x\n",
		 "6: connect-timeout: '5x' is not a duration"},
		{"[frontend web]\nlisten = :80\nbackend = ap\n[backend app]\nserver = h:1\n",
		 "1: frontend 'web' names backend 'ap', which is not defined"},
		{"[frontend web]\nlisten = :80\nbackend = app\nbackend = app\n",
		 "4: \"backend\" is given twice in [frontend web]"},
		{"[global]\nlog-level = info\n\n\nlog-level = debug\n",
		 "5: \"log-level\" is given twice"},
		{"[backend app]\nserver = h:1\n  weight = 5\n",
		 "3: unknown key \"weight\" in [backend app]"},
		{"[global]\nlog-level = info\nbogus line\n", "3: not a key = value line"},
		{"", "nothing to listen on"},
		{"# only a comment\n\n", "nothing to listen on"},
		{"[fronted web]\n", "1: unknown section [fronted web]"},
		{"[frontend]\n", "1: [frontend] needs one name"},
		{"[frontend a b]\n", "1: [frontend a b] needs one name"},
		{"[frontend web]\nlisten = :1\n[frontend web]\n",
		 "3: [frontend web] is defined twice"},
		{"listen = :80\n", "1: \"listen\" is outside any section"},
		{"[global]\nlisten = :80\n", "2: \"listen\" does not belong in [global]"},
		{"[backend b]\nidle-timeout = 5s\n",
		 "2: \"idle-timeout\" does not belong in [backend b]"},
		{"[frontend web]\nbackend = app\n[backend app]\nserver = h:1\n",
		 "1: frontend 'web' has no listen key"},
		{"[frontend web]\nlisten = :1\nbackend = app\n[backend app]\nbalance = hash\n",
		 "4: backend 'app' has no server"},
		{"[frontend web]\nlisten = nonsense\n",
		 "2: listen: address 'nonsense' needs a port"},
		{"[global\n", "1: malformed section header"},
		{"[global]\nlog-level = info\n[global]\n",
		 "3: [global] is defined twice (first at line 1)"},
		{"[frontend a]\nlisten = :1\nbackend = b\n[backend b]\nserver = h:1\n[backend b]\n"
		 "server = h:2\n",
		 "6: [backend b] is defined twice (first at line 4)"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct weir_config cfg;
		struct weir_err err;
		char want[512];

		assert_int_equal(load(bad[i].text, &cfg, &err, NULL), -EINVAL);
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].says);
		if (strncmp(err.msg, want, strlen(want)) != 0 &&
		    !(strstr(err.msg, bad[i].says) && strncmp(err.msg, path, strlen(path)) == 0))
			fail_msg("case %zu: got '%s', expected '%s'", i, err.msg, want);
		config_free(&cfg);
	}
}

static void overlong_line_is_refused_not_cut(void **state)
{
	char text[512] = "[frontend web]\nlisten = :80\nbackend = ";
	struct weir_config cfg;
	struct weir_err err;
	size_t n = strlen(text);

	memset(text + n, 'a', 200);
	strcpy(text + n + 200, "\n");
	assert_int_equal(load(text, &cfg, &err, NULL), -EINVAL);
	assert_non_null(strstr(err.msg, ":3: line longer than 198 bytes"));
	config_free(&cfg);
}

static void overlong_key_name_is_refused_not_cut(void **state)
{
	char text[256] = "[global]\n";
	struct weir_config cfg;
	struct weir_err err;

	memset(text + 9, 'k', 60);
	strcpy(text + 69, " = 1\n");
	assert_int_equal(load(text, &cfg, &err, NULL), -EINVAL);
	assert_non_null(strstr(err.msg, ":2: key name longer than 49 bytes"));
	config_free(&cfg);
}

static void binary_garbage(void **state)
{
	static const char text[] = "[global]\nlog-level = info\n\x7f\x45LF\x00\x01\x02\n";
	struct weir_config cfg;
	struct weir_err err;
	enum config_action action;
	char *argv[] = {"weir", "-c", path, NULL};

	write_file(text, sizeof(text) - 1);
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 3, argv, &action, &err), 0);
	assert_int_equal(config_load(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ":3: binary data"));
	config_free(&cfg);
}

/* `file` given as -c: config_load's result, and its message in `msg`. */
static int load_path(const char *file, char *msg, size_t len)
{
	struct weir_config cfg;
	struct weir_err err;
	enum config_action action;
	char *argv[] = {"weir", "-c", (char *)file, NULL};
	int r;

	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 3, argv, &action, &err), 0);
	r = config_load(&cfg, &err);
	snprintf(msg, len, "%s", err.msg);
	config_free(&cfg);
	return r;
}

static void files_that_are_not_configurations(void **state)
{
	char msg[256];

	assert_int_equal(load_path("/tmp", msg, sizeof(msg)), -EISDIR); /* unreadable: 66 */
	assert_string_equal(msg, "/tmp: cannot read: Is a directory");
	/* One endless line: refused after a line's worth, not read into memory. */
	assert_int_equal(load_path("/dev/zero", msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "/dev/zero:1: line longer than 198 bytes");
}

static void a_byte_order_mark_is_accepted(void **state)
{
	struct weir_config cfg;
	struct weir_err err;
	static const char text[] = "\xef\xbb\xbf[frontend web]\nlisten = :80\nbackend = app\n"
				   "[backend app]\nserver = h:1\n";

	assert_int_equal(load(text, &cfg, &err, NULL), 0);
	assert_string_equal(cfg.frontends[0].name, "web");
	config_free(&cfg);
}

static void unreadable_file(void **state)
{
	struct weir_config cfg;
	struct weir_err err;
	enum config_action action;
	char *argv[] = {"weir", "-c", "/nonexistent/weir.conf", NULL};

	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 3, argv, &action, &err), 0);
	assert_int_equal(config_load(&cfg, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot read /nonexistent/weir.conf"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_file),
		cmocka_unit_test(command_line_overrides_the_file),
		cmocka_unit_test(bad_files),
		cmocka_unit_test(overlong_line_is_refused_not_cut),
		cmocka_unit_test(overlong_key_name_is_refused_not_cut),
		cmocka_unit_test(binary_garbage),
		cmocka_unit_test(unreadable_file),
		cmocka_unit_test(files_that_are_not_configurations),
		cmocka_unit_test(a_byte_order_mark_is_accepted),
	};
	return cmocka_run_group_tests_name("conffile", tests, make_dir, remove_file);
}
