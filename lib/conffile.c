/*
 * The config file, read with inih. Debian's inih is built with its defaults, which would
 * silently change what a file means: an indented line continues the previous value, lines
 * are cut at 200 bytes and names at 49, and the handler is told no line number. So inih gets
 * its lines from our own reader, which counts them, strips leading blanks, refuses lines and
 * names that would be cut, refuses binary data, and handles [section] headers itself.
 *
 * The reader reads at most CONFIG_FILE_MAX bytes and never more than a line's limit at a
 * time, so a file that is not a configuration (/dev/zero, a directory, a huge log) is an
 * error with a line number, not a hang or a gigabyte of memory. Section names are checked
 * for duplicates through a hash table once the file is read, so a file of any size loads in
 * linear time.
 */
#include <errno.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "htab.h"

/* inih's limits, as Debian builds it (INI_MAX_LINE 200, MAX_SECTION and MAX_NAME 50). */
#define INI_LINE_LIMIT 200
#define INI_NAME_LIMIT 49
/* The most of a file read; a configuration of a million servers fits. */
#define CONFIG_FILE_MAX (64 << 20)
/* Bytes of one line read before it is refused (blanks before a key may pad it a little). */
#define LINE_READ_MAX 1024

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
	size_t bytes;	      /* read so far */
	char *text;	      /* the lines read, kept so that the file as loaded can be reread */
	size_t text_len, text_cap;
	char buf[LINE_READ_MAX + 2];
};

/* Keep a line (and its newline) of the file as read. */
static bool keep_line(struct load *ld, const char *line, size_t len)
{
	if (ld->text_len + len + 1 > ld->text_cap) {
		size_t cap = ld->text_cap ? ld->text_cap * 2 : 4096;
		char *grown;
		while (cap < ld->text_len + len + 1)
			cap *= 2;
		if (!(grown = realloc(ld->text, cap)))
			return false;
		ld->text = grown;
		ld->text_cap = cap;
	}
	memcpy(ld->text + ld->text_len, line, len);
	ld->text[ld->text_len + len] = '\n';
	ld->text_len += len + 1;
	return true;
}

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

/*
 * The next line into ld->buf, without its line ending; its length, or -1 at the end of the
 * file or on an error (ld->failed says which).
 */
static ssize_t next_line(struct load *ld)
{
	size_t len = 0;
	int c = EOF;

	while (len <= LINE_READ_MAX && (c = getc(ld->file)) != EOF && c != '\n')
		ld->buf[len++] = (char)c;
	if (c == EOF && ferror(ld->file)) {
		err_set(ld->err, "%s: cannot read: %s", ld->cfg->file, strerror(errno));
		ld->failed = true;
		return -1;
	}
	if (c == EOF && len == 0)
		return -1;
	ld->line++;
	ld->bytes += len + 1;
	if (len > LINE_READ_MAX) {
		fail_at(ld, "line longer than %d bytes", INI_LINE_LIMIT - 2);
		return -1;
	}
	if (ld->bytes > CONFIG_FILE_MAX) {
		fail_at(ld, "the file is larger than %d MiB", CONFIG_FILE_MAX >> 20);
		return -1;
	}
	ld->buf[len] = '\0';
	if (!keep_line(ld, ld->buf, len)) {
		fail_at(ld, "out of memory");
		return -1;
	}
	return (ssize_t)len;
}

/* inih's reader: one line at a time, checked as described above. */
static char *read_line(char *str, int num, void *stream)
{
	struct load *ld = stream;
	ssize_t got;
	size_t len;
	char *p;

	if (ld->failed || (got = next_line(ld)) < 0)
		return NULL;
	len = (size_t)got;
	while (len && ld->buf[len - 1] == '\r')
		ld->buf[--len] = '\0';
	if (memchr(ld->buf, '\0', len)) {
		fail_at(ld, "binary data (a NUL byte) in the file");
		return NULL;
	}
	p = ld->buf;
	if (ld->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* a UTF-8 byte-order mark, as some editors write */
	p += strspn(p, " \t");
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
	if ((*seen & bit) && key->type != CT_LISTEN && key->type != CT_SERVER &&
	    key->type != CT_LIST)
		return fail_at(ld, "\"%s\" is given twice in [%s]", name, ld->section_name);
	*seen |= bit;
	if (config_set(ld->section, key, value, &inner) < 0)
		return fail_at(ld, "%s", inner.msg);
	return 1;
}

/* Replace `*field` with a copy of `name`; false when out of memory. */
static bool rename_to(char **field, const char *name)
{
	char *copy = strdup(name);

	if (!copy)
		return false;
	free(*field);
	*field = copy;
	return true;
}

struct named {
	const char *kind, *name;
	unsigned line;
};

static bool same_name(const void *entry, const void *key)
{
	const struct named *a = entry, *b = key;

	return a->kind == b->kind && strcmp(a->name, b->name) == 0;
}

/* No frontend or backend name twice: one pass through a hash table. */
static int check_unique_names(struct load *ld)
{
	const struct weir_config *cfg = ld->cfg;
	size_t n = cfg->n_frontends + cfg->n_backends, k = 0;
	struct named *all = calloc(n ? n : 1, sizeof(*all));
	struct htab t;
	int r = 0;

	if (!all || htab_init(&t, n) < 0) {
		free(all);
		err_set(ld->err, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_frontends; i++)
		all[k++] =
			(struct named){"frontend", cfg->frontends[i].name, cfg->frontends[i].line};
	for (size_t i = 0; i < cfg->n_backends; i++)
		all[k++] = (struct named){"backend", cfg->backends[i].name, cfg->backends[i].line};
	for (size_t i = 0; i < n && r == 0; i++) {
		void **slot =
			htab_slot(&t, hash_str(all[i].name, all[i].kind[0]), same_name, &all[i]);
		if (!*slot) {
			*slot = &all[i];
			continue;
		}
		ld->line = all[i].line;
		fail_at(ld, "[%s %s] is defined twice (first at line %u)", all[i].kind, all[i].name,
			((struct named *)*slot)->line);
		r = -EINVAL;
	}
	htab_fini(&t);
	free(all);
	return r;
}

int config_load_from(struct weir_config *cfg, const char *text, size_t text_len,
		     struct weir_err *err)
{
	struct load ld = {.cfg = cfg, .err = err};
	struct stat st;
	int r;

	/* The command line's own frontend and backend stay, under names of their own. */
	for (size_t i = 0; i < cfg->n_frontends; i++)
		if (cfg->frontends[i].line == 0 && !strcmp(cfg->frontends[i].name, "default") &&
		    (!rename_to(&cfg->frontends[i].name, "command-line") ||
		     !rename_to(&cfg->frontends[i].backend, "command-line"))) {
			err_set(err, "out of memory");
			return -EINVAL;
		}
	for (size_t i = 0; i < cfg->n_backends; i++)
		if (cfg->backends[i].line == 0 && !strcmp(cfg->backends[i].name, "default") &&
		    !rename_to(&cfg->backends[i].name, "command-line")) {
			err_set(err, "out of memory");
			return -EINVAL;
		}
	/* The file as loaded before, or the file as it is now. */
	ld.file = text ? fmemopen((void *)(text_len ? text : "\n"), text_len ? text_len : 1, "r")
		       : fopen(cfg->file, "re");
	if (!ld.file) {
		r = -errno;
		err_set(err, "cannot read %s: %s", cfg->file, strerror(errno));
		return r;
	}
	if (fstat(fileno(ld.file), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(ld.file);
		err_set(err, "%s: cannot read: %s", cfg->file, strerror(EISDIR));
		return -EISDIR; /* unreadable, as a missing file is */
	}
	r = ini_parse_stream(read_line, &ld, handle_key, &ld);
	fclose(ld.file);
	if (!ld.failed && r == 0 && check_unique_names(&ld) < 0)
		ld.failed = true;
	if (!ld.failed && r != 0) {
		ld.line = (unsigned)(r > 0 ? r : 0);
		fail_at(&ld, "%s",
			r > 0 ? "not a key = value line or a [section] header" : "out of memory");
	}
	if (ld.failed || config_apply_overrides(cfg, err) < 0 || config_check(cfg, err) < 0) {
		free(ld.text);
		return -EINVAL;
	}
	cfg->text = ld.text;
	cfg->text_len = ld.text_len;
	return 0;
}

int config_load(struct weir_config *cfg, struct weir_err *err)
{
	return config_load_from(cfg, NULL, 0, err);
}
