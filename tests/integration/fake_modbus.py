#!/usr/bin/env python3
"""A Modbus TCP device that misbehaves on purpose, for the integration tests.

fake_modbus.py PORT MODE [rtu] [DELAY_MS]

Every read of holding or input registers is answered with registers that
all hold the number of requests seen so far (so an answer can be told from
another). MODE:
  ok       answers at once
  tid      answers with the transaction id plus one
  long     an MBAP length field 100 bytes longer than what is sent
  trickle  the reply one byte every 150 ms
  dead     accepts, never answers
  late     answers DELAY_MS after the request (after the gateway's timeout)
"rtu" speaks RTU frames over TCP (a serial server) instead of MBAP.
Prints "ready" once listening.
"""
import selectors
import socket
import struct
import sys
import time


def crc16(b):
    c = 0xFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return struct.pack("<H", c)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    rtu = len(sys.argv) > 3 and sys.argv[3] == "rtu"
    delay = int(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.7
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    bufs, out = {}, []          # out: (time, sock, bytes)
    seen = 0
    print("ready", flush=True)
    while True:
        now = time.time()
        wait = min([t for t, _, _ in out], default=now + 0.05) - now
        for key, _ in sel.select(max(0, min(wait, 0.05))):
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                sel.register(c, selectors.EVENT_READ)
                bufs[c] = b""
                continue
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                sel.unregister(s)
                bufs.pop(s, None)
                out = [o for o in out if o[1] is not s]
                s.close()
                continue
            bufs[s] += d
            while True:
                b = bufs[s]
                if rtu:
                    if len(b) < 8:
                        break
                    unit, fc, addr, count = b[0], b[1], *struct.unpack(">HH", b[2:6])
                    bufs[s] = b[8:]
                else:
                    if len(b) < 12:
                        break
                    tid, _, ln, unit, fc, addr, count = struct.unpack(">HHHBBHH", b[:12])
                    bufs[s] = b[6 + ln:]
                seen += 1
                if fc in (3, 4):
                    pdu = bytes([fc, 2 * count]) + struct.pack(">H", seen & 0xFFFF) * count
                elif fc in (1, 2):
                    pdu = bytes([fc, (count + 7) // 8]) + b"\0" * ((count + 7) // 8)
                else:
                    pdu = bytes([fc]) + struct.pack(">HH", addr, count)
                if rtu:
                    f = bytes([unit]) + pdu
                    frame = f + crc16(f)
                else:
                    t = tid + 1 if mode == "tid" else tid
                    ln = len(pdu) + 1 + (100 if mode == "long" else 0)
                    frame = struct.pack(">HHHB", t & 0xFFFF, 0, ln, unit) + pdu
                at = time.time() + (delay if mode == "late" else 0)
                if mode == "dead":
                    continue
                if mode == "trickle":
                    out += [(at + 0.15 * i, s, frame[i:i + 1]) for i in range(len(frame))]
                elif mode == "split":
                    # whole within the timeout, in three pieces: the
                    # header cut in two, then the rest
                    cuts = [0, 3, 8, len(frame)]
                    out += [(at + 0.03 * i, s, frame[cuts[i]:cuts[i + 1]]) for i in range(3)]
                else:
                    out.append((at, s, frame))
        now = time.time()
        due = [o for o in out if o[0] <= now]
        out = [o for o in out if o[0] > now]
        for _, s, data in due:
            try:
                s.send(data)
            except OSError:
                pass


if __name__ == "__main__":
    main()
