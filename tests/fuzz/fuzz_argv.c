/*
 * The command line: the input split at NUL bytes into arguments after argv[0] = "weir",
 * parsed by config_parse_args. Checked: it reads no file (the config file is config_load's
 * business; only access() on the installed path is allowed), a usage error explains itself,
 * and a command line it accepts without -c is a complete configuration.
 *
 * The no-file check needs the link to route libweir's calls through the wrappers below:
 * -Wl,--wrap=fopen,--wrap=fopen64,--wrap=open,--wrap=open64,--wrap=openat,--wrap=openat64,
 * --wrap=access (build.sh passes them). Built without, the check is vacuous, not wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "fuzz.h"

#ifndef WEIR_CONFIG_FILE
#error "build with -DWEIR_CONFIG_FILE='\"/nonexistent/weir.conf\"', as lib/ is"
#endif

/* Arguments after argv[0], at most. */
#define MAX_ARGS 64

static bool parsing; /* only while config_parse_args runs */

static void no_file(const char *fn, const char *path)
{
	if (parsing) {
		fprintf(stderr, "config_parse_args called %s(\"%s\"): it must not read files\n", fn,
			path);
		abort();
	}
}

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode)
{
	no_file("fopen", path);
	return __real_fopen(path, mode);
}

FILE *__real_fopen64(const char *path, const char *mode);
FILE *__wrap_fopen64(const char *path, const char *mode);
FILE *__wrap_fopen64(const char *path, const char *mode)
{
	no_file("fopen64", path);
	return __real_fopen64(path, mode);
}

/* open and openat take a mode only with O_CREAT or O_TMPFILE. */
#define OPEN_MODE(flags, mode)                                                                   \
	do {                                                                                     \
		va_list ap;                                                                      \
		va_start(ap, flags);                                                             \
		mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;                 \
		va_end(ap);                                                                      \
	} while (0)

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode;

	OPEN_MODE(flags, mode);
	no_file("open", path);
	return __real_open(path, flags, mode);
}

int __real_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...)
{
	mode_t mode;

	OPEN_MODE(flags, mode);
	no_file("open64", path);
	return __real_open64(path, flags, mode);
}

int __real_openat(int dirfd, const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode;

	OPEN_MODE(flags, mode);
	no_file("openat", path);
	return __real_openat(dirfd, path, flags, mode);
}

int __real_openat64(int dirfd, const char *path, int flags, ...);
int __wrap_openat64(int dirfd, const char *path, int flags, ...);
int __wrap_openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode;

	OPEN_MODE(flags, mode);
	no_file("openat64", path);
	return __real_openat64(dirfd, path, flags, mode);
}

/* Whether the installed config file exists: the one question about files allowed. */
int __real_access(const char *path, int how);
int __wrap_access(const char *path, int how);
int __wrap_access(const char *path, int how)
{
	if (strcmp(path, WEIR_CONFIG_FILE) != 0)
		no_file("access", path);
	return __real_access(path, how);
}

/* A command line accepted without -c: complete and checked, as config_check promises. */
static void check_accepted(const struct weir_config *cfg)
{
	FUZZ_CHECK(cfg->n_frontends == 1 && cfg->n_backends == 1,
		   "%zu frontends, %zu backends from the command line", cfg->n_frontends,
		   cfg->n_backends);
	FUZZ_CHECK(cfg->frontends[0].line == 0 && cfg->frontends[0].n_listens >= 1,
		   "the command line's frontend");
	FUZZ_CHECK(cfg->backends[0].line == 0 && cfg->backends[0].n_servers >= 1,
		   "the command line's backend");
	FUZZ_CHECK(cfg->frontends[0].backend_index == 0 &&
			   strcmp(cfg->frontends[0].backend, cfg->backends[0].name) == 0,
		   "the frontend's backend");
	FUZZ_CHECK(cfg->frontends[0].linger_timeout_ms != CONFIG_UNSET, "linger unset");
	FUZZ_CHECK(!cfg->group || cfg->user, "a group without a user");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_cstr(data, size), arg0[] = "weir";
	char *argv[MAX_ARGS + 2];
	struct weir_err err = {{0}};
	struct weir_config cfg;
	enum config_action action;
	int argc = 1, r;

	/* "a\0b" is two arguments; a final NUL does not start another. */
	argv[0] = arg0;
	for (size_t i = 0; i < size && argc <= MAX_ARGS; argc++) {
		argv[argc] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;

	FUZZ_CHECK(config_init(&cfg) == 0, "config_init failed");
	parsing = true;
	r = config_parse_args(&cfg, argc, argv, &action, &err);
	parsing = false;
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && err.msg[0], "config_parse_args returned %d (\"%s\")", r,
			   err.msg);
	} else {
		FUZZ_CHECK(r == 0, "config_parse_args returned %d", r);
		if (action != CONFIG_HELP && action != CONFIG_VERSION && !cfg.file)
			check_accepted(&cfg);
	}
	config_free(&cfg);
	free(buf);
	return 0;
}
