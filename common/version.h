/*
 * version.h - the version every binary of ours reports, and the platforms
 * built in.  Header only: the build may pass -DXSTORE_VERSION="..." to
 * keep it in one place with the library's (Makefile XS_VERSION).
 */
#ifndef XSTORE_COMMON_VERSION_H
#define XSTORE_COMMON_VERSION_H

#ifndef XSTORE_VERSION
#define XSTORE_VERSION "0.1.0"
#endif

/* The simulator is always built; Xen's platform when its headers were
 * found at build time (the Makefile's HAVE_XEN). */
#ifdef XSTORE_HAVE_XEN
#define XSTORE_PLATFORMS "sim xen"
#else
#define XSTORE_PLATFORMS "sim"
#endif

#endif
