#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "notify.h"
#include "reload.h"

/* ---- prepare, commit, abort ---------------------------------------------------------- */

static int plan_add(struct reload *rl, struct listener *l, struct frontend *owner, bool fresh,
		    struct weir_err *err)
{
	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? rl->cap * 2 : 8;
		struct listener **a = realloc(rl->listeners, cap * sizeof(*a));
		struct frontend **b = a ? realloc(rl->owners, cap * sizeof(*b)) : NULL;
		bool *c = b ? realloc(rl->fresh, cap * sizeof(*c)) : NULL;
		rl->listeners = a ? a : rl->listeners;
		rl->owners = b ? b : rl->owners;
		rl->fresh = c ? c : rl->fresh;
		if (!c) {
			if (fresh)
				listener_close(l);
			err_set(err, "out of memory");
			return -ENOMEM;
		}
		rl->cap = cap;
	}
	rl->listeners[rl->n] = l;
	rl->owners[rl->n] = owner;
	rl->fresh[rl->n++] = fresh;
	return 0;
}

static int adopt(struct reload *rl, struct frontend *fe, struct inherited *in, struct weir_err *err)
{
	struct listener *l;
	int r = listener_adopt(&l, rl->p, in->fd, in->name, err);

	if (r < 0)
		return r;
	in->used = true;
	return plan_add(rl, l, fe, true, err);
}

/* Whether the plan already has a listener for `fe` bound at `a` (a passed socket). */
static bool planned(const struct reload *rl, const struct frontend *fe, const struct addr *a)
{
	for (size_t i = 0; i < rl->n; i++)
		if (rl->owners[i] == fe && listener_bound_at(rl->listeners[i], a))
			return true;
	return false;
}

/* One address of `fe`: a running listener kept, a passed socket adopted, or a new one. */
static int plan_address(struct reload *rl, struct frontend *fe, const struct listen_addr *la,
			struct weir_err *err)
{
	struct proxy *p = rl->p;
	struct listener *l;
	int r;

	if (planned(rl, fe, &la->a))
		return 0; /* a socket passed under the frontend's name is bound there */
	/* A listener bound there is kept; so is one the frontend asked "any port" of before
	 * (port 0): asking the same again keeps the port the kernel gave it. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < p->n_listeners; i++) {
			struct listener *old = p->listeners[i];
			if (rl->kept[i] || !(pass ? strcmp(old->frontend, fe->cfg->name) == 0 &&
							     listener_bound_any_port(old, &la->a)
						  : listener_bound_at(old, &la->a)))
				continue;
			rl->kept[i] = true;
			r = listener_set_access(old, la, err);
			return r < 0 ? r : plan_add(rl, old, fe, false, err);
		}
	}
	for (size_t k = 0; k < rl->n_in; k++) {
		struct inherited *in = &rl->in[k];
		if (!in->used && in->len &&
		    addr_equal((const struct sockaddr *)&la->a.ss, la->a.len,
			       (const struct sockaddr *)&in->addr, in->len))
			return adopt(rl, fe, in, err);
	}
	r = listener_open(&l, p, la, err);
	return r < 0 ? r : plan_add(rl, l, fe, true, err);
}

/* What each worker is handed at commit: its watches of the next set; the removed ones. */
static int plan_workers(struct reload *rl, struct weir_err *err)
{
	struct proxy *p = rl->p;

	rl->sets = calloc(p->n_workers, sizeof(*rl->sets));
	rl->gone = calloc(p->n_listeners + 1, sizeof(*rl->gone));
	if (!rl->sets || !rl->gone) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (unsigned k = 0; k < p->n_workers; k++) {
		rl->sets[k] = calloc(rl->n + 1, sizeof(*rl->sets[k]));
		if (!rl->sets[k]) {
			err_set(err, "out of memory");
			return -ENOMEM;
		}
		for (size_t i = 0; i < rl->n; i++)
			rl->sets[k][i] = &rl->listeners[i]->watch[k];
	}
	for (size_t i = 0; i < p->n_listeners; i++)
		if (!rl->kept[i])
			rl->gone[rl->n_gone++] = p->listeners[i];
	return 0;
}

static void free_plan(struct reload *rl)
{
	for (unsigned k = 0; rl->sets && k < rl->p->n_workers; k++)
		free(rl->sets[k]);
	free(rl->sets);
	free(rl->gone);
	free(rl->owners);
	free(rl->fresh);
	free(rl->kept);
}

int reload_prepare(struct reload *rl, struct proxy *p, struct generation *next,
		   struct inherited *in, size_t n_in, struct weir_err *err)
{
	int r = 0;

	memset(rl, 0, sizeof(*rl));
	rl->p = p;
	rl->next = next;
	rl->in = in;
	rl->n_in = n_in;
	rl->kept = calloc(p->n_listeners + 1, sizeof(*rl->kept));
	if (!rl->kept) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	if (p->gen)
		r = gen_match(next, p->gen, err);
	if (r == 0)
		r = gen_health_init(next, err);
	for (size_t f = 0; f < next->n_frontends && r == 0; f++) {
		struct frontend *fe = &next->frontends[f];
		/* A passed socket named after the frontend (FileDescriptorName=) is its own. */
		for (size_t k = 0; k < n_in && r == 0; k++)
			if (!in[k].used && strcmp(in[k].name, fe->cfg->name) == 0)
				r = adopt(rl, fe, &in[k], err);
		/* ...and stays its own across reloads, wherever it is bound. */
		for (size_t i = 0; i < p->n_listeners && r == 0; i++) {
			struct listener *l = p->listeners[i];
			if (!rl->kept[i] && l->passed &&
			    strcmp(l->passed_name, fe->cfg->name) == 0) {
				rl->kept[i] = true;
				r = plan_add(rl, l, fe, false, err);
			}
		}
		for (size_t j = 0; j < fe->n_addrs && r == 0; j++)
			r = plan_address(rl, fe, &fe->addrs[j], err);
	}
	if (r == 0)
		r = plan_workers(rl, err);
	return r;
}

void reload_abort(struct reload *rl)
{
	/* What this prepare opened closes; passed sockets go back to the caller unclosed. */
	for (size_t i = 0; i < rl->n; i++) {
		if (!rl->fresh[i])
			continue;
		if (rl->listeners[i]->passed)
			listener_disown(rl->listeners[i]);
		else
			listener_close(rl->listeners[i]);
	}
	for (size_t k = 0; k < rl->n_in; k++)
		rl->in[k].used = false;
	gen_free(rl->next);
	free(rl->listeners);
	free_plan(rl);
	memset(rl, 0, sizeof(*rl));
}

/* Keys a running weir cannot take over: say so when a reload would change one. */
static void warn_fixed(const struct weir_config *now, const struct weir_config *next)
{
	char a[128], b[128];

	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (!k->restart_only)
			continue;
		config_format_value(now, k, a, sizeof(a));
		config_format_value(next, k, b, sizeof(b));
		if (strcmp(a, b) != 0)
			log_msg(WLOG_WARN, "reload: %s changes only on restart (still %s)", k->name,
				a);
	}
}

/* What every worker applies on its own loop. */
static void switch_one(struct worker *w, void *arg)
{
	struct reload *rl = arg;

	worker_switch(w, rl->next, rl->sets[w->id], rl->owners, rl->n, rl->gone, rl->n_gone);
	rl->sets[w->id] = NULL; /* the worker's now */
}

static void capacity_cb(void *ctx)
{
	proxy_kick_all(ctx);
}

void reload_commit(struct reload *rl)
{
	struct proxy *p = rl->p;
	struct generation *next = rl->next, *cur = p->gen;

	if (cur) {
		gen_adopt(next);
		warn_fixed(&cur->cfg, &next->cfg);
	}
	for (size_t i = 0; i < rl->n; i++) {
		log_msg(WLOG_INFO, "%slistening on %s (frontend %s)", rl->fresh[i] ? "" : "still ",
			rl->listeners[i]->name, rl->owners[i]->cfg->name);
		snprintf(rl->listeners[i]->frontend, sizeof(rl->listeners[i]->frontend), "%s",
			 rl->owners[i]->cfg->name);
	}
	for (size_t k = 0; k < rl->n_in; k++) {
		if (rl->in[k].used)
			continue;
		log_msg(WLOG_WARN, "passed socket %d%s%s matches no frontend; closing it",
			rl->in[k].fd, rl->in[k].name[0] ? " named " : "", rl->in[k].name);
		close(rl->in[k].fd);
		rl->in[k].used = true;
	}
	/* The new checks take over from the old ones: one set running, on the control loop. */
	if (cur)
		gen_health_stop(cur);
	gen_health_start(next, p->loop, capacity_cb, p);
	log_configure(next->cfg.log_level, next->cfg.log_format);
	/* Every worker switches, on its own loop; the retired generation is freed once the
	 * last of them lets go of it. */
	next->workers_in = p->n_workers;
	next->older = cur;
	p->gen = next;
	free(p->listeners);
	p->listeners = rl->listeners;
	p->n_listeners = rl->n;
	proxy_each(p, switch_one, rl);
	for (size_t i = 0; i < rl->n_gone; i++) {
		log_msg(WLOG_INFO, "no longer listening on %s", rl->gone[i]->name);
		listener_close(rl->gone[i]);
	}
	proxy_set_max_conns(p, proxy_connection_limit(p, next));
	free_plan(rl);
	memset(rl, 0, sizeof(*rl));
}

/* ---- SIGHUP and run-time changes: read on a helper thread, apply on the loop -------- */

/* A change asked for: the file read again (SIGHUP), or the running configuration rebuilt
 * with one more run-time change (or none: DNS answers changed). Served in order. */
struct reload_request {
	struct reload_request *next;
	bool from_file;
	bool has_op;
	struct config_op op;
	unsigned layout;      /* the reloader's, when op.spec was taken */
	reload_done_fn *done; /* told how it went; NULL: nobody waits */
	void *ctx;
};

struct reload_job {
	pthread_t thread;
	pthread_mutex_t lock;
	bool finished;	/* the thread is done with everything but the lock */
	bool abandoned; /* nobody waits for it: the thread frees the job */
	struct ev_loop *loop;
	ev_async *done;
	int argc;
	char **argv;
	unsigned n_workers; /* a restart-only key: the running count, whatever the file says */
	struct reload_request *req;
	/* Rebuilding the running configuration: its file text and changes, copied. */
	char *text;
	size_t text_len;
	struct config_op *ops;
	size_t n_ops;
	/* The result. */
	int status; /* 0, or the read failed and err says why */
	struct generation *next;
	struct weir_err err;
};

static void op_free(struct config_op *op)
{
	free(op->backend);
	free(op->server);
	op->backend = op->server = NULL;
}

static void request_free(struct reload_request *req)
{
	if (!req)
		return;
	if (req->has_op)
		op_free(&req->op);
	free(req);
}

static void job_free(struct reload_job *job)
{
	gen_free(job->next);
	request_free(job->req);
	free(job->text);
	for (size_t i = 0; i < job->n_ops; i++)
		op_free(&job->ops[i]);
	free(job->ops);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

/* The blocking part: the file, and every name resolved (getaddrinfo may take seconds). */
static void *read_thread(void *arg)
{
	struct reload_job *job = arg;
	struct weir_config cfg;
	enum config_action action;
	enum config_status st;
	bool abandoned;

	if (job->req->from_file)
		st = config_read(&cfg, job->argc, job->argv, &action, &job->err);
	else
		st = config_reread(&cfg, job->argc, job->argv, job->text, job->text_len, job->ops,
				   job->n_ops, &job->err);
	if (st == CONFIG_OK && job->req->has_op &&
	    config_apply_op(&cfg, &job->req->op, &job->err) < 0)
		st = CONFIG_INVALID;
	if (st != CONFIG_OK)
		job->status = -EINVAL;
	else
		job->status = gen_new(&job->next, &cfg, job->n_workers, &job->err);
	config_free(&cfg); /* emptied by gen_new when it took it over */
	pthread_mutex_lock(&job->lock);
	job->finished = true;
	abandoned = job->abandoned;
	if (!abandoned)
		ev_async_send(job->loop, job->done);
	pthread_mutex_unlock(&job->lock);
	if (abandoned)
		job_free(job);
	return NULL;
}

static void notify(const char *state)
{
	int r = notify_send(state);

	if (r < 0)
		log_msg(WLOG_DEBUG, "cannot notify systemd: %s", strerror(-r));
}

static void notify_reloading(void)
{
	struct timespec ts;
	char state[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000);
	notify(state);
}

/* A copy of the running configuration's source, for a job that rebuilds it. */
static int copy_source(struct reload_job *job, const struct weir_config *cfg)
{
	if (cfg->text && !(job->text = malloc(cfg->text_len ? cfg->text_len : 1)))
		return -ENOMEM;
	if (cfg->text)
		memcpy(job->text, cfg->text, cfg->text_len);
	job->text_len = cfg->text_len;
	job->ops = calloc(cfg->n_ops + 1, sizeof(*job->ops));
	if (!job->ops)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_ops; i++, job->n_ops++) {
		job->ops[i] = cfg->ops[i];
		job->ops[i].backend = strdup(cfg->ops[i].backend);
		job->ops[i].server = cfg->ops[i].server ? strdup(cfg->ops[i].server) : NULL;
		if (!job->ops[i].backend || (cfg->ops[i].server && !job->ops[i].server)) {
			job->n_ops++;
			return -ENOMEM;
		}
	}
	return 0;
}

static int start_job(struct reloader *r, struct reload_request *req, struct weir_err *err)
{
	struct reload_job *job = calloc(1, sizeof(*job));
	sigset_t all, old;
	int e;

	if (!job) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&job->lock, NULL);
	job->loop = r->p->loop;
	job->done = &r->done;
	job->argc = r->argc;
	job->argv = r->argv;
	job->n_workers = r->p->n_workers;
	job->req = req;
	if (!req->from_file && copy_source(job, &r->p->gen->cfg) < 0) {
		job->req = NULL; /* the caller still has it */
		job_free(job);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	/* The thread takes no signals: they stay with the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&job->thread, NULL, read_thread, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		err_set(err, "cannot start a thread to read the configuration: %s", strerror(e));
		job->req = NULL;
		job_free(job);
		return -e;
	}
	r->job = job;
	return 0;
}

static void reload_failed(struct reloader *r, bool from_file, const char *why)
{
	char state[320];

	r->failed++;
	if (!from_file) {
		log_msg(WLOG_WARN, "run-time change refused, nothing changed: %s", why);
		return;
	}
	log_msg(WLOG_ERROR, "reload failed, keeping the running configuration: %s", why);
	snprintf(state, sizeof(state), "READY=1\nSTATUS=reload failed (%s); serving as before",
		 why);
	notify(state);
}

/* Tell whoever asked how it went, and forget the request. */
static void answer(struct reload_request *req, bool ok, const char *msg)
{
	if (req->done)
		req->done(req->ctx, ok, msg);
	request_free(req);
}

/* Start the next request in line, if nothing runs; a request that cannot start fails. */
static void start_next(struct reloader *r)
{
	struct weir_err err = {""};

	while (!r->job && r->queue) {
		struct reload_request *req = r->queue;
		r->queue = req->next;
		if (!r->queue)
			r->queue_tail = &r->queue;
		if (r->p->state != PROXY_RUNNING) {
			answer(req, false, "weir is stopping");
			continue;
		}
		/* Its server line is counted in the configuration it was asked of. */
		if (req->has_op && req->op.kind != CONFIG_OP_ADD && req->layout != r->layout) {
			reload_failed(r, false, "the server lines changed while it waited");
			answer(req, false,
			       "the server lines changed while this waited (a reload or another "
			       "change): nothing changed, send it again");
			continue;
		}
		if (req->from_file) {
			notify_reloading();
			log_msg(WLOG_INFO, "SIGHUP: reloading the configuration");
		}
		if (start_job(r, req, &err) < 0) {
			reload_failed(r, req->from_file, err.msg);
			answer(req, false, err.msg);
		}
	}
}

/* A server line to delete may still go: the operator may have set it ready, and it may
 * have taken clients, since it was asked for. */
static bool may_delete(const struct generation *g, const struct reload_request *req,
		       struct weir_err *err)
{
	long b;

	if (!req->has_op || req->op.kind != CONFIG_OP_DEL)
		return true;
	b = gen_backend_index(g, req->op.backend);
	if (b < 0) {
		err_set(err, "no backend called '%s'", req->op.backend);
		return false;
	}
	return pool_spec_drained(&g->pools[b], req->op.spec, err);
}

static void done_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct reloader *r = container_of(a, struct reloader, done);
	struct reload_job *job = r->job;
	struct reload_request *req;
	struct weir_err err = {""};
	struct reload rl;
	char state[160];
	bool finished = false;

	if (job) {
		pthread_mutex_lock(&job->lock);
		finished = job->finished;
		pthread_mutex_unlock(&job->lock);
	}
	if (!finished)
		return;
	pthread_join(job->thread, NULL);
	r->job = NULL;
	req = job->req;
	job->req = NULL;
	if (job->status < 0) {
		reload_failed(r, req->from_file, job->err.msg);
		answer(req, false, job->err.msg);
	} else if (r->p->state != PROXY_RUNNING) {
		reload_failed(r, req->from_file, "weir is stopping");
		answer(req, false, "weir is stopping");
	} else if (!may_delete(r->p->gen, req, &err)) {
		reload_failed(r, false, err.msg);
		answer(req, false, err.msg);
	} else if (reload_prepare(&rl, r->p, job->next, NULL, 0, &err) < 0) {
		job->next = NULL; /* taken over by the prepare */
		reload_abort(&rl);
		reload_failed(r, req->from_file, err.msg);
		answer(req, false, err.msg);
	} else {
		job->next = NULL;
		reload_commit(&rl);
		r->ok++;
		if (req->from_file || (req->has_op && req->op.kind == CONFIG_OP_DEL))
			r->layout++;
		log_msg(WLOG_INFO, "%s: %zu frontend(s), %zu server(s)",
			req->from_file ? "reloaded" : "changed", r->p->gen->n_frontends,
			gen_count_servers(r->p->gen));
		snprintf(state, sizeof(state),
			 "READY=1\nSTATUS=serving %zu frontend(s), %zu server(s)",
			 r->p->gen->n_frontends, gen_count_servers(r->p->gen));
		if (req->from_file)
			notify(state);
		answer(req, true, "");
	}
	job_free(job);
	if (r->settled)
		r->settled();
	start_next(r);
}

void reloader_init(struct reloader *r, struct proxy *p, int argc, char **argv)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->argc = argc;
	r->argv = argv;
	r->queue_tail = &r->queue;
	ev_async_init(&r->done, done_cb);
	ev_async_start(p->loop, &r->done);
}

static void enqueue(struct reloader *r, struct reload_request *req)
{
	*r->queue_tail = req;
	r->queue_tail = &req->next;
	start_next(r);
}

void reloader_request(struct reloader *r)
{
	struct reload_request *req;

	if (r->p->state != PROXY_RUNNING) {
		log_msg(WLOG_INFO, "SIGHUP while stopping: not reloading");
		return;
	}
	/* The file may have changed after a running read opened it: read it once more, once. */
	for (req = r->queue; req; req = req->next)
		if (req->from_file)
			return;
	if (r->job)
		log_msg(WLOG_INFO, "SIGHUP: a reload is under way; another follows it");
	req = calloc(1, sizeof(*req));
	if (!req) {
		reload_failed(r, true, "out of memory");
		return;
	}
	req->from_file = true;
	enqueue(r, req);
}

void reloader_change(struct reloader *r, const struct config_op *op, reload_done_fn *done,
		     void *ctx)
{
	struct reload_request *req = calloc(1, sizeof(*req));

	if (req && op) {
		req->has_op = true;
		req->op = *op;
		req->op.backend = strdup(op->backend);
		req->op.server = op->server ? strdup(op->server) : NULL;
		if (!req->op.backend || (op->server && !req->op.server)) {
			request_free(req);
			req = NULL;
		}
	}
	if (!req) {
		if (done)
			done(ctx, false, "out of memory");
		return;
	}
	req->layout = r->layout;
	req->done = done;
	req->ctx = ctx;
	if (op) {
		static const char *const kinds[] = {[CONFIG_OP_ADD] = "add",
						    [CONFIG_OP_DEL] = "del",
						    [CONFIG_OP_WEIGHT] = "weight"};
		log_msg(WLOG_DEBUG, "run-time change asked: %s, backend %s%s", kinds[op->kind],
			op->backend, r->job ? ", after the change under way" : "");
	}
	enqueue(r, req);
}

void reloader_forget(struct reloader *r, void *ctx)
{
	for (struct reload_request *req = r->queue; req; req = req->next)
		if (req->ctx == ctx)
			req->done = NULL;
	if (r->job && r->job->req && r->job->req->ctx == ctx)
		r->job->req->done = NULL;
}

void reloader_fini(struct reloader *r)
{
	struct reload_job *job = r->job;

	while (r->queue) {
		struct reload_request *req = r->queue;
		r->queue = req->next;
		request_free(req);
	}
	if (job) {
		bool finished;
		pthread_mutex_lock(&job->lock);
		finished = job->finished;
		job->abandoned = !finished;
		pthread_mutex_unlock(&job->lock);
		if (finished) {
			pthread_join(job->thread, NULL);
			job_free(job);
		} else {
			/* A resolver that hangs must not hold up the exit. */
			pthread_detach(job->thread);
		}
		r->job = NULL;
	}
	if (r->p)
		ev_async_stop(r->p->loop, &r->done);
}
