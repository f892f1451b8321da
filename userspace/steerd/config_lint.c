// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config_lint.c - the integer pre-scan of steer.conf (see config_lint.h).
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "config_lint.h"
#include "config_schema.h"

/*
 * libconfig 1.5 (Debian 12's) reads an integer without an L suffix with
 * atoi(): "quota = 5000000000;" loads as 705032704, and 4294967396 as 100,
 * both valid and both wrong. Later versions make such literals 64-bit. When
 * the library at hand cuts them (probed once), the text is scanned for such
 * literals after libconfig accepted its syntax. This is a token scan, not a
 * parser: it knows comments, strings, names, numbers and @include, no more.
 */
#define MAX_INCLUDE_DEPTH	10	/* libconfig's own limit */
#define INCLUDE_DIR_ALWAYS	(LIBCONFIG_VER_MAJOR == 1 && LIBCONFIG_VER_MINOR < 7)

/* files scanned already, at most: past it a file is scanned again (the
 * depth limit still bounds that) */
#define MAX_SEEN_FILES		256

struct int_scan {
	const char *include_dir;	/* as given to libconfig, or NULL */
	bool includes_only;		/* the @include targets, not the numbers */
	char *err;
	size_t errlen;
	/* A file gives the same verdict each time it is read: scanned once, so
	 * a file that includes itself N times costs N reads, not N^depth. */
	struct { dev_t dev; ino_t ino; } seen[MAX_SEEN_FILES];
	size_t nseen;
};

/* true when f's file was scanned already; else it is remembered */
static bool seen_before(struct int_scan *sc, FILE *f)
{
	struct stat st;

	if (fstat(fileno(f), &st))
		return false;
	for (size_t i = 0; i < sc->nseen; i++)
		if (sc->seen[i].dev == st.st_dev && sc->seen[i].ino == st.st_ino)
			return true;
	if (sc->nseen < MAX_SEEN_FILES) {
		sc->seen[sc->nseen].dev = st.st_dev;
		sc->seen[sc->nseen].ino = st.st_ino;
		sc->nseen++;
	}
	return false;
}

bool config_lint_needed(void)
{
	static int cuts = -1;
	config_t cfg;

	if (cuts < 0) {
		config_init(&cfg);
		cuts = config_read_string(&cfg, "x = 2147483648;") &&
		       config_setting_type(config_lookup(&cfg, "x")) == CONFIG_TYPE_INT;
		config_destroy(&cfg);
	}
	return cuts;
}

/* Past the number at p; *bits = 32 for an integer literal without an L
 * that does not fit in 32 bits, 64 for any that does not fit in 64 (which
 * libconfig saturates, L or not), else 0. */
static const char *skip_number(const char *p, int *bits)
{
	const char *start = p, *digits;
	unsigned long long u;
	bool real = false;
	long long v;

	*bits = 0;
	if (*p == '+' || *p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
		for (digits = p += 2; isxdigit((unsigned char)*p); p++)
			;
		errno = 0;
		u = strtoull(digits, NULL, 16);
		if (errno)
			*bits = 64;
		else if (*p != 'L' && u > INT_MAX)
			*bits = 32;
	} else {
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '.')
			for (real = true, p++; isdigit((unsigned char)*p); p++)
				;
		if ((*p == 'e' || *p == 'E') &&
		    (isdigit((unsigned char)p[1]) ||
		     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))))
			for (real = true, p += 2; isdigit((unsigned char)*p); p++)
				;
		errno = 0;
		v = real ? 0 : strtoll(start, NULL, 10);
		if (errno)
			*bits = 64;
		else if (!real && *p != 'L' && (v < INT_MIN || v > INT_MAX))
			*bits = 32;
	}
	while (*p == 'L')
		p++;
	return p;
}

/* Past the closing quote of a string that starts after p's quote; the
 * contents, unescaped as @include reads them, go to buf when it is given. */
static const char *skip_string(const char *p, int *line, char *buf, size_t len)
{
	size_t n = 0;

	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '\\' || p[1] == '"'))
			p++;
		if (*p == '\n')
			(*line)++;
		if (buf && n + 1 < len)
			buf[n++] = *p;
	}
	if (buf)
		buf[n] = '\0';
	return *p ? p + 1 : p;
}

static int scan_file(struct int_scan *sc, const char *path, int depth);

static int scan_include(struct int_scan *sc, const char **pp, const char *file, int *line,
			int depth)
{
	char name[PATH_MAX], full[PATH_MAX];
	const char *p = *pp + strlen("@include");
	struct stat st;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"') {
		*pp = p;
		return 0;
	}
	*pp = skip_string(p + 1, line, name, sizeof(name));
	/* the file libconfig reads: before 1.7 it puts include_dir before
	 * every name, one that starts with '/' too ("DIR//x") */
	if (sc->include_dir && (name[0] != '/' || INCLUDE_DIR_ALWAYS))
		snprintf(full, sizeof(full), "%s/%s", sc->include_dir, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	/* libconfig 1.5 exits the process on a directory (flex's "input in
	 * flex scanner failed") and would block on a FIFO. */
	if (sc->includes_only && !stat(full, &st) && !S_ISREG(st.st_mode)) {
		conf_set_err(sc->err, sc->errlen, "%s:%d: @include \"%s\": not a regular file",
			     file, *line, name);
		return -1;
	}
	return scan_file(sc, full, depth + 1);
}

static void too_big(struct int_scan *sc, const char *file, int line, const char *num, size_t n,
		    int bits)
{
	int shown = n > 24 ? 24 : (int)n;

	if (bits == 64)
		conf_set_err(sc->err, sc->errlen, "%s:%d: integer %.*s does not fit in 64 bits",
			     file, line, shown, num);
	else
		conf_set_err(sc->err, sc->errlen,
			     "%s:%d: integer %.*s does not fit in 32 bits, and libconfig %d.%d "
			     "would silently change it; write %.*sL", file, line, shown, num,
			     LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, shown, num);
}

static int scan_text(struct int_scan *sc, const char *text, const char *file, int depth)
{
	const char *p = text, *end;
	int line = 1, bits;

	while (*p) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			p += *p ? 2 : 0;
		} else if (*p == '"') {
			p = skip_string(p + 1, &line, NULL, 0);
		} else if (!strncmp(p, "@include", strlen("@include"))) {
			if (scan_include(sc, &p, file, &line, depth))
				return -1;
		} else if (isalpha((unsigned char)*p) || *p == '*') {
			while (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '*')
				p++;
		} else if (isdigit((unsigned char)*p) ||
			   ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))) {
			end = skip_number(p, &bits);
			if (bits && !sc->includes_only) {
				too_big(sc, file, line, p, end - p, bits);
				return -1;
			}
			p = end;
		} else {
			p++;
		}
	}
	return 0;
}

/* A file libconfig read already; one it cannot read now is not our error. */
static int scan_file(struct int_scan *sc, const char *path, int depth)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (depth > MAX_INCLUDE_DEPTH)
		return 0;
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (seen_before(sc, f)) {
		fclose(f);
		return 0;
	}
	/* getdelim with NUL reads the whole text of any sane config file. */
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		fclose(f);
		return 0;
	}
	fclose(f);
	ret = scan_text(sc, text, path, depth);
	free(text);
	return ret;
}

int config_lint_file(const char *path, const char *include_dir, char *err, size_t errlen)
{
	struct int_scan sc = { .include_dir = include_dir, .err = err, .errlen = errlen };

	return config_lint_needed() ? scan_file(&sc, path, 0) : 0;
}

int config_lint_text(const char *text, const char *file, char *err, size_t errlen)
{
	struct int_scan sc = { .err = err, .errlen = errlen };

	return config_lint_needed() ? scan_text(&sc, text, file, 0) : 0;
}

int config_lint_includes_file(const char *path, const char *include_dir, char *err,
			      size_t errlen)
{
	struct int_scan sc = { .include_dir = include_dir, .includes_only = true, .err = err,
			       .errlen = errlen };

	return scan_file(&sc, path, 0);
}

int config_lint_includes_text(const char *text, const char *file, char *err, size_t errlen)
{
	struct int_scan sc = { .includes_only = true, .err = err, .errlen = errlen };

	return scan_text(&sc, text, file, 0);
}
