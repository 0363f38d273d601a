/*
 * sdkit: what systemd does for a service, for weir's tests.
 *   sdkit activate ADDR NAME PORTFILE -- CMD ARGS...
 *       listen on ADDR (127.0.0.1:0), write the port to PORTFILE, and exec CMD with the
 *       socket as descriptor 3 and LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES=NAME set.
 *   sdkit notify-listen PATH OUTFILE
 *       receive notification datagrams on the unix socket PATH and append each to OUTFILE
 *       (one line per assignment) until SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "sdkit: %s: %s\n", what, strerror(errno));
	return 1;
}

static int activate(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	char *colon, pid[16];
	FILE *f;
	int fd, one = 1;

	if (argc < 6 || strcmp(argv[4], "--") != 0 || !(colon = strrchr(argv[1], ':')))
		return 2;
	*colon = '\0';
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1)
		return 2;
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return die("listen");
	f = fopen(argv[3], "w");
	if (!f || fprintf(f, "%u\n", (unsigned)ntohs(sin.sin_port)) < 0 || fclose(f) != 0)
		return die(argv[3]);
	if (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0))
		return die("dup2");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDNAMES", argv[2], 1);
	execvp(argv[5], argv + 5);
	return die(argv[5]);
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = sig;
}

static int notify_listen(int argc, char **argv)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct sigaction sa = {.sa_handler = on_term};
	char buf[4096];
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sun.sun_path))
		return 2;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	strcpy(sun.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return die("bind");
	while (!stop) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		FILE *f;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return die("recv");
		}
		buf[n] = '\0';
		f = fopen(argv[2], "a");
		if (!f)
			return die(argv[2]);
		fprintf(f, "%s\n", buf);
		fclose(f);
	}
	unlink(argv[1]);
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (argc > 1 && strcmp(argv[1], "activate") == 0)
		r = activate(argc - 1, argv + 1);
	else if (argc > 1 && strcmp(argv[1], "notify-listen") == 0)
		r = notify_listen(argc - 1, argv + 1);
	if (r == 2)
		fprintf(stderr, "usage: sdkit activate ADDR NAME PORTFILE -- CMD ARGS...\n"
				"       sdkit notify-listen PATH OUTFILE\n");
	return r;
}
