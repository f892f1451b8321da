# steer - in-kernel connection steering. `make`, `make test`, `make demo`.
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build

CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# Messages may be cut at STEER_ERR_LEN; pin paths are length-checked in steer_paths_init.
WARN := -Wall -Wextra -Werror -Wno-format-truncation
CFLAGS ?= -O2 -g
SAN ?=
USER_CFLAGS := $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE -I$(BUILD) -Ibpf -Iuserspace
LDLIBS := -lbpf -lelf -lz
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Wextra -Werror -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf

LIB_SRCS := userspace/loader.c userspace/state.c userspace/sockets.c userspace/parse.c \
	    userspace/table.c userspace/json.c userspace/cgroup.c userspace/errfmt.c
LIB_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/%.o)
# steerd's own modules, on top of the shared ones
DAEMON_SRCS := userspace/apply.c userspace/config.c userspace/health.c userspace/resources.c \
	       userspace/metrics.c userspace/circuit.c userspace/maintenance.c userspace/log.c
DAEMON_OBJS := $(DAEMON_SRCS:userspace/%.c=$(BUILD)/%.o)
DAEMON_LIBS := -lconfig -lmicrohttpd -lm
BPF_HDRS := $(wildcard bpf/*.h)
TOOLS := tests/tools/sworker tests/tools/sclient
BENCH_DIR := scripts/bench
BENCH_COMMON := $(BENCH_DIR)/trace.c $(BENCH_DIR)/hist.c $(BENCH_DIR)/cli.c
BENCH_TOOLS := $(BUILD)/agent $(BUILD)/loadgen $(BUILD)/jsqsim $(BUILD)/listeners
UNIT_NAMES := test_unit test_health test_config test_resources test_metrics test_circuit test_errfmt
UNIT_TESTS := $(UNIT_NAMES:%=$(BUILD)/%) $(BUILD)/test_bench
# `make test` builds steerctl and the unit tests again with these, apart
# from the normal build, and runs everything against that build.
TEST_SAN ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all deps test unit-test integration-test demo install clean tools bench-tools fuzz

all: $(BUILD)/steerctl $(BUILD)/steerd

deps:
	scripts/install-deps.sh

$(BUILD):
	mkdir -p $@

$(BUILD)/vmlinux.h: | $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/steer.bpf.o: bpf/steer.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/steer.skel.h: $(BUILD)/steer.bpf.o
	$(BPFTOOL) gen skeleton $< name steer_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/%.o: userspace/%.c $(wildcard userspace/*.h) bpf/steer.h $(BUILD)/steer.skel.h
	$(CC) $(USER_CFLAGS) -c $< -o $@

$(BUILD)/steerctl: $(BUILD)/steerctl.o $(LIB_OBJS)
	$(CC) $(USER_CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/steerd: $(BUILD)/steerd.o $(DAEMON_OBJS) $(LIB_OBJS)
	$(CC) $(USER_CFLAGS) $^ $(LDLIBS) $(DAEMON_LIBS) -lpthread -o $@

tests/tools/%: tests/tools/%.c $(wildcard tests/tools/*.h)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $< -o $@

tools: $(TOOLS) $(BUILD)/agent

$(BUILD)/test_unit: tests/unit/test_unit.c $(BUILD)/parse.o $(BUILD)/table.o $(BUILD)/json.o
	$(CC) $(USER_CFLAGS) $^ -lcmocka -o $@
$(BUILD)/test_health: tests/unit/test_health.c $(BUILD)/health.o
	$(CC) $(USER_CFLAGS) $^ -lcmocka -lpthread -o $@
$(BUILD)/test_config: tests/unit/test_config.c $(BUILD)/config.o $(BUILD)/parse.o
	$(CC) $(USER_CFLAGS) $^ -lconfig -lcmocka -o $@
$(BUILD)/test_resources: tests/unit/test_resources.c $(BUILD)/resources.o $(BUILD)/cgroup.o
	$(CC) $(USER_CFLAGS) $^ -lcmocka -lm -o $@
$(BUILD)/test_metrics: tests/unit/test_metrics.c $(BUILD)/metrics.o
	$(CC) $(USER_CFLAGS) $^ -lmicrohttpd -lcmocka -lpthread -o $@
$(BUILD)/test_circuit: tests/unit/test_circuit.c $(BUILD)/circuit.o
	$(CC) $(USER_CFLAGS) $^ -lcmocka -o $@
$(BUILD)/test_errfmt: tests/unit/test_errfmt.c $(BUILD)/errfmt.o
	$(CC) $(USER_CFLAGS) $^ -lcmocka -o $@

# Benchmark tools: the sample agent, the open-loop load generator, the JSQ simulator.
$(BUILD)/agent: $(BENCH_DIR)/agent.c $(BENCH_DIR)/cli.c $(BENCH_DIR)/cli.h | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE -pthread $(filter %.c,$^) -o $@
$(BUILD)/listeners: $(BENCH_DIR)/listeners.c | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE $< -o $@
$(BUILD)/loadgen: $(BENCH_DIR)/loadgen.c $(BENCH_COMMON) $(wildcard $(BENCH_DIR)/*.h) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $(filter %.c,$^) -lm -o $@
$(BUILD)/jsqsim: $(BENCH_DIR)/jsqsim.c $(BENCH_DIR)/sim.c $(BENCH_COMMON) $(wildcard $(BENCH_DIR)/*.h) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $(filter %.c,$^) -lm -o $@
$(BUILD)/test_bench: $(BENCH_DIR)/test_bench.c $(BENCH_DIR)/sim.c $(BENCH_COMMON) $(wildcard $(BENCH_DIR)/*.h) | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $(filter %.c,$^) -lcmocka -lm -o $@

bench-tools: $(BENCH_TOOLS)

unit-test: $(UNIT_TESTS)
	set -e; for t in $(UNIT_TESTS); do $$t; done

integration-test: all tools
	prove -v tests/integration/*.t

# Installs what is missing, builds with ASan/UBSan, then runs every test (root).
test: deps
	$(MAKE) BUILD=build/test SAN="$(TEST_SAN)" build/test/steerctl build/test/steerd \
		$(UNIT_NAMES:%=build/test/%) build/test/test_bench
	$(MAKE) tools
	set -e; for t in $(UNIT_NAMES) test_bench; do build/test/$$t; done
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	STEERCTL=$(CURDIR)/build/test/steerctl STEERD=$(CURDIR)/build/test/steerd \
		prove tests/integration/*.t

# libFuzzer harnesses (tests/fuzz): the config loader and the CLI's parsers,
# each run for FUZZ_SECONDS; a crash or a failed property fails the target.
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 15
FUZZ_CFLAGS := -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Ibpf -Iuserspace \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZERS := build/fuzz/fuzz_config build/fuzz/fuzz_parse
# the tools' error escaping, where there is one: errors are checked as printed
FUZZ_ERRFMT := $(wildcard userspace/errfmt.c)
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c userspace/config.c userspace/parse.c \
		$(FUZZ_ERRFMT) userspace/config.h userspace/parse.h bpf/steer.h
	mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -lconfig -ldl -o $@
build/fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c userspace/parse.c $(FUZZ_ERRFMT) \
		userspace/parse.h bpf/steer.h
	mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -o $@
fuzz: deps
	$(MAKE) $(FUZZERS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

demo: deps
	$(MAKE) all tools
	scripts/demo.sh

UNITDIR ?= /lib/systemd/system
install: $(BUILD)/steerctl $(BUILD)/steerd
	install -D -m 0755 $(BUILD)/steerctl $(DESTDIR)$(PREFIX)/sbin/steerctl
	install -D -m 0755 $(BUILD)/steerd $(DESTDIR)$(PREFIX)/sbin/steerd
	install -D -m 0644 docs/man/steerctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/steerctl.8
	install -D -m 0644 docs/man/steerd.8 $(DESTDIR)$(PREFIX)/share/man/man8/steerd.8
	install -D -m 0644 docs/man/steer.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/steer.conf.5
	install -D -m 0644 scripts/steer.conf.example $(DESTDIR)/etc/steer/steer.conf.example
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@PREFIX@|$(PREFIX)|g' scripts/steerd.service > $(DESTDIR)$(UNITDIR)/steerd.service

clean:
	rm -rf $(BUILD) $(TOOLS)

# Benchmarks (root): the proxies and tools they compare with, a build, then
# scripts/bench/run.sh. `bench` (~20 minutes) writes docs/bench/RESULTS.md
# and its plots (raw data in build/bench/); `bench-quick` (< 2 minutes)
# writes only build/bench-quick/. Missed targets never fail the build.
.PHONY: bench bench-quick bench-deps
bench-deps:
	scripts/install-deps.sh --bench

bench: bench-deps
	$(MAKE) all tools bench-tools
	scripts/bench/run.sh

bench-quick: bench-deps
	$(MAKE) all tools bench-tools
	scripts/bench/run.sh --quick
