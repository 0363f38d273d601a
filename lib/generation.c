#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "generation.h"

int gen_new(struct generation **out, struct weir_config *cfg, struct weir_err *err)
{
	struct generation *g = calloc(1, sizeof(*g));
	int r = 0;

	*out = NULL;
	if (!g) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	g->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	g->pools = calloc(g->cfg.n_backends, sizeof(*g->pools));
	g->health = calloc(g->cfg.n_backends, sizeof(*g->health));
	g->frontends = calloc(g->cfg.n_frontends, sizeof(*g->frontends));
	if (!g->pools || !g->health || !g->frontends) {
		err_set(err, "out of memory");
		gen_free(g);
		return -ENOMEM;
	}
	for (size_t b = 0; b < g->cfg.n_backends && r == 0; b++)
		r = pool_build_backend(&g->pools[b], &g->cfg.backends[b], err);
	if (r < 0) {
		gen_free(g);
		return r;
	}
	g->n_frontends = g->cfg.n_frontends;
	for (size_t i = 0; i < g->n_frontends; i++) {
		struct frontend *fe = &g->frontends[i];
		fe->cfg = &g->cfg.frontends[i];
		fe->gen = g;
		fe->pool = &g->pools[fe->cfg->backend_index];
		idle_list_init(&fe->active);
		idle_list_init(&fe->lingering);
	}
	*out = g;
	return 0;
}

static bool gen_owns_server(const struct generation *g, const struct server *s)
{
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		if (s >= g->pools[b].servers && s < g->pools[b].servers + g->pools[b].n)
			return true;
	return false;
}

static struct server *find_server(const struct generation *g, const char *backend,
				  const struct server *like)
{
	for (size_t b = 0; b < g->cfg.n_backends; b++) {
		if (strcmp(g->cfg.backends[b].name, backend) != 0)
			continue;
		for (size_t i = 0; i < g->pools[b].n; i++)
			if (strcmp(g->pools[b].servers[i].name, like->name) == 0)
				return &g->pools[b].servers[i];
	}
	return NULL;
}

void gen_carry_state(struct generation *to, const struct generation *from)
{
	for (size_t b = 0; b < to->cfg.n_backends; b++) {
		for (size_t i = 0; i < to->pools[b].n; i++) {
			struct server *s = &to->pools[b].servers[i];
			struct server *old = find_server(from, to->cfg.backends[b].name, s);
			if (!old)
				continue;
			/* Connections still open on the old copy count here too (maxconn,
			 * leastconn). */
			s->active = old->active;
			old->heir = s;
			s->state = old->state;
			s->fails = old->fails;
			s->passes = old->passes;
			s->retry_at = old->retry_at;
			s->changed = old->changed;
			s->total = old->total;
			s->connect_failures = old->connect_failures;
		}
		for (size_t f = 0; f < from->cfg.n_backends; f++)
			if (strcmp(from->cfg.backends[f].name, to->cfg.backends[b].name) == 0)
				to->pools[b].retries = from->pools[f].retries;
	}
	for (size_t i = 0; i < to->n_frontends; i++)
		for (size_t j = 0; j < from->n_frontends; j++)
			if (strcmp(to->frontends[i].cfg->name, from->frontends[j].cfg->name) == 0) {
				to->frontends[i].accepted = from->frontends[j].accepted;
				to->frontends[i].bytes_to_server =
					from->frontends[j].bytes_to_server;
				to->frontends[i].bytes_to_client =
					from->frontends[j].bytes_to_client;
			}
}

int gen_start_health(struct generation *g, struct ev_loop *loop, struct weir_err *err)
{
	for (size_t b = 0; b < g->cfg.n_backends; b++)
		if (g->cfg.backends[b].health_check == HEALTH_TCP &&
		    health_start(&g->health[b], loop, &g->pools[b], err) < 0)
			return -ENOMEM;
	return 0;
}

void gen_stop_health(struct generation *g)
{
	for (size_t b = 0; g->health && b < g->cfg.n_backends; b++)
		health_stop(&g->health[b]);
}

void gen_forget(struct generation *gone, struct generation *others)
{
	for (struct generation *g = others; g; g = g->older) {
		if (g == gone)
			continue;
		for (size_t b = 0; b < g->cfg.n_backends; b++) {
			for (size_t i = 0; i < g->pools[b].n; i++) {
				struct server *s = &g->pools[b].servers[i];
				/* Skip over the heirs that go away with `gone`. */
				while (s->heir && gen_owns_server(gone, s->heir))
					s->heir = s->heir->heir;
			}
		}
	}
}

void gen_free(struct generation *g)
{
	if (!g)
		return;
	gen_stop_health(g);
	for (size_t b = 0; g->pools && b < g->cfg.n_backends; b++)
		pool_fini(&g->pools[b]);
	free(g->pools);
	free(g->health);
	free(g->frontends);
	config_free(&g->cfg);
	free(g);
}
