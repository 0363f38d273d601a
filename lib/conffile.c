/*
 * The config file, read with inih. Debian's inih is built with its defaults, which would
 * silently change what a file means: an indented line continues the previous value, lines
 * are cut at 200 bytes and names at 49, and the handler is told no line number. So inih gets
 * its lines from our own reader, which counts them, strips leading blanks, refuses lines and
 * names that would be cut, refuses binary data, and handles [section] headers itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* inih's limits, as Debian builds it (INI_MAX_LINE 200, MAX_SECTION and MAX_NAME 50). */
#define INI_LINE_LIMIT 200
#define INI_NAME_LIMIT 49

struct load {
	struct weir_config *cfg;
	FILE *file;
	unsigned line;
	void *section; /* the weir_config, frontend_cfg or backend_cfg being filled */
	enum config_scope scope;
	const char *section_name; /* "global", "frontend web", ... for messages */
	char section_text[INI_LINE_LIMIT];
	struct weir_err *err;
	bool failed;	      /* err holds the reason */
	unsigned global_line; /* of the [global] header; 0: none yet */
	char *buf;	      /* getline's */
	size_t cap;
};

static int fail_at(struct load *ld, const char *fmt, ...) WEIR_PRINTF(2, 3);

/* Record "FILE:LINE: message" and stop; returns 0, which also tells inih to stop. */
static int fail_at(struct load *ld, const char *fmt, ...)
{
	char msg[sizeof(ld->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(ld->err, "%s:%u: %s", ld->cfg->file, ld->line, msg);
	ld->failed = true;
	return 0;
}

static bool name_taken(const struct weir_config *cfg, enum config_scope scope, const char *name)
{
	if (scope == SCOPE_FRONTEND) {
		for (size_t i = 0; i < cfg->n_frontends; i++)
			if (strcmp(cfg->frontends[i].name, name) == 0)
				return true;
	} else {
		for (size_t i = 0; i < cfg->n_backends; i++)
			if (strcmp(cfg->backends[i].name, name) == 0)
				return true;
	}
	return false;
}

/* "[global]", "[frontend NAME]", "[backend NAME]"; `line` itself still goes to inih. */
static void begin_section(struct load *ld, const char *line)
{
	char *text = ld->section_text, *close, *name;
	size_t kind;

	snprintf(text, sizeof(ld->section_text), "%s", line + 1);
	close = strchr(text, ']');
	if (!close || close[1 + strspn(close + 1, " \t")] != '\0') {
		fail_at(ld, "malformed section header");
		return;
	}
	*close = '\0';
	ld->section_name = text;
	if (strcmp(text, "global") == 0) {
		if (ld->global_line) {
			fail_at(ld, "[global] is defined twice (first at line %u)",
				ld->global_line);
			return;
		}
		ld->global_line = ld->line;
		ld->section = ld->cfg;
		ld->scope = SCOPE_GLOBAL;
		return;
	}
	kind = strcspn(text, " \t");
	name = text + kind + strspn(text + kind, " \t");
	if ((kind == 8 && strncmp(text, "frontend", 8) == 0) ||
	    (kind == 7 && strncmp(text, "backend", 7) == 0)) {
		enum config_scope scope = kind == 8 ? SCOPE_FRONTEND : SCOPE_BACKEND;
		if (!*name || strcspn(name, " \t") != strlen(name)) {
			fail_at(ld, "[%s] needs one name, as in [%.8s NAME]", text, text);
			return;
		}
		if (name_taken(ld->cfg, scope, name)) {
			fail_at(ld, "[%s] is defined twice", text);
			return;
		}
		ld->scope = scope;
		ld->section = scope == SCOPE_FRONTEND
				      ? (void *)config_add_frontend(ld->cfg, name, ld->line)
				      : (void *)config_add_backend(ld->cfg, name, ld->line);
		if (!ld->section)
			fail_at(ld, "out of memory");
		return;
	}
	fail_at(ld, "unknown section [%s] (expected [global], [frontend NAME], [backend NAME])",
		text);
}

/* inih's reader: one line at a time, checked as described above. */
static char *read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	ssize_t got;
	size_t len;
	char *p;

	if (ld->failed || (got = getline(&ld->buf, &ld->cap, ld->file)) < 0)
		return NULL;
	ld->line++;
	len = (size_t)got;
	while (len && (ld->buf[len - 1] == '\n' || ld->buf[len - 1] == '\r'))
		ld->buf[--len] = '\0';
	if (memchr(ld->buf, '\0', len)) {
		fail_at(ld, "binary data (a NUL byte) in the file");
		return NULL;
	}
	p = ld->buf + strspn(ld->buf, " \t");
	if (strlen(p) + 2 > (size_t)num || strlen(p) + 2 > INI_LINE_LIMIT) {
		fail_at(ld, "line longer than %d bytes", INI_LINE_LIMIT - 2);
		return NULL;
	}
	if (*p == '[') {
		begin_section(ld, p);
		if (ld->failed)
			return NULL;
	} else if (*p && *p != '#' && *p != ';') {
		size_t name_len = strcspn(p, "=:");
		while (name_len && (p[name_len - 1] == ' ' || p[name_len - 1] == '\t'))
			name_len--;
		if (name_len > INI_NAME_LIMIT) {
			fail_at(ld, "key name longer than %d bytes", INI_NAME_LIMIT);
			return NULL;
		}
	}
	snprintf(str, (size_t)num, "%s\n", p);
	return str;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	const struct config_key *key = config_find(name);
	struct weir_err inner;
	uint64_t *seen, bit;

	if (!ld->section)
		return fail_at(ld, "\"%s\" is outside any section", name);
	if (!key)
		return fail_at(ld, "unknown key \"%s\" in [%s]", name, ld->section_name);
	if (key->scope != ld->scope)
		return fail_at(ld, "\"%s\" does not belong in [%s]", name, ld->section_name);
	seen = ld->scope == SCOPE_GLOBAL     ? &ld->cfg->seen
	       : ld->scope == SCOPE_FRONTEND ? &((struct frontend_cfg *)ld->section)->seen
					     : &((struct backend_cfg *)ld->section)->seen;
	bit = 1ULL << (key - config_keys);
	if ((*seen & bit) && key->type != CT_LISTEN && key->type != CT_SERVER)
		return fail_at(ld, "\"%s\" is given twice in [%s]", name, ld->section_name);
	*seen |= bit;
	if (config_set(ld->section, key, value, &inner) < 0)
		return fail_at(ld, "%s", inner.msg);
	return 1;
}

int config_load(struct weir_config *cfg, struct weir_err *err)
{
	struct load ld = {.cfg = cfg, .err = err};
	int r;

	/* The command line's own frontend and backend stay, under names of their own. */
	for (size_t i = 0; i < cfg->n_frontends; i++)
		if (cfg->frontends[i].line == 0 && !strcmp(cfg->frontends[i].name, "default")) {
			free(cfg->frontends[i].name);
			free(cfg->frontends[i].backend);
			cfg->frontends[i].name = strdup("command-line");
			cfg->frontends[i].backend = strdup("command-line");
		}
	for (size_t i = 0; i < cfg->n_backends; i++)
		if (cfg->backends[i].line == 0 && !strcmp(cfg->backends[i].name, "default")) {
			free(cfg->backends[i].name);
			cfg->backends[i].name = strdup("command-line");
		}
	ld.file = fopen(cfg->file, "re");
	if (!ld.file) {
		r = -errno;
		err_set(err, "cannot read %s: %s", cfg->file, strerror(errno));
		return r;
	}
	r = ini_parse_stream(read_line, &ld, handle_key, &ld);
	fclose(ld.file);
	free(ld.buf);
	if (ld.failed)
		return -EINVAL;
	if (r != 0) {
		ld.line = (unsigned)(r > 0 ? r : 0);
		fail_at(&ld, "%s",
			r > 0 ? "not a key = value line or a [section] header" : "out of memory");
		return -EINVAL;
	}
	if (config_apply_overrides(cfg, err) < 0 || config_check(cfg, err) < 0)
		return -EINVAL;
	return 0;
}
