/* The gateway's one clock (clock.h). Everything reads time here, so a test
 * can step the wall clock without touching the machine's, and nothing that
 * measures an interval can be fooled by such a step. */
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define OFFSET_REREAD_US 100000

static int faked;
static int64_t fake_wall_ms, fake_mono_us;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static const char *offset_path;
static _Atomic int64_t offset_ms;
static _Atomic int64_t offset_read_us = INT64_MIN;

static int64_t kernel_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void read_env(void)
{
	const char *p = getenv("WARDGW_TEST_WALL_OFFSET_FILE");

	offset_path = p && *p ? p : NULL;
}

/* The offset in the test file: a signed integer of ms; anything else
 * (no file, junk, out of ±100 years) is no offset. */
static int64_t read_offset(void)
{
	char buf[32], *end;
	ssize_t n;
	long long v;
	int fd = open(offset_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	errno = 0;
	v = strtoll(buf, &end, 10);
	while (*end == '\n' || *end == '\r' || *end == ' ')
		end++;
	if (errno || end == buf || *end || v > 3155760000000LL || v < -3155760000000LL)
		return 0;
	return v;
}

const char *clock_offset_file(void)
{
	pthread_once(&env_once, read_env);
	return offset_path;
}

int64_t wall_ms(void)
{
	if (faked)
		return fake_wall_ms;
	pthread_once(&env_once, read_env);
	if (offset_path) {
		int64_t now = kernel_us(CLOCK_MONOTONIC), last = atomic_load(&offset_read_us);
		/* two threads may both read the file: harmless, same answer */
		if (last == INT64_MIN || now - last >= OFFSET_REREAD_US) {
			atomic_store(&offset_read_us, now);
			atomic_store(&offset_ms, read_offset());
		}
		return kernel_us(CLOCK_REALTIME) / 1000 + atomic_load(&offset_ms);
	}
	return kernel_us(CLOCK_REALTIME) / 1000;
}

int64_t mono_us(void)
{
	return faked ? fake_mono_us : kernel_us(CLOCK_MONOTONIC);
}

int64_t mono_ms(void)
{
	return mono_us() / 1000;
}

int clock_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int ret;

	if ((ret = pthread_condattr_init(&a)) != 0)
		return -ret;
	if ((ret = pthread_condattr_setclock(&a, CLOCK_MONOTONIC)) == 0)
		ret = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return -ret;
}

void clock_deadline(struct timespec *ts, int64_t ms)
{
	int64_t t = kernel_us(CLOCK_MONOTONIC) + (ms > 0 ? ms : 0) * 1000;

	ts->tv_sec = (time_t)(t / 1000000);
	ts->tv_nsec = (long)(t % 1000000) * 1000;
}

void clock_fake(int64_t wall, int64_t mono)
{
	faked = 1;
	fake_wall_ms = wall;
	fake_mono_us = mono;
}

void clock_fake_advance(int64_t us)
{
	fake_mono_us += us;
	fake_wall_ms += us / 1000;
}

void clock_fake_step_wall(int64_t ms)
{
	fake_wall_ms += ms;
}

void clock_real(void)
{
	faked = 0;
}
