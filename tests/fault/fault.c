/* Disk faults for the integration tests, by LD_PRELOAD: writes to files
 * under $WARDGW_FAULT_DIR fail while the file $WARDGW_FAULT_CTL says so.
 *
 *   ENOSPC  the disk is full: writes that would grow a file fail, as on a
 *           full file system (overwriting allocated blocks still works)
 *   EROFS   the file system went read-only: every write fails
 *   (empty or missing) no fault
 *
 * With WARDGW_FAULT_STDIO set, stdio streams (the status snapshot) fail
 * too, at fclose() when they hold unwritten output, as their write would
 * (glibc writes them through its own internal write, which no LD_PRELOAD
 * reaches); without it they are left alone (test_healthz reads the
 * snapshot during a fault).
 *
 * The real SQLite and the real gateway run; only the kernel's answer is
 * changed. Built by tests/integration/test_disk.sh with the system cc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static int mode;                /* 0, ENOSPC or EROFS */
static long long checked_ms;

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Re-read the control file at most every 20 ms. */
static int current_mode(void)
{
	const char *ctl = getenv("WARDGW_FAULT_CTL");
	char buf[16] = "";
	long long now = mono_ms();
	FILE *f;

	if (!ctl)
		return 0;
	if (now - checked_ms < 20)
		return mode;
	checked_ms = now;
	mode = 0;
	if ((f = fopen(ctl, "re")) != NULL) {
		if (fgets(buf, sizeof(buf), f)) {
			if (!strncmp(buf, "ENOSPC", 6))
				mode = ENOSPC;
			else if (!strncmp(buf, "EROFS", 5))
				mode = EROFS;
		}
		fclose(f);
	}
	return mode;
}

/* The errno to fail a write of @len bytes at @off (-1: the file position)
 * on @fd with, or 0 to let it through. */
static int fault_for(int fd, off_t off, size_t len, int grows_only)
{
	const char *dir = getenv("WARDGW_FAULT_DIR");
	char link[64], target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int m = current_mode();

	if (!m || !dir || fd < 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = 0;
	if (strncmp(target, dir, strlen(dir)))
		return 0;
	if (m == ENOSPC && grows_only) {
		if (fstat(fd, &st) < 0)
			return 0;
		if (off < 0)
			off = lseek(fd, 0, SEEK_CUR);
		if (off >= 0 && (off_t)(off + (off_t)len) <= st.st_size)
			return 0;
	}
	return m;
}

#define REAL(name) \
	static __typeof__(&name) real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	int e = fd > 2 ? fault_for(fd, -1, len, 1) : 0;

	if (e) {
		errno = e;
		return -1;
	}
	return real_write(fd, buf, len);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite64);
	int e = fault_for(fd, off, len, 1);

	if (e) {
		errno = e;
		return -1;
	}
	return real_pwrite64(fd, buf, len, off);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite);
	int e = fault_for(fd, off, len, 1);

	if (e) {
		errno = e;
		return -1;
	}
	return real_pwrite(fd, buf, len, off);
}

int ftruncate64(int fd, off_t len)
{
	REAL(ftruncate64);
	int e = fault_for(fd, len, 0, 1);

	if (e) {
		errno = e;
		return -1;
	}
	return real_ftruncate64(fd, len);
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	int e = fault_for(fd, len, 0, 1);

	if (e) {
		errno = e;
		return -1;
	}
	return real_ftruncate(fd, len);
}

int fclose(FILE *f)
{
	REAL(fclose);
	size_t pending = f && getenv("WARDGW_FAULT_STDIO") ? __fpending(f) : 0;
	int e = pending && fileno(f) > 2 ? fault_for(fileno(f), -1, pending, 1) : 0;

	if (e) {
		__fpurge(f);
		real_fclose(f);
		errno = e;
		return EOF;
	}
	return real_fclose(f);
}
