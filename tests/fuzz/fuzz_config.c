// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fuzz_config - libFuzzer harness for steerd's configuration loader
 * (userspace/steerd/config*.c, on top of Debian's libconfig).
 *
 * Each input is written to DIR/steer.conf in a private temporary directory
 * and loaded with config_load(), the way steerd reads its file.
 * Sandbox: while a load runs, fopen() and open() (which libconfig and
 * config*.c use for the file, every @include and include_dir's files, and
 * nothing else) open only that one file,
 * so an input's `@include "/etc/shadow"` or `@include "../x"` reads nothing;
 * it may include itself, which exercises the include depth limit.
 *
 * Properties, beyond the sanitizers and LeakSanitizer:
 *   - refused: *out is left exactly as it was; err is "FILE:LINE: ..." (FILE:
 *     this file or one it includes), one line of printable text as steerd
 *     prints it (through errfmt_escape() when the build has it, else raw);
 *   - loaded: what config.h promises (ranges, names that refer to each
 *     other, unique worker names) holds;
 *   - config_load_string() of the same text (no NUL, no @include, no
 *     include_dir: those are relative to the file's directory) agrees.
 * FUZZ_SKIP=errfmt,string leaves the printable-text part or the agreement
 * out, to look past a known failure.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"

#define ERR_LEN (STEER_ERR_LEN * 2)	/* what steerd gives config_load */

static char dir[64], conf_path[96];
static bool sandboxed;
static const char *skip = "";	/* FUZZ_SKIP */
static unsigned long blocked;	/* opens the sandbox refused */

typedef FILE *(*fopen_fn)(const char *, const char *);

static FILE *gated_open(const char *sym, fopen_fn *real, const char *path, const char *mode)
{
	if (!*real)
		*real = (fopen_fn)dlsym(RTLD_NEXT, sym);
	if (sandboxed && strcmp(path, conf_path)) {
		blocked++;
		errno = EACCES;
		return NULL;
	}
	return (*real)(path, mode);
}

/* These override the libc ones for libconfig too (it calls fopen). */
FILE *fopen(const char *path, const char *mode)
{
	static fopen_fn real;

	return gated_open("fopen", &real, path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	static fopen_fn real;

	return gated_open("fopen64", &real, path, mode);
}

/* config_lint.c opens the file and its @includes with open(O_NONBLOCK) */
static int gated_fd_open(const char *sym, int (**real)(const char *, int, ...), const char *path,
			 int flags, mode_t mode)
{
	if (!*real)
		*real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym);
	if (sandboxed && strcmp(path, conf_path)) {
		blocked++;
		errno = EACCES;
		return -1;
	}
	return (*real)(path, flags, mode);
}

/* open() and open64(): the same gate; the mode is there only with O_CREAT/O_TMPFILE */
#define GATED_OPEN(fn)								\
int fn(const char *path, int flags, ...)					\
{										\
	static int (*real)(const char *, int, ...);				\
	mode_t mode = 0;							\
	va_list ap;								\
										\
	if (flags & (O_CREAT | O_TMPFILE)) {					\
		va_start(ap, flags);						\
		mode = va_arg(ap, mode_t);					\
		va_end(ap);							\
	}									\
	return gated_fd_open(#fn, &real, path, flags, mode);			\
}
GATED_OPEN(open)
GATED_OPEN(open64)

static void print_escaped(const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		fprintf(stderr, c < 0x20 || c >= 0x7f || c == '\\' ? "\\x%02x" : "%c", c);
	}
}

/* Property ID failed (unless FUZZ_SKIP names it): say what, and abort. */
static void fail(const char *id, const char *what, const char *err)
{
	if (strstr(skip, id))
		return;
	fprintf(stderr, "PROPERTY FAILED: config_load: %s: \"", what);
	print_escaped(err, ERR_LEN);
	fprintf(stderr, "\"\n");
	abort();
}

/* The tools' escaping of a message, where the build has one. */
size_t errfmt_escape(char *out, size_t len, const char *in) __attribute__((weak));

/* "FILE:LINE: ...", one line of printable text */
static void check_err(const char *err)
{
	char shown[ERR_LEN * 8];
	size_t n = strnlen(err, ERR_LEN);
	const char *p, *d;

	if (n == 0 || n >= ERR_LEN)
		fail("err", "refused with an empty or unterminated error", err);
	for (p = strchr(err + 1, ':'); p; p = strchr(p + 1, ':')) {
		for (d = p + 1; *d >= '0' && *d <= '9'; d++)
			;
		if (d > p + 1 && *d == ':')
			break;
	}
	if (!p)
		fail("err", "error does not start with FILE:LINE:", err);
	if (errfmt_escape)
		errfmt_escape(shown, sizeof(shown), err);
	else
		snprintf(shown, sizeof(shown), "%s", err);
	for (const unsigned char *q = (const unsigned char *)shown; *q; q++)
		if (*q < 0x20 || *q == 0x7f || (q[0] == 0xc2 && q[1] >= 0x80 && q[1] <= 0x9f))
			fail("errfmt", "error is not one line of printable text", shown);
}

static bool known_fallback(const struct steer_config *c, const char *fb)
{
	return !fb[0] || !strcmp(fb, CONF_FALLBACK_MAINTENANCE) || config_find_pool(c, fb);
}

/* What config.h says of a loaded config. */
static void check_loaded(const struct steer_config *c)
{
	if (c->interval_ms < STEER_INTERVAL_MS_MIN || c->interval_ms > STEER_INTERVAL_MS_MAX)
		fail("loaded", "loaded an interval out of range", "");
	if (c->npools > STEER_MAX_POOLS || c->nservices > STEER_MAX_SERVICES)
		fail("loaded", "loaded too many pools or services", "");
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *p = &c->pools[i];

		if (config_find_pool(c, p->name) != p)
			fail("loaded", "loaded two pools of one name", p->name);
		if (!known_fallback(c, p->fallback))
			fail("loaded", "loaded a fallback that names nothing", p->fallback);
		if (p->has_rate && !(p->rate > 0 && p->rate <= STEER_RATE_MAX))
			fail("loaded", "loaded a rate out of range", p->name);
		if (p->has_rate && p->burst < 1)
			fail("loaded", "loaded a burst below 1", p->name);
		for (size_t j = 0; j < p->nworkers; j++) {
			const struct conf_worker *w = &p->workers[j];
			const struct conf_pool *in = NULL;

			if (config_find_worker(c, w->name, &in) != w || in != p)
				fail("loaded", "loaded two workers of one name", w->name);
			if (w->weight > STEER_WEIGHT_MAX || w->addr.port == 0)
				fail("loaded", "loaded a worker weight or port out of range", w->name);
			if (w->check.enabled && (w->check.timeout_ms < STEER_TIMEOUT_MS_MIN ||
						 w->check.timeout_ms > STEER_TIMEOUT_MS_MAX))
				fail("loaded", "loaded a check timeout out of range", w->name);
		}
	}
	for (size_t i = 0; i < c->nservices; i++) {
		const struct conf_service *s = &c->services[i];

		if (!config_find_pool(c, s->pool))
			fail("loaded", "loaded a service of no pool", s->name);
		if (!s->port_lo || s->port_hi < s->port_lo ||
		    s->port_hi - s->port_lo + 1 > STEER_MAX_PORT_SPAN)
			fail("loaded", "loaded a bad port range", s->name);
	}
}

static size_t workers_of(const struct steer_config *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->npools; i++)
		n += c->pools[i].nworkers;
	return n;
}

/* config_load_string() of the same text must say the same. */
static void check_string_agrees(const char *text, int ret, const struct steer_config *file_conf,
				const char *file_err)
{
	struct steer_config c = {};
	char err[ERR_LEN] = "";

	if (config_load_string(text, &c, err, sizeof(err)) != ret)
		fail("string", ret ? "refused from a file, loaded from a string" :
			   "loaded from a file, refused from a string", ret ? file_err : err);
	if (!ret) {
		if (c.npools != file_conf->npools || c.nservices != file_conf->nservices ||
		    workers_of(&c) != workers_of(file_conf))
			fail("string", "a file and a string of the same text load differently", "");
		config_free(&c);
		return;
	}
	/* the same message after "FILE" */
	if (strcmp(file_err + strlen(conf_path), err + strlen("<string>")))
		fail("string", "a file and a string of the same text give different errors", err);
}

static void cleanup(void)
{
	unlink(conf_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR"), *s = getenv("FUZZ_SKIP");

	(void)argc;
	(void)argv;
	skip = s ? s : "";
	snprintf(dir, sizeof(dir), "%s/steer-fuzz.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(conf_path, sizeof(conf_path), "%s/steer.conf", dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct steer_config out, before;
	char err[ERR_LEN], *text;
	FILE *f;
	int ret;

	f = fopen(conf_path, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
		perror(conf_path);
		abort();
	}
	memset(&out, 0xa5, sizeof(out));
	before = out;
	memset(err, 0, sizeof(err));
	sandboxed = true;
	ret = config_load(conf_path, &out, err, sizeof(err));
	sandboxed = false;
	if (ret) {
		check_err(err);
		if (memcmp(&out, &before, sizeof(out)))
			fail("out", "refused, but changed *out", err);
	} else {
		check_loaded(&out);
	}
	text = memchr(data, '\0', size) ? NULL : strndup((const char *)data, size);
	if (text && !strstr(text, "@include") && !strstr(text, "include_dir"))
		check_string_agrees(text, ret, &out, err);
	free(text);
	if (!ret)
		config_free(&out);
	return 0;
}
