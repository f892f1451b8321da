// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * config_doc.c - steer.conf(5)'s settings list, printed from the schema
 * tables: a subsection per block, a tagged paragraph per setting with its
 * type, range and default. `make docs` puts it between the markers in
 * docs/man/steer.conf.5, and test_config fails when the two differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_hooks.h"
#include "docsplice.h"
#include "config_schema.h"

/* s as man(7) text: backslashes and newlines escaped, no leading dot. */
static void roff(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '\n')
			fputs("\\en", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

static void doc_choices(FILE *out, const struct conf_field *f)
{
	for (uint32_t i = 0; f->parse == conf_parse_policy && i < STEER_POLICY_COUNT; i++) {
		fputs(i ? " | " : "", out);
		roff(out, policy_name(i));
	}
	for (size_t i = 0; f->choices && f->choices[i]; i++) {
		fputs(i ? " | " : "", out);
		roff(out, f->choices[i]);
	}
}

static void doc_type(FILE *out, const struct conf_field *f)
{
	switch (f->type) {
	case CONF_T_UINT:
	case CONF_T_U64:
		fprintf(out, "Whole number, %.0f..%.0f", f->min, f->max);
		break;
	case CONF_T_DOUBLE:
		fprintf(out, "Number, %c%.12g, %.12g]", f->min_excl ? '(' : '[', f->min, f->max);
		break;
	case CONF_T_BOOL:
		fputs("True or false", out);
		break;
	case CONF_T_STRING:
		fprintf(out, "String, at most %zu characters", f->maxlen ? f->maxlen : f->size - 1);
		break;
	case CONF_T_NAME:
		fprintf(out, "Name of 1 to %d letters, digits, '\\-', '_' and '.'",
			STEER_NAME_LEN - 1);
		break;
	case CONF_T_ENDPOINT:
		fputs("\"IP:PORT\"", out);
		break;
	case CONF_T_PREFIX:
		fputs("\"ADDR/LEN\" or \"ADDR\"", out);
		break;
	case CONF_T_OCTAL:
		fprintf(out, "Octal string, \"0\"..\"0%o\"", (unsigned int)f->max);
		break;
	case CONF_T_ENUM:
		fputs("One of ", out);
		doc_choices(out, f);
		break;
	case CONF_T_PORTS:
		fprintf(out, "Port P or \"P\\-Q\", %.0f..%.0f", f->min, f->max);
		break;
	case CONF_T_GROUP:
		fprintf(out, "Block { ... }, see \\fB%s\\fR", f->sub->path);
		break;
	case CONF_T_LIST:
		fprintf(out, "List ( { ... }, ... ) of at most %.0f, see \\fB%s\\fR", f->max,
			f->sub->path);
		break;
	}
}

/* What a default that is not a constant is. */
static const char *const def_from_doc[] = {
	[CONF_DEF_INTERVAL] = "daemon.interval_ms",
	[CONF_DEF_WORKER_PORT] = "the port of addr",
	[CONF_DEF_BURST] = "the rate, at least 1",
};

static void doc_default(FILE *out, const struct conf_field *f)
{
	if (f->required) {
		fputs("; required", out);
		return;
	}
	if (f->def_from == CONF_DEF_NONE)
		return;
	if (f->def_from != CONF_DEF_CONST) {
		fprintf(out, "; default: %s", def_from_doc[f->def_from]);
		return;
	}
	switch (f->type) {
	case CONF_T_UINT:
	case CONF_T_U64:
	case CONF_T_DOUBLE:
		fprintf(out, "; default %.12g", f->def);
		break;
	case CONF_T_OCTAL:
		fprintf(out, "; default \"0%o\"", (unsigned int)f->def);
		break;
	case CONF_T_BOOL:
		fprintf(out, "; default %s", f->def ? "true" : "false");
		break;
	case CONF_T_ENUM:
		fputs("; default ", out);
		roff(out, f->choices ? f->def_str : policy_name((uint32_t)f->def));
		break;
	case CONF_T_STRING:
		if (!f->def_str)
			break;
		fputs("; default \"", out);
		roff(out, f->def_str);
		fputs("\"", out);
		break;
	default:
		break;
	}
}

static int doc_block(const struct conf_block *b, void *arg)
{
	FILE *out = arg;

	if (!b->path[0])
		return 0;	/* the top: its rows are the blocks below */
	fprintf(out, ".SS %s\n", b->path);
	roff(out, b->help);
	fputs(".\n", out);
	for (size_t i = 0; i < b->nfields; i++) {
		const struct conf_field *f = &b->fields[i];

		fprintf(out, ".TP\n.B %s\n", f->name);
		roff(out, f->help);
		fputs(".\n.br\n", out);
		doc_type(out, f);
		doc_default(out, f);
		fputs(".\n", out);
	}
	return 0;
}

void conf_schema_doc(FILE *out)
{
	conf_schema_walk(doc_block, out);
}

int conf_schema_doc_update(const char *path, bool write)
{
	return doc_splice(path, CONF_DOC_BEGIN, CONF_DOC_END, conf_schema_doc, write);
}
