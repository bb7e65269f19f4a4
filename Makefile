# gridns - top-level build.  Sources are picked up by wildcard so that adding a
# file to a module never means editing this file.
#
#   make            build build/bin/gridns-resolver, build/bin/gridns-zonesync
#   make deps       install missing Debian packages (apt-get when root)
#   make test       deps + build + unit (cmocka) + system (pytest) tests
#   make asan       the same suite under AddressSanitizer + UBSan
#   make run        deps + build + local demo on 127.0.0.1:5300
#   make bench      side-by-side benchmark against rbldnsd (tests/bench)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS each (tests/fuzz)
#   make fuzz-replay  every fuzz target over its seed corpus only (seconds)

BUILD   ?= build
CC      ?= cc
CSTD     = -std=c11 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
OPT     ?= -O2 -g
SAN     ?=
# RELEASE=1: release binaries; -DNDEBUG compiles out the test hooks (the
# resolver's --fault), so they exist only in builds the tests drive.
RELEASE ?=
CFLAGS  += $(CSTD) $(WARN) $(OPT) $(SAN) $(if $(RELEASE),-DNDEBUG) -I. -MMD -MP
LDFLAGS += $(SAN)

LIBS_COMMON   = -lconfig -lmicrohttpd -lpthread
LIBS_ZONESYNC = -llmdb -lldns -lcrypto -lev -lconfig -lmicrohttpd -lpthread
LIBS_RESOLVER = -lunbound -Wl,--push-state,--no-as-needed -l:libevent-2.1.so.7 -Wl,--pop-state -lev -lconfig -lmicrohttpd -lsystemd -lpthread
# jemalloc is linked into the daemons only, and not under sanitizers.
JEMALLOC = $(if $(SAN),,-ljemalloc)

src_common   = $(wildcard common/*.c)
src_zonesync = $(filter-out zonesync/main.c,$(wildcard zonesync/*.c))
src_resolver = $(filter-out resolver/main.c,$(wildcard resolver/*.c))
src_tools    = $(filter-out tools/main.c,$(wildcard tools/*.c))
src_units    = $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

lib_common   = $(BUILD)/lib/libcommon.a
lib_zonesync = $(BUILD)/lib/libzonesync.a
lib_resolver = $(BUILD)/lib/libresolver.a
lib_tools    = $(BUILD)/lib/libtools.a

# build/bin/gridns (operator tools) joins BINS with its first real command.
BINS  = $(BUILD)/bin/gridns-resolver $(BUILD)/bin/gridns-zonesync $(if $(wildcard tools/main.c),$(BUILD)/bin/gridns)
UNITS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(src_units))
HELPERS = $(BUILD)/bin/gridns-loadgen $(BUILD)/bin/gridns-udpecho

# Keep test and helper objects: they are not throw-away intermediates.
.SECONDARY:

.PHONY: all deps test unit system asan run bench clean check-layers fuzz fuzz-replay fuzz-build fuzzers
all: $(BINS) $(UNITS) $(HELPERS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(lib_common): $(call obj,$(src_common))
$(lib_zonesync): $(call obj,$(src_zonesync))
$(lib_resolver): $(call obj,$(src_resolver))
$(lib_tools): $(call obj,$(src_tools))
# Every library carries an empty object so that a module with no sources
# yet still yields a valid archive.
$(BUILD)/lib/%.a: $(BUILD)/obj/empty.o
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int gridns_empty_unit;' | $(CC) $(CFLAGS) -x c -c - -o $@

ALL_LIBS = $(lib_tools) $(lib_resolver) $(lib_zonesync) $(lib_common)
SYS_LIBS = $(LIBS_RESOLVER) $(LIBS_ZONESYNC) $(LIBS_COMMON) -lm

$(BUILD)/bin/gridns-resolver: $(BUILD)/obj/resolver/main.o $(lib_resolver) $(lib_zonesync) $(lib_common)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYS_LIBS) $(JEMALLOC)
$(BUILD)/bin/gridns-zonesync: $(BUILD)/obj/zonesync/main.o $(lib_zonesync) $(lib_common)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ZONESYNC) $(LIBS_COMMON) -lm $(JEMALLOC)
$(BUILD)/bin/gridns: $(BUILD)/obj/tools/main.o $(lib_tools) $(lib_zonesync) $(lib_common)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ZONESYNC) $(LIBS_COMMON) -lm
# Benchmark helpers: the lean load generator and the bare UDP ceiling.
$(BUILD)/bin/gridns-%: $(BUILD)/obj/tests/bench/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread -lm

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYS_LIBS) -lcmocka

deps:
	@sh scripts/deps.sh

unit: all
	@sh tests/run.sh unit $(BUILD)

system: all
	@sh tests/run.sh system $(BUILD)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-layers
	@sh tests/run.sh all $(BUILD)

# gcc's format-truncation analysis sees the sanitizers' instrumented value
# code at -O1 and warns about snprintf calls on which the normal -O2 build
# is silent; under sanitizers it stays a warning, not a stopped suite.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		WARN="$(WARN) -Wno-error=format-truncation" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		sh tests/run.sh all build-asan

# Fuzzing (docs/fuzzing.md): the same wildcard libraries, built by clang
# into their own BUILD with libFuzzer coverage and ASan+UBSan, so the gcc
# build is untouched (warnings are the gcc build's job: clang's differ, and
# must not stop a fuzz run).  Each tests/fuzz/fuzz_<name>.c is one target.
FUZZ_BUILD   = build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_SEED    ?= 1
FUZZ_SAN     = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZERS = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/fuzz/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(SYS_LIBS)

# Only meaningful inside fuzz-build (clang, FUZZ_SAN).
fuzzers: $(FUZZERS)

fuzz-build: deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang WARN="$(WARN) -Wno-error" \
		OPT="-O1 -g -fno-omit-frame-pointer" SAN="$(FUZZ_SAN)" fuzzers

fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_SEED)

fuzz-replay: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) 0

run: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 tests/bench/bench.py --build $(BUILD)
	@/usr/bin/python3 tests/bench/bench_cache.py --build $(BUILD)
	@/usr/bin/python3 tests/bench/bench_xfr.py --build $(BUILD)
	@/usr/bin/python3 tests/bench/bench_instr.py --build $(BUILD)

# Layering is one-way: common <- zonesync <- resolver; tools read through
# zonesync.  A reverse include is a build failure, not a review comment.
check-layers:
	@! grep -n '#include "\(zonesync\|resolver\|tools\)/' common/*.[ch] 2>/dev/null
	@! grep -n '#include "\(resolver\|tools\)/' zonesync/*.[ch] 2>/dev/null
	@! grep -n '#include "tools/' resolver/*.[ch] 2>/dev/null
	@! grep -n '#include "resolver/' tools/*.[ch] 2>/dev/null

clean:
	rm -rf build build-asan build-fuzz build-release

# Installation (docs/quickstart.md, docs/deployment.md): binaries, man pages,
# systemd units, sample configs (never overwriting /etc/gridns/*.conf), and
# - only with an empty DESTDIR, as root - the gridns user and /var/lib/gridns.
#   make install [PREFIX=/usr/local] [DESTDIR=/stage] [UNITDIR=...]
#   make uninstall     programs, man pages, units, examples (keeps /etc, /var/lib)
#   make deb           build/deb/gridns_VERSION_ARCH.deb (dpkg-deb)
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL_BINS = $(BUILD)/bin/gridns-resolver $(BUILD)/bin/gridns-zonesync $(BUILD)/bin/gridns

.PHONY: install uninstall deb
# What is installed or packaged is a release build (RELEASE=1: the test
# hooks are compiled out), built apart from the tree the tests use.
REL_BUILD ?= $(BUILD)-release
REL_BINS = $(patsubst $(BUILD)/%,$(REL_BUILD)/%,$(INSTALL_BINS))

install:
	@$(MAKE) --no-print-directory BUILD=$(REL_BUILD) RELEASE=1 $(REL_BINS)
	@DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" $(if $(UNITDIR),UNITDIR="$(UNITDIR)") sh scripts/install.sh $(REL_BUILD)

uninstall:
	@DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" $(if $(UNITDIR),UNITDIR="$(UNITDIR)") sh scripts/install.sh --uninstall

deb:
	@$(MAKE) --no-print-directory BUILD=$(REL_BUILD) RELEASE=1 $(REL_BINS)
	@sh scripts/mkdeb.sh $(REL_BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
