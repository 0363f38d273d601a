/* One line per event on a descriptor (stderr by default). Never allocates or opens files. */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include <stdbool.h>

#include "util.h"

enum wlog_level {
	WLOG_ERROR,
	WLOG_WARN,
	WLOG_INFO,
	WLOG_DEBUG,
};

void log_init(int fd, enum wlog_level level);
bool log_enabled(enum wlog_level level);
void log_msg(enum wlog_level level, const char *fmt, ...) WEIR_PRINTF(2, 3);

const char *log_level_name(enum wlog_level level);
int log_level_parse(const char *name, enum wlog_level *level) WEIR_WUR;

#endif
