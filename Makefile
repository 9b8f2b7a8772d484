# xstore build.  Plain GNU make: no generator to install.
#
#   make            release build into build/release (xstored, ...)
#   make run        build and run xstored in the foreground (default rundir)
#   make check      install test dependencies if missing, build with
#                   ASan+UBSan into build/asan, run every test suite
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz
#   make fuzz-long  run each libFuzzer target for 10 minutes (FUZZ_SECONDS),
#                   its corpus kept and grown in build/fuzz-corpus/<target>
#                   (tests/run-fuzz.sh; CI runs the short default instead)
#   make V=asan     any variant: release, asan, tsan, fuzz
#
# Warnings are errors in every variant.

V        ?= release
O        ?= build/$(V)
CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wno-unused-parameter
CPPFLAGS += -Iinclude -I. -D_GNU_SOURCE -MMD -MP -fPIC
CSTD     := -std=c11
CFLAGS_release := -O2 -g
CFLAGS_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all -DXSTORE_DEBUG
CFLAGS_tsan    := -O1 -g -fsanitize=thread -DXSTORE_DEBUG
CFLAGS_fuzz    := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                  -fno-sanitize-recover=all -DXSTORE_DEBUG -DXSTORE_FUZZ
LDFLAGS_asan   := -fsanitize=address,undefined
LDFLAGS_tsan   := -fsanitize=thread
LDFLAGS_fuzz   := -fsanitize=fuzzer,address,undefined
ifeq ($(V),fuzz)
CC := clang
# The invariant checker compares a count for each of the 65536 domain ids
# after every fuzzer step; comparison tracing there guides nothing and
# makes each call ~50x slower.
$(O)/store/check.o: CFLAGS_fuzz += -fno-sanitize-coverage=trace-cmp
endif
ALL_CFLAGS  = $(CSTD) $(WARN) $(CFLAGS_$(V)) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_$(V)) $(LDFLAGS)

# Components: each is a directory; adding a file needs no edit here.
COMMON_SRC := $(wildcard common/*.c)
STORE_SRC  := $(wildcard store/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
# The platform: the simulator always; Xen's when its -dev headers exist.
HAVE_XEN   := $(shell test -f /usr/include/xenctrl.h -a -f /usr/include/xenevtchn.h \
                -a -f /usr/include/xengnttab.h && echo 1)
PLAT_SRC   := $(filter-out plat/xen.c,$(wildcard plat/*.c)) $(if $(HAVE_XEN),$(wildcard plat/xen.c))
PLAT_LIBS  := $(if $(HAVE_XEN),-lxenctrl -lxenevtchn -lxengnttab)
CPPFLAGS   += $(if $(HAVE_XEN),-DXSTORE_HAVE_XEN)
# Xen's headers need GNU C (anonymous unions, __attribute__ spellings).
$(O)/plat/xen.o: CSTD := -std=gnu11
LIB_SRC    := $(wildcard lib/*.c) $(wildcard lib/xenbus/*.c)
CLI_SRC    := $(wildcard tools/xstore/*.c)
XSIM_SRC   := $(wildcard tools/xsim/*.c)
XSMUX_SRC  := $(wildcard tools/xsmux/*.c)
BENCH_SRC  := $(wildcard bench/xsbench/*.c)
DRIVER_SRC := $(wildcard drivers/*/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
# xbtest.c is a program of its own (below), not a helper of the unit tests.
SUPPORT_SRC := $(filter-out tests/support/xbtest.c,$(wildcard tests/support/*.c))
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)
EXAMPLE_SRC := $(wildcard examples/*.c)

obj = $(patsubst %.c,$(O)/%.o,$(1))

LIBCORE   := $(O)/libxscore.a
LIBDAEMON := $(O)/libxsdaemon.a
LIBPLAT   := $(O)/libxsplat.a
LIBXSTORE := $(O)/libxstore.a
XSTORED   := $(O)/xstored
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
FUZZ_BINS := $(patsubst fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
EXAMPLE_BINS := $(patsubst examples/%.c,$(O)/examples/%,$(EXAMPLE_SRC))
BINS := $(XSTORED) $(if $(CLI_SRC),$(O)/xstore) $(if $(XSIM_SRC),$(O)/xsim) \
        $(if $(BENCH_SRC),$(O)/xsbench) $(if $(XSMUX_SRC),$(O)/xsmux)
# Everything links with every library; the linker takes what it needs.
ALL_LIBS = $(LIBDAEMON) $(if $(LIB_SRC),$(LIBXSTORE)) $(LIBPLAT) $(LIBCORE)

.PHONY: all run check fuzz fuzz-long unit clean format tidy bench bench-quick install soak load
.DEFAULT_GOAL := all

ifeq ($(V),fuzz)
all: $(FUZZ_BINS)
else
all: $(BINS) $(UNIT_BINS) $(EXAMPLE_BINS)
endif

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCORE): $(call obj,$(COMMON_SRC) $(STORE_SRC))
	@rm -f $@
	ar rcs $@ $^

$(LIBDAEMON): $(call obj,$(DAEMON_SRC))
	@rm -f $@
	ar rcs $@ $^

$(LIBPLAT): $(call obj,$(PLAT_SRC))
	@rm -f $@
	ar rcs $@ $^

# libxstore: the client library, self-contained (wire names, platform).
$(LIBXSTORE): $(call obj,$(LIB_SRC) common/wire.c common/xalloc.c $(PLAT_SRC))
	@rm -f $@
	ar rcs $@ $^

$(XSTORED): $(call obj,daemon/main.c) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS)

$(O)/xstore: $(call obj,$(CLI_SRC)) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

$(O)/xsim: $(call obj,$(XSIM_SRC)) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

# xsmux: the per-guest multiplexer (xsim create starts it).
$(O)/xsmux: $(call obj,$(XSMUX_SRC)) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

# xsguest-c: a simulated guest over its ring, for the integration tests
# (tests/integration/test_guests.py runs several at once).
GUEST_SRC := tests/integration/guest.c
ifneq ($(V),fuzz)
all: $(O)/xsguest-c
endif
$(O)/xsguest-c: $(call obj,$(GUEST_SRC)) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

# xbtest: the "xbtest" driver pair for lib/xenbus's end-to-end tests
# (tests/integration/test_xenbus.py).
ifneq ($(V),fuzz)
all: $(O)/xbtest
endif
$(O)/xbtest: $(call obj,tests/support/xbtest.c) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

$(O)/xsbench: $(call obj,$(BENCH_SRC)) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

$(O)/tests/%: $(O)/tests/unit/%.o $(call obj,$(SUPPORT_SRC)) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

$(O)/examples/%: $(O)/examples/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

$(O)/fuzz/%: $(O)/fuzz/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS)
# The guest-side fuzzers serve a ring page through an in-memory platform.
$(O)/fuzz/fuzz_ring $(O)/fuzz/fuzz_control: $(O)/tests/support/fakeplat.o

# libxstore also as a shared library; the CLI's xenstore-* names.
XS_VERSION   := 0.1.0
XS_SONAME    := libxstore.so.0
LIBXSTORE_SO := $(O)/libxstore.so
CLI_NAMES    := read write ls list rm exists chmod watch control
CLI_LINKS    := $(if $(CLI_SRC),$(patsubst %,$(O)/xenstore-%,$(CLI_NAMES)))
ifneq ($(V),fuzz)
all: $(if $(LIB_SRC),$(LIBXSTORE_SO)) $(CLI_LINKS)
endif

$(LIBXSTORE_SO): $(call obj,$(LIB_SRC) common/wire.c common/xalloc.c $(PLAT_SRC)) \
		lib/libxstore.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(XS_SONAME) \
	  -Wl,--version-script=lib/libxstore.map -o $@ \
	  $(filter %.o,$^) $(PLAT_LIBS) -lpthread

$(O)/xenstore-%: | $(O)/xstore
	ln -sf xstore $@

# make install [PREFIX=/usr/local] [DESTDIR=]: libraries, headers,
# pkg-config file, the daemon (sbin) and the tools (bin).
PREFIX  ?= /usr/local
I_BIN   = $(DESTDIR)$(PREFIX)/bin
I_SBIN  = $(DESTDIR)$(PREFIX)/sbin
I_LIB   = $(DESTDIR)$(PREFIX)/lib
I_INC   = $(DESTDIR)$(PREFIX)/include/xstore
install: $(BINS) $(LIBXSTORE) $(LIBXSTORE_SO) $(CLI_LINKS)
	install -d $(I_BIN) $(I_SBIN) $(I_LIB)/pkgconfig $(I_INC)
	install -m 755 $(XSTORED) $(I_SBIN)/
	install -m 755 $(O)/xstore $(if $(XSIM_SRC),$(O)/xsim) \
	  $(if $(XSMUX_SRC),$(O)/xsmux) $(I_BIN)/
	for n in $(CLI_NAMES); do ln -sf xstore $(I_BIN)/xenstore-$$n; done
	install -m 644 $(LIBXSTORE) $(I_LIB)/
	install -m 755 $(LIBXSTORE_SO) $(I_LIB)/libxstore.so.$(XS_VERSION)
	ln -sf libxstore.so.$(XS_VERSION) $(I_LIB)/$(XS_SONAME)
	ln -sf $(XS_SONAME) $(I_LIB)/libxstore.so
	install -m 644 $(wildcard include/xstore/*.h) $(I_INC)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(XS_VERSION)|g' \
	  -e 's|@LIBS_PRIVATE@|$(PLAT_LIBS) -lpthread|g' \
	  lib/xstore.pc.in >$(I_LIB)/pkgconfig/xstore.pc

# Each driver brings its own rules (drivers/<name>/*.mk), built only when
# what it needs (headers, libraries) is on the machine.
include $(wildcard drivers/*/*.mk)

# Object files are not intermediates: keep them between runs.
.SECONDARY:

# The main job: the daemon in the foreground on its default run directory.
run: all
	$(XSTORED) --foreground

# Every test, under ASan+UBSan (tests/run-all.sh installs what is missing).
check:
	tests/run-all.sh

unit: all
	tests/run-unit.sh $(O)

fuzz:
	$(MAKE) V=fuzz all

fuzz-long:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} FUZZ_CORPUS=build/fuzz-corpus \
	  tests/run-fuzz.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

tidy:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --inline-suppr -Iinclude -I. -D_GNU_SOURCE \
	  $$(ls -d common store daemon plat lib tools bench drivers 2>/dev/null)

clean:
	rm -rf build

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# Benchmarks against Xen's daemons and an echo server (bench/README.md):
# the full run (under ten minutes) and a quick one (under one minute).
bench:
	bench/run.py

bench-quick:
	bench/run.py --quick

# The long soak: 10 000 domain create/destroy cycles with ring resets,
# the daemon's RSS printed along the way (make check runs 200).
soak: all
	XSTORED=$(XSTORED) CHURN_CYCLES=$${CHURN_CYCLES:-10000} \
	  python3 tests/integration/test_churn.py

# The hostile-guest load test: 1 000 guests, one hostile of every class,
# dom0's domain storm; asserts its p99 within 2x of the quiet run
# (make check runs a bounded variant, test_load.py, without that).
load: all
	XSTORED=$(XSTORED) python3 tests/integration/load_hostile.py
