/*
 * slowdns: an LD_PRELOAD shim that makes the resolver slow on purpose, for weir's tests.
 * getaddrinfo() of a name ending in ".slow.test" sleeps SLOWDNS_MS milliseconds (default
 * 2000), then answers as for 127.0.0.1; a name ending in ".fail.test" sleeps as long and then
 * does not exist; a name ending in ".flaky.test" answers at once as for 127.0.0.1, or fails
 * for the moment (EAI_AGAIN) while the file SLOWDNS_FAIL_FILE names exists. Every other name
 * goes to the real resolver.
 * Build: cc -shared -fPIC -o slowdns.so tests/slowdns.c -ldl
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void pause_a_while(void)
{
	const char *env = getenv("SLOWDNS_MS");
	long ms = env ? atol(env) : 2000;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
		(int (*)(const char *, const char *, const struct addrinfo *,
			 struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");

	if (node && ends_with(node, ".slow.test")) {
		pause_a_while();
		node = "127.0.0.1";
	} else if (node && ends_with(node, ".fail.test")) {
		pause_a_while();
		return EAI_NONAME;
	} else if (node && ends_with(node, ".flaky.test")) {
		const char *fail = getenv("SLOWDNS_FAIL_FILE");
		if (fail && access(fail, F_OK) == 0)
			return EAI_AGAIN;
		node = "127.0.0.1";
	}
	return real(node, service, hints, res);
}
