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
# Every object is built from its source by one pattern rule into $(OBJ),
# which mirrors the source tree; -MMD writes what each one includes, so an
# object is rebuilt only when a header it includes changes.
OBJ := $(BUILD)/obj
DEPFLAGS = -MMD -MP -MF $(@:.o=.d)
INCLUDES := -I$(BUILD) -Ibpf -Iuserspace/lib
USER_CFLAGS = $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $(INCLUDES) $(EXTRA_INCLUDES)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Wextra -Werror -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf
LDLIBS := -lbpf -lelf -lz
DAEMON_LIBS := -lconfig -lmicrohttpd -lhiredis -lm -lpthread

# The three parts of userspace: libsteer (maps, sockets, parsing: shared by
# both tools), steerctl and steerd. A file belongs to its folder's part.
objs_of = $(patsubst %.c,$(OBJ)/%.o,$(1))
LIB_OBJS := $(call objs_of,$(wildcard userspace/lib/*.c))
CTL_OBJS := $(call objs_of,$(wildcard userspace/steerctl/*.c))
DAEMON_OBJS := $(call objs_of,$(wildcard userspace/steerd/*.c))
# steerd's modules without its main, archived so a unit test links the ones it uses
DAEMON_MODS := $(filter-out %/main.o,$(DAEMON_OBJS))
# and steerctl's, so a unit test links its option tables
CTL_MODS := $(filter-out %/main.o,$(CTL_OBJS))
LIBSTEER := $(BUILD)/libsteer.a
LIBSTEERD := $(BUILD)/libsteerd.a
LIBSTEERCTL := $(BUILD)/libsteerctl.a

TOOLS := tests/tools/sworker tests/tools/sclient
BENCH_SRC := scripts/bench/src
BENCH_COMMON := $(call objs_of,$(BENCH_SRC)/trace.c $(BENCH_SRC)/hist.c $(BENCH_SRC)/cli.c \
	userspace/lib/netaddr.c)
BENCH_TOOLS := $(BUILD)/agent $(BUILD)/loadgen $(BUILD)/jsqsim $(BUILD)/listeners $(BUILD)/calib \
	$(BUILD)/refsteer
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_NAMES:%=$(BUILD)/%)
# `make test` builds steerctl and the unit tests again with these, apart
# from the normal build, and runs everything against that build.
TEST_SAN ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# objects made on the way to a test binary are kept (no re-link from scratch)
.SECONDARY:

.PHONY: all deps test unit-test integration-test demo install clean tools bench-tools fuzz bpf-headers docs

all: $(BUILD)/steerctl $(BUILD)/steerd

deps:
	scripts/install-deps.sh

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/steer.bpf.o: bpf/steer.bpf.c $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

# each BPF header compiles on its own: vmlinux.h, bpf_helpers.h and it
bpf-headers: $(BUILD)/vmlinux.h
	set -e; for h in $(wildcard bpf/*.h); do \
		printf '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include "%s"\n' \
			"$${h#bpf/}" | $(CLANG) $(BPF_CFLAGS) -fsyntax-only -x c - || \
			{ echo "Error: $$h does not compile on its own"; exit 1; }; \
	done

$(BUILD)/steer.skel.h: $(BUILD)/steer.bpf.o
	$(BPFTOOL) gen skeleton $< name steer_bpf > $@.tmp && mv $@.tmp $@

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(USER_CFLAGS) $(DEPFLAGS) -c $< -o $@

# the loader is the one object that includes the skeleton
$(OBJ)/userspace/lib/loader.o: $(BUILD)/steer.skel.h
# the unit tests reach into steerd and the benchmarks' helpers
$(OBJ)/tests/unit/%.o: EXTRA_INCLUDES := -Iuserspace/steerd -Iuserspace/steerctl -I$(BENCH_SRC)

$(LIBSTEER): $(LIB_OBJS)
	$(AR) rcs $@ $^
$(LIBSTEERD): $(DAEMON_MODS)
	$(AR) rcs $@ $^
$(LIBSTEERCTL): $(CTL_MODS)
	$(AR) rcs $@ $^

$(BUILD)/steerctl: $(OBJ)/userspace/steerctl/main.o $(LIBSTEERCTL) $(LIBSTEER)
	$(CC) $(USER_CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/steerd: $(OBJ)/userspace/steerd/main.o $(LIBSTEERD) $(LIBSTEER)
	$(CC) $(USER_CFLAGS) $^ $(LDLIBS) $(DAEMON_LIBS) -o $@

# the test tools: one file each and a shared header, built in place
tests/tools/%: tests/tools/%.c tests/tools/common.h userspace/lib/netaddr.c userspace/lib/netaddr.h
	$(CC) $(CFLAGS) $(WARN) $(SAN) -D_GNU_SOURCE $(INCLUDES) $< userspace/lib/netaddr.c -o $@

tools: $(TOOLS) $(BUILD)/agent

# a unit test links what it uses from steerctl's and steerd's modules and libsteer
$(BUILD)/test_%: $(OBJ)/tests/unit/test_%.o $(LIBSTEERCTL) $(LIBSTEERD) $(LIBSTEER)
	$(CC) $(USER_CFLAGS) $^ $(DAEMON_LIBS) $(LDLIBS) -lcmocka -o $@
$(BUILD)/test_bench: $(OBJ)/tests/unit/test_bench.o $(call objs_of,$(BENCH_SRC)/sim.c) $(BENCH_COMMON)
	$(CC) $(USER_CFLAGS) $^ -lcmocka -lm -o $@

# Benchmark tools: the sample agent, the open-loop load generator, the JSQ
# simulator, the listener farm and the machine's calibration.
$(BUILD)/agent: $(call objs_of,$(BENCH_SRC)/agent.c $(BENCH_SRC)/cli.c userspace/lib/netaddr.c)
	$(CC) $(USER_CFLAGS) $^ -lpthread -o $@
$(BUILD)/loadgen: $(call objs_of,$(BENCH_SRC)/loadgen.c) $(BENCH_COMMON)
	$(CC) $(USER_CFLAGS) $^ -lm -o $@
$(BUILD)/jsqsim: $(call objs_of,$(BENCH_SRC)/jsqsim.c $(BENCH_SRC)/sim.c) $(BENCH_COMMON)
	$(CC) $(USER_CFLAGS) $^ -lm -o $@
$(BUILD)/calib: $(BUILD)/%: $(OBJ)/$(BENCH_SRC)/%.o
	$(CC) $(USER_CFLAGS) $^ -o $@
$(BUILD)/listeners: $(call objs_of,$(BENCH_SRC)/listeners.c userspace/lib/netaddr.c)
	$(CC) $(USER_CFLAGS) $^ -o $@
# cost.sh's yardstick: the minimal steering program and its loader
$(BUILD)/ref_steer.bpf.o: $(BENCH_SRC)/ref_steer.bpf.c $(BUILD)/vmlinux.h
	$(CLANG) $(BPF_CFLAGS) -I$(BENCH_SRC) $(DEPFLAGS) -c $< -o $@
$(BUILD)/ref_steer.skel.h: $(BUILD)/ref_steer.bpf.o
	$(BPFTOOL) gen skeleton $< name ref_steer_bpf > $@.tmp && mv $@.tmp $@
$(OBJ)/$(BENCH_SRC)/refsteer.o: $(BUILD)/ref_steer.skel.h
$(BUILD)/refsteer: $(OBJ)/$(BENCH_SRC)/refsteer.o $(LIBSTEER)
	$(CC) $(USER_CFLAGS) $^ $(LDLIBS) -o $@

# steer.conf(5)'s settings list and steerd(8)'s metrics list, written from
# steerd's schema and metrics tables (test_config_schema and test_metrics
# fail while a committed page differs)
$(OBJ)/scripts/man_tables.o: EXTRA_INCLUDES := -Iuserspace/steerd
$(BUILD)/man_tables: $(OBJ)/scripts/man_tables.o $(LIBSTEERD) $(LIBSTEER)
	$(CC) $(USER_CFLAGS) $^ $(DAEMON_LIBS) $(LDLIBS) -o $@
docs: $(BUILD)/man_tables steerctl-docs
	$(BUILD)/man_tables docs/man/steer.conf.5 docs/man/steerd.8

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

bench-tools: $(BENCH_TOOLS)

unit-test: $(UNIT_TESTS)
	set -e; for t in $(UNIT_TESTS); do $$t; done

integration-test: all tools
	prove -v tests/integration/*.t

# Installs what is missing, builds with ASan/UBSan, then runs every test (root).
test: deps
	$(MAKE) BUILD=build/test SAN="$(TEST_SAN)" build/test/steerctl build/test/steerd \
		$(UNIT_NAMES:%=build/test/%)
	$(MAKE) tools
	$(MAKE) BUILD=build/test bpf-headers
	set -e; for t in $(UNIT_NAMES); do build/test/$$t; done
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	STEERCTL=$(CURDIR)/build/test/steerctl STEERD=$(CURDIR)/build/test/steerd \
		prove tests/integration/*.t

# libFuzzer harnesses (tests/fuzz): the config loader and the CLI's parsers,
# each run for FUZZ_SECONDS; a crash or a failed property fails the target.
FUZZ_SECONDS ?= 60
TEST_FUZZ_SECONDS ?= 15
FUZZ_CFLAGS := -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Ibpf -Iuserspace/lib -Iuserspace/steerd \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZERS := build/fuzz/fuzz_config build/fuzz/fuzz_parse
# each is one clang line over its sources, so it depends on every header it may read
FUZZ_LIB := userspace/lib/parse.c userspace/lib/netaddr.c userspace/lib/errfmt.c userspace/lib/docsplice.c $(wildcard bpf/*.h userspace/lib/*.h)
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(wildcard userspace/steerd/config*.[ch]) $(FUZZ_LIB)
	mkdir -p $(@D) && $(CLANG) $(FUZZ_CFLAGS) $(filter %.c,$^) -lconfig -ldl -o $@
build/fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c $(FUZZ_LIB)
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
	install -d $(DESTDIR)/etc/steer/conf.d
	# a working file for the unit, never over the operator's own
	[ -e $(DESTDIR)/etc/steer/steer.conf ] || \
		install -m 0644 scripts/steer.conf.default $(DESTDIR)/etc/steer/steer.conf
	install -D -m 0644 scripts/completion/steerctl.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/steerctl
	install -D -m 0644 scripts/completion/_steerctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_steerctl
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@PREFIX@|$(PREFIX)|g' scripts/steerd.service > $(DESTDIR)$(UNITDIR)/steerd.service

clean:
	rm -rf $(BUILD) $(TOOLS)

# steerctl(8)'s command list and README's from steerctl's option tables
.PHONY: steerctl-docs
steerctl-docs: $(BUILD)/steerctl
	userspace/steerctl/gendoc.sh $(BUILD)/steerctl docs/man/steerctl.8 docs/man/steerd.8 README.md

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
