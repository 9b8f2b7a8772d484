#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora of fuzz/fuzz_store.c and
fuzz/fuzz_dispatch.c: small programs in each fuzzer's input encoding (see
the comments of get_path/get_args/step in fuzz_store.c and record() in
fuzz_dispatch.c).  The seeds are binary; this says what they are.

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


def main():
    for name, seeds in (('fuzz_store', STORE), ('fuzz_dispatch', DISPATCH)):
        out = os.path.join('fuzz', 'corpus', name)
        os.makedirs(out, exist_ok=True)
        for seed, data in seeds.items():
            with open(os.path.join(out, seed), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
