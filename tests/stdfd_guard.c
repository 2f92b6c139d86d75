/*
 * tests/stdfd_guard.c -- an LD_PRELOAD library for the end-to-end tests:
 * every close() of descriptor 0, 1 or 2 is written to the file named by
 * SV_STDFD_GUARD (with the pid), then done. salvage never closes them, and
 * when it did by mistake (a transfer "closing its partial file", descriptor
 * 0 of a zeroed struct) a later socket or object file took their place.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int close(int fd)
{
	static int (*real_close)(int);
	const char *log = getenv("SV_STDFD_GUARD");

	if (!real_close)
		real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	if (fd >= 0 && fd <= 2 && log) {
		char line[64];
		int n = snprintf(line, sizeof(line), "pid %d closed %d\n", (int)getpid(), fd);
		int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (out >= 0) {
			if (write(out, line, (size_t)n) < 0) {
				/* nothing to do: the test then finds no line and fails on the crawl itself */
			}
			real_close(out);
		}
	}
	return real_close(fd);
}
