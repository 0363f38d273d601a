#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "ctl.h"
#include "log.h"
#include "units.h"

#define CTL_WORDS 8

void ctl_printf(struct ctl_out *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (out->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(out->buf ? out->buf + out->len : NULL, out->cap - out->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (out->len + (size_t)n < out->cap) {
			out->len += (size_t)n;
			return;
		}
		{
			size_t cap = out->cap ? out->cap * 2 : 4096;
			char *grown;
			while (cap <= out->len + (size_t)n)
				cap *= 2;
			grown = realloc(out->buf, cap);
			if (!grown) {
				out->failed = true;
				return;
			}
			out->buf = grown;
			out->cap = cap;
		}
	}
}

void ctl_finish(struct ctl_out *out, bool ok, const char *why)
{
	if (ok)
		ctl_printf(out, "ok\n");
	else
		ctl_printf(out, "error: %s\n", why);
}

void ctl_out_free(struct ctl_out *out)
{
	free(out->buf);
	memset(out, 0, sizeof(*out));
}

/* The line cut into at most CTL_WORDS blank-separated words (in `buf`); their number. */
static size_t split(const char *line, char *buf, size_t size, char **words)
{
	size_t n = 0;
	char *save = NULL;

	snprintf(buf, size, "%s", line);
	buf[strcspn(buf, "\r\n")] = '\0';
	for (char *w = strtok_r(buf, " \t", &save); w && n < CTL_WORDS;
	     w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	return strtok_r(NULL, " \t", &save) ? CTL_WORDS + 1 : n;
}

/*
 * The servers the running configuration no longer lists (whose connections still run) of
 * one backend and label: shown and named BACKEND/~LABEL, since a server of the running one
 * may have that label now.
 */
struct removed_ref {
	const char *backend, *label;
	struct server **found;
	size_t n, cap;
	bool failed; /* out of memory */
};

static bool match_removed(const char *backend, struct server *s, void *arg)
{
	struct removed_ref *r = arg;
	struct server **grown;

	if (strcmp(backend, r->backend) != 0 || strcmp(s->label, r->label) != 0)
		return true;
	if (r->n == r->cap) {
		grown = realloc(r->found, (r->cap * 2 + 4) * sizeof(*grown));
		if (!grown) {
			r->failed = true;
			return false;
		}
		r->found = grown;
		r->cap = r->cap * 2 + 4;
	}
	r->found[r->n++] = s;
	return true;
}

/* Split "BACKEND/SERVER" into `name` (the backend) and the server part; false if it is not. */
static bool split_ref(const char *ref, char *name, size_t size, const char **server,
		      struct weir_err *err)
{
	const char *slash = strchr(ref, '/');

	if (!slash || slash == ref || !slash[1] || (size_t)(slash - ref) >= size) {
		err_set(err, "'%s' is not BACKEND/SERVER", ref);
		return false;
	}
	snprintf(name, size, "%.*s", (int)(slash - ref), ref);
	*server = slash + 1;
	return true;
}

/*
 * The removed servers `ref` (BACKEND/~LABEL) names, into r->found (free it); false with
 * the reason in `err` if there is none.
 */
static bool find_removed(const struct proxy *p, const char *ref, struct removed_ref *r, char *name,
			 size_t size, struct weir_err *err)
{
	memset(r, 0, sizeof(*r));
	if (!split_ref(ref, name, size, &r->label, err))
		return false;
	r->backend = name;
	r->label += r->label[0] == '~';
	if (gen_each_removed(p->gen, match_removed, r) < 0 || r->failed) {
		err_set(err, "out of memory");
		return false;
	}
	if (!r->n)
		err_set(err, "backend '%s' has no removed server '%s' with connections", name,
			r->label);
	return r->n > 0;
}

/* "BACKEND/SERVER" of the current configuration, or NULL with the reason in `err`. */
static struct server *find_server(const struct proxy *p, const char *ref, size_t *backend,
				  struct weir_err *err)
{
	char name[256];
	const char *label;
	struct removed_ref r = {0};
	long b;

	if (!split_ref(ref, name, sizeof(name), &label, err))
		return NULL;
	if ((b = gen_backend_index(p->gen, name)) >= 0) {
		*backend = (size_t)b;
		for (size_t i = 0; i < p->gen->pools[b].n; i++)
			if (strcmp(p->gen->pools[b].servers[i]->label, label) == 0)
				return p->gen->pools[b].servers[i];
	}
	if (label[0] == '~') {
		/* If there is none, find_removed says so. */
		if (find_removed(p, ref, &r, name, sizeof(name), err))
			err_set(err, "server %s was removed: only shutdown sessions applies to it",
				ref);
	} else if (find_removed(p, ref, &r, name, sizeof(name), err))
		err_set(err,
			"server %s was removed (it is %s/~%s now): only shutdown sessions "
			"applies to it",
			ref, name, label);
	else if (b < 0)
		err_set(err, "no backend called '%s'", name);
	else
		err_set(err, "backend '%s' has no server '%s'", name, label);
	free(r.found);
	return NULL;
}

/* One line of show servers; a removed server (BACKEND/~LABEL) is in no state and has no
 * health or weight. `share`: the percentage of its share it takes (slow start). */
static void server_line(struct ctl_out *out, const char *backend, const struct server *s,
			bool removed, unsigned share)
{
	const char *state = server_admin_name(shared_load(&s->admin));
	const char *health = shared_load(&s->state) == SERVER_UP ? "UP" : "DOWN";
	unsigned weight = shared_load(&s->weight);

	if (removed) {
		state = "removed";
		health = "-";
		weight = 0;
	}
	ctl_printf(out, "%s/%s%s %s %s %s %u %u %llu %llu %llu %llu %u%%\n", backend,
		   removed ? "~" : "", s->label, s->name, state, health, weight,
		   shared_load(&s->active), (unsigned long long)shared_load(&s->total),
		   (unsigned long long)shared_load(&s->connect_failures),
		   (unsigned long long)shared_load(&s->bytes_to_server),
		   (unsigned long long)shared_load(&s->bytes_to_client), share);
}

static bool show_removed(const char *backend, struct server *s, void *arg)
{
	server_line(arg, backend, s, true, 100);
	return true;
}

static bool show_servers(const struct proxy *p, struct ctl_out *out)
{
	const struct generation *g = p->gen;
	uint64_t now_ms = clock_mono_ms();

	ctl_printf(out, "# server address state health weight connections total "
			"connect_failures bytes_to_server bytes_to_client share\n");
	for (size_t b = 0; b < g->cfg.n_backends; b++) {
		const struct pool *pool = &g->pools[b];
		for (size_t i = 0; i < pool->n; i++)
			server_line(out, pool->cfg->name, pool->servers[i], false,
				    pool_server_share(pool, pool->servers[i], now_ms) / 10);
	}
	/* Then those the configuration dropped whose connections still run. */
	return gen_each_removed(g, show_removed, out) == 0;
}

/* Each worker lists its own connections into its own part; the parts are joined after. */
struct conn_listing {
	struct ctl_out *parts;
};

static bool list_one(struct conn *c, void *arg)
{
	struct ctl_out *out = arg;
	char line[512];

	conn_describe(c, line, sizeof(line));
	ctl_printf(out, "%s\n", line);
	return !out->failed;
}

static void list_worker(struct worker *w, void *arg)
{
	struct conn_listing *l = arg;

	worker_each_conn(w, list_one, &l->parts[w->id]);
}

static bool show_conns(struct proxy *p, struct ctl_out *out)
{
	struct conn_listing l = {calloc(p->n_workers, sizeof(struct ctl_out))};

	if (!l.parts)
		return false;
	proxy_each(p, list_worker, &l);
	ctl_printf(out, "# worker frontend client server state age_ms to_server to_client\n");
	for (unsigned k = 0; k < p->n_workers; k++) {
		struct ctl_out *part = &l.parts[k];
		/* Each line of the part, with its worker in front. */
		for (size_t at = 0; at < part->len;) {
			size_t n = strcspn(part->buf + at, "\n");
			ctl_printf(out, "%u %.*s\n", k, (int)n, part->buf + at);
			at += n + 1;
		}
		out->failed |= part->failed;
		ctl_out_free(part);
	}
	free(l.parts);
	return !out->failed;
}

/* Cut every connection to some servers (one, or the removed ones of a name), on each worker. */
struct cut_servers {
	struct server *const *s;
	size_t n;
	size_t *cut; /* one count per worker */
};

static bool cut_one(struct conn *c, void *arg)
{
	struct cut_servers *cs = arg;
	const struct server *s = conn_server(c);

	for (size_t i = 0; s && i < cs->n; i++) {
		if (s == cs->s[i]) {
			conn_cut(c, false);
			cs->cut[0]++;
			break;
		}
	}
	return true;
}

static void cut_worker(struct worker *w, void *arg)
{
	struct cut_servers *cs = arg, mine = {cs->s, cs->n, &cs->cut[w->id]};

	worker_each_conn(w, cut_one, &mine);
}

/* shutdown sessions server REF: false (with the reason in `err`) if nothing was done. */
static bool shutdown_sessions(struct proxy *p, const char *ref, struct ctl_out *out,
			      struct weir_err *err)
{
	char name[256];
	const char *label = strchr(ref, '/');
	struct removed_ref r = {0};
	struct cut_servers cs;
	struct server *one = NULL;
	size_t b, total = 0;
	bool ok;

	if (label && label[1] == '~') {
		ok = find_removed(p, ref, &r, name, sizeof(name), err);
		cs = (struct cut_servers){r.found, r.n, NULL};
	} else {
		ok = (one = find_server(p, ref, &b, err)) != NULL;
		cs = (struct cut_servers){&one, 1, NULL};
	}
	if (ok && !(cs.cut = calloc(p->n_workers, sizeof(*cs.cut)))) {
		err_set(err, "out of memory");
		ok = false;
	}
	if (ok) {
		proxy_each(p, cut_worker, &cs);
		for (unsigned k = 0; k < p->n_workers; k++)
			total += cs.cut[k];
		log_msg(WLOG_INFO, "server %s: %zu connection(s) shut down (admin)", ref, total);
		ctl_printf(out, "%zu connection(s) shut down\n", total);
	}
	free(cs.cut);
	free(r.found);
	return ok;
}

/* Waiting clients are looked at again once the state changed: a server set ready may serve
 * them, and with its backend's last one drained they are told at once, as new clients are. */
static bool set_state(struct proxy *p, struct server *s, const struct pool *pool, const char *word,
		      struct weir_err *err)
{
	static const char *const names[] = {"ready", "drain", "maint"};

	for (unsigned a = 0; a < ARRAY_SIZE(names); a++) {
		if (strcmp(word, names[a]) != 0)
			continue;
		if (shared_load(&s->admin) == a)
			return true;
		log_msg(WLOG_INFO, "server %s/%s is now %s (admin)", pool->cfg->name, s->label,
			names[a]);
		if (a == ADMIN_READY)
			pool_server_ramp(pool, s);
		shared_store(&s->admin, (uint8_t)a);
		proxy_kick_all(p);
		return true;
	}
	err_set(err, "state must be ready, drain or maint, not '%s'", word);
	return false;
}

static const char help[] =
	"show servers\n"
	"show conns\n"
	"set server BACKEND/SERVER state ready|drain|maint\n"
	"set server BACKEND/SERVER weight N\n"
	"add server BACKEND ADDR[,weight=N][,maxconn=N][,backup][,name=NAME]...\n"
	"del server BACKEND/SERVER\n"
	"shutdown sessions server BACKEND/SERVER (BACKEND/~SERVER: the removed ones)\n";

enum ctl_result ctl_run(struct proxy *p, struct reloader *r, const char *line, struct ctl_out *out,
			reload_done_fn *done, void *ctx)
{
	char buf[CTL_LINE_MAX + 1], *w[CTL_WORDS];
	struct weir_err err = {""};
	struct config_op op = {0};
	struct server *s = NULL;
	size_t n = split(line, buf, sizeof(buf), w), b = 0;
	bool ok = true;

	if (n == 1 && strcmp(w[0], "help") == 0) {
		ctl_printf(out, "%s", help);
	} else if (n == 2 && strcmp(w[0], "show") == 0 && strcmp(w[1], "servers") == 0) {
		if (!(ok = show_servers(p, out)))
			err_set(&err, "out of memory");
	} else if (n == 2 && strcmp(w[0], "show") == 0 && strcmp(w[1], "conns") == 0) {
		if (!(ok = show_conns(p, out)))
			err_set(&err, "out of memory");
	} else if (n == 5 && strcmp(w[0], "set") == 0 && strcmp(w[1], "server") == 0 &&
		   strcmp(w[3], "state") == 0) {
		ok = (s = find_server(p, w[2], &b, &err)) &&
		     set_state(p, s, &p->gen->pools[b], w[4], &err);
	} else if (n == 5 && strcmp(w[0], "set") == 0 && strcmp(w[1], "server") == 0 &&
		   strcmp(w[3], "weight") == 0) {
		uint64_t v;
		if ((ok = (s = find_server(p, w[2], &b, &err)) != NULL) &&
		    (units_parse_uint(w[4], &v) < 0 || v > 256)) {
			err_set(&err, "weight must be a number from 0 to 256, not '%s'", w[4]);
			ok = false;
		}
		if (ok) {
			op = (struct config_op){CONFIG_OP_WEIGHT, p->gen->cfg.backends[b].name,
						NULL, s->spec, (unsigned)v};
			reloader_change(r, &op, done, ctx);
			return CTL_LATER;
		}
	} else if (n == 4 && strcmp(w[0], "add") == 0 && strcmp(w[1], "server") == 0) {
		struct server_spec spec;
		/* Checked here, for an answer that says what is wrong with it right away. */
		if (gen_backend_index(p->gen, w[2]) < 0) {
			err_set(&err, "no backend called '%s'", w[2]);
			ok = false;
		} else if (config_parse_server(w[3], &spec, &err) < 0) {
			ok = false;
		} else {
			config_server_free(&spec);
			op = (struct config_op){CONFIG_OP_ADD, w[2], w[3], 0, 0};
			reloader_change(r, &op, done, ctx);
			return CTL_LATER;
		}
	} else if (n == 3 && strcmp(w[0], "del") == 0 && strcmp(w[1], "server") == 0) {
		if ((ok = (s = find_server(p, w[2], &b, &err)) &&
			  pool_spec_drained(&p->gen->pools[b], s->spec, &err))) {
			op = (struct config_op){CONFIG_OP_DEL, p->gen->cfg.backends[b].name, NULL,
						s->spec, 0};
			reloader_change(r, &op, done, ctx);
			return CTL_LATER;
		}
	} else if (n == 4 && strcmp(w[0], "shutdown") == 0 && strcmp(w[1], "sessions") == 0 &&
		   strcmp(w[2], "server") == 0) {
		ok = shutdown_sessions(p, w[3], out, &err);
	} else {
		err_set(&err, n ? "unknown command (try help)" : "empty command (try help)");
		ok = false;
	}
	ctl_finish(out, ok, err.msg);
	return CTL_DONE;
}
