#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generation.h"
#include "htab.h"
#include "log.h"

/* A resolved listen address and the frontend that asked for it. */
struct listen_key {
	char text[ADDR_TEXT_MAX];
	const struct frontend *fe;
};

static bool same_text(const void *entry, const void *key)
{
	return strcmp(((const struct listen_key *)entry)->text, key) == 0;
}

/*
 * The same address twice would be bound twice (SO_REUSEPORT lets that succeed) and split
 * its clients between two sockets: refuse it, whichever frontends ask for it.
 */
static int check_unique_listens(struct generation *g, struct weir_err *err)
{
	struct listen_key *keys;
	size_t n = 0, k = 0;
	struct htab t;
	int r = 0;

	for (size_t i = 0; i < g->n_frontends; i++)
		n += g->frontends[i].n_addrs;
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys || htab_init(&t, n) < 0) {
		free(keys);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < g->n_frontends && r == 0; i++) {
		const struct frontend *fe = &g->frontends[i];
		for (size_t j = 0; j < fe->n_addrs && r == 0; j++, k++) {
			struct listen_key *key = &keys[k];
			const struct addr *a = &fe->addrs[j].a;
			void **slot;
			char at[300];
			if (a->ss.ss_family != AF_UNIX &&
			    ((const struct sockaddr_in *)&a->ss)->sin_port == 0)
				continue; /* port 0: the kernel picks a different port each time */
			addr_format((const struct sockaddr *)&fe->addrs[j].a.ss, fe->addrs[j].a.len,
				    key->text, sizeof(key->text));
			key->fe = fe;
			slot = htab_slot(&t, hash_str(key->text, 0), same_text, key->text);
			if (!*slot) {
				*slot = key;
				continue;
			}
			config_where(&g->cfg, fe->cfg->line, at, sizeof(at));
			if (((struct listen_key *)*slot)->fe == fe)
				err_set(err, "%sfrontend '%s' listens on %s twice", at,
					fe->cfg->name, key->text);
			else
				err_set(err, "%sfrontend '%s' listens on %s, as frontend '%s' does",
					at, fe->cfg->name, key->text,
					((struct listen_key *)*slot)->fe->cfg->name);
			r = -EINVAL;
		}
	}
	htab_fini(&t);
	free(keys);
	return r;
}

/*
 * The owner a unix socket file is given: user and group names looked up (this may block:
 * it runs off the loop). The _r lookups want a buffer big enough for the entry: a group with
 * many members needs more, so it grows until the answer fits.
 */
static int lookup_owner(const struct listen_spec *spec, struct listen_addr *la,
			struct weir_err *err)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	size_t size = 1024;
	char *buf = NULL;
	int e = 0, r = 0;

	la->uid = (uid_t)-1;
	la->gid = (gid_t)-1;
	do {
		char *grown = realloc(buf, size *= 4);
		if (!grown) {
			e = ENOMEM;
			break;
		}
		buf = grown;
		e = 0;
		if (spec->user)
			e = getpwnam_r(spec->user, &pw, buf, size, &pwp);
		if (!e && spec->group)
			e = getgrnam_r(spec->group, &gr, buf + size / 2, size / 2, &grp);
	} while (e == ERANGE && size < (1 << 24));
	if (e == ENOMEM) {
		err_set(err, "out of memory");
		r = -ENOMEM;
	} else if (spec->user && !pwp) {
		err_set(err, "listen '%s': no user called '%s'", spec->addr, spec->user);
		r = -ENOENT;
	} else if (spec->group && !grp) {
		err_set(err, "listen '%s': no group called '%s'", spec->addr, spec->group);
		r = -ENOENT;
	} else {
		la->uid = spec->user ? pw.pw_uid : (uid_t)-1;
		la->gid = spec->group ? gr.gr_gid : (gid_t)-1;
	}
	free(buf);
	return r;
}

/* Every address of the frontend's listen keys, in order, with their file mode and owner. */
static int resolve_listens(struct frontend *fe, struct weir_err *err)
{
	for (size_t j = 0; j < fe->cfg->n_listens; j++) {
		struct listen_addr *grown;
		struct listen_spec spec;
		struct addr *addrs = NULL;
		size_t n = 0;
		int r = config_parse_listen(fe->cfg->listens[j], &spec, err);

		if (r == 0)
			r = addr_resolve(spec.addr, ADDR_LISTEN, &addrs, &n, err);
		grown = r == 0 ? realloc(fe->addrs, (fe->n_addrs + n) * sizeof(*grown)) : NULL;
		if (r == 0 && !grown) {
			err_set(err, "out of memory");
			r = -ENOMEM;
		}
		if (grown)
			fe->addrs = grown;
		for (size_t k = 0; k < n && r == 0; k++) {
			struct listen_addr *la = &fe->addrs[fe->n_addrs++];
			la->a = addrs[k];
			la->mode = spec.mode;
			la->shared = spec.shared;
			la->backlog = fe->cfg->backlog ? (int)fe->cfg->backlog : 65535;
			r = lookup_owner(&spec, la, err);
		}
		free(addrs);
		config_listen_free(&spec);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Client addresses a frontend with per-source limits tracks at once. */
#define SOURCES_TRACKED 16384

static int build_routes(struct generation *g, struct frontend *fe, struct weir_err *err)
{
	const struct config_list *l = &fe->cfg->route_sni;

	fe->routes = calloc(l->n + 1, sizeof(*fe->routes));
	if (!fe->routes) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t k = 0; k < l->n; k++) {
		char backend[256];
		if (config_split_route(l->items[k], fe->routes[k].pattern,
				       sizeof(fe->routes[k].pattern), backend, sizeof(backend),
				       err) < 0)
			return -EINVAL;
		fe->routes[k].pool = &g->pools[fe->cfg->route_backend[k]];
	}
	fe->n_routes = l->n;
	return 0;
}

struct pool *gen_route_sni(const struct frontend *fe, const char *name)
{
	const struct sni_route *best = NULL;

	for (size_t k = 0; k < fe->n_routes; k++) {
		const struct sni_route *r = &fe->routes[k];
		if (!sni_match(r->pattern, name))
			continue;
		if (r->pattern[0] != '*')
			return r->pool; /* an exact name wins */
		if (!best || strlen(r->pattern) > strlen(best->pattern))
			best = r;
	}
	return best ? best->pool : fe->pool;
}

/* `n` zeroed elements of `size` bytes on their own cache lines, or NULL. */
static void *alloc_lines(size_t n, size_t size)
{
	void *p = aligned_alloc(64, n * size);

	if (p)
		memset(p, 0, n * size);
	return p;
}

int gen_new(struct generation **out, struct weir_config *cfg, unsigned n_workers,
	    struct weir_err *err)
{
	struct generation *g = calloc(1, sizeof(*g));
	int r = 0;

	*out = NULL;
	if (!g) {
		config_free(cfg); /* taken over, whatever happens */
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	g->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	g->n_workers = n_workers;
	g->local = alloc_lines(n_workers, sizeof(*g->local));
	g->pools = calloc(g->cfg.n_backends + 1, sizeof(*g->pools));
	g->health = calloc(g->cfg.n_backends + 1, sizeof(*g->health));
	g->frontends = calloc(g->cfg.n_frontends + 1, sizeof(*g->frontends));
	if (!g->local || !g->pools || !g->health || !g->frontends) {
		err_set(err, "out of memory");
		gen_free(g);
		return -ENOMEM;
	}
	for (size_t b = 0; b < g->cfg.n_backends && r == 0; b++) {
		struct pool *pool = &g->pools[b];
		r = pool_build_backend(pool, &g->cfg.backends[b], err);
		if (r == 0 && (!(pool->stats = calloc(1, sizeof(*pool->stats))) ||
			       !(pool->local = alloc_lines(n_workers, sizeof(*pool->local))))) {
			err_set(err, "out of memory");
			r = -ENOMEM;
		}
		if (r == 0) {
			pool->stats->refs = 1;
			pool->health = &g->health[b];
			for (unsigned k = 0; k < n_workers; k++)
				idle_list_init(&pool->local[k].queue);
		}
	}
	for (size_t i = 0; i < g->cfg.n_frontends && r == 0; i++) {
		struct frontend *fe = &g->frontends[i];
		g->n_frontends++;
		fe->cfg = &g->cfg.frontends[i];
		fe->gen = g;
		fe->pool = &g->pools[fe->cfg->backend_index];
		fe->local = alloc_lines(n_workers, sizeof(*fe->local));
		fe->stats = calloc(1, sizeof(*fe->stats));
		if (!fe->local || !fe->stats) {
			free(fe->stats);
			fe->stats = NULL;
			err_set(err, "out of memory");
			r = -ENOMEM;
			break;
		}
		for (unsigned k = 0; k < n_workers; k++) {
			idle_list_init(&fe->local[k].active);
			idle_list_init(&fe->local[k].lingering);
		}
		fe->stats->refs = 1;
		pthread_mutex_init(&fe->stats->lock, NULL);
		r = resolve_listens(fe, err);
		if (r == 0)
			r = acl_build(&fe->acl, fe->cfg->allow.items, fe->cfg->allow.n,
				      fe->cfg->deny.items, fe->cfg->deny.n, err);
		if (r == 0)
			r = build_routes(g, fe, err);
		if (r == 0 && (fe->cfg->max_conns_per_source || fe->cfg->rate_per_source) &&
		    source_table_init(&fe->stats->sources, SOURCES_TRACKED) < 0) {
			err_set(err, "out of memory");
			r = -ENOMEM;
		}
	}
	if (r == 0)
		r = check_unique_listens(g, err);
	if (r < 0) {
		gen_free(g);
		return r;
	}
	*out = g;
	return 0;
}

static void stats_put(struct frontend_stats *st)
{
	source_table_fini(&st->sources);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* What gen_match looks up: a running server, frontend or backend, by identity. */
enum twin_kind { TWIN_SERVER, TWIN_FRONTEND, TWIN_BACKEND };

struct twin_key {
	enum twin_kind kind;
	const char *name;   /* frontend or backend name */
	const char *server; /* TWIN_SERVER: its address, as text */
	uint64_t origin;    /* TWIN_SERVER: the line it comes from (pool.h) */
	unsigned occurrence;
	void *object;
	bool retired; /* listed by no running configuration, only by retired ones */
};

static bool same_twin(const void *entry, const void *key)
{
	const struct twin_key *a = entry, *b = key;

	return a->kind == b->kind && a->occurrence == b->occurrence && a->origin == b->origin &&
	       strcmp(a->name, b->name) == 0 &&
	       (a->kind != TWIN_SERVER || strcmp(a->server, b->server) == 0);
}

static uint64_t twin_hash(const struct twin_key *k)
{
	uint64_t h = hash_str(k->name, k->kind);

	return k->kind == TWIN_SERVER ? hash_str(k->server, (h ^ k->origin) + k->occurrence) : h;
}

static struct twin_key *find_twin(const struct htab *t, const struct twin_key *k)
{
	return *htab_slot(t, twin_hash(k), same_twin, k);
}

static void *twin_of(const struct htab *t, const struct twin_key *k)
{
	struct twin_key *found = find_twin(t, k);

	return found ? found->object : NULL;
}

int gen_match(struct generation *next, const struct generation *cur, struct weir_err *err)
{
	size_t n = 0, k = 0;
	struct twin_key *keys;
	struct htab t;

	for (const struct generation *g = cur; g; g = g->older) {
		n += g->n_frontends + g->cfg.n_backends;
		for (size_t b = 0; b < g->cfg.n_backends; b++)
			n += g->pools[b].n;
	}
	keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys || htab_init(&t, n) < 0) {
		free(keys);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	/*
	 * Every generation still alive, newest first: a server that a retired configuration
	 * still runs connections on is the same server when a later one lists it again.
	 */
	for (const struct generation *g = cur; g; g = g->older) {
		for (size_t i = 0; i < g->n_frontends; i++)
			keys[k++] = (struct twin_key){.kind = TWIN_FRONTEND,
						      .name = g->frontends[i].cfg->name,
						      .object = g->frontends[i].stats};
		for (size_t b = 0; b < g->cfg.n_backends; b++) {
			const struct pool *pool = &g->pools[b];
			const char *name = g->cfg.backends[b].name;
			keys[k++] = (struct twin_key){
				.kind = TWIN_BACKEND, .name = name, .object = pool->stats};
			for (size_t i = 0; i < pool->n; i++)
				keys[k++] = (struct twin_key){
					.kind = TWIN_SERVER,
					.name = name,
					.server = pool->servers[i]->name,
					.origin = pool->servers[i]->origin,
					.occurrence = pool->servers[i]->same_origin,
					.object = pool->servers[i],
					.retired = g != cur,
				};
		}
	}
	for (size_t i = 0; i < n; i++) {
		void **slot = htab_slot(&t, twin_hash(&keys[i]), same_twin, &keys[i]);
		if (!*slot)
			*slot = &keys[i]; /* the newest generation's, met first, stays */
	}

	for (size_t i = 0; i < next->n_frontends; i++) {
		struct twin_key key = {.kind = TWIN_FRONTEND, .name = next->frontends[i].cfg->name};
		next->frontends[i].stats->twin = twin_of(&t, &key);
	}
	for (size_t b = 0; b < next->cfg.n_backends; b++) {
		struct pool *pool = &next->pools[b];
		struct twin_key key = {.kind = TWIN_BACKEND, .name = next->cfg.backends[b].name};
		pool->stats->twin = twin_of(&t, &key);
		key.kind = TWIN_SERVER;
		for (size_t i = 0; i < pool->n; i++) {
			struct server *s = pool->servers[i], *twin;
			struct twin_key *found;
			key.server = s->name;
			key.origin = s->origin;
			key.occurrence = s->same_origin;
			found = find_twin(&t, &key);
			twin = found ? found->object : NULL;
			/* Workers read a server's source (and its ports) as they connect: a new
			 * one is a new server rather than a change under their feet. */
			if (twin &&
			    (twin->source.len != s->source.len ||
			     memcmp(&twin->source.ss, &s->source.ss, s->source.len) != 0 ||
			     twin->source_lo != s->source_lo || twin->source_hi != s->source_hi))
				twin = NULL;
			s->twin = twin;
			s->back = twin && found->retired;
		}
	}
	htab_fini(&t);
	free(keys);
	return 0;
}

void gen_adopt(struct generation *next)
{
	for (size_t i = 0; i < next->n_frontends; i++) {
		struct frontend *fe = &next->frontends[i];
		struct frontend_stats *twin = fe->stats->twin;
		if (!twin)
			continue;
		/* The counts of addresses carry on; a table the new limits need comes along. */
		if (!twin->sources.slots) {
			twin->sources = fe->stats->sources;
			fe->stats->sources.slots = NULL;
		}
		stats_put(fe->stats);
		twin->refs++;
		fe->stats = twin;
	}
	for (size_t b = 0; b < next->cfg.n_backends; b++) {
		struct pool *pool = &next->pools[b];
		struct backend_stats *twin = pool->stats->twin;
		if (twin) {
			free(pool->stats);
			twin->refs++;
			pool->stats = twin;
		}
		for (size_t i = 0; i < pool->n; i++) {
			struct server *fresh = pool->servers[i], *s = fresh->twin;
			if ((!s || fresh->back) && pool->active_checks) {
				/* New to a running weir, with checks on: a check lets it in. */
				fresh->state = SERVER_DOWN;
				fresh->passes = pool->rise - 1;
				log_msg(WLOG_INFO, "server %s/%s is new: it takes clients once a "
						   "check passes",
					next->cfg.backends[b].name, fresh->label);
			}
			/* New to a running weir: it warms up as one that came back does. */
			if (!s || fresh->back)
				pool_server_ramp(pool, s ? s : fresh);
			if (!s)
				continue;
			if (fresh->back) {
				/* Removed, and now listed again: new to the operator and the checks
				 * (none ran on it meanwhile). Only its counts carry on, since
				 * connections of retired configurations may still run on it. */
				shared_store(&s->admin, ADMIN_READY);
				health_renew(s, fresh);
			}
			s->refs++;
			s->spec = fresh->spec; /* the control thread's alone, as the label */
			memcpy(s->label, fresh->label, sizeof(s->label));
			shared_store(&s->weight, fresh->weight);
			shared_store(&s->maxconn, fresh->maxconn);
			shared_store(&s->backup, fresh->backup);
			shared_store(&s->send_proxy, fresh->send_proxy);
			pool->servers[i] = s;
			free(fresh);
		}
	}
}

static bool same_server(const void *entry, const void *key)
{
	return entry == key;
}

static uint64_t server_hash(const struct server *s)
{
	uintptr_t v = (uintptr_t)s;

	return hash_bytes(&v, sizeof(v), 0);
}

int gen_each_removed(const struct generation *cur,
		     bool (*fn)(const char *backend, struct server *s, void *arg), void *arg)
{
	size_t n = 0;
	struct htab seen;
	bool more = true;

	for (const struct generation *g = cur; g; g = g->older)
		n += gen_count_servers(g);
	if (htab_init(&seen, n) < 0)
		return -ENOMEM;
	/* The running configuration's servers first: those are not removed. */
	for (size_t b = 0; b < cur->cfg.n_backends; b++)
		for (size_t i = 0; i < cur->pools[b].n; i++) {
			struct server *s = cur->pools[b].servers[i];
			*htab_slot(&seen, server_hash(s), same_server, s) = s;
		}
	for (const struct generation *g = cur->older; g && more; g = g->older)
		for (size_t b = 0; b < g->cfg.n_backends && more; b++)
			for (size_t i = 0; i < g->pools[b].n && more; i++) {
				struct server *s = g->pools[b].servers[i];
				void **slot = htab_slot(&seen, server_hash(s), same_server, s);
				if (*slot || !shared_load(&s->active))
					continue;
				*slot = s;
				more = fn(g->cfg.backends[b].name, s, arg);
			}
	htab_fini(&seen);
	return 0;
}

int gen_health_init(struct generation *g, struct weir_err *err)
{
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		if (health_init(&g->health[b], &g->pools[b], err) < 0)
			return -ENOMEM;
	return 0;
}

void gen_health_start(struct generation *g, struct ev_loop *loop, void (*capacity)(void *ctx),
		      void *ctx)
{
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		health_start(&g->health[b], loop, capacity, ctx);
}

void gen_health_stop(struct generation *g)
{
	for (size_t b = 0; g->health && b < g->cfg.n_backends; b++)
		health_stop(&g->health[b]);
}

size_t gen_count_servers(const struct generation *g)
{
	size_t n = 0;

	for (size_t b = 0; b < g->cfg.n_backends; b++)
		n += g->pools[b].n;
	return n;
}

long gen_backend_index(const struct generation *g, const char *name)
{
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		if (strcmp(g->cfg.backends[b].name, name) == 0)
			return (long)b;
	return -1;
}

struct frontend *gen_frontend(struct generation *g, const char *name)
{
	for (size_t i = 0; i < g->n_frontends; i++)
		if (strcmp(g->frontends[i].cfg->name, name) == 0)
			return &g->frontends[i];
	return NULL;
}

void gen_free(struct generation *g)
{
	if (!g)
		return;
	gen_health_stop(g);
	for (size_t b = 0; g->pools && b < g->cfg.n_backends; b++) {
		struct pool *pool = &g->pools[b];
		pool_fini(pool);
		if (pool->stats && --pool->stats->refs == 0)
			free(pool->stats);
	}
	for (size_t i = 0; i < g->n_frontends; i++) {
		struct frontend *fe = &g->frontends[i];
		if (fe->stats && --fe->stats->refs == 0)
			stats_put(fe->stats);
		free(fe->addrs);
		acl_free(&fe->acl);
		free(fe->routes);
		free(fe->local);
	}
	free(g->local);
	free(g->pools);
	free(g->health);
	free(g->frontends);
	config_free(&g->cfg);
	free(g);
}
