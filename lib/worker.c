#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "worker.h"

/* Free buffers a loop keeps for reuse; more are returned to the allocator. */
#define WORKER_SPARE_BUFFERS 64

int worker_init(struct worker *w, struct ev_loop *loop, const struct weir_config *cfg,
		struct pool *pool, struct weir_err *err)
{
	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->cfg = cfg;
	w->pool = pool;
	bufpool_init(&w->bufs, cfg->buffer_size, WORKER_SPARE_BUFFERS);
	w->relay.pool = &w->bufs;
	w->relay.scratch = malloc(cfg->buffer_size);
	if (!w->relay.scratch) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	idle_list_init(&w->conns);
	return 0;
}

int worker_listen(struct worker *w, const char *spec, struct weir_err *err)
{
	struct addr *addrs;
	struct listener **grown;
	size_t n;
	int r = addr_resolve(spec, ADDR_LISTEN, &addrs, &n, err);

	if (r < 0)
		return r;
	grown = realloc(w->listeners, (w->n_listeners + n) * sizeof(*grown));
	if (!grown) {
		free(addrs);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	w->listeners = grown;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct listener *l;
		r = listener_open(&l, w, &addrs[i], spec, err);
		if (r == 0) {
			w->listeners[w->n_listeners++] = l;
			log_msg(WLOG_INFO, "listening on %s (frontend %s)", l->name, spec);
		}
	}
	free(addrs);
	return r;
}

void worker_stop(struct worker *w)
{
	struct idle_entry *e;

	for (size_t i = 0; i < w->n_listeners; i++)
		listener_close(w->listeners[i]);
	w->n_listeners = 0;
	while ((e = idle_list_oldest(&w->conns)))
		conn_shutdown(conn_of_entry(e));
}

void worker_fini(struct worker *w)
{
	worker_stop(w);
	free(w->listeners);
	free(w->relay.scratch);
	bufpool_fini(&w->bufs);
	memset(w, 0, sizeof(*w));
}
