#!/usr/bin/env python3
"""guest.py - a complete XenStore guest on the simulator, standard library only.

    XSIM_DIR=DIR python3 examples/guest.py [DOMID [PATH]]

Acts as domain DOMID (default 5) by mapping its store page and using its
event channel, as docs/sim.md lays them out, and READs PATH (default
"name", relative to /local/domain/DOMID) over the ring of
xenstore-ring.txt.  Prints the value; exits 1 with the error otherwise.
The domain must own its ring alone (`xsim create DOMID --no-mux`).
"""
import mmap
import os
import select
import struct
import sys
import time

XS_READ, XS_ERROR = 2, 16
REQ, RSP, SIZE = 0, 1024, 1024  # the two rings in the page
# Indexes (u32, little-endian): requests' consumer and producer, then the
# responses'.
REQ_PROD, RSP_CONS, RSP_PROD = 2052, 2056, 2060


def main():
    domid = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    path = sys.argv[2] if len(sys.argv) > 2 else "name"
    sim = os.environ.get("XSIM_DIR", "/var/run/xenstored/sim")
    dom = f"{sim}/dom{domid}"

    # 1. Where the toolstack put the ring and its event channel.
    with open(f"{dom}/start-info") as f:
        info = dict(line.split("=", 1) for line in f.read().split())
    gfn, port = int(info["store_gfn"]), int(info["store_evtchn"])

    # 2. The ring: the page file, mapped shared with the daemon.
    with open(f"{dom}/page/{gfn}", "r+b") as f:
        ring = mmap.mmap(f.fileno(), 4096)

    # 3. Our end of the channel (we read it) and the daemon's (we write it).
    own = os.open(f"{dom}/evtchn/{port}", os.O_RDWR | os.O_NONBLOCK)
    with open(f"{dom}/evtchn/{port}.peer") as f:
        rdom, rport = f.read().split()
    peer = os.open(f"{sim}/dom{rdom}/evtchn/{rport}", os.O_RDWR | os.O_NONBLOCK)

    # The indexes as whole 32-bit words: struct.pack_into would store one
    # byte at a time, and the daemon could read a torn index.
    idx = memoryview(ring).cast("I")

    # 4. The request: header (type, req_id, tx_id, len), then the payload.
    body = path.encode() + b"\0"
    msg = struct.pack("<IIII", XS_READ, 7, 0, len(body)) + body
    prod = idx[REQ_PROD // 4]
    for i, b in enumerate(msg):
        ring[REQ + (prod + i) % SIZE] = b
    idx[REQ_PROD // 4] = (prod + len(msg)) % 2**32  # after the bytes
    os.write(peer, b"\1")  # notify the daemon

    # The reply: wait for the header, then for the whole message.
    want, deadline = 16, time.monotonic() + 5
    while True:
        cons, rprod = idx[RSP_CONS // 4], idx[RSP_PROD // 4]
        if (rprod - cons) % 2**32 >= want:
            data = bytes(ring[RSP + (cons + i) % SIZE] for i in range(want))
            if want == 16:
                want += struct.unpack_from("<I", data, 12)[0]
                continue
            idx[RSP_CONS // 4] = (cons + want) % 2**32
            os.write(peer, b"\1")  # room in the ring again
            break
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit("guest.py: no reply from the daemon within 5 s")
        select.select([own], [], [], left)
        try:
            os.read(own, 64)  # one byte or many: any number of notifies
        except BlockingIOError:
            pass

    kind, value = struct.unpack_from("<I", data)[0], data[16:].rstrip(b"\0")
    idx.release()
    ring.close()
    if kind == XS_ERROR:
        sys.exit(f"guest.py: dom{domid} READ {path}: {value.decode()}")
    print(value.decode())


if __name__ == "__main__":
    main()
