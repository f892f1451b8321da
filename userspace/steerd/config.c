// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config.c - steerd's configuration file. libconfig does the syntax; this
 * file reads the file (and its @includes) and walks the tree along the
 * schema tables of config_schema.c: every setting it does not know is an
 * error (so a typo such as `wieght` is an error, not a silent default, and
 * the message names the setting meant), types and ranges are checked,
 * defaults filled in, and the rows' hooks check what refers to what. It
 * builds a private copy and hands it over only when all of it is valid.
 */
#include <errno.h>
#include <libconfig.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include "config.h"
#include "config_lint.h"
#include "config_schema.h"

#define STRING_FILE	"<string>"
#define INCLUDE_DIR_KEY	"include_dir"
#define PATH_LEN	128	/* "pools[63].workers[1023].check.interval_ms" fits */

void conf_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* One line, whatever a quoted value holds: strings may span lines. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
}

/* s's index among the elements of its list that come from its file: a
 * list merged from include_dir's files counts in each file from 0 */
static int index_in_file(const config_setting_t *s)
{
	const config_setting_t *parent = config_setting_parent(s);
	int idx = 0;

	for (int i = 0; i < config_setting_index(s); i++) {
		const config_setting_t *e = config_setting_get_elem(parent, (unsigned int)i);

		idx += e->file == s->file || (e->file && s->file && !strcmp(e->file, s->file));
	}
	return idx;
}

/* "pools[0].workers[1].weight": the setting as the user wrote it. */
static void path_of(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;

	buf[0] = '\0';
	if (!parent)
		return;
	path_of(parent, buf, len);
	n = strlen(buf);
	if (config_setting_is_list(parent) || config_setting_is_array(parent))
		snprintf(buf + n, len - n, "[%d]", index_in_file(s));
	else
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
}

int conf_fail(struct conf_ctx *x, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	char path[PATH_LEN], msg[STEER_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	path_of(s, path, sizeof(path));
	conf_set_err(x->err, x->errlen, "%s:%u: %s%s%s", file ? file : x->file,
		     config_setting_source_line(s), path, path[0] ? ": " : "", msg);
	return -1;
}

/* Edit distance with adjacent swaps, for "did you mean". */
static unsigned int distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned int d[STEER_NAME_LEN][STEER_NAME_LEN];

	if (n >= STEER_NAME_LEN || m >= STEER_NAME_LEN)
		return UINT_MAX;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			unsigned int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[n][m];
}

static int unknown_key(struct conf_ctx *x, const config_setting_t *s, const struct conf_block *b)
{
	const char *name = config_setting_name(s), *best = NULL;
	unsigned int best_d = UINT_MAX;
	char list[STEER_ERR_LEN] = "";
	size_t n = 0;

	for (size_t i = 0; i < b->nfields; i++) {
		const char *k = b->fields[i].name;
		unsigned int d = distance(name, k);

		if (d < best_d) {
			best_d = d;
			best = k;
		}
		n += snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", k);
		if (n >= sizeof(list))
			n = sizeof(list) - 1;
	}
	/* Two edits catch the usual typo without offering "port" for "path". */
	if (best && best_d <= 2 && best_d < strlen(best) / 2 + 1)
		return conf_fail(x, s, "unknown setting; did you mean '%s'?", best);
	return conf_fail(x, s, "unknown setting (known here: %s)", list);
}

/* Every child of group g must be a row of b, and b's required rows be there. */
static int known_keys(struct conf_ctx *x, const config_setting_t *g, const struct conf_block *b)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);

		if (!conf_schema_field(b, config_setting_name(s)))
			return unknown_key(x, s, b);
	}
	for (size_t i = 0; i < b->nfields; i++)
		if (b->fields[i].required && !config_setting_get_member(g, b->fields[i].name))
			return conf_fail(x, g, "missing required setting '%s'", b->fields[i].name);
	return 0;
}

int conf_get_string(struct conf_ctx *x, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_fail(x, s, "must be a string in double quotes");
	*out = config_setting_get_string(s);
	return 0;
}

/* Whole numbers only: 1.5 for a count is a mistake, not something to round. */
static int get_int(struct conf_ctx *x, const config_setting_t *s, long long *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return conf_fail(x, s, "must be a whole number");
	*out = config_setting_get_int64(s);
	return 0;
}

/* The field is a uint16_t, uint32_t or int (by size); v is in its range. */
static void store_uint(const struct conf_field *f, void *obj, unsigned long long v)
{
	void *p = CONF_FIELD_PTR(obj, f);
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	if (f->size == sizeof(u16))
		memcpy(p, &u16, sizeof(u16));
	else if (f->size == sizeof(u32))
		memcpy(p, &u32, sizeof(u32));
	else
		memcpy(p, &v, sizeof(v));
}

static int parse_uint(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		      void *obj)
{
	long long v = 0;

	if (get_int(x, s, &v))
		return -1;
	if (f->type == CONF_T_U64 && v < 0)
		return conf_fail(x, s, "%lld must not be negative", v);
	if (v < (long long)f->min || v > (long long)f->max)
		return conf_fail(x, s, "%lld is out of range %llu..%llu", v,
				 (unsigned long long)f->min, (unsigned long long)f->max);
	store_uint(f, obj, (unsigned long long)v);
	return 0;
}

/* A real number in [min, max], or (min, max] when min_excl; whole numbers are fine. */
static int parse_double(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
			void *obj)
{
	double v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		return conf_fail(x, s, "must be a number");
	}
	/* Written so that NaN and infinity fail too. */
	if (!isfinite(v) || !(f->min_excl ? v > f->min : v >= f->min) || !(v <= f->max))
		return conf_fail(x, s, "%g is out of range %c%g, %g]", v, f->min_excl ? '(' : '[',
				 f->min, f->max);
	memcpy(CONF_FIELD_PTR(obj, f), &v, sizeof(v));
	return 0;
}

static int parse_bool(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		      void *obj)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return conf_fail(x, s, "must be true or false");
	*(bool *)CONF_FIELD_PTR(obj, f) = config_setting_get_bool(s);
	return 0;
}

static int parse_text(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		      void *obj)
{
	char perr[STEER_ERR_LEN];
	const char *v = NULL;
	size_t n;

	if (conf_get_string(x, s, &v))
		return -1;
	n = strlen(v);
	if (f->type == CONF_T_NAME && parse_name(v, f->kind, perr))
		return conf_fail(x, s, "%s", perr);
	if (n >= f->size)
		return conf_fail(x, s, "is %zu characters long; at most %zu", n, f->size - 1);
	memcpy(CONF_FIELD_PTR(obj, f), v, n + 1);
	return 0;
}

/* "0660": octal as text, as libconfig has no octal numbers */
static int parse_octal(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		       void *obj)
{
	const char *v = NULL;
	unsigned long m;
	char *end;

	if (conf_get_string(x, s, &v))
		return -1;
	if (strlen(v) > f->maxlen)
		return conf_fail(x, s, "is %zu characters long; at most %zu", strlen(v), f->maxlen);
	m = strtoul(v, &end, 8);
	if (*end || v[0] < '0' || v[0] > '7' || m > (unsigned long)f->max)
		return conf_fail(x, s, "'%s' is not a file mode such as \"0%o\" (octal, at most 0%o)",
				 v, (unsigned int)f->def, (unsigned int)f->max);
	store_uint(f, obj, m);
	return 0;
}

static int parse_enum(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		      void *obj)
{
	char list[STEER_ERR_LEN] = "";
	const char *v = NULL;
	size_t n = 0;

	if (conf_get_string(x, s, &v))
		return -1;
	for (int i = 0; f->choices[i]; i++) {
		if (!strcmp(v, f->choices[i])) {
			memcpy(CONF_FIELD_PTR(obj, f), &i, sizeof(i));
			return 0;
		}
		n += snprintf(list + n, sizeof(list) - n, "%s%s", n ? " or " : "", f->choices[i]);
		if (n >= sizeof(list))
			n = sizeof(list) - 1;
	}
	return conf_fail(x, s, "'%s' is unknown (%s%s)", v, list, f->note ? f->note : "");
}

static int parse_addr(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		      void *obj)
{
	char perr[STEER_ERR_LEN];
	const char *v = NULL;
	int ret;

	if (conf_get_string(x, s, &v))
		return -1;
	if (f->type == CONF_T_ENDPOINT)
		ret = parse_endpoint(v, CONF_FIELD_PTR(obj, f), perr);
	else
		ret = parse_prefix(v, CONF_FIELD_PTR(obj, f), perr);
	return ret ? conf_fail(x, s, "%s", perr) : 0;
}

/* port = 80, "80" or "8000-8009": two uint16_t, low then high */
static int parse_ports(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		       void *obj)
{
	uint16_t *lohi = CONF_FIELD_PTR(obj, f);
	char perr[STEER_ERR_LEN];
	long long v = 0;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		if (v < (long long)f->min || v > (long long)f->max)
			return conf_fail(x, s, "%lld is out of range %.0f..%.0f", v, f->min, f->max);
		lohi[0] = lohi[1] = (uint16_t)v;
		return 0;
	case CONFIG_TYPE_STRING:
		if (parse_port_range(config_setting_get_string(s), &lohi[0], &lohi[1], perr))
			return conf_fail(x, s, "%s", perr);
		return 0;
	default:
		return conf_fail(x, s, "must be a port number or a string \"P\" or \"P-Q\"");
	}
}

typedef int (*value_parser)(struct conf_ctx *x, const config_setting_t *s,
			    const struct conf_field *f, void *obj);

static const value_parser parsers[] = {
	[CONF_T_UINT] = parse_uint,	[CONF_T_U64] = parse_uint,
	[CONF_T_DOUBLE] = parse_double,	[CONF_T_BOOL] = parse_bool,
	[CONF_T_STRING] = parse_text,	[CONF_T_NAME] = parse_text,
	[CONF_T_OCTAL] = parse_octal,	[CONF_T_ENUM] = parse_enum,
	[CONF_T_ENDPOINT] = parse_addr,	[CONF_T_PREFIX] = parse_addr,
	[CONF_T_PORTS] = parse_ports,
};

int conf_parse_value(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		     void *obj)
{
	if ((size_t)f->type >= sizeof(parsers) / sizeof(parsers[0]) || !parsers[f->type])
		return conf_fail(x, s, "has no parser");	/* a table bug */
	return parsers[f->type](x, s, f, obj);
}

/* A constant default of f into obj, by its type. */
static void store_default(const struct conf_field *f, void *obj)
{
	void *p = CONF_FIELD_PTR(obj, f);
	bool on = f->def != 0;
	int idx = (int)f->def;

	switch (f->type) {
	case CONF_T_UINT:
	case CONF_T_U64:
	case CONF_T_OCTAL:
		store_uint(f, obj, (unsigned long long)f->def);
		break;
	case CONF_T_DOUBLE:
		memcpy(p, &f->def, sizeof(f->def));
		break;
	case CONF_T_BOOL:
		memcpy(p, &on, sizeof(on));
		break;
	case CONF_T_STRING:
		if (f->def_str)
			snprintf(p, f->size, "%s", f->def_str);
		break;
	case CONF_T_ENUM:
		/* by name; or, parsed by a hook, the value itself */
		if (f->choices)
			for (idx = 0; f->choices[idx] && strcmp(f->choices[idx], f->def_str); idx++)
				;
		memcpy(p, &idx, sizeof(idx));
		break;
	default:
		break;	/* names, addresses, blocks: none but zeroes */
	}
}

/* The defaults of b's rows into obj; a block's own defaults come with it. */
static void apply_defaults(struct conf_ctx *x, const struct conf_block *b, void *obj)
{
	for (size_t i = 0; i < b->nfields; i++) {
		const struct conf_field *f = &b->fields[i];

		switch (f->def_from) {
		case CONF_DEF_CONST:
			store_default(f, obj);
			break;
		case CONF_DEF_INTERVAL:
			store_uint(f, obj, x->c->interval_ms);
			break;
		case CONF_DEF_WORKER_PORT:
			store_uint(f, obj, ((const struct conf_worker *)x->parent)->addr.port);
			break;
		case CONF_DEF_NONE:
		case CONF_DEF_BURST:	/* by rate's check hook, once it is known */
			break;
		}
	}
}

static int load_row(struct conf_ctx *x, const config_setting_t *g, const struct conf_field *f,
		    void *obj);

/* Block b from group g (NULL when absent: defaults only) into obj. */
int conf_load_block(struct conf_ctx *x, const config_setting_t *g, const struct conf_block *b,
		    void *obj)
{
	apply_defaults(x, b, obj);
	if (!g)
		return 0;
	if (!config_setting_is_group(g))
		return conf_fail(x, g, "must be a group { ... }");
	if (b->line)
		*(int *)((char *)obj + b->line - 1) = (int)config_setting_source_line(g);
	if (known_keys(x, g, b))
		return -1;
	for (size_t i = 0; i < b->nfields; i++)
		if (load_row(x, g, &b->fields[i], obj))
			return -1;
	return b->finish ? b->finish(x, g, NULL, NULL, obj) : 0;
}

static int load_group(struct conf_ctx *x, const config_setting_t *s, const struct conf_field *f,
		      void *obj)
{
	void *sub = CONF_FIELD_PTR(obj, f), *parent = x->parent;
	int ret;

	x->parent = obj;
	ret = conf_load_block(x, s, f->sub, sub);
	x->parent = parent;
	if (!ret && s && f->sub->present)
		*(bool *)((char *)sub + f->sub->present - 1) = true;
	return ret;
}

/* A list ( { ... }, ... ) of at most max groups into a calloc'd array. All
 * its slots count from the start, so config_free() frees what a failed load
 * left; an unloaded slot is zeroes, which no lookup matches. */
static int load_list(struct conf_ctx *x, const config_setting_t *g, const config_setting_t *s,
		     const struct conf_field *f, void *obj)
{
	void **items = CONF_FIELD_PTR(obj, f), *parent = x->parent;
	size_t *count = (size_t *)((char *)obj + f->count_off);
	int n;

	if (!config_setting_is_list(s))
		return conf_fail(x, s, "must be a list ( { ... }, ... )");
	n = config_setting_length(s);
	if (n > (int)f->max)
		return conf_fail(x, s, "has %d entries; at most %.0f", n, f->max);
	if (n == 0)
		return 0;
	if (f->parse && f->parse(x, g, s, f, obj))
		return -1;
	*items = calloc(n, f->item_size);
	if (!*items)
		return conf_fail(x, s, "out of memory");
	*count = n;
	x->parent = obj;
	for (int i = 0; i < n; i++) {
		if (conf_load_block(x, config_setting_get_elem(s, i), f->sub,
				    (char *)*items + i * f->item_size)) {
			x->parent = parent;
			return -1;
		}
	}
	x->parent = parent;
	return 0;
}

static int load_row(struct conf_ctx *x, const config_setting_t *g, const struct conf_field *f,
		    void *obj)
{
	const config_setting_t *s = config_setting_get_member(g, f->name);
	int ret = 0;

	if (s && f->empty_absent && config_setting_type(s) == CONFIG_TYPE_STRING &&
	    !*config_setting_get_string(s))
		s = NULL;	/* as before the tables: "" is the default */
	if (f->type == CONF_T_GROUP)
		ret = load_group(x, s, f, obj);
	else if (f->type == CONF_T_LIST)
		ret = s ? load_list(x, g, s, f, obj) : 0;
	else if (s)
		ret = f->parse ? f->parse(x, g, s, f, obj) : conf_parse_value(x, s, f, obj);
	if (ret)
		return -1;
	if (s && f->present)
		*(bool *)((char *)obj + f->present - 1) = true;
	return f->check ? f->check(x, g, s, f, obj) : 0;
}

static int load_parsed(const config_t *cfg, const char *file, struct steer_config *out,
		       char *err, size_t errlen)
{
	struct steer_config c = {};
	struct conf_ctx x = { .file = file, .err = err, .errlen = errlen, .c = &c };

	if (conf_load_block(&x, config_root_setting(cfg), &conf_schema_root, &c)) {
		config_free(&c);
		return -1;
	}
	*out = c;
	return 0;
}

/* libconfig read one string, so its settings name no file: each gets its
 * own FILE:LINE from the composite's map. */
static void place(config_setting_t *s, const struct conf_text *t)
{
	const char *file;
	unsigned int line;

	conf_text_where(t, s->line, &file, &line);
	s->file = file;
	s->line = line;
	if (config_setting_is_aggregate(s))
		for (int i = 0; i < config_setting_length(s); i++)
			place(config_setting_get_elem(s, i), t);
}

/* t's composite into cfg (config_destroy it either way) */
static int parse_composite(config_t *cfg, const struct conf_text *t, char *err, size_t errlen)
{
	const char *file, *text;
	unsigned int line;

	config_init(cfg);
	if (!config_read_string(cfg, t->text)) {
		conf_text_where(t, (unsigned int)config_error_line(cfg), &file, &line);
		text = config_error_text(cfg);
		conf_set_err(err, errlen, "%s:%u: %s", file ? file : STRING_FILE, line,
			     text ? text : "cannot parse");
		return -1;
	}
	place(config_root_setting(cfg), t);
	return 0;
}

/* s below parent, with its FILE:LINE (the fields are public in libconfig) */
static config_setting_t *copy_setting(config_setting_t *parent, const config_setting_t *s)
{
	int type = config_setting_type(s);
	config_setting_t *c = config_setting_add(parent, config_setting_is_group(parent) ?
						 config_setting_name(s) : NULL, type);

	if (!c)
		return NULL;
	c->file = s->file;
	c->line = s->line;
	config_setting_set_format(c, config_setting_get_format(s));
	switch (type) {
	case CONFIG_TYPE_INT:
		return config_setting_set_int(c, config_setting_get_int(s)) ? c : NULL;
	case CONFIG_TYPE_INT64:
		return config_setting_set_int64(c, config_setting_get_int64(s)) ? c : NULL;
	case CONFIG_TYPE_FLOAT:
		return config_setting_set_float(c, config_setting_get_float(s)) ? c : NULL;
	case CONFIG_TYPE_BOOL:
		return config_setting_set_bool(c, config_setting_get_bool(s)) ? c : NULL;
	case CONFIG_TYPE_STRING:
		return config_setting_set_string(c, config_setting_get_string(s)) ? c : NULL;
	}
	for (int i = 0; i < config_setting_length(s); i++)
		if (!copy_setting(c, config_setting_get_elem(s, i)))
			return NULL;
	return c;
}

/* A file of include_dir into the top file's tree: its lists (pools,
 * services) add to the top's; any other setting is set in one file only. */
static int merge_part(config_setting_t *root, const config_setting_t *part, char *err,
		      size_t errlen)
{
	for (int i = 0; i < config_setting_length(part); i++) {
		const config_setting_t *s = config_setting_get_elem(part, i);
		const char *name = config_setting_name(s);
		config_setting_t *have = config_setting_get_member(root, name);
		bool lists = have && config_setting_is_list(have) && config_setting_is_list(s);

		if (!strcmp(name, INCLUDE_DIR_KEY)) {
			conf_set_err(err, errlen, "%s:%u: %s: only in the main file", s->file,
				     s->line, name);
			return -1;
		}
		if (have && !lists) {
			conf_set_err(err, errlen, "%s:%u: %s: set already at %s:%u (files of %s add "
				     "to the lists, pools and services; other settings are set once)",
				     s->file, s->line, name, have->file, have->line, INCLUDE_DIR_KEY);
			return -1;
		}
		for (int j = 0; lists && j < config_setting_length(s); j++)
			if (!copy_setting(have, config_setting_get_elem(s, j)))
				goto oom;
		if (!have && !copy_setting(root, s))
			goto oom;
	}
	return 0;
oom:
	conf_set_err(err, errlen, "%s:0: out of memory", part->file);
	return -1;
}

/* "*.conf", not hidden: what include_dir reads, as nginx's conf.d/\*.conf */
static int is_part(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return e->d_name[0] != '.' && n > strlen(".conf") &&
	       !strcmp(e->d_name + n - strlen(".conf"), ".conf");
}

/* by bytes, whatever the locale: the order is the same for everyone */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* include_dir = "DIR": every DIR/\*.conf, sorted by name, read as its own
 * file (with its @includes) and merged into cfg. */
static int read_include_dir(config_t *cfg, struct conf_text *t, char *err, size_t errlen)
{
	config_setting_t *s = config_setting_get_member(config_root_setting(cfg), INCLUDE_DIR_KEY);
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct dirent **names = NULL;
	const char *v;
	int n, ret = 0;

	if (!s || config_setting_type(s) != CONFIG_TYPE_STRING || !*(v = config_setting_get_string(s)))
		return 0;	/* not a string: the schema says so */
	snprintf(dir, sizeof(dir), "%s%s%s", v[0] == '/' || !t->base ? "" : t->base,
		 v[0] == '/' || !t->base ? "" : "/", v);
	n = scandir(dir, &names, is_part, by_name);
	if (n < 0) {
		conf_set_err(err, errlen, "%s:%u: %s: %s: %s", s->file, s->line, INCLUDE_DIR_KEY,
			     dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n && !ret; i++) {
		config_t part;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (conf_text_read(t, path, err, errlen)) {
			ret = -1;
			break;
		}
		ret = parse_composite(&part, t, err, errlen) ||
		      merge_part(config_root_setting(cfg), config_root_setting(&part), err, errlen);
		config_destroy(&part);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret ? -1 : 0;
}

int config_load(const char *path, struct steer_config *out, char *err, size_t errlen)
{
	struct conf_text t = { 0 };
	char *dir = NULL;
	config_t cfg;
	int ret = -1;

	if (!path || !out) {
		conf_set_err(err, errlen, "%s:0: no file or no output", path ? path : "(null)");
		return -1;
	}
	dir = strdup(path);
	if (!dir) {
		conf_set_err(err, errlen, "%s:0: out of memory", path);
		return -1;
	}
	/* "@include" and include_dir are relative to the file's directory */
	t.base = dirname(dir);
	if (conf_text_read(&t, path, err, errlen))
		goto out;
	if (!parse_composite(&cfg, &t, err, errlen) && !read_include_dir(&cfg, &t, err, errlen))
		ret = load_parsed(&cfg, path, out, err, errlen);
	config_destroy(&cfg);
out:
	conf_text_free(&t);
	free(dir);
	return ret;
}

int config_load_string(const char *text, struct steer_config *out, char *err, size_t errlen)
{
	struct conf_text t = { 0 };
	config_t cfg;
	int ret = -1;

	if (!text || !out) {
		conf_set_err(err, errlen, STRING_FILE ":0: no text or no output");
		return -1;
	}
	if (conf_text_string(&t, text, STRING_FILE, err, errlen))
		goto out;
	if (!parse_composite(&cfg, &t, err, errlen) && !read_include_dir(&cfg, &t, err, errlen))
		ret = load_parsed(&cfg, STRING_FILE, out, err, errlen);
	config_destroy(&cfg);
out:
	conf_text_free(&t);
	return ret;
}

void config_free(struct steer_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npools; i++)
		free(c->pools[i].workers);
	free(c->pools);
	free(c->services);
	memset(c, 0, sizeof(*c));
}

const struct conf_pool *config_find_pool(const struct steer_config *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->npools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}

const struct conf_worker *config_find_worker(const struct steer_config *c, const char *name,
					     const struct conf_pool **pool)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->npools; i++) {
		for (size_t j = 0; j < c->pools[i].nworkers; j++) {
			if (strcmp(c->pools[i].workers[j].name, name))
				continue;
			if (pool)
				*pool = &c->pools[i];
			return &c->pools[i].workers[j];
		}
	}
	return NULL;
}
