# back.mk - xsblkback, the dom0 backend of the virtual block device, and
# the blkif protocol code both halves share (drivers/vbd/common/): built
# only when Xen's public I/O headers are installed (Debian's libxen-dev:
# /usr/include/xen/io/blkif.h), which we include rather than re-type.
#
#   VBD_COMMON_OBJ   the protocol objects (ring access, request decoder),
#                    for the frontend, the fuzzer and the unit tests.
HAVE_BLKIF := $(shell test -f /usr/include/xen/io/blkif.h && echo 1)

ifneq ($(HAVE_BLKIF),)
VBD_COMMON_SRC := $(wildcard drivers/vbd/common/*.c)
VBD_COMMON_OBJ := $(call obj,$(VBD_COMMON_SRC))
VBD_BACK_SRC   := $(wildcard drivers/vbd/back/*.c)
VBD_BACK_OBJ   := $(call obj,$(VBD_BACK_SRC))

# Xen's headers want GNU C (anonymous unions, __typeof__ in ring.h).
$(VBD_COMMON_OBJ) $(VBD_BACK_OBJ) $(O)/fuzz/fuzz_blkif.o \
  $(O)/tests/unit/test_blkif.o: CSTD := -std=gnu11

$(O)/xsblkback: $(VBD_BACK_OBJ) $(VBD_COMMON_OBJ) $(ALL_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PLAT_LIBS) -lpthread

ifneq ($(V),fuzz)
all: $(O)/xsblkback
endif
DRIVER_SBIN += $(O)/xsblkback

# The fuzzer and the unit test of the decoder link the protocol objects.
$(O)/fuzz/fuzz_blkif: $(VBD_COMMON_OBJ)
$(O)/tests/test_blkif: $(VBD_COMMON_OBJ)
else
VBD_COMMON_OBJ :=
# Without the headers fuzz/fuzz_blkif.c and tests/unit/test_blkif.c
# build as stubs that say so (their rules are the generic ones).
endif
