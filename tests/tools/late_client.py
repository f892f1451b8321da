#!/usr/bin/env python3
"""late_client.py MODE HOST PORT N [MS]: N connections to an sworker (through
steer), one after another, each of which sends segments after the worker
closed first, so that they can outlive the worker's socket:

  write        ask "sleep 1"; the moment "done" arrives (the worker's FIN
               follows at once) write 4 MiB more, as a pipelining client
               does: data reaching the orphaned socket resets it, and what
               is still in flight finds no socket at all
  close-after  send "fin", read to EOF (the worker's FIN), keep every
               socket open MS ms more, then close them all (the client's
               FIN, late)

Prints "ok N failed N" and, per worker, "worker NAME COUNT" lines, as
sclient does."""
import collections
import socket
import sys
import time

BLOB = b"x" * (4 << 20)


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(100)
        if not b:
            break
        buf += b
    return buf.strip().decode()


def one(mode, fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.connect(addr)
    name = read_line(s)
    if mode == "write":
        s.sendall(b"sleep 1\n")
        while read_line(s) not in ("done", ""):
            pass
        try:
            s.sendall(BLOB)
        except OSError:
            pass  # the reset: what this mode is for
        s.close()
        return name, None
    s.sendall(b"fin\n")
    while s.recv(100):
        pass
    return name, s


def main():
    mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode not in ("write", "close-after"):
        sys.exit("usage: late_client.py write|close-after HOST PORT N [MS]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    who, failed, held = collections.Counter(), 0, []
    for _ in range(n):
        try:
            name, s = one(mode, fam, (host, port))
            who[name] += 1
            if s:
                held.append(s)
        except OSError:
            failed += 1
    if held:
        time.sleep(int(sys.argv[5]) / 1000)
        for s in held:
            s.close()
    print("ok %d failed %d refused 0" % (sum(who.values()), failed))
    for name, count in sorted(who.items()):
        print("worker %s %d" % (name, count))


main()
