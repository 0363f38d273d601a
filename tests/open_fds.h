/* For the unit tests (after cmocka.h): how many descriptors the process has open now. */
#ifndef WEIR_TESTS_OPEN_FDS_H
#define WEIR_TESTS_OPEN_FDS_H

#include <dirent.h>
#include <stddef.h>

static inline size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#endif
