/*
 * A configuration as a whole, once every key is read: each frontend names a backend that
 * exists (routes included) and has a listener, each backend a server, and the defaults
 * that follow other keys are filled in. Also the "file:line: " that errors start with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "htab.h"

void config_where(const struct weir_config *cfg, unsigned line, char *buf, size_t len)
{
	if (cfg->file && line)
		snprintf(buf, len, "%s:%u: ", cfg->file, line);
	else if (cfg->file)
		snprintf(buf, len, "%s: ", cfg->file);
	else
		buf[0] = '\0';
}

int config_split_route(const char *value, char *pattern, size_t plen, char *backend, size_t blen,
		       struct weir_err *err)
{
	size_t n = strcspn(value, " \t=");
	const char *b = value + n + strspn(value + n, " \t=");
	bool wild = n > 2 && value[0] == '*' && value[1] == '.';

	if (n == 0 || n >= plen || !*b || strcspn(b, " \t") != strlen(b) || strlen(b) >= blen)
		goto bad;
	for (size_t i = wild ? 2 : 0; i < n; i++) {
		char c = value[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || (c == '.' && i > 0 && value[i - 1] != '.')))
			goto bad;
	}
	for (size_t i = 0; i < n; i++)
		pattern[i] = (char)(value[i] >= 'A' && value[i] <= 'Z' ? value[i] - 'A' + 'a'
								       : value[i]);
	pattern[n] = '\0';
	snprintf(backend, blen, "%s", b);
	return 0;
bad:
	err_set(err, "'%s' is not 'PATTERN BACKEND' (PATTERN a host name or *.domain)", value);
	return -EINVAL;
}

int config_check_route(const char *value, struct weir_err *err)
{
	char pattern[256], backend[256];

	return config_split_route(value, pattern, sizeof(pattern), backend, sizeof(backend), err);
}

static bool backend_named(const void *entry, const void *key)
{
	return strcmp(((const struct backend_cfg *)entry)->name, key) == 0;
}

/* Each frontend's backend, found by name through a hash table (linear in the file). */
static int link_backends(struct weir_config *cfg, struct weir_err *err)
{
	struct htab t;
	char at[512];
	int r = 0;

	if (htab_init(&t, cfg->n_backends) < 0) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t b = 0; b < cfg->n_backends; b++) {
		void **slot = htab_slot(&t, hash_str(cfg->backends[b].name, 0), backend_named,
					cfg->backends[b].name);
		if (!*slot)
			*slot = &cfg->backends[b];
	}
	for (size_t i = 0; i < cfg->n_frontends && r == 0; i++) {
		struct frontend_cfg *fe = &cfg->frontends[i];
		const struct backend_cfg *be =
			*htab_slot(&t, hash_str(fe->backend, 0), backend_named, fe->backend);
		free(fe->route_backend);
		fe->route_backend = calloc(fe->route_sni.n + 1, sizeof(*fe->route_backend));
		if (!fe->route_backend) {
			err_set(err, "out of memory");
			r = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < fe->route_sni.n && r == 0; k++) {
			char pattern[256], name[256];
			const struct backend_cfg *to;
			r = config_split_route(fe->route_sni.items[k], pattern, sizeof(pattern),
					       name, sizeof(name), err);
			to = r ? NULL : *htab_slot(&t, hash_str(name, 0), backend_named, name);
			if (r == 0 && !to) {
				config_where(cfg, fe->line, at, sizeof(at));
				err_set(err,
					"%sfrontend '%s': route-sni names backend '%s', which is "
					"not defined",
					at, fe->name, name);
				r = -EINVAL;
			}
			if (r == 0)
				fe->route_backend[k] = (size_t)(to - cfg->backends);
		}
		if (r)
			break;
		if (be) {
			fe->backend_index = (size_t)(be - cfg->backends);
			continue;
		}
		config_where(cfg, fe->line, at, sizeof(at));
		if (fe->line)
			err_set(err, "%sfrontend '%s' names backend '%s', which is not defined", at,
				fe->name, fe->backend);
		else
			err_set(err, "nowhere to proxy to: give at least one -b SERVER");
		r = -EINVAL;
	}
	htab_fini(&t);
	return r;
}

int config_check(struct weir_config *cfg, struct weir_err *err)
{
	char at[512];

	if (cfg->group && !cfg->user) {
		config_where(cfg, 0, at, sizeof(at));
		err_set(err, "%sgroup '%s' needs a user as well (weir would stay root)", at,
			cfg->group);
		return -EINVAL;
	}
	if (cfg->n_frontends == 0) {
		config_where(cfg, 0, at, sizeof(at));
		err_set(err, "%snothing to listen on: %s", at,
			cfg->file ? "define a [frontend NAME] with a listen key"
				  : "give at least one -l ADDR");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_frontends; i++) {
		struct frontend_cfg *fe = &cfg->frontends[i];

		config_where(cfg, fe->line, at, sizeof(at));
		if (fe->n_listens == 0) {
			err_set(err, "%sfrontend '%s' has no listen key", at, fe->name);
			return -EINVAL;
		}
		if (!fe->backend) {
			err_set(err, "%sfrontend '%s' names no backend", at, fe->name);
			return -EINVAL;
		}
		if (fe->linger_timeout_ms == CONFIG_UNSET)
			fe->linger_timeout_ms = fe->idle_timeout_ms;
	}
	if (link_backends(cfg, err) < 0)
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_backends; i++) {
		const struct backend_cfg *be = &cfg->backends[i];
		config_where(cfg, be->line, at, sizeof(at));
		if (be->n_servers == 0) {
			err_set(err, "%sbackend '%s' has no server", at, be->name);
			return -EINVAL;
		}
		if (be->queue_timeout_ms == CONFIG_UNSET)
			((struct backend_cfg *)be)->queue_timeout_ms = be->connect_timeout_ms;
		if (be->health_expect && strlen(be->health_expect) > CONFIG_EXPECT_MAX) {
			err_set(err,
				"%sbackend '%s': health-expect is longer than %d bytes, more than "
				"a check reads of a reply",
				at, be->name, CONFIG_EXPECT_MAX);
			return -EINVAL;
		}
	}
	return 0;
}
