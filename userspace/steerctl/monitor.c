// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * monitor.c - steerctl monitor: one line per steering decision, read from a
 * BPF ring buffer of our own. The kernel writes records only while some
 * monitor's lease runs (monitor_ctl; bpf/monitor.bpf.h): this command takes
 * a free slot, puts its ring in monitor_rings, renews its lease every
 * STEER_MONITOR_RENEW_MS and frees the slot when it ends. Killed with -9,
 * it is off within STEER_MONITOR_LEASE_S with no one to clean up.
 *
 * Filters run here, not in the kernel: the kernel's cost while a monitor
 * runs does not depend on them, and each monitor has its own ring, so
 * monitors with different filters do not take each other's records.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ctl.h"
#include "defaults.h"
#include "errfmt.h"
#include "netaddr.h"
#include "state.h"

/* Every name --cause takes, NULL-terminated for the option table (and so
 * for completion). A record carries its cause, the first pool's why, its
 * refusal (steer_refusal_names) and "spilled" for a quota or rate why. */
enum {
	F_ASSIGNED, F_REPEAT, F_FALLBACK, F_PROBE, F_REFUSED, F_SPILLED,
	F_CIRCUIT, F_QUOTA, F_RATE, F_NO_WORKER, F_GONE, F_ASSIGN, F_NO_POOL,
	F_HOPS, F_ADMISSION, F_LOBBY, F_COUNT,
};
static const char *const filter_names[F_COUNT + 1] = {
	[F_ASSIGNED] = "assigned", [F_REPEAT] = "repeat", [F_FALLBACK] = "fallback",
	[F_PROBE] = "probe", [F_REFUSED] = "refused", [F_SPILLED] = "spilled",
	[F_CIRCUIT] = "circuit_open", [F_QUOTA] = "quota_spent", [F_RATE] = "rate_spent",
	[F_NO_WORKER] = "no_worker", [F_GONE] = "listener_gone", [F_ASSIGN] = "assign_failed",
	[F_NO_POOL] = "no_pool", [F_HOPS] = "hops_exhausted", [F_ADMISSION] = "admission",
	[F_LOBBY] = "lobby",
};
static const int cause_name[STEER_MON_CAUSE_COUNT] = {
	[STEER_MON_ASSIGNED] = F_ASSIGNED, [STEER_MON_REPEAT] = F_REPEAT,
	[STEER_MON_FALLBACK] = F_FALLBACK, [STEER_MON_PROBE] = F_PROBE,
	[STEER_MON_REFUSED] = F_REFUSED, [STEER_MON_LOBBY] = F_LOBBY,
};
static const int why_name[STEER_WHY_COUNT] = {
	[STEER_WHY_NONE] = -1, [STEER_WHY_CIRCUIT] = F_CIRCUIT, [STEER_WHY_QUOTA] = F_QUOTA,
	[STEER_WHY_RATE] = F_RATE, [STEER_WHY_NO_WORKER] = F_NO_WORKER,
	[STEER_WHY_GONE] = F_GONE, [STEER_WHY_ASSIGN] = F_ASSIGN, [STEER_WHY_NO_POOL] = F_NO_POOL,
};

enum { MO_SERVICE, MO_POOL, MO_CLIENT, MO_CAUSE, MO_COUNT, MO_RATE };

static const struct opt monitor_opts[] = {
	[MO_SERVICE] = { .flag = "service", .arg = "NAME", .type = OPT_NAME, .what = "service",
			 .help = "only this service's decisions" },
	[MO_POOL] = { .flag = "pool", .arg = "NAME", .type = OPT_NAME, .what = "pool",
		      .help = "only decisions this pool was meant for or took" },
	[MO_CLIENT] = { .flag = "client", .arg = "PREFIX", .type = OPT_STR,
			.help = "only clients in this IPv4 or IPv6 prefix (ADDR[/LEN])" },
	[MO_CAUSE] = { .flag = "cause", .arg = "C[,C...]", .type = OPT_STR,
		       .choices = filter_names,
		       .help = "only records with one of these causes, hand-over reasons "
			       "(why) or refusals" },
	[MO_COUNT] = { .flag = "count", .arg = "N", .type = OPT_U32, .min = 1,
		       .max = STEER_MONITOR_COUNT_MAX, .help = "exit after N records" },
	[MO_RATE] = { .flag = "rate", .arg = "N", .type = OPT_U32, .min = 1,
		      .max = STEER_MONITOR_RATE_MAX, .flags = OPT_DEFAULT,
		      .def = STEER_MONITOR_RATE_DEFAULT,
		      .help = "records per second per CPU the kernel writes at most (burst: "
			      "one second's worth); the rest are counted as dropped" },
};

struct filter {
	int service;		/* index in services, -1: any */
	char pool[STEER_NAME_LEN];	/* "": any */
	bool client_on;
	struct steer_prefix client;
	uint32_t causes;	/* bit per filter_names index; 0: any */
};

struct monitor {
	struct ctl *c;
	struct filter f;
	struct steer_monitor_ctl *ctl;	/* monitor_ctl's one value, mmapped */
	struct ring_buffer *rb;
	int ring_fd;
	int slot;		/* -1: none taken */
	uint64_t lease;		/* the deadline we last wrote to our slot */
	uint32_t rate;		/* --rate, for a slot taken again */
	ino_t pins;		/* the pin of monitor_ctl we mapped: another after a reload */
	uint64_t count, printed;
	uint64_t base_emitted, base_dropped, dropped_told;
	int64_t mono_to_real_ns;
	struct steer_service *services;	/* names, read again at every renewal */
	struct steer_pool *pools;
	struct steer_worker *workers;
	bool out_failed;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- filters -------------------------------------------------------------- */

static int filter_index(const char *name)
{
	for (int i = 0; i < F_COUNT; i++)
		if (!strcmp(name, filter_names[i]))
			return i;
	return -1;
}

static int parse_causes(struct ctl *c, const char *text, uint32_t *out)
{
	char buf[256], *save = NULL, *word;

	if (strlen(text) >= sizeof(buf))
		return ctl_error(c, "--cause: the list is too long (see 'steerctl monitor help')");
	snprintf(buf, sizeof(buf), "%s", text);
	*out = 0;
	for (word = strtok_r(buf, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		int k = filter_index(word);

		if (k < 0)
			return ctl_error(c, "--cause: unknown cause '%s' (one of: assigned, repeat, "
					 "fallback, probe, refused, lobby, spilled, a why or a refusal; see "
					 "'steerctl monitor help')", word);
		*out |= 1u << k;
	}
	if (!*out)
		return ctl_error(c, "--cause: no cause given");
	return STEER_OK;
}

static bool prefix_holds(const struct steer_prefix *p, const uint8_t addr[16])
{
	uint32_t bits = prefix_mapped_len(p), bytes = bits / 8, rest = bits % 8;

	if (memcmp(p->addr, addr, bytes))
		return false;
	return !rest || !((p->addr[bytes] ^ addr[bytes]) & (0xff00 >> rest));
}

static const char *pool_of(const struct monitor *m, uint32_t id)
{
	return id < STEER_MAX_POOLS && m->pools && m->pools[id].in_use ? m->pools[id].name : NULL;
}

static const char *worker_of(const struct monitor *m, uint32_t id)
{
	return id < STEER_MAX_WORKERS && m->workers && m->workers[id].in_use ?
		m->workers[id].name : NULL;
}

static const char *service_of(const struct monitor *m, uint32_t id)
{
	return id < STEER_MAX_SERVICES && m->services && m->services[id].in_use ?
		m->services[id].name : NULL;
}

/* the names a record answers to under --cause, as filter_names indexes */
static uint32_t record_causes(const struct steer_monitor_event *e)
{
	uint32_t bits = 0;

	if (e->cause < STEER_MON_CAUSE_COUNT)
		bits |= 1u << cause_name[e->cause];
	if (e->why < STEER_WHY_COUNT && why_name[e->why] >= 0)
		bits |= 1u << why_name[e->why];
	if (e->why == STEER_WHY_QUOTA || e->why == STEER_WHY_RATE)
		bits |= 1u << F_SPILLED;
	if (e->cause == STEER_MON_REFUSED && e->refusal < STEER_REFUSE_COUNT)
		bits |= 1u << filter_index(steer_refusal_names[e->refusal]);
	return bits;
}

/* A repeat's pool is its worker's (the kernel does not walk the chain for it). */
static uint32_t final_pool(const struct monitor *m, const struct steer_monitor_event *e)
{
	if (e->pool == STEER_NONE && e->worker < STEER_MAX_WORKERS && m->workers)
		return m->workers[e->worker].pool_id;
	return e->pool;
}

static bool record_wanted(const struct monitor *m, const struct steer_monitor_event *e)
{
	const struct filter *f = &m->f;

	if (f->service >= 0 && e->service_id != (uint32_t)f->service)
		return false;
	if (f->pool[0]) {
		const char *a = pool_of(m, e->first_pool), *b = pool_of(m, final_pool(m, e));

		if ((!a || strcmp(a, f->pool)) && (!b || strcmp(b, f->pool)))
			return false;
	}
	if (f->client_on && !prefix_holds(&f->client, (const uint8_t *)e->client))
		return false;
	return !f->causes || (record_causes(e) & f->causes);
}

/* ---- output ----------------------------------------------------------------- */

static void format_time(const struct monitor *m, uint64_t mono_ns, bool iso, char *buf,
			size_t len)
{
	int64_t real = (int64_t)mono_ns + m->mono_to_real_ns;
	time_t s = (time_t)(real / 1000000000);
	long us = (long)(real % 1000000000 / 1000);
	struct tm tm;
	size_t n;

	if (iso)
		gmtime_r(&s, &tm);
	else
		localtime_r(&s, &tm);
	n = strftime(buf, len, iso ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
	snprintf(buf + n, len - n, iso ? ".%06ldZ" : ".%06ld", us);
}

#define ESC_NAME_LEN	(STEER_NAME_LEN * 4 + 1)	/* every byte as \xNN */

/* a name for a text line: "-" for none, escaped (a name from the map may
 * hold a newline or an ESC sequence; top shows it the same way) */
static const char *text_name(const char *s, char buf[ESC_NAME_LEN])
{
	if (!s)
		return "-";
	errfmt_escape(buf, ESC_NAME_LEN, s);
	return buf;
}

static void json_name(struct json *j, const char *key, const char *name)
{
	if (name)
		json_string(j, key, name);
	else
		json_null(j, key);
}

static void print_json(const struct monitor *m, const struct steer_monitor_event *e,
		       const char *when, const char *client, const char *svc_addr)
{
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "time", when);
	json_string(&j, "client", client);
	json_uint(&j, "client_port", e->client_port);
	json_name(&j, "service", service_of(m, e->service_id));
	json_string(&j, "service_addr", svc_addr);
	json_uint(&j, "service_port", e->service_port);
	json_name(&j, "first_pool", pool_of(m, e->first_pool));
	json_name(&j, "pool", pool_of(m, final_pool(m, e)));
	json_name(&j, "worker", e->cause == STEER_MON_REFUSED ? NULL : worker_of(m, e->worker));
	json_string(&j, "cause", e->cause < STEER_MON_CAUSE_COUNT ?
		    filter_names[cause_name[e->cause]] : "unknown");
	json_name(&j, "why", e->why < STEER_WHY_COUNT && why_name[e->why] >= 0 ?
		  filter_names[why_name[e->why]] : NULL);
	json_name(&j, "refusal", e->cause == STEER_MON_REFUSED && e->refusal < STEER_REFUSE_COUNT ?
		  steer_refusal_names[e->refusal] : NULL);
	json_uint(&j, "hops", e->hops);
	json_object_end(&j);	/* ends the line at depth 0 */
}

static void print_text(const struct monitor *m, const struct steer_monitor_event *e,
		       const char *when, const char *client, const char *svc_addr)
{
	uint32_t pool = final_pool(m, e);
	char sb[ESC_NAME_LEN], pb[ESC_NAME_LEN], wb[ESC_NAME_LEN], fb[ESC_NAME_LEN];

	printf("%s %s -> %s %s pool=%s worker=%s cause=%s", when, client,
	       text_name(service_of(m, e->service_id), sb), svc_addr,
	       text_name(pool_of(m, pool), pb),
	       text_name(e->cause == STEER_MON_REFUSED ? NULL : worker_of(m, e->worker), wb),
	       e->cause < STEER_MON_CAUSE_COUNT ? filter_names[cause_name[e->cause]] : "unknown");
	if (e->cause == STEER_MON_REFUSED && e->refusal < STEER_REFUSE_COUNT)
		printf(" refusal=%s", steer_refusal_names[e->refusal]);
	if (e->why < STEER_WHY_COUNT && why_name[e->why] >= 0)
		printf(" why=%s", filter_names[why_name[e->why]]);
	if (e->first_pool != pool)
		printf(" first=%s", text_name(pool_of(m, e->first_pool), fb));
	if (e->hops)
		printf(" hops=%u", e->hops);
	putchar('\n');
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct monitor *m = ctx;
	const struct steer_monitor_event *e = data;
	char when[48], client[NETADDR_ENDPOINT_LEN], svc[NETADDR_ENDPOINT_LEN];

	if (size < sizeof(*e) || !record_wanted(m, e))
		return 0;
	format_time(m, e->ts_ns, m->c->json, when, sizeof(when));
	if (m->c->json) {
		netaddr_format((const uint8_t *)e->client, client, sizeof(client));
		netaddr_format((const uint8_t *)e->service, svc, sizeof(svc));
		print_json(m, e, when, client, svc);
	} else {
		netaddr_format_endpoint((const uint8_t *)e->client, e->client_port, client,
					sizeof(client));
		netaddr_format_endpoint((const uint8_t *)e->service, e->service_port, svc,
					sizeof(svc));
		print_text(m, e, when, client, svc);
	}
	/* a line at a time: a reader (jq, grep, a test) sees each one now */
	if (fflush(stdout) || ferror(stdout)) {
		m->out_failed = true;
		return -EPIPE;
	}
	if (m->count && ++m->printed >= m->count)
		return -ECANCELED;
	return 0;
}

/* ---- the slot, the lease and the counts --------------------------------------- */

/* monitor_ctl.deadline_ns: the latest of the slots' leases. A compare and
 * swap, since other monitors renew theirs at the same time. */
static void publish_deadline(struct steer_monitor_ctl *ctl)
{
	uint64_t old = __atomic_load_n(&ctl->deadline_ns, __ATOMIC_RELAXED), want;

	do {
		want = 0;
		for (int i = 0; i < STEER_MONITOR_SLOTS; i++) {
			uint64_t d = __atomic_load_n(&ctl->slot[i].deadline_ns, __ATOMIC_RELAXED);

			if (d > want)
				want = d;
		}
	} while (old != want && !__atomic_compare_exchange_n(&ctl->deadline_ns, &old, want, false,
							   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}

static uint64_t lease_end(void)
{
	return clock_ns(CLOCK_MONOTONIC) + STEER_MONITOR_LEASE_S * 1000000000ull;
}

/* Our lease again, if the slot is still ours: a compare and swap from the
 * deadline we wrote. Stopped (^Z, SIGSTOP) past the lease, another monitor
 * may have taken the slot and put its ring there (or freed it since):
 * false, and the slot is left to it. */
static bool renew_lease(struct monitor *m)
{
	uint64_t want = lease_end(), old = m->lease;

	if (!__atomic_compare_exchange_n(&m->ctl->slot[m->slot].deadline_ns, &old, want, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return false;
	m->lease = want;
	publish_deadline(m->ctl);
	return true;
}

/* Our slot's emitted and dropped counts, summed over the CPUs. */
static int slot_counts(struct monitor *m, uint64_t *emitted, uint64_t *dropped)
{
	int ncpu = libbpf_num_possible_cpus(), ret = -1;
	struct steer_monitor_cpu *v;
	uint32_t key = 0;

	*emitted = *dropped = 0;
	if (ncpu <= 0 || !(v = calloc((size_t)ncpu, sizeof(*v))))
		return -1;
	if (!bpf_map_lookup_elem(m->c->maps.fd[MAP_MONITOR_CPU], &key, v)) {
		for (int i = 0; i < ncpu; i++) {
			*emitted += v[i].slot[m->slot].emitted;
			*dropped += v[i].slot[m->slot].dropped;
		}
		ret = 0;
	}
	free(v);
	return ret;
}

static void report_drops(struct monitor *m, bool final)
{
	uint64_t emitted, dropped;

	if (slot_counts(m, &emitted, &dropped))
		return;
	dropped -= m->base_dropped;
	if (dropped == m->dropped_told && !final)
		return;
	if (dropped || final)
		fprintf(stderr, "steerctl monitor: %llu records written, %llu dropped (over --rate, "
			"or the ring was full)%s\n",
			(unsigned long long)(emitted - m->base_emitted), (unsigned long long)dropped,
			dropped ? ": the stream is sampled" : "");
	m->dropped_told = dropped;
}

static void free_slot(struct monitor *m);

/* A free slot (no lease running), taken with a compare and swap of its
 * deadline: two monitors starting at once, or one that was stopped past
 * its lease and goes on, do not take the same one. */
static int take_slot(struct monitor *m, uint32_t rate)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	struct ctl *c = m->c;
	uint32_t key;

	for (int i = 0; i < STEER_MONITOR_SLOTS; i++) {
		uint64_t old = __atomic_load_n(&m->ctl->slot[i].deadline_ns, __ATOMIC_SEQ_CST);
		uint64_t want = lease_end();

		if (old > now || !__atomic_compare_exchange_n(&m->ctl->slot[i].deadline_ns, &old,
							       want, false, __ATOMIC_SEQ_CST,
							       __ATOMIC_SEQ_CST))
			continue;
		m->slot = i;
		m->lease = want;
		key = (uint32_t)i;
		m->ctl->slot[i].rate = rate;
		m->ctl->slot[i].burst = rate;
		slot_counts(m, &m->base_emitted, &m->base_dropped);
		m->dropped_told = 0;
		if (bpf_map_update_elem(c->maps.fd[MAP_MONITOR_RINGS], &key, &m->ring_fd, BPF_ANY)) {
			snprintf(c->err, sizeof(c->err), "cannot install the monitor's ring: %s",
				 strerror(errno));
			free_slot(m);
			return STEER_ESYS;
		}
		publish_deadline(m->ctl);
		return STEER_OK;
	}
	snprintf(c->err, sizeof(c->err), "%d monitors are running already (at most %d at once)",
		 STEER_MONITOR_SLOTS, STEER_MONITOR_SLOTS);
	return STEER_ESYS;
}

/* Our slot off at once and its ring out of monitor_rings (its memory goes
 * with our fd); the global deadline drops to the others' latest. */
static void free_slot(struct monitor *m)
{
	uint64_t mine = m->lease;
	uint32_t key;

	if (m->slot < 0)
		return;
	key = (uint32_t)m->slot;
	/* only a slot still ours: another monitor may hold it now */
	if (__atomic_load_n(&m->ctl->slot[m->slot].deadline_ns, __ATOMIC_SEQ_CST) == mine) {
		bpf_map_delete_elem(m->c->maps.fd[MAP_MONITOR_RINGS], &key);
		__atomic_compare_exchange_n(&m->ctl->slot[m->slot].deadline_ns, &mine, 0, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		publish_deadline(m->ctl);
	}
	m->slot = -1;
}

/* A name in the map holds any bytes (bpftool writes them): cut each at
 * its last byte so that it ends within its field. */
#define TERMINATE_NAMES(arr, n)						\
	do {								\
		for (uint32_t i_ = 0; (arr) && i_ < (n); i_++)		\
			(arr)[i_].name[STEER_NAME_LEN - 1] = '\0';	\
	} while (0)

static void read_names(struct monitor *m)
{
	struct steer_service *s = state_read_all(&m->c->maps, MAP_SERVICES);
	struct steer_pool *p = state_read_all(&m->c->maps, MAP_POOLS);
	struct steer_worker *w = state_read_all(&m->c->maps, MAP_WORKERS);

	TERMINATE_NAMES(s, STEER_MAX_SERVICES);
	TERMINATE_NAMES(p, STEER_MAX_POOLS);
	TERMINATE_NAMES(w, STEER_MAX_WORKERS);
	/* keep the last good copy when a read fails */
	if (s) {
		free(m->services);
		m->services = s;
	}
	if (p) {
		free(m->pools);
		m->pools = p;
	}
	if (w) {
		free(m->workers);
		m->workers = w;
	}
}

/* ---- the command ---------------------------------------------------------------- */

static int parse_filters(struct ctl *c, const struct optval *v, struct filter *f)
{
	char perr[STEER_ERR_LEN];

	memset(f, 0, sizeof(*f));
	f->service = -1;
	if (v[MO_CLIENT].given) {
		if (parse_prefix(v[MO_CLIENT].s, &f->client, perr))
			return ctl_error(c, "--client: %s", perr);
		f->client_on = true;
	}
	if (v[MO_CAUSE].given && parse_causes(c, v[MO_CAUSE].s, &f->causes))
		return STEER_EINPUT;
	return STEER_OK;
}

/* --service and --pool must name what exists now (exit 2 otherwise). */
static int resolve_names(struct monitor *m, const struct optval *v)
{
	struct ctl *c = m->c;
	uint32_t id;
	int ret;

	if (v[MO_SERVICE].given) {
		struct steer_service s;

		if ((ret = service_find(&c->maps, v[MO_SERVICE].s, &id, &s, c->err)))
			return ret;
		m->f.service = (int)id;
	}
	if (v[MO_POOL].given) {
		struct steer_pool *p = calloc(1, sizeof(*p));

		if (!p)
			return ctl_error(c, "out of memory");
		ret = pool_find(&c->maps, v[MO_POOL].s, &id, p, c->err);
		free(p);
		if (ret)
			return ret;
		snprintf(m->f.pool, sizeof(m->f.pool), "%s", v[MO_POOL].s);
	}
	return STEER_OK;
}

static int start(struct monitor *m, const struct optval *v)
{
	struct ctl *c = m->c;
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	void *p;
	int ret;

	if ((ret = ctl_open_maps(c)) || (ret = resolve_names(m, v)))
		return ret;
	len = (sizeof(struct steer_monitor_ctl) + len - 1) / len * len;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, c->maps.fd[MAP_MONITOR_CTL], 0);
	if (p == MAP_FAILED) {
		snprintf(c->err, sizeof(c->err), "cannot map monitor_ctl: %s", strerror(errno));
		return STEER_ESYS;
	}
	m->ctl = p;
	m->ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "steer_monitor", 0, 0,
				    STEER_MONITOR_RING_BYTES, NULL);
	if (m->ring_fd < 0) {
		snprintf(c->err, sizeof(c->err), "cannot create a ring buffer: %s", strerror(errno));
		return STEER_ESYS;
	}
	m->rb = ring_buffer__new(m->ring_fd, on_record, m, NULL);
	if (!m->rb) {
		snprintf(c->err, sizeof(c->err), "cannot read the ring buffer: %s", strerror(errno));
		return STEER_ESYS;
	}
	if ((ret = take_slot(m, (uint32_t)v[MO_RATE].u)))
		return ret;
	m->rate = (uint32_t)v[MO_RATE].u;
	m->pins = ctl_pin_inode(c, MAP_MONITOR_CTL);
	/* we only read from here on: writers must not wait for us */
	steer_maps_unlock(&c->maps);
	read_names(m);
	/* on stderr: -j output stays one record a line; a script waits for it */
	fprintf(stderr, "steerctl monitor: on (slot %d of %d, at most %llu records/s per CPU)\n",
		m->slot + 1, STEER_MONITOR_SLOTS, (unsigned long long)v[MO_RATE].u);
	return STEER_OK;
}

static void stop(struct monitor *m)
{
	if (m->ctl && m->slot >= 0) {
		report_drops(m, true);
		free_slot(m);
	}
	ring_buffer__free(m->rb);
	if (m->ring_fd >= 0)
		close(m->ring_fd);
	if (m->ctl)
		munmap(m->ctl, (size_t)sysconf(_SC_PAGESIZE));
	free(m->services);
	free(m->pools);
	free(m->workers);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* no SA_RESTART: the poll returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void sync_clocks(struct monitor *m)
{
	m->mono_to_real_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
}

/* Stopped past our lease, the slot went to another monitor: a free one
 * again, or the end (all taken). Records written meanwhile are lost. */
static int retake_slot(struct monitor *m)
{
	int lost = m->slot, ret;

	m->slot = -1;
	if ((ret = take_slot(m, m->rate)))
		return ret;
	fprintf(stderr, "steerctl monitor: slot %d went to another monitor while this one was "
		"stopped; now slot %d of %d (records in between are missing)\n", lost + 1,
		m->slot + 1, STEER_MONITOR_SLOTS);
	return STEER_OK;
}

/* Still the maps we took a slot in? After an unload and a load they are
 * others, which we would renew a lease in for no one. */
static int still_loaded(struct monitor *m)
{
	if (steer_is_loaded(&m->c->paths) && ctl_pin_inode(m->c, MAP_MONITOR_CTL) == m->pins)
		return STEER_OK;
	snprintf(m->c->err, sizeof(m->c->err), "steer was unloaded");
	return STEER_ESYS;
}

static int run_loop(struct monitor *m)
{
	uint64_t next = 0;
	int n, ret;

	while (!stop_signal) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC);

		if (now >= next) {
			if ((ret = still_loaded(m)))
				return ret;
			if (!renew_lease(m) && (ret = retake_slot(m)))
				return ret;
			read_names(m);
			sync_clocks(m);
			report_drops(m, false);
			next = now + STEER_MONITOR_RENEW_MS * 1000000ull;
		}
		/* the kernel seldom wakes us (monitor.bpf.h): look every POLL_MS,
		 * and read what is there, woken or not (poll reads only a ring
		 * that woke it) */
		n = ring_buffer__poll(m->rb, STEER_MONITOR_POLL_MS);
		if (n >= 0)
			n = ring_buffer__consume(m->rb);
		if (n == -ECANCELED || m->out_failed)
			return STEER_OK;	/* --count reached, or our reader went away */
		if (n < 0 && n != -EINTR) {
			snprintf(m->c->err, sizeof(m->c->err), "cannot read the ring buffer: %s",
				 strerror(-n));
			return STEER_ESYS;
		}
	}
	return STEER_OK;
}

static int do_monitor(struct ctl *c, const struct optval *v)
{
	struct monitor m = { .c = c, .ring_fd = -1, .slot = -1 };
	int ret;

	if ((ret = parse_filters(c, v, &m.f)))
		return ret;
	m.count = v[MO_COUNT].given ? v[MO_COUNT].u : 0;
	catch_signals();
	sync_clocks(&m);
	if (!(ret = start(&m, v)))
		ret = run_loop(&m);
	stop(&m);
	return ret;
}

static const struct cmd monitor_cmds[] = {
	{ .opts = monitor_opts, .nopts = ARRAY_SIZE(monitor_opts), .run = do_monitor,
	  .help = "a live stream of steering decisions, one line each (-j: JSON lines)",
	  .doc = "One record per decision of sk_lookup for a service: time, client, service and "
		 "the address dialled, the pool it was meant for and the one that took it, the "
		 "worker, and the cause: assigned, repeat, fallback (why: circuit_open, "
		 "quota_spent, rate_spent, no_worker, listener_gone, assign_failed, no_pool: why "
		 "the service's pool passed it on), probe (half-open), or refused (refusal: "
		 "no_pool, hops_exhausted, admission, no_worker, listener_gone, assign_failed). "
		 "The kernel writes records only while a monitor runs: each renews a lease of "
		 OPT_LIMIT(STEER_MONITOR_LEASE_S) " s every second, so one killed with -9 stops "
		 "costing anything by itself. At most " OPT_LIMIT(STEER_MONITOR_SLOTS)
		 " monitors at once, each with its own ring. Filters run in steerctl; the "
		 "kernel's rate limit (--rate, per CPU) applies before them, and what it or a "
		 "full ring drops is reported on stderr every second and at exit. SIGINT or "
		 "SIGTERM ends it with exit 0." },
};

const struct object obj_monitor = { "monitor", monitor_cmds, ARRAY_SIZE(monitor_cmds) };
