/*
 * wire.c - names of message types and the one table that maps errno
 * values to the strings sent on the wire.  No state.
 */
#include <errno.h>
#include <string.h>

#include "xstore/wire.h"

static const char *const type_names[XS_TYPE_COUNT] = {
    [XS_CONTROL] = "CONTROL",
    [XS_DIRECTORY] = "DIRECTORY",
    [XS_READ] = "READ",
    [XS_GET_PERMS] = "GET_PERMS",
    [XS_WATCH] = "WATCH",
    [XS_UNWATCH] = "UNWATCH",
    [XS_TRANSACTION_START] = "TRANSACTION_START",
    [XS_TRANSACTION_END] = "TRANSACTION_END",
    [XS_INTRODUCE] = "INTRODUCE",
    [XS_RELEASE] = "RELEASE",
    [XS_GET_DOMAIN_PATH] = "GET_DOMAIN_PATH",
    [XS_WRITE] = "WRITE",
    [XS_MKDIR] = "MKDIR",
    [XS_RM] = "RM",
    [XS_SET_PERMS] = "SET_PERMS",
    [XS_WATCH_EVENT] = "WATCH_EVENT",
    [XS_ERROR] = "ERROR",
    [XS_IS_DOMAIN_INTRODUCED] = "IS_DOMAIN_INTRODUCED",
    [XS_RESUME] = "RESUME",
    [XS_SET_TARGET] = "SET_TARGET",
    [XS_RESET_WATCHES] = "RESET_WATCHES",
    [XS_DIRECTORY_PART] = "DIRECTORY_PART",
    [XS_GET_FEATURE] = "GET_FEATURE",
    [XS_SET_FEATURE] = "SET_FEATURE",
    [XS_GET_QUOTA] = "GET_QUOTA",
    [XS_SET_QUOTA] = "SET_QUOTA",
};

const char *xs_type_name(uint32_t type)
{
	if (type >= XS_TYPE_COUNT)
		return NULL;
	return type_names[type];
}

/* The errors of xs_wire.h, in its order. */
static const struct {
	int err;
	const char *name;
} errors[] = {
    {EINVAL, "EINVAL"}, {EACCES, "EACCES"},   {EEXIST, "EEXIST"},
    {EISDIR, "EISDIR"}, {ENOENT, "ENOENT"},   {ENOMEM, "ENOMEM"},
    {ENOSPC, "ENOSPC"}, {EIO, "EIO"},         {ENOTEMPTY, "ENOTEMPTY"},
    {ENOSYS, "ENOSYS"}, {EROFS, "EROFS"},     {EBUSY, "EBUSY"},
    {EAGAIN, "EAGAIN"}, {EISCONN, "EISCONN"}, {E2BIG, "E2BIG"},
    {EPERM, "EPERM"},
};

const char *xs_errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].err == err)
			return errors[i].name;
	return "EINVAL";
}

int xs_errno_parse(const char *name, size_t len)
{
	if (len > 0 && name[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (strlen(errors[i].name) == len &&
		    memcmp(errors[i].name, name, len) == 0)
			return errors[i].err;
	return EINVAL;
}
