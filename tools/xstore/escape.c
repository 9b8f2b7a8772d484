/*
 * escape.c - how xenstore-utils show values and take them on the command
 * line, and the tool's buffered output.
 *
 * Shown: backslash doubled; tab, newline, carriage return as \t \n \r;
 * bytes 0-7 as three octal digits (\001); other control bytes, DEL and
 * bytes over 127 as \xHH.  Taken: the same escapes back, plus \ and up
 * to three octal digits, \x and up to two hex digits (read as sscanf's
 * %2x reads them, which Xen's tools do), and \ before any other
 * character for that character.  A trailing lone backslash stands for a
 * nul byte.  Byte for byte what Debian's tools do.
 */
#include <err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/xstore/cli.h"

static void out_reserve(struct outbuf *o, size_t more)
{
	size_t cap = o->cap ? o->cap : 256;
	char *b;

	if (o->len + more + 1 <= o->cap)
		return;
	while (cap < o->len + more + 1)
		cap *= 2;
	b = realloc(o->buf, cap);
	if (!b)
		errx(1, "out of memory");
	o->buf = b;
	o->cap = cap;
}

void out_bytes(struct outbuf *o, const void *p, size_t len)
{
	out_reserve(o, len);
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

void out_printf(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_reserve(o, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

void out_flush(struct outbuf *o)
{
	if (o->len)
		fwrite(o->buf, 1, o->len, stdout);
	o->len = 0;
}

void out_free(struct outbuf *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}

void cli_escape(struct outbuf *o, const char *val, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)val[i];

		switch (ch) {
		case '\\':
			out_bytes(o, "\\\\", 2);
			break;
		case '\t':
			out_bytes(o, "\\t", 2);
			break;
		case '\n':
			out_bytes(o, "\\n", 2);
			break;
		case '\r':
			out_bytes(o, "\\r", 2);
			break;
		default:
			if (ch < 8)
				out_printf(o, "\\%03o", ch);
			else if (ch < 0x20 || ch >= 0x7f)
				out_printf(o, "\\x%02x", ch);
			else
				out_bytes(o, &ch, 1);
		}
	}
}

char *cli_escape_str(const char *val, size_t len)
{
	struct outbuf o = {0};

	cli_escape(&o, val, len);
	out_bytes(&o, "", 0);
	return o.buf;
}

size_t cli_unescape(const char *in, char *out)
{
	char *op = out;
	unsigned int v;
	int n;

	while (*in) {
		char ch = *in++;

		if (ch != '\\') {
			*op++ = ch;
			continue;
		}
		ch = *in;
		if (ch == '\0') {
			/* Xen's tools copy the terminator here: a nul. */
			*op++ = '\0';
			break;
		}
		in++;
		switch (ch) {
		case 't':
			*op++ = '\t';
			break;
		case 'n':
			*op++ = '\n';
			break;
		case 'r':
			*op++ = '\r';
			break;
		case 'x':
			n = 0;
			if (sscanf(in, "%2x%n", &v, &n) == 1) {
				*op++ = (char)(v & 0xff);
				in += n;
			} else {
				*op++ = 'x';
			}
			break;
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
			n = 0;
			in--;
			sscanf(in, "%3o%n", &v, &n);
			*op++ = (char)(v & 0xff);
			in += n;
			break;
		default:
			*op++ = ch;
		}
	}
	return (size_t)(op - out);
}
