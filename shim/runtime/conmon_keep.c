/* shim: keep the generations of a container's log across conmon's own rotations.
 *
 * conmon (2.1, ctr_logging.c reopen_k8s_file) rotates its k8s-file log at --log-size-max as
 * open("<log>.tmp", O_TRUNC|O_CREAT) then rename("<log>.tmp", "<log>"): the rename unlinks the
 * file written so far, so conmon alone keeps one file. Preloaded into conmon (LD_PRELOAD, set by
 * shim/runtime/runc.py), this library interposes rename(): just before that one rename it links
 * the outgoing file as <gens>/<seq> (one above the highest number there) and removes the
 * generations beyond max-file - 1, as dockerd's json-file rotate() keeps max-file files. It runs
 * inside conmon at the moment of the rotation: no line is lost at the boundary however fast the
 * container writes, and rotation works the same while shimd is down. Compression of the kept
 * files is shimd's (shim/runtime/logfiles.py); docs/LOGGING.md has the whole design.
 *
 * Environment, read once and then removed (runc and the container never see it, nor the preload):
 *   SHIM_LOG_PATH  the log path exactly as given to conmon's `-l k8s-file:`
 *   SHIM_LOG_GENS  the directory of the generations
 *   SHIM_LOG_KEEP  max-file (2 or more; anything else turns this library into a no-op)
 *
 * This file has no Python in it: setuptools builds it as shim/runtime/_conmon_keep*.so only to
 * ship it with the package; nothing imports it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *log_path;
static char *tmp_path;
static char *gens_dir;
static long keep;

__attribute__((constructor)) static void shim_keep_init(void)
{
	const char *path = getenv("SHIM_LOG_PATH");
	const char *gens = getenv("SHIM_LOG_GENS");
	const char *max = getenv("SHIM_LOG_KEEP");

	if (path && gens && max && atol(max) >= 2) {
		log_path = strdup(path);
		gens_dir = strdup(gens);
		keep = atol(max);
		if (asprintf(&tmp_path, "%s.tmp", path) < 0)
			tmp_path = NULL;
		if (!log_path || !gens_dir || !tmp_path)
			log_path = NULL;
	}
	unsetenv("SHIM_LOG_PATH");
	unsetenv("SHIM_LOG_GENS");
	unsetenv("SHIM_LOG_KEEP");
	unsetenv("LD_PRELOAD");
}

/* "<digits>", "<digits>.gz" or "<digits>.gz.tmp" (shimd compressing) -> the number, else -1 */
static long seq_of(const char *name)
{
	char *end;
	long v;

	if (name[0] < '0' || name[0] > '9')
		return -1;
	v = strtol(name, &end, 10);
	if (*end == '\0' || strcmp(end, ".gz") == 0 || strcmp(end, ".gz.tmp") == 0)
		return v;
	return -1;
}

static void keep_generation(void)
{
	char path[PATH_MAX];
	struct dirent *e;
	long top = 0, seq, s;
	DIR *d = opendir(gens_dir);

	if (!d)
		return; /* no generations directory: conmon's own behaviour */
	while ((e = readdir(d)))
		if ((s = seq_of(e->d_name)) > top)
			top = s;
	seq = top + 1;
	if (snprintf(path, sizeof path, "%s/%010ld", gens_dir, seq) >= (int)sizeof path || link(log_path, path) != 0) {
		closedir(d);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		s = seq_of(e->d_name);
		if (s >= 0 && s <= seq - (keep - 1) && snprintf(path, sizeof path, "%s/%s", gens_dir, e->d_name) < (int)sizeof path)
			unlink(path);
	}
	closedir(d);
}

int rename(const char *oldpath, const char *newpath)
{
	static int (*real_rename)(const char *, const char *);

	if (!real_rename)
		real_rename = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (log_path && oldpath && newpath && strcmp(newpath, log_path) == 0 && strcmp(oldpath, tmp_path) == 0) {
		int saved = errno;
		keep_generation();
		errno = saved;
	}
	return real_rename(oldpath, newpath);
}
