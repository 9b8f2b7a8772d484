# drivers/vbd/front.mk - xsblkfront, the guest half of the vbd driver:
#   $(O)/nbdkit-xsblkfront-plugin.so  the frontend as an nbdkit plugin
#                                     (libxstore linked in, exports only
#                                     nbdkit's entry point)
#   $(O)/xsblkfront                   the command that runs nbdkit with it
# Built only when Xen's blkif.h (libxen-dev) and nbdkit-plugin.h
# (nbdkit-plugin-dev) are installed, and not in the fuzz variant.

VBD_FRONT_OK := $(shell test -f /usr/include/xen/io/blkif.h -a \
                  -f /usr/include/nbdkit-plugin.h && echo 1)
ifeq ($(VBD_FRONT_OK)$(filter fuzz,$(V)),1)

VBD_FRONT_LIB_SRC := drivers/vbd/front/blkfront.c drivers/vbd/front/plugin.c
VBD_FRONT_PLUGIN  := $(O)/nbdkit-xsblkfront-plugin.so
VBD_FRONT_BIN     := $(O)/xsblkfront
# Where an installed xsblkfront looks for its plugin (nbdkit's own).
NBDKIT_PLUGINDIR  ?= $(shell nbdkit --dump-config 2>/dev/null | \
                       sed -n 's/^plugindir=//p')

# Xen's headers need GNU C (anonymous unions).
$(call obj,$(VBD_FRONT_LIB_SRC) drivers/vbd/front/main.c): CSTD := -std=gnu11
$(call obj,drivers/vbd/front/main.c): CPPFLAGS += \
	-DXSBLKFRONT_PLUGINDIR='"$(NBDKIT_PLUGINDIR)"'

$(VBD_FRONT_PLUGIN): $(call obj,$(VBD_FRONT_LIB_SRC)) $(LIBXSTORE) \
		drivers/vbd/front/plugin.map
	$(CC) -shared $(ALL_LDFLAGS) -o $@ $(call obj,$(VBD_FRONT_LIB_SRC)) \
	  $(LIBXSTORE) $(PLAT_LIBS) -lpthread \
	  -Wl,--version-script=drivers/vbd/front/plugin.map

$(VBD_FRONT_BIN): $(call obj,drivers/vbd/front/main.c)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

all: $(VBD_FRONT_PLUGIN) $(VBD_FRONT_BIN)

DRIVER_BIN += $(VBD_FRONT_BIN)
DRIVER_NBDKIT_PLUGINS += $(VBD_FRONT_PLUGIN)

endif
