// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config_lint.c - steer.conf's text before libconfig: every @include read
 * here into one text with a map of its lines, and the integer scan (see
 * config_lint.h). This is a token scan, not a parser: it knows comments,
 * strings, names, numbers and @include, no more.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config_lint.h"
#include "config_schema.h"
#include "defaults.h"

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

/* Past the closing quote of a string that starts after p's quote, or
 * NULL when the text ends first; the contents, unescaped as @include reads
 * them, go to buf when it is given (*cut when they did not fit). */
static const char *skip_string(const char *p, int *line, char *buf, size_t len, bool *cut)
{
	size_t n = 0;

	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '\\' || p[1] == '"'))
			p++;
		if (*p == '\n')
			(*line)++;
		if (buf && n + 1 < len)
			buf[n++] = *p;
		else if (buf)
			*cut = true;
	}
	if (buf)
		buf[n] = '\0';
	return *p ? p + 1 : NULL;
}

static void too_big(char *err, size_t errlen, const char *file, int line, const char *num, size_t n,
		    int bits)
{
	int shown = n > 24 ? 24 : (int)n;

	if (bits == 64)
		conf_set_err(err, errlen, "%s:%d: integer %.*s does not fit in 64 bits",
			     file, line, shown, num);
	else
		conf_set_err(err, errlen,
			     "%s:%d: integer %.*s does not fit in 32 bits, and libconfig %d.%d "
			     "would silently change it; write %.*sL", file, line, shown, num,
			     LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, shown, num);
}


/* ---- the composite text and its map ---------------------------------------- */

/* *p holds at least need items of size; 0, or -1 when out of memory */
static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static int emit(struct conf_text *t, const char *s, size_t n)
{
	if (grow((void **)&t->text, &t->cap, t->len + n + 1, 1))
		return -1;
	memcpy(t->text + t->len, s, n);
	t->len += n;
	t->text[t->len] = '\0';
	for (size_t i = 0; i < n; i++)
		t->out_line += s[i] == '\n';
	return 0;
}

/* from the composite's current line on, file's lines from line on */
static int span(struct conf_text *t, const char *file, unsigned int line)
{
	struct conf_span sp = { .at = t->out_line, .line = line, .file = file };

	if (t->nspans && t->spans[t->nspans - 1].at == t->out_line) {
		t->spans[t->nspans - 1] = sp;	/* nothing came from the last one */
		return 0;
	}
	if (grow((void **)&t->spans, &t->spans_cap, t->nspans + 1, sizeof(sp)))
		return -1;
	t->spans[t->nspans++] = sp;
	return 0;
}

void conf_text_where(const struct conf_text *t, unsigned int line, const char **file,
		     unsigned int *fline)
{
	size_t lo = 0, hi = t->nspans;

	*file = NULL;
	*fline = line;
	while (lo < hi) {	/* the last span that starts at or before line */
		size_t mid = (lo + hi) / 2;

		if (t->spans[mid].at <= line)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return;
	*file = t->spans[lo - 1].file;
	*fline = t->spans[lo - 1].line + (line - t->spans[lo - 1].at);
}

void conf_text_free(struct conf_text *t)
{
	for (size_t i = 0; i < t->nfiles; i++)
		free(t->files[i].name);
	free(t->files);
	free(t->spans);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

/* ---- reading ------------------------------------------------------------- */

/* where a file is read from: the top (from == NULL) or an @include */
struct origin {
	const char *from, *name;	/* the including file, and the name as written */
	unsigned int line;
};

struct walk {
	struct conf_text *t;
	char *err;
	size_t errlen;
	int depth;
};

/* "FROM:LINE: @include "NAME": why", or "PATH:0: why" for the top file */
static int refuse(struct walk *w, const struct origin *o, const char *path, const char *why)
{
	if (o->from)
		conf_set_err(w->err, w->errlen, "%s:%u: @include \"%s\": %s", o->from, o->line,
			     o->name, why);
	else
		conf_set_err(w->err, w->errlen, "%s:0: %s", path, why);
	return -1;
}

static int expand_text(struct walk *w, const char *text, const char *file);

/* The file's identity against those read already: a loop or a second
 * read is refused at once (a file including itself 5 times, 10 deep,
 * would otherwise be read 5^10 times); else it is listed. */
static int register_file(struct walk *w, const struct origin *o, const char *path,
			 const struct stat *st, struct conf_file **out)
{
	struct conf_text *t = w->t;
	char why[PATH_MAX + 64];

	for (size_t i = 0; i < t->nfiles; i++) {
		if (t->files[i].dev != st->st_dev || t->files[i].ino != st->st_ino)
			continue;
		snprintf(why, sizeof(why), t->files[i].open ? "a loop: %s is being read already"
				: "%s was read already (each file is read once)", t->files[i].name);
		return refuse(w, o, path, why);
	}
	if (t->nfiles >= STEER_CONF_MAX_FILES) {
		snprintf(why, sizeof(why), "more than %d files in this configuration",
			 STEER_CONF_MAX_FILES);
		return refuse(w, o, path, why);
	}
	if (grow((void **)&t->files, &t->files_cap, t->nfiles + 1, sizeof(**out)))
		return refuse(w, o, path, "out of memory");
	*out = &t->files[t->nfiles];
	**out = (struct conf_file){ .name = strdup(path), .dev = st->st_dev, .ino = st->st_ino,
				    .open = true };
	if (!(*out)->name)
		return refuse(w, o, path, "out of memory");
	t->nfiles++;
	return 0;
}

/* The whole of fd (a regular file of st's size), NUL-terminated. */
static char *slurp(struct walk *w, const struct origin *o, const char *path, int fd,
		   const struct stat *st)
{
	size_t size = (size_t)st->st_size, n = 0;
	char why[96], *text;
	ssize_t got;

	if (st->st_size < 0 || size > STEER_CONF_MAX_BYTES - w->t->bytes) {
		snprintf(why, sizeof(why), "too large: more than %u bytes with the other files",
			 STEER_CONF_MAX_BYTES);
		refuse(w, o, path, why);
		return NULL;
	}
	text = malloc(size + 1);
	if (!text) {
		refuse(w, o, path, "out of memory");
		return NULL;
	}
	while (n < size && (got = read(fd, text + n, size - n)) > 0)
		n += (size_t)got;
	text[n] = '\0';
	w->t->bytes += n;
	if (strlen(text) != n) {
		refuse(w, o, path, "not a text file (it holds a NUL byte)");
		free(text);
		return NULL;
	}
	return text;
}

/* Read path (named as o says) and expand it. Only a regular file: libconfig
 * 1.5 exits on a directory, and a FIFO would block the daemon's loop (it is
 * opened without blocking, then checked). */
static int read_file(struct walk *w, const struct origin *o, const char *path)
{
	struct conf_file *cf;
	char *text = NULL;
	struct stat st;
	int fd, ret = -1;
	size_t idx;

	if (w->depth > STEER_CONF_MAX_DEPTH)
		return refuse(w, o, path, "include file nesting too deep");
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return refuse(w, o, path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		refuse(w, o, path, "not a regular file");
		goto out;
	}
	if (register_file(w, o, path, &st, &cf) || !(text = slurp(w, o, path, fd, &st)))
		goto out;
	idx = (size_t)(cf - w->t->files);	/* files may move as more are read */
	w->depth++;
	ret = expand_text(w, text, w->t->files[idx].name);
	w->depth--;
	w->t->files[idx].open = false;
out:
	free(text);
	close(fd);
	return ret;
}

/* libconfig's @include: at the start of a line ("^[ \t]*@include[ \t]+\""
 * in its scanner), nowhere else. */
static bool include_at(const char *line_start, const char *p)
{
	for (const char *q = line_start; q < p; q++)
		if (*q != ' ' && *q != '\t')
			return false;
	return !strncmp(p, "@include", strlen("@include")) &&
	       (p[strlen("@include")] == ' ' || p[strlen("@include")] == '\t');
}

/* What may follow a directive on its line: blanks, then a comment or the
 * line's end. Anything else would reach libconfig at the start of a line
 * of its own (the rest goes there), where an "@include" is libconfig's. */
static bool only_comment(const char *p)
{
	p += strspn(p, " \t\r");
	return !*p || *p == '\n' || *p == '#' || (p[0] == '/' && (p[1] == '/' || p[1] == '*'));
}

/* At p, an @include: its file in place of the directive. *pp ends past
 * its closing quote, *line on the line there. */
static int expand_include(struct walk *w, const char **pp, const char *file, unsigned int *line)
{
	char name[PATH_MAX], full[PATH_MAX * 2];
	const char *p = *pp + strlen("@include");
	struct origin o = { .from = file, .name = name, .line = *line };
	int l = (int)*line;
	bool cut = false;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"' || !(p = skip_string(p + 1, &l, name, sizeof(name), &cut))) {
		conf_set_err(w->err, w->errlen, "%s:%u: @include: the file's name must follow in "
			     "double quotes, closed on its line", file, *line);
		return -1;
	}
	if (cut || (unsigned int)l != *line)
		return refuse(w, &o, name, cut ? strerror(ENAMETOOLONG) : "a name of one line");
	if (!only_comment(p))
		return refuse(w, &o, name, "only a comment may follow on its line");
	*pp = p;
	/* relative to the top file's directory, for nested ones too, as
	 * libconfig's include_dir was */
	if (name[0] != '/' && w->t->base)
		snprintf(full, sizeof(full), "%s/%s", w->t->base, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	if (read_file(w, &o, full))
		return -1;
	/* the rest of the directive's line, on a line of its own */
	if (w->t->len && w->t->text[w->t->len - 1] != '\n' && emit(w->t, "\n", 1))
		return -1;
	return span(w->t, file, *line);
}

/* A file must end where it began, outside strings and comments: else the
 * including file's text would be read in the other state by libconfig
 * (its strings as text, an "@include" in one as a directive) */
static int unclosed(struct walk *w, const char *file, unsigned int line, const char *what)
{
	conf_set_err(w->err, w->errlen, "%s:%u: a %s opened here is not closed at the end of the "
		     "file", file, line, what);
	return -1;
}

/* text (of file) into the composite, with its @includes in place and its
 * integers checked. */
static int expand_text(struct walk *w, const char *text, const char *file)
{
	const char *p = text, *done = text, *line_start = text, *end;
	bool lint = config_lint_needed();
	unsigned int line = 1;
	int bits, l;

	if (span(w->t, file, 1))
		goto oom;
	while (*p) {
		if (*p == '\n') {
			line++;
			line_start = ++p;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (l = (int)line, p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
				line += *p == '\n';
			if (!*p)
				return unclosed(w, file, (unsigned int)l, "comment");
			p += 2;
		} else if (*p == '"') {
			l = (int)line;
			if (!(end = skip_string(p + 1, &l, NULL, 0, NULL)))
				return unclosed(w, file, line, "string");
			p = end;
			line = (unsigned int)l;
		} else if (*p == '@' && include_at(line_start, p)) {
			if (emit(w->t, done, (size_t)(p - done)))
				goto oom;
			if (expand_include(w, &p, file, &line))
				return -1;
			done = p;
		} else if (isalpha((unsigned char)*p) || *p == '*') {
			while (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '*')
				p++;
		} else if (isdigit((unsigned char)*p) ||
			   ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))) {
			end = skip_number(p, &bits);
			if (bits && lint) {
				too_big(w->err, w->errlen, file, (int)line, p, (size_t)(end - p), bits);
				return -1;
			}
			p = end;
		} else {
			p++;
		}
	}
	if (emit(w->t, done, (size_t)(p - done)))
		goto oom;
	if (w->t->len && w->t->text[w->t->len - 1] != '\n' && emit(w->t, "\n", 1))
		goto oom;
	return 0;
oom:
	conf_set_err(w->err, w->errlen, "%s:%u: out of memory", file, line);
	return -1;
}

/* a fresh composite; the files read stay listed */
static void restart(struct conf_text *t)
{
	t->len = 0;
	t->nspans = 0;
	t->out_line = 1;
	if (t->text)
		t->text[0] = '\0';
}

int conf_text_read(struct conf_text *t, const char *path, char *err, size_t errlen)
{
	struct walk w = { .t = t, .err = err, .errlen = errlen };
	struct origin top = { 0 };

	restart(t);
	if (read_file(&w, &top, path))
		return -1;
	return emit(t, "", 0) ? refuse(&w, &top, path, "out of memory") : 0;
}

int conf_text_string(struct conf_text *t, const char *text, const char *name, char *err,
		     size_t errlen)
{
	struct walk w = { .t = t, .err = err, .errlen = errlen, .depth = 1 };

	restart(t);
	if (expand_text(&w, text, name))
		return -1;
	return emit(t, "", 0) ? (conf_set_err(err, errlen, "%s:0: out of memory", name), -1) : 0;
}
