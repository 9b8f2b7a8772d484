#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora of fuzz/fuzz_store.c,
fuzz/fuzz_dispatch.c, fuzz/fuzz_ring.c and fuzz/fuzz_control.c: small
programs in each fuzzer's input encoding (see the comments of
get_path/get_args/step in fuzz_store.c, record() in fuzz_dispatch.c,
step() in fuzz_ring.c and request() in fuzz_control.c).  The seeds are binary; this says what they are.

Usage, from the repository root: python3 fuzz/corpus/make_seeds.py
"""
import os
import struct

# ---- fuzz_store: opcode byte, then its arguments ----

(WRITE, MKDIR, RM, SETPERMS, READ, DIR, DIRPART, GETPERMS,
 TSTART, TOP, TEND, FAULT) = range(12)
DOM0, DOM5, DOM7, DOM6 = range(4)  # callers[] of fuzz_store.c


def path(p):
    """A path: base (0 "/", 1 "/local/domain/5", 2 "/tool") and depth in
    one byte, then one byte per component (a, b, c; d..k only right
    under "/")."""
    for base, code in (('/local/domain/5', 1), ('/tool', 2), ('', 0)):
        if p == base or p.startswith(base + '/'):
            rest = p[len(base):].strip('/')
            comps = rest.split('/') if rest else []
            return bytes([code | len(comps) << 2] +
                         [ord(c) - ord('a') for c in comps])
    raise ValueError(p)


def special(name):
    return bytes([0xf0 + ['@releaseDomain', '@introduceDomain',
                          '@other'].index(name)])


def perms(entries):
    """[(domain index 0..3 = dom 0, 5, 6, 7, access 0..3 = n r w b)]"""
    return bytes([len(entries)] + [d | a << 2 for d, a in entries])


def write(c, p, v):
    return bytes([WRITE, c]) + path(p) + bytes([len(v)]) + v


def op(kind, c, p, extra=b''):
    return bytes([kind, c]) + path(p) + extra


def txop(slot, kind, p, extra=b''):
    return bytes([TOP, slot, kind]) + path(p) + extra


STORE = {
    'basic': write(DOM0, '/a/b', b'hi') + op(READ, DOM0, '/a/b')
    + op(DIR, DOM0, '/', b'\x1f') + op(DIRPART, DOM0, '/', b'\x03\x0a')
    + op(GETPERMS, DOM0, '/a', b'\x1f') + op(MKDIR, DOM0, '/a/c')
    + op(RM, DOM0, '/a') + op(READ, DOM0, '/a/b'),
    'txn_conflict': bytes([TSTART, 0, DOM0]) + txop(0, READ, '/a')
    + txop(0, WRITE, '/b', b'\x01x') + write(DOM0, '/a', b'y')
    + bytes([TEND, 0, 1]) + bytes([TSTART, 1, DOM0])
    + txop(1, DIR, '/c', b'\x1f') + write(DOM0, '/c/a', b'')
    + bytes([TEND, 1, 1]),
    # libxl's device add: rm a directory, write under it again, while
    # an unrelated node changes; the commit must succeed (issue 10,
    # item 0: it failed with EAGAIN).
    'txn_recreate': write(DOM0, '/a/b/c', b'x') + write(DOM0, '/a/a', b'y')
    + bytes([TSTART, 0, DOM0]) + txop(0, RM, '/a')
    + txop(0, WRITE, '/a/b/c', b'\x01T') + txop(0, WRITE, '/a/b/a', b'\x01T')
    + txop(0, READ, '/a/a') + write(DOM0, '/tool/a', b'z')
    + bytes([TEND, 0, 1]),
    'txn_commit': bytes([TSTART, 1, DOM5])
    + txop(1, WRITE, '/local/domain/5/a', b'\x02v1')
    + txop(1, WRITE, '/local/domain/5/b/c', b'\x00')
    + txop(1, RM, '/local/domain/5/a')
    + txop(1, SETPERMS, '/local/domain/5/b', perms([(1, 0), (3, 1)]))
    + write(DOM0, '/a', b'z') + bytes([TEND, 1, 1])
    + bytes([TSTART, 2, DOM7]) + txop(2, READ, '/local/domain/5')
    + bytes([TEND, 2, 0]),
    'txn_quota': bytes([TSTART, 0, DOM5])
    + b''.join(txop(0, READ, '/local/domain/5/' + p)
               for p in ('a', 'b', 'c', 'a/a', 'a/b', 'a/c', 'b/a'))
    + txop(0, WRITE, '/local/domain/5/a', b'\x01x') + bytes([TEND, 0, 1]),
    'perms_dom5': write(DOM5, '/local/domain/5/c', b'5')
    + op(SETPERMS, DOM5, '/local/domain/5/c', perms([(1, 0), (3, 1)]))
    + op(READ, DOM7, '/local/domain/5/c') + op(READ, DOM6, '/local/domain/5/c')
    + op(SETPERMS, DOM5, '/local/domain/5/c', perms([(3, 3)]))
    + op(WRITE, DOM7, '/a', b'\x00') + op(READ, DOM5, '/a/b')
    + bytes([SETPERMS, DOM0]) + special('@releaseDomain')
    + perms([(0, 0), (1, 1)])
    + bytes([GETPERMS, DOM5]) + special('@releaseDomain') + b'\x1f',
    'quota_dom5': b''.join(write(DOM5, '/local/domain/5/' + p, b'') for p in
                           ('a', 'b', 'c', 'a/a', 'a/b', 'a/c', 'b/a', 'b/b',
                            'b/c', 'c/a', 'c/b', 'c/c'))
    + write(DOM5, '/local/domain/5/c/c/a', bytes(90)),
    'fault': bytes([FAULT, 2]) + write(DOM0, '/a/b/c', b'v')
    + bytes([FAULT, 0]) + op(RM, DOM0, '/a') + bytes([TSTART, 0, DOM0])
    + txop(0, WRITE, '/b/a', b'\x01x') + txop(0, RM, '/tool')
    + txop(0, SETPERMS, '/c', perms([(2, 3)])) + bytes([FAULT, 5, TEND, 0, 1]),
    'bigdir': b''.join(write(DOM0, '/' + c, c.encode()) for c in 'defghijk')
    + write(DOM0, '/a', b'') + op(RM, DOM0, '/f') + op(DIR, DOM0, '/', b'\x1f')
    + op(DIRPART, DOM0, '/', b'\x05\x08') + op(READ, DOM0, '/k'),
}

# ---- fuzz_dispatch: two identity bytes, then records ----

(CONTROL, DIRECTORY, XREAD, GET_PERMS, WATCH, UNWATCH, TXN_START, TXN_END,
 INTRODUCE, RELEASE, GET_DOMAIN_PATH, XWRITE, XMKDIR, XRM, SET_PERMS,
 WATCH_EVENT, ERROR, IS_INTRODUCED, RESUME, SET_TARGET, _RESTRICT,
 RESET_WATCHES, DIRECTORY_PART, GET_FEATURE, SET_FEATURE, GET_QUOTA,
 SET_QUOTA) = range(27)
PRIV, DOM5_CONN, RO_PRIV = 0x01, 0x02, 0x09  # identity of a new connection


def req(slot, typ, payload, req_id=1, tx_id=0):
    """A request record: connection, type, ids, a short length, payload."""
    assert len(payload) < 0xf0
    return bytes([slot, typ, req_id, tx_id, len(payload)]) + payload


def big(slot, typ, length, payload, req_id=1):
    """A request whose header claims `length` (it eats the rest)."""
    return bytes([slot, typ, req_id, 0, 0xf0, length & 0xff,
                  length >> 8]) + payload


def s(*args):
    return b''.join(a.encode() + b'\0' for a in args)


def raw(slot, data):
    return bytes([slot | 4 << 1, len(data)]) + data


def wire(typ, req_id, tx_id, payload):
    return struct.pack('<IIII', typ, req_id, tx_id, len(payload)) + payload


CHUNKS, CLOSE = 5 << 1, 6 << 1  # record kinds (ctl bits 1..3)

DISPATCH = {
    'write_read': bytes([PRIV, DOM5_CONN])
    + req(0, XWRITE, s('/a/b') + b'hello') + req(0, XREAD, s('/a/b'), 2)
    + req(0, DIRECTORY, s('/a'), 3) + req(0, GET_PERMS, s('/a/b'), 4)
    + req(0, XMKDIR, s('/a/c'), 5) + req(0, XRM, s('/a'), 6),
    'watch': bytes([PRIV, PRIV]) + req(1, WATCH, s('/w', 'tok'))
    + req(1, WATCH, s('@releaseDomain', 't2'), 2)
    + req(0, XWRITE, s('/w/x') + b'1') + req(0, XRM, s('/w'), 2)
    + req(1, UNWATCH, s('/w', 'tok'), 3) + req(1, RESET_WATCHES, b'', 4),
    'transaction': bytes([PRIV, DOM5_CONN]) + req(0, TXN_START, s(''))
    + req(0, XWRITE, s('/t/x') + b'v', 2, 1) + req(0, XREAD, s('/t/x'), 3, 1)
    + req(0, XWRITE, s('/t/x') + b'main', 4) + req(0, TXN_END, s('T'), 5, 1)
    + req(0, TXN_START, s(''), 6) + req(0, TXN_END, s('F'), 7, 2),
    'directory_part': bytes([PRIV, PRIV]) + req(0, XWRITE, s('/d/aa'))
    + req(0, XWRITE, s('/d/b'), 2) + req(0, DIRECTORY_PART, s('/d', '0'), 3)
    + req(0, DIRECTORY_PART, s('/d', '1'), 4)
    + req(0, DIRECTORY_PART, s('/d', '99'), 5),
    'set_perms': bytes([PRIV, DOM5_CONN]) + req(0, XMKDIR, s('/local/domain/5'))
    + req(0, SET_PERMS, s('/local/domain/5', 'n5', 'r7'), 2)
    + req(1, XWRITE, s('data/x') + b'from5', 3)
    + req(1, XREAD, s('/local/domain/5/data/x'), 4)
    + req(1, SET_PERMS, s('data/x', 'b7'), 5)
    + req(1, XWRITE, s('/forbidden') + b'x', 6)
    + req(0, GET_PERMS, s('@introduceDomain'), 7),
    'control': bytes([PRIV, DOM5_CONN]) + req(0, CONTROL, s('help'))
    + req(0, CONTROL, s('check'), 2) + req(0, CONTROL, s('quota'), 3)
    + req(0, CONTROL, s('quota', 'set', 'nodes', '5'), 4)
    + req(0, GET_QUOTA, b'', 5) + req(0, GET_QUOTA, s('nodes'), 6)
    + req(0, GET_FEATURE, b'', 7) + req(0, GET_DOMAIN_PATH, s('5'), 8)
    + req(0, IS_INTRODUCED, s('0'), 9) + req(1, CONTROL, s('help'), 10),
    # Split reads, a request sent as raw pieces, short writes, end of
    # stream, a read-only replacement connection, an oversized header.
    'framing': bytes([PRIV, PRIV]) + bytes([CHUNKS, 3, 0])
    + req(0, XWRITE, s('/f') + b'split')
    + raw(0, wire(XREAD, 2, 0, s('/f'))[:10])
    + raw(0, wire(XREAD, 2, 0, s('/f'))[10:])
    + bytes([CHUNKS | 1, 1, 1]) + req(1, XWRITE, s('/g') + b'short writes', 3)
    + req(1, XREAD, s('/g'), 4) + bytes([CLOSE | 1])
    + bytes([1, RO_PRIV]) + req(1, XWRITE, s('/ro') + b'x', 5)[1:]
    + big(0, XREAD, 4097, b''),
}

# ---- fuzz_ring: guest actions on the ring page (step() in fuzz_ring.c) ----

R_KICK, R_DRAIN = bytes([10]), bytes([9])
PATH_A, PATH_DOM, PATH_INTRO, PATH_SLASH_A, NO_PATH = 0, 32, 64, 96, 160


def rreq(typ, payload, path=PATH_A, req_id=1, tx_id=0):
    """A framed request: op 0, type, length, ids, path choice, bytes."""
    return bytes([0, typ, len(payload), req_id, tx_id, path]) + payload


def rindex(which, value):
    """Set index `which` (0 req_cons, 1 req_prod, 2 rsp_cons, 3 rsp_prod)
    to a 32-bit value."""
    return bytes([4, which, 1]) + struct.pack('<I', value)


def rword(which, value):
    """The error (0), connection (1) or feature (2) word, small value."""
    return bytes([5, which, 0, value])


RING = {
    'write_read': rreq(XWRITE, b'hello') + R_KICK + R_DRAIN
    + rreq(XREAD, b'', req_id=2) + R_DRAIN
    + rreq(DIRECTORY, b'', PATH_DOM, 3) + R_DRAIN,
    'watch_txn': rreq(WATCH, b'tok\0') + rreq(TXN_START, b'\0', NO_PATH, 2)
    + R_DRAIN + rreq(XWRITE, b'v', PATH_A, 3, 1) + rreq(TXN_END, b'T\0',
                                                        NO_PATH, 4, 1)
    + R_DRAIN + rreq(WATCH, b'i\0', PATH_INTRO, 5) + R_DRAIN,
    'bad_index': rreq(XWRITE, b'x') + rindex(1, 0x7fffffff) + R_KICK
    + rindex(1, 0) + rindex(3, 5000) + R_KICK + R_DRAIN,
    'reconnect': rreq(XWRITE, b'x') + R_KICK + rword(1, 1) + R_KICK
    + rreq(XREAD, b'', req_id=2) + R_DRAIN + rword(2, 0) + rword(1, 1)
    + R_KICK,
    'partial': bytes([3, 10]) + wire(XREAD, 1, 0, s('a'))[:10] + R_KICK
    + bytes([3, 8]) + wire(XREAD, 1, 0, s('a'))[10:] + R_DRAIN,
    'release': rreq(XWRITE, b'1') + R_DRAIN + bytes([8, 0])
    + rreq(XREAD, b'', req_id=2) + R_DRAIN + bytes([8, 1]) + R_DRAIN,
    # Replies past a ring's worth: the guest reads them in pieces.
    'full': rreq(XWRITE, b'x' * 200) + R_DRAIN
    + b''.join(rreq(XREAD, b'', PATH_A, i) for i in range(2, 32))
    + R_KICK + R_KICK + bytes([7, 20]) + R_KICK + R_DRAIN,
    'poke': rreq(XWRITE, b'abc') + bytes([6, 0x08, 0x08, 0xff]) + R_KICK
    + bytes([6, 0x00, 0x02, 0x41]) + R_DRAIN,
}

# ---- fuzz_control: requests (request() in fuzz_control.c) ----

C_DOM0, C_RO, C_GUEST = 0, 1, 2
C_CONTROL, C_GET_QUOTA, C_SET_QUOTA, C_WRITE = 0, 4, 8, 12
WORDS = ['check', 'log', 'logfile', 'memreport', 'print', 'quota',
         'quota-soft', 'help', 'set', 'on', 'off', '+trace', '-trace',
         '+debug', '-debug', 'nodes', 'node-size', 'watches', 'transactions',
         'transaction-nodes', 'permissions', 'path-max', 'memory',
         'outstanding', '0', '1', '5', '7', '100', '2048', '2049',
         '4294967295', '4294967296', '65535', '-1', '', 'debug', '/a', 'x']
NAMES = ['f0', 'f1', 'link', 'dangling', 'd', 'fifo', 'devnull', 'no/f', '']


def creq(who, kind, *args, path='f0', raw=None):
    """A request: who and type, the path choice, then the arguments as
    dictionary words (raw: one raw-bytes argument appended)."""
    out = bytes([who | kind, NAMES.index(path), len(args) + (raw is not None),
                 0]) + bytes(WORDS.index(a) for a in args)
    if raw is not None:
        out += bytes([0xc0, len(raw)]) + raw
    return out


CONTROL = {
    'logfile': creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='f0')
    + creq(C_DOM0, C_CONTROL, 'print', 'x')
    + creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='d')
    + creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='fifo')
    + creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='devnull')
    + creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='link')
    + creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='no/f')
    + creq(C_DOM0, C_CONTROL, 'logfile', 'x', path='dangling'),
    'memreport': creq(C_DOM0, C_CONTROL, 'memreport')
    + creq(C_DOM0, C_CONTROL, 'memreport', 'x', path='f1')
    + creq(C_DOM0, C_CONTROL, 'memreport', 'x', path='fifo')
    + creq(C_DOM0, C_CONTROL, 'memreport', 'x', path='d')
    + creq(C_DOM0, C_CONTROL, 'memreport', 'x', 'x', path='f1'),
    'quota': creq(C_DOM0, C_CONTROL, 'quota')
    + creq(C_DOM0, C_CONTROL, 'quota', 'set', 'nodes', '100')
    + creq(C_DOM0, C_CONTROL, 'quota', '5')
    + creq(C_DOM0, C_CONTROL, 'quota-soft')
    + creq(C_DOM0, C_CONTROL, 'quota-soft', 'set', 'memory', '7')
    + creq(C_DOM0, C_CONTROL, 'quota', 'set', 'path-max', '2049')
    + creq(C_DOM0, C_GET_QUOTA) + creq(C_DOM0, C_GET_QUOTA, 'nodes')
    + creq(C_DOM0, C_SET_QUOTA, '5', 'nodes', '100')
    + creq(C_DOM0, C_GET_QUOTA, '5', 'nodes')
    + creq(C_DOM0, C_SET_QUOTA, '7', 'nodes', '1'),
    'refused': creq(C_GUEST, C_CONTROL, 'help')
    + creq(C_GUEST, C_CONTROL, 'logfile', 'x', path='f0')
    + creq(C_RO, C_CONTROL, 'logfile', 'x', path='f0')
    + creq(C_RO, C_SET_QUOTA, 'nodes', '1')
    + creq(C_GUEST, C_GET_QUOTA, 'nodes') + creq(C_GUEST, C_WRITE, '/a', 'x'),
    'log': creq(C_DOM0, C_CONTROL, 'log')
    + creq(C_DOM0, C_CONTROL, 'log', '+trace')
    + creq(C_DOM0, C_WRITE, '/a', 'x')
    + creq(C_DOM0, C_CONTROL, 'log', '-trace')
    + creq(C_DOM0, C_CONTROL, 'log', '+debug')
    + creq(C_DOM0, C_CONTROL, 'log', 'off')
    + creq(C_DOM0, C_CONTROL, 'check') + creq(C_DOM0, C_CONTROL, 'help')
    + creq(C_DOM0, C_CONTROL, 'print', raw=b'raw\0bytes\xff'),
}


def main():
    for name, seeds in (('fuzz_store', STORE), ('fuzz_dispatch', DISPATCH),
                        ('fuzz_ring', RING), ('fuzz_control', CONTROL)):
        out = os.path.join('fuzz', 'corpus', name)
        os.makedirs(out, exist_ok=True)
        for seed, data in seeds.items():
            with open(os.path.join(out, seed), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
