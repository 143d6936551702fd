/* Secret files (secret.h): opened once, checked on the open descriptor
 * (no window between the check and the read). */
#include "secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>

int secret_open(const char *path, FILE **f, char *why, size_t wsz)
{
	struct stat st;
	int ret;

	*f = NULL;
	if (!(*f = fopen(path, "r"))) {
		ret = -errno;
		snprintf(why, wsz, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fileno(*f), &st) < 0) {
		ret = -errno;
		snprintf(why, wsz, "cannot read %s: %s", path, strerror(-ret));
		goto fail;
	}
	if (st.st_mode & 077) {
		ret = -EPERM;
		snprintf(why, wsz, "%s is readable by group or others (mode %03o): chmod 600 it "
			 "(owner: the gateway's user)", path, (unsigned)(st.st_mode & 0777));
		goto fail;
	}
	return 0;
fail:
	fclose(*f);
	*f = NULL;
	return ret;
}

int secret_read_line(const char *path, char *buf, size_t size, char *why, size_t wsz)
{
	FILE *f;
	size_t n;
	int ret;

	if (!size)
		return -EINVAL;
	buf[0] = 0;
	if ((ret = secret_open(path, &f, why, wsz)) < 0)
		return ret;
	n = fread(buf, 1, size - 1, f);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	buf[n] = 0;
	if (ret < 0) {
		OPENSSL_cleanse(buf, size);     /* half a secret is no use to anyone */
		buf[0] = 0;
		snprintf(why, wsz, "cannot read %s: %s", path, strerror(EIO));
		return ret;
	}
	buf[strcspn(buf, "\r\n")] = 0;
	if (!buf[0]) {
		snprintf(why, wsz, "%s is empty", path);
		return -ENODATA;
	}
	return 0;
}
