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
	    userspace/table.c userspace/json.c
LIB_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/%.o)
BPF_HDRS := $(wildcard bpf/*.h)
TOOLS := tests/tools/sworker tests/tools/sclient
BENCH_DIR := scripts/bench
BENCH_COMMON := $(BENCH_DIR)/trace.c $(BENCH_DIR)/hist.c
BENCH_TOOLS := $(BUILD)/agent $(BUILD)/loadgen $(BUILD)/jsqsim $(BUILD)/listeners
UNIT_TESTS := $(BUILD)/test_unit $(BUILD)/test_bench
# `make test` builds steerctl and the unit tests again with these, apart
# from the normal build, and runs everything against that build.
TEST_SAN ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all deps test unit-test integration-test demo install clean tools bench-tools

all: $(BUILD)/steerctl

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

tests/tools/%: tests/tools/%.c $(wildcard tests/tools/*.h)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $< -o $@

tools: $(TOOLS)

$(BUILD)/test_unit: tests/unit/test_unit.c $(BUILD)/parse.o $(BUILD)/table.o $(BUILD)/json.o
	$(CC) $(USER_CFLAGS) $^ -lcmocka -o $@

# Benchmark tools: the sample agent, the open-loop load generator, the JSQ simulator.
$(BUILD)/agent: $(BENCH_DIR)/agent.c | $(BUILD)
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE -pthread $< -o $@
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
	$(BUILD)/test_unit
	$(BUILD)/test_bench

integration-test: all tools
	prove -v tests/integration/*.t

# Installs what is missing, builds with ASan/UBSan, then runs every test (root).
test: deps
	$(MAKE) BUILD=build/test SAN="$(TEST_SAN)" build/test/steerctl build/test/test_unit build/test/test_bench
	$(MAKE) tools
	build/test/test_unit
	build/test/test_bench
	STEERCTL=$(CURDIR)/build/test/steerctl prove tests/integration/*.t

demo: deps
	$(MAKE) all tools
	scripts/demo.sh

install: $(BUILD)/steerctl
	install -D -m 0755 $(BUILD)/steerctl $(DESTDIR)$(PREFIX)/sbin/steerctl

clean:
	rm -rf $(BUILD) $(TOOLS)
