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
#   make install    PREFIX DESTDIR BINDIR SBINDIR LIBDIR INCLUDEDIR MANDIR
#                   PKGCONFIGDIR SYSTEMDUNITDIR NBDKIT_PLUGINDIR; the
#                   xenstore-* names too with INSTALL_COMPAT=1
#   make uninstall  the same variables: removes what install put there
#
# Warnings are errors in every variant.  The release build is hardened
# (HARDEN=0 turns it off).  CPPFLAGS, CFLAGS, LDFLAGS, CC and AR from the
# command line or the environment are added to the project's own flags;
# $(O)/config.stamp records the configuration, so changing any of them
# rebuilds.

V        ?= release
O        ?= build/$(V)
CC       ?= cc
AR       ?= ar
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wno-unused-parameter
# The project's preprocessor flags live in XS_CPPFLAGS so that CPPFLAGS from
# the command line adds to them rather than replacing them; the user's come
# last so they can redefine.  Compile with $(ALL_CPPFLAGS).
XS_CPPFLAGS := -Iinclude -I. -D_GNU_SOURCE -MMD -MP -fPIC
ALL_CPPFLAGS = $(XS_CPPFLAGS) $(CPPFLAGS)
CSTD     := -std=c11
CFLAGS_release := -O2 -g
CFLAGS_asan    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all -DXSTORE_DEBUG
# -Wno-tsan: the shared rings' fences order memory another process reads,
# which ThreadSanitizer cannot see anyway; it checks our threads, not them.
CFLAGS_tsan    := -O1 -g -fsanitize=thread -DXSTORE_DEBUG -Wno-tsan
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
# Hardening, as dpkg-buildflags does it, for the release build only (the
# sanitizer variants bring their own runtime and want none of it).  Every
# object is -fPIC, so executables link as PIE: -pie is in EXE_LDFLAGS, not
# ALL_LDFLAGS, as with -shared the last of the two wins.  FORTIFY needs
# optimisation: dropped when the user's CFLAGS ask for -O0.
HARDEN ?= 1
ifeq ($(V)$(HARDEN),release1)
CF_PROTECTION := $(shell $(CC) -Werror -fcf-protection -E -x c /dev/null \
                   >/dev/null 2>&1 && echo -fcf-protection)
HARDEN_CFLAGS  := -fstack-protector-strong $(CF_PROTECTION) \
                  $(if $(filter -O0,$(CFLAGS)),,-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now
PIE_LDFLAGS    := -pie
endif
ALL_CFLAGS  = $(CSTD) $(WARN) $(CFLAGS_$(V)) $(HARDEN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_$(V)) $(HARDEN_LDFLAGS) $(LDFLAGS)
EXE_LDFLAGS = $(PIE_LDFLAGS) $(ALL_LDFLAGS)

# Components: each is a directory; adding a file needs no edit here.
COMMON_SRC := $(wildcard common/*.c)
STORE_SRC  := $(wildcard store/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
# The platform: the simulator always; Xen's when its -dev headers exist.
HAVE_XEN   := $(shell test -f /usr/include/xenctrl.h -a -f /usr/include/xenevtchn.h \
                -a -f /usr/include/xengnttab.h && echo 1)
PLAT_SRC   := $(filter-out plat/xen.c,$(wildcard plat/*.c)) $(if $(HAVE_XEN),$(wildcard plat/xen.c))
# As needed: a binary that does not pull plat/xen.o in (the CLI, the
# tests of the store) does not depend on the hypervisor's libraries.
AS_NEEDED    := -Wl,--as-needed
NO_AS_NEEDED := -Wl,--no-as-needed
PLAT_LIBS  := $(if $(HAVE_XEN),$(AS_NEEDED) -lxenctrl -lxenevtchn -lxengnttab $(NO_AS_NEEDED))
XS_CPPFLAGS += $(if $(HAVE_XEN),-DXSTORE_HAVE_XEN)
# zlib: the daemon's journal checksums (daemon/journal.c), for what links
# daemon code only (as-needed: a binary that does not pull the journal in
# does not depend on it; libxstore.so never does).  Missing headers are
# installed as root by tests/support/build-deps.sh, else named.
DAEMON_LIBS := -Wl,--as-needed -lz -Wl,--no-as-needed
ifeq ($(wildcard /usr/include/zlib.h),)
ifneq ($(shell tests/support/build-deps.sh >&2; echo $$?),0)
$(error zlib.h is missing: install zlib1g-dev (apt-get install zlib1g-dev), or run make as root)
endif
endif
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
LIBCLIENT := $(O)/libxsclient.a
XSTORED   := $(O)/xstored
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
FUZZ_BINS := $(patsubst fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
EXAMPLE_BINS := $(patsubst examples/%.c,$(O)/examples/%,$(EXAMPLE_SRC))
BINS := $(XSTORED) $(if $(CLI_SRC),$(O)/xstore) $(if $(XSIM_SRC),$(O)/xsim) \
        $(if $(BENCH_SRC),$(O)/xsbench) $(if $(XSMUX_SRC),$(O)/xsmux)
# Everything links with every library; the linker takes what it needs.
# libxsclient is libxstore without its platform: the programs built here
# take libxsplat's, Xen's included; the installed libxstore has only the
# simulator's.
ALL_LIBS = $(LIBDAEMON) $(if $(LIB_SRC),$(LIBCLIENT)) $(LIBPLAT) $(LIBCORE)

.PHONY: all run check fuzz fuzz-long unit clean format tidy bench bench-quick install soak load
.DEFAULT_GOAL := all

ifeq ($(V),fuzz)
all: $(FUZZ_BINS)
else
all: $(BINS) $(UNIT_BINS) $(EXAMPLE_BINS)
endif

# The layers (tools/check-layers.sh: who may include whom, the daemon's
# module graph): a wrong-way include fails every build, variant or not.
# A grep of the include lines, re-run when a source or the rules change.
LAYER_SRC := $(wildcard $(foreach d,common store plat daemon lib lib/xenbus \
               tools/* drivers/* drivers/*/* examples,$(d)/*.c $(d)/*.h))
$(O)/layers.stamp: tools/check-layers.sh $(LAYER_SRC)
	@mkdir -p $(dir $@)
	@bash tools/check-layers.sh . || { echo "layers: wrong-way include" \
	  "(rules: tools/check-layers.sh, daemon graph: daemon/daemon.h)" >&2; exit 1; }
	@touch $@
all: $(O)/layers.stamp

# The configuration, one line per setting; $(O)/config.stamp is rewritten
# only when it changes, and everything built depends on it.  Driver
# fragments add their switches to CONFIG_VARS.
CONFIG_STAMP := $(O)/config.stamp
CONFIG_VARS  := V CC AR ALL_CPPFLAGS ALL_CFLAGS EXE_LDFLAGS HAVE_XEN PLAT_LIBS \
                HAVE_BLKIF VBD_FRONT_OK
CC_VERSION    = $(shell $(CC) --version 2>/dev/null | head -n 1)
shquote       = '$(subst ','\'',$(1))'
CONFIG_TEXT   = $(foreach v,$(CONFIG_VARS),$(call shquote,$(v)=$(strip $($(v))))) \
                $(call shquote,cc=$(CC_VERSION))
.PHONY: FORCE
FORCE:
$(CONFIG_STAMP): FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(CONFIG_TEXT) >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; \
	  echo "config: $@ changed"; fi

$(O)/%.o: %.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCORE): $(call obj,$(COMMON_SRC) $(STORE_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBDAEMON): $(call obj,$(DAEMON_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBPLAT): $(call obj,$(PLAT_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

# libxstore: the client library, self-contained (wire names, the simulator
# platform) and free of hypervisor libraries: plat.c once more without Xen.
CLIENT_PLAT_OBJS := $(call obj,$(filter-out plat/xen.c plat/plat.c,$(wildcard plat/*.c))) \
                    $(O)/plat/plat-client.o
LIBXSTORE_OBJS   := $(call obj,$(LIB_SRC) common/fdio.c common/wire.c common/xalloc.c) $(CLIENT_PLAT_OBJS)
$(O)/plat/plat-client.o: plat/plat.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) -UXSTORE_HAVE_XEN $(ALL_CFLAGS) -c -o $@ $<

$(LIBXSTORE): $(LIBXSTORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIBCLIENT): $(call obj,$(LIB_SRC))
	@rm -f $@
	$(AR) rcs $@ $^

$(XSTORED): $(call obj,daemon/main.c) $(ALL_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) $(DAEMON_LIBS)

# The CLI and the simulator's tool are clients: they link what a program
# built against the installed libxstore gets (the simulator's platform,
# no hypervisor libraries), not the daemon's platform.
CLIENT_LIBS = $(LIBXSTORE) $(LIBCORE)

$(O)/xstore: $(call obj,$(CLI_SRC)) $(CLIENT_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) -lpthread

$(O)/xsim: $(call obj,$(XSIM_SRC)) $(CLIENT_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) -lpthread

# xsmux: the per-guest multiplexer (xsim create starts it).
$(O)/xsmux: $(call obj,$(XSMUX_SRC)) $(ALL_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) -lpthread

# xsguest-c: a simulated guest over its ring, for the integration tests
# (tests/integration/test_guests.py runs several at once).
GUEST_SRC := tests/integration/guest.c
ifneq ($(V),fuzz)
all: $(O)/xsguest-c
endif
$(O)/xsguest-c: $(call obj,$(GUEST_SRC)) $(ALL_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) -lpthread

# xbtest: the "xbtest" driver pair for lib/xenbus's end-to-end tests
# (tests/integration/test_xenbus.py).
ifneq ($(V),fuzz)
all: $(O)/xbtest
endif
$(O)/xbtest: $(call obj,tests/support/xbtest.c) $(ALL_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) -lpthread

# xsreconnect: a libxstore client driven through daemon restarts
# (tests/integration/test_reconnect.py).
ifneq ($(V),fuzz)
all: $(O)/xsreconnect
endif
$(O)/xsreconnect: $(call obj,tests/integration/reconnect_client.c) $(ALL_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) -lpthread

$(O)/xsbench: $(call obj,$(BENCH_SRC)) $(ALL_LIBS)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) -lpthread

$(O)/tests/%: $(O)/tests/unit/%.o $(call obj,$(SUPPORT_SRC)) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) $(DAEMON_LIBS) -lpthread

$(O)/examples/%: $(O)/examples/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) -lpthread

$(O)/fuzz/%: $(O)/fuzz/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(EXE_LDFLAGS) -o $@ $(filter-out $(CONFIG_STAMP),$^) $(PLAT_LIBS) $(DAEMON_LIBS)
# The guest-side fuzzers serve a ring page through an in-memory platform.
$(O)/fuzz/fuzz_ring $(O)/fuzz/fuzz_control: $(O)/tests/support/fakeplat.o

# libxstore also as a shared library; the CLI's xenstore-* names.
XS_VERSION   := 0.1.0
XS_SONAME    := libxstore.so.0
LIBXSTORE_SO := $(O)/libxstore.so
CLI_NAMES    := read write ls list rm exists chmod watch control
CLI_LINKS    := $(if $(CLI_SRC),$(patsubst %,$(O)/xenstore-%,$(CLI_NAMES)))
ifneq ($(V),fuzz)
all: $(if $(LIB_SRC),$(LIBXSTORE) $(LIBXSTORE_SO)) $(CLI_LINKS)
endif

# -z defs: the library must be complete (not with the sanitizers, whose
# runtime leaves its symbols to the executable).
ZDEFS := -Wl,-z,defs
$(LIBXSTORE_SO): $(LIBXSTORE_OBJS) lib/libxstore.map
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(XS_SONAME) \
	  $(if $(filter release,$(V)),$(ZDEFS)) \
	  -Wl,--version-script=lib/libxstore.map -o $@ \
	  $(filter %.o,$^) -lpthread

$(O)/xenstore-%: | $(O)/xstore
	ln -sf xstore $@

# What the drivers' fragments (drivers/*/*.mk) add for `make install`:
# daemons (sbin), tools (bin), nbdkit plugins (NBDKIT_PLUGINDIR).
DRIVER_SBIN :=
DRIVER_BIN :=
DRIVER_NBDKIT_PLUGINS :=

# Each driver brings its own rules (drivers/<name>/*.mk), built only when
# what it needs (headers, libraries) is on the machine.
include $(wildcard drivers/*/*.mk)

# make install / uninstall.  Every directory can be set on its own
# (LIBDIR=/usr/lib/x86_64-linux-gnu for multiarch); DESTDIR stages.
# The xenstore-* names go in only with INSTALL_COMPAT=1: Debian's
# xenstore-utils owns them.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
SBINDIR        ?= $(PREFIX)/sbin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
MANDIR         ?= $(PREFIX)/share/man
PKGCONFIGDIR   ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
NBDKIT_PLUGINDIR ?= $(or $(shell nbdkit --dump-config 2>/dev/null | \
                      sed -n 's/^plugindir=//p'),$(LIBDIR)/nbdkit/plugins)
INSTALL_COMPAT ?=
INSTALL ?= install

I_BIN  = $(DESTDIR)$(BINDIR)
I_SBIN = $(DESTDIR)$(SBINDIR)
I_LIB  = $(DESTDIR)$(LIBDIR)
I_INC  = $(DESTDIR)$(INCLUDEDIR)/xstore
I_PC   = $(DESTDIR)$(PKGCONFIGDIR)
I_UNIT = $(DESTDIR)$(SYSTEMDUNITDIR)
I_NBDKIT = $(DESTDIR)$(NBDKIT_PLUGINDIR)
I_MAN  = $(DESTDIR)$(MANDIR)

INST_BIN   = $(O)/xstore $(if $(XSIM_SRC),$(O)/xsim) $(if $(XSMUX_SRC),$(O)/xsmux) \
             $(DRIVER_BIN)
INST_SBIN  = $(XSTORED) $(DRIVER_SBIN)
INST_HDRS  = $(wildcard include/xstore/*.h)
INST_UNITS = $(wildcard systemd/*.service systemd/*.socket)
# Man pages of what is installed (a driver's only when it was built).
INST_MAN   = $(wildcard $(addprefix man/,xstored.8 xstore.1 xsim.1 xsmux.1 libxstore.3) \
               $(foreach p,$(notdir $(DRIVER_SBIN) $(DRIVER_BIN)),man/$(p).1 man/$(p).8))
INST_LIBS  = libxstore.a libxstore.so.$(XS_VERSION) $(XS_SONAME) libxstore.so
man_sect   = $(subst .,,$(suffix $(1)))

# installables: what install installs, and nothing else (debian/rules
# builds only that).
.PHONY: uninstall installables
installables: $(INST_BIN) $(INST_SBIN) $(LIBXSTORE) $(LIBXSTORE_SO) $(DRIVER_NBDKIT_PLUGINS)
install: installables
	$(INSTALL) -d $(I_BIN) $(I_SBIN) $(I_LIB) $(I_INC) $(I_PC)
	$(INSTALL) -m 755 $(INST_SBIN) $(I_SBIN)/
	$(INSTALL) -m 755 $(INST_BIN) $(I_BIN)/
	$(if $(INSTALL_COMPAT),for n in $(CLI_NAMES); do \
	  ln -sf xstore $(I_BIN)/xenstore-$$n; done)
	$(INSTALL) -m 644 $(LIBXSTORE) $(I_LIB)/
	$(INSTALL) -m 755 $(LIBXSTORE_SO) $(I_LIB)/libxstore.so.$(XS_VERSION)
	ln -sf libxstore.so.$(XS_VERSION) $(I_LIB)/$(XS_SONAME)
	ln -sf $(XS_SONAME) $(I_LIB)/libxstore.so
	$(INSTALL) -m 644 $(INST_HDRS) $(I_INC)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(XS_VERSION)|g' \
	  -e 's|@LIBS_PRIVATE@|-lpthread|g' lib/xstore.pc.in >$(I_PC)/xstore.pc
	$(foreach m,$(INST_MAN),$(INSTALL) -d $(I_MAN)/man$(call man_sect,$(m)) && \
	  $(INSTALL) -m 644 $(m) $(I_MAN)/man$(call man_sect,$(m))/ &&) true
	$(if $(INSTALL_COMPAT),$(if $(filter man/xstore.1,$(INST_MAN)),for n in $(CLI_NAMES); do \
	  ln -sf xstore.1 $(I_MAN)/man1/xenstore-$$n.1; done))
	$(if $(INST_UNITS),$(INSTALL) -d $(I_UNIT))
	$(foreach u,$(INST_UNITS),sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	  $(u) >$(I_UNIT)/$(notdir $(u)) &&) true
	$(if $(DRIVER_NBDKIT_PLUGINS),$(INSTALL) -d $(I_NBDKIT) && \
	  $(INSTALL) -m 755 $(DRIVER_NBDKIT_PLUGINS) $(I_NBDKIT)/)

# Exactly what install put there; xenstore-* names only when they are ours
# (links to xstore), never xenstore-utils' programs.
uninstall:
	rm -f $(addprefix $(I_SBIN)/,$(notdir $(INST_SBIN))) \
	  $(addprefix $(I_BIN)/,$(notdir $(INST_BIN))) \
	  $(addprefix $(I_LIB)/,$(INST_LIBS)) \
	  $(addprefix $(I_INC)/,$(notdir $(INST_HDRS))) $(I_PC)/xstore.pc \
	  $(foreach m,$(INST_MAN),$(I_MAN)/man$(call man_sect,$(m))/$(notdir $(m))) \
	  $(addprefix $(I_UNIT)/,$(notdir $(INST_UNITS))) \
	  $(addprefix $(I_NBDKIT)/,$(notdir $(DRIVER_NBDKIT_PLUGINS)))
	for n in $(CLI_NAMES); do \
	  [ "$$(readlink $(I_BIN)/xenstore-$$n)" != xstore ] || rm -f $(I_BIN)/xenstore-$$n; \
	  [ "$$(readlink $(I_MAN)/man1/xenstore-$$n.1)" != xstore.1 ] || \
	    rm -f $(I_MAN)/man1/xenstore-$$n.1; \
	done
	rmdir $(I_INC) 2>/dev/null || true

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
