#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "reserve.h"

/* Copied onto a shed client's slot; open for the life of the process. */
static int null_source = -1;
static pthread_once_t null_once = PTHREAD_ONCE_INIT;

/*
 * Slots given up by spares and not yet retaken. Sheds are serialised by the caller, so only
 * spares that could not be retaken stay here; one per loop at most.
 */
#define RESERVE_CLAIMS 64
static int claimed[RESERVE_CLAIMS] = {[0 ... RESERVE_CLAIMS - 1] = -1};
static int n_claims;
static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t spares_lock = PTHREAD_MUTEX_INITIALIZER;

void reserve_lock(void)
{
	pthread_mutex_lock(&spares_lock);
}

void reserve_unlock(void)
{
	pthread_mutex_unlock(&spares_lock);
}

static void open_null_source(void)
{
	null_source = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void reserve_init(struct reserve *r)
{
	r->fd = r->claim = -1;
	pthread_once(&null_once, open_null_source);
}

static void claim(struct reserve *r, int fd)
{
	pthread_mutex_lock(&claims_lock);
	for (int i = 0; i < RESERVE_CLAIMS; i++) {
		if (__atomic_load_n(&claimed[i], __ATOMIC_RELAXED) < 0) {
			__atomic_store_n(&claimed[i], fd, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&n_claims, 1, __ATOMIC_SEQ_CST);
			r->claim = i;
			break;
		}
	}
	pthread_mutex_unlock(&claims_lock);
}

/* The spare is held again (whatever its slot): the claim on the old slot ends. */
static void unclaim(struct reserve *r)
{
	if (r->claim < 0)
		return;
	pthread_mutex_lock(&claims_lock);
	__atomic_store_n(&claimed[r->claim], -1, __ATOMIC_SEQ_CST);
	__atomic_sub_fetch(&n_claims, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&claims_lock);
	r->claim = -1;
}

int reserve_check(int fd)
{
	if (fd < 0 || !__atomic_load_n(&n_claims, __ATOMIC_SEQ_CST))
		return fd;
	for (int i = 0; i < RESERVE_CLAIMS; i++) {
		if (__atomic_load_n(&claimed[i], __ATOMIC_SEQ_CST) == fd) {
			close(fd);
			errno = EMFILE;
			return -1;
		}
	}
	return fd;
}

int reserve_acquire(struct reserve *r)
{
	if (r->fd >= 0)
		return 0;
	r->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	unclaim(r);
	return 0;
}

void reserve_release(struct reserve *r)
{
	if (r->fd < 0)
		return;
	claim(r, r->fd);
	close(r->fd);
	r->fd = -1;
}

void reserve_fini(struct reserve *r)
{
	unclaim(r);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int reserve_refill(struct reserve *r, int fd)
{
	if (r->fd >= 0) { /* nothing to refill: just the client to close */
		close(fd);
		return 0;
	}
	/* dup3 closes the client's socket and reuses its slot with no moment free between. */
	if (null_source >= 0 && dup3(null_source, fd, O_CLOEXEC) == fd) {
		r->fd = fd;
		unclaim(r);
		return 0;
	}
	close(fd);
	return reserve_acquire(r);
}
