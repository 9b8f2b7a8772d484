# xstore build.  Plain GNU make: no generator to install.
#
#   make            release build into build/release (xstored, ...)
#   make run        build and run xstored in the foreground (default rundir)
#   make check      install test dependencies if missing, build with
#                   ASan+UBSan into build/asan, run every test suite
#   make fuzz       build the libFuzzer targets (clang) into build/fuzz
#   make V=asan     any variant: release, asan, tsan, fuzz
#
# Warnings are errors in every variant.

V        ?= release
O        := build/$(V)
CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wno-unused-parameter
CPPFLAGS += -Iinclude -I. -D_GNU_SOURCE -MMD -MP
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
endif
ALL_CFLAGS  = $(CSTD) $(WARN) $(CFLAGS_$(V)) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_$(V)) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
STORE_SRC  := $(wildcard store/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
SUPPORT_SRC := $(wildcard tests/support/*.c)
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(O)/%.o,$(1))

LIBCORE   := $(O)/libxscore.a
LIBDAEMON := $(O)/libxsdaemon.a
XSTORED   := $(O)/xstored
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
FUZZ_BINS := $(patsubst fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))

.PHONY: all run check fuzz unit clean format tidy
.DEFAULT_GOAL := all

ifeq ($(V),fuzz)
all: $(FUZZ_BINS)
else
all: $(XSTORED) $(UNIT_BINS)
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

$(XSTORED): $(call obj,daemon/main.c) $(LIBDAEMON) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(O)/tests/%: $(O)/tests/unit/%.o $(call obj,$(SUPPORT_SRC)) $(LIBDAEMON) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

$(O)/fuzz/%: $(O)/fuzz/%.o $(LIBDAEMON) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

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

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

tidy:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --inline-suppr -Iinclude -I. common store daemon

clean:
	rm -rf build

-include $(shell find $(O) -name '*.d' 2>/dev/null)
