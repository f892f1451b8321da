/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * config_hooks.h - the rows of steer.conf's schema that a plain type cannot
 * parse (policy, fallback, socket_group, burst), and the checks of what
 * refers to what (unique names and listeners, fallback chains, service
 * overlaps). Each is a conf_hook; see config_schema.h.
 */
#ifndef STEER_CONFIG_HOOKS_H
#define STEER_CONFIG_HOOKS_H

#include "config_schema.h"

/* A hook uses what it needs of its arguments. */
#define CONF_HOOK(name)                                                        \
	int name(struct conf_ctx *x __attribute__((unused)),                   \
		 const config_setting_t *g __attribute__((unused)),            \
		 const config_setting_t *s __attribute__((unused)),            \
		 const struct conf_field *f __attribute__((unused)),           \
		 void *obj __attribute__((unused)))

/* parse */
CONF_HOOK(conf_parse_policy);
CONF_HOOK(conf_parse_fallback);
CONF_HOOK(conf_parse_group);
CONF_HOOK(conf_parse_burst);
CONF_HOOK(conf_parse_weight);
CONF_HOOK(conf_default_burst);
CONF_HOOK(conf_count_workers);
/* check */
CONF_HOOK(conf_check_socket);
CONF_HOOK(conf_check_http_only);
CONF_HOOK(conf_check_http_path);
CONF_HOOK(conf_check_pool_name);
CONF_HOOK(conf_check_worker_name);
CONF_HOOK(conf_check_worker_addr);
CONF_HOOK(conf_check_fallbacks);
CONF_HOOK(conf_check_service_name);
CONF_HOOK(conf_check_service_ports);
CONF_HOOK(conf_check_service_pool);
/* fleet */
CONF_HOOK(conf_fleet_host_id);
CONF_HOOK(conf_fleet_key_prefix);
CONF_HOOK(conf_fleet_password);
CONF_HOOK(conf_pool_global_quota);
CONF_HOOK(conf_pool_fleet_chunk);
CONF_HOOK(conf_pool_static_share);
CONF_HOOK(conf_pool_tokens);

#endif
