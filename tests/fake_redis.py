#!/usr/bin/env python3
"""fake_redis.py MODE IP PORT [POOL]: a hostile Redis for 53_fleet_break.t.

It speaks enough RESP for steerd's handshake (PING, AUTH), SCRIPT LOAD,
SUBSCRIBE and the two scripts (lease: its key has ":q:", circuit: ":open"),
and answers them as MODE says:

  spont      an unsolicited "+OK" after every reply (more replies than asked)
  sub_short  a 1-element "message" array on the subscriber
  sub_types  a "message" array whose channel is an integer
  garbage    bytes that are no RESP at all
  huge       a 64 MB bulk reply, sent as fast as the socket takes it
  bigarray   "*2000000000": an array header of two billion elements
  negative   negative grants, ms, windows and counts
  maxint     grants of 2^63-1, a window of -1
  overcharge a lease reply sane but for a carry charged far above any sent
  wrongtype  strings where integers are due, nested arrays
  closemid   half a reply, then the connection closed
  flood      a good one, then thousands of messages a second on the
             circuit channel: malformed, other pools, "POOL 1000000 ..."
Every connection and the bytes it was sent are counted on stderr.
"""
import os
import socket
import sys
import threading
import time

MODE, IP, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
POOL = sys.argv[4] if len(sys.argv) > 4 else "main"
SHA = b"0123456789abcdef0123456789abcdef01234567"


def bulk(b):
    if isinstance(b, str):
        b = b.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def arr(*items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def integer(n):
    return b":%d\r\n" % n


def parse(buf):
    """one RESP array of bulks from buf: (args, rest) or (None, buf)"""
    if not buf.startswith(b"*"):
        return None, buf
    end = buf.find(b"\r\n")
    if end < 0:
        return None, buf
    n, at, args = int(buf[1:end]), end + 2, []
    for _ in range(n):
        end = buf.find(b"\r\n", at)
        if end < 0:
            return None, buf
        ln = int(buf[at + 1:end])
        at = end + 2
        if len(buf) < at + ln + 2:
            return None, buf
        args.append(buf[at:at + ln])
        at += ln + 2
    return args, buf[at:]


def now_ms():
    return int(time.time() * 1000)


def lease_reply():
    if MODE == "negative":
        return arr(integer(-1000000), integer(-5), integer(-7), integer(-1), integer(-3))
    if MODE == "maxint":
        return arr(integer(2**63 - 1), integer(2**63 - 1), integer(-(2**63)), integer(-1),
                   integer(2**63 - 1))
    if MODE == "wrongtype":
        return arr(bulk("a"), arr(integer(1)), b"$-1\r\n", integer(1), bulk("0"))
    if MODE == "overcharge":
        return arr(integer(0), integer(60000), integer(0), integer(now_ms() // 60000), integer(10**6))
    # { grant, ms left, remaining, window, carry charged }
    return arr(integer(10), integer(60000), integer(100), integer(now_ms() // 60000), integer(0))


def circuit_reply():
    if MODE == "negative":
        return arr(integer(-1), integer(-1))
    if MODE == "maxint":
        return arr(integer(2**63 - 1), integer(2**63 - 1))
    if MODE == "wrongtype":
        return arr(bulk("1000000"), arr(bulk("x")))
    return arr(integer(0), integer(now_ms()))


def flood(sock, channel):
    junk = [b"", b" ", b"x", POOL.encode(), (POOL + " ").encode(), (POOL + " -1 5").encode(),
            (POOL + " 1000000 %d evil 1").encode(), b"other 1000000 %d evil 1",
            (POOL + " 99999999999999999999 1 e 1").encode(), (POOL + " 5 abc").encode(),
            (POOL + "\x00x 1000000 %d e 1").encode(), b"\xff\xfe 1 1 1 1",
            (POOL * 50 + " 100 1 e 1").encode(), (POOL + " 1000000 99999999999999999999").encode()]
    sent, t0 = 0, time.time()
    while time.time() - t0 < float(os.environ.get("FLOOD_S", "3")):
        out = []
        for j in junk:
            if b"%d" in j:
                j = j.replace(b"%d", b"%d" % now_ms())
            out.append(arr(bulk("message"), bulk(channel), bulk(j)))
        # messages for a channel we never subscribed to, and pmessage
        out.append(arr(bulk("message"), bulk("nochannel"), bulk(POOL + " 1000000 1 e 1")))
        sock.sendall(b"".join(out))
        sent += len(out)
        time.sleep(0.002)
    sys.stderr.write("flood: %d messages in %.1f s\n" % (sent, time.time() - t0))


def client(sock):
    buf = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
            while True:
                args, buf = parse(buf)
                if args is None:
                    break
                answer(sock, args)
    except (ConnectionError, BrokenPipeError, OSError):
        pass
    finally:
        sock.close()


def answer(sock, args):
    cmd = args[0].upper()
    if cmd in (b"PING",):
        out = b"+PONG\r\n"
    elif cmd == b"AUTH":
        out = b"+OK\r\n"
    elif cmd == b"SCRIPT":
        out = bulk(SHA)
    elif cmd == b"SUBSCRIBE":
        ch = args[1]
        out = arr(bulk("subscribe"), bulk(ch), integer(1))
        if MODE == "sub_short":
            out += arr(bulk("message"))
        elif MODE == "sub_types":
            out += arr(bulk("message"), integer(5), bulk(POOL + " 1000000 1 e 1"))
        elif MODE == "flood":
            sock.sendall(out)
            threading.Thread(target=flood, args=(sock, ch), daemon=True).start()
            return
    elif cmd in (b"EVAL", b"EVALSHA"):
        key = args[3] if len(args) > 3 else b""
        if MODE == "garbage":
            out = b"!@#\x00\xff garbage\r\n"
        elif MODE == "huge":
            sock.sendall(b"$%d\r\n" % (64 << 20))
            chunk = b"x" * (1 << 20)
            for _ in range(64):
                sock.sendall(chunk)
            out = b"\r\n"
        elif MODE == "bigarray":
            out = b"*2000000000\r\n"
        elif MODE == "closemid":
            sock.sendall(b"*5\r\n:1\r\n:10")
            sock.shutdown(socket.SHUT_RDWR)
            return
        elif b":q:" in key:
            out = lease_reply()
        else:
            out = circuit_reply()
    else:
        out = b"-ERR unknown\r\n"
    if MODE == "spont":
        out += b"+OK\r\n"
    sock.sendall(out)


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((IP, PORT))
    srv.listen(64)
    print("ready", flush=True)
    while True:
        c, _ = srv.accept()
        sys.stderr.write("connection\n")
        threading.Thread(target=client, args=(c,), daemon=True).start()


main()
