#!/usr/bin/env python3
"""lobby_worker.py - a lobby-aware steer worker in the Python stdlib
(socket + selectors), the protocol of the README's "Lobby-aware workers".

It listens on its own address and also holds the pool's lobby listener,
one socket that every lobby-aware worker of the pool shares. It accepts
from its own listener first and from the lobby only while it holds fewer
than --slots connections; it never blocks in accept (the lobby is shared:
another worker may take a connection first, accept then says EAGAIN).

Sockets, either way:
  --listen IP:PORT --lobby-fd FD   own address; the lobby inherited as FD
  systemd (LISTEN_FDS): the fd named "lobby" in LISTEN_FDNAMES is the
  lobby, the other one its own listener (lobby-worker@.service)

Requests: HTTP/1.x "GET /ANY?ms=M": M ms of sleep, then 200 with the body
"NAME\\n" and "X-Via: own|lobby"; one request per connection.
Signals: SIGUSR1 drains (no more lobby accepts; the own listener is still
served), SIGUSR2 undrains, SIGTERM/SIGINT exit after printing
"stats NAME own N lobby N max_conns N" on stderr.
"""
import argparse
import heapq
import os
import selectors
import signal
import socket
import sys
import time
from urllib.parse import parse_qs, urlsplit

SD_LISTEN_FDS_START = 3
MAX_REQUEST = 8192


def sd_sockets():
    """(own, lobby) from the sd_listen_fds protocol, or (None, None)."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None, None
    n = int(os.environ.get("LISTEN_FDS", "0"))
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    own = lobby = None
    for i in range(n):
        sock = socket.socket(fileno=SD_LISTEN_FDS_START + i)
        if i < len(names) and names[i] == "lobby":
            lobby = sock
        else:
            own = sock
    return own, lobby


def parse_args():
    ap = argparse.ArgumentParser(description="lobby-aware steer worker")
    ap.add_argument("--listen", help="own address IP:PORT (else LISTEN_FDS)")
    ap.add_argument("--lobby-fd", type=int, help="inherited lobby listener fd")
    ap.add_argument("--slots", type=int, default=1, help="connections at once")
    ap.add_argument("--name", default="py-%d" % os.getpid())
    a = ap.parse_args()
    if a.slots < 1:
        ap.error("--slots must be >= 1")
    return a


class Worker:
    def __init__(self, own, lobby, slots, name):
        self.own, self.lobby, self.slots, self.name = own, lobby, slots, name
        self.sel = selectors.DefaultSelector()
        self.conns = {}  # sock -> [via, buffer]
        self.timers = []  # (deadline, seq, sock)
        self.seq = 0
        self.draining = self.quit = False
        self.taken = {"own": 0, "lobby": 0}
        self.max_conns = 0
        for s in (own, lobby):
            s.setblocking(False)
        self.wake_r, wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        self._wake_w = wake_w
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.on_signal)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def on_signal(self, signo, _frame):
        if signo == signal.SIGUSR1:
            self.draining = True
        elif signo == signal.SIGUSR2:
            self.draining = False
        else:
            self.quit = True

    def want(self, sock, yes, tag):
        """Listen on sock only while yes, so a full worker leaves its
        connections queued in the kernel (and a level-triggered select
        does not spin)."""
        key = self.sel.get_map().get(sock.fileno())
        if yes and key is None:
            self.sel.register(sock, selectors.EVENT_READ, tag)
        elif not yes and key is not None:
            self.sel.unregister(sock)

    def accept_some(self):
        # own listener first; the lobby only when that is empty
        while len(self.conns) < self.slots:
            for sock, via in ((self.own, "own"), (self.lobby, "lobby")):
                if via == "lobby" and self.draining:
                    return
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue  # empty, or another worker took it
                conn.setblocking(False)
                self.conns[conn] = [via, b""]
                self.taken[via] += 1
                self.max_conns = max(self.max_conns, len(self.conns))
                self.sel.register(conn, selectors.EVENT_READ, "conn")
                break
            else:
                return

    def close(self, conn):
        if conn in self.conns:
            del self.conns[conn]
            if conn.fileno() in self.sel.get_map():
                self.sel.unregister(conn)
            conn.close()

    def on_readable(self, conn):
        state = self.conns.get(conn)
        if state is None or state[1] is None:
            return
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close(conn)
            return
        state[1] += data
        head, sep, _ = state[1].partition(b"\r\n\r\n")
        if not sep:
            if len(state[1]) > MAX_REQUEST:
                self.close(conn)
            return
        state[1] = None  # request complete: wait, then answer
        self.sel.unregister(conn)
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        ms = 0.0
        if len(parts) == 3:
            q = parse_qs(urlsplit(parts[1].decode("latin-1")).query)
            try:
                ms = max(0.0, min(float(q.get("ms", ["0"])[0]), 3600e3))
            except ValueError:
                ms = 0.0
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + ms / 1e3, self.seq, conn))

    def answer(self, conn):
        via = self.conns[conn][0]
        body = ("%s\n" % self.name).encode()
        resp = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Worker: %s\r\n"
                "X-Via: %s\r\nConnection: close\r\n\r\n" % (len(body), self.name, via))
        try:
            conn.setblocking(True)  # a small reply: fits the send buffer
            conn.sendall(resp.encode() + body)
        except OSError:
            pass
        self.close(conn)

    def run(self):
        while not self.quit:
            free = len(self.conns) < self.slots
            self.want(self.own, free, "listen")
            self.want(self.lobby, free and not self.draining, "lobby")
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, _ in self.sel.select(timeout):
                if key.data == "wake":
                    try:
                        self.wake_r.recv(512)
                    except BlockingIOError:
                        pass
                elif key.data == "conn":
                    self.on_readable(key.fileobj)
                else:
                    self.accept_some()
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                self.answer(heapq.heappop(self.timers)[2])
        print("stats %s own %d lobby %d max_conns %d" % (self.name, self.taken["own"],
              self.taken["lobby"], self.max_conns), file=sys.stderr, flush=True)


def main():
    a = parse_args()
    own, lobby = sd_sockets()
    if a.listen:
        host, _, port = a.listen.rpartition(":")
        own = socket.create_server((host, int(port)), backlog=1024)
    if a.lobby_fd is not None:
        lobby = socket.socket(fileno=a.lobby_fd)
    if own is None or lobby is None:
        print("Error: need an own listener (--listen or LISTEN_FDS) and a lobby "
              "(--lobby-fd or LISTEN_FDNAMES=...:lobby)", file=sys.stderr)
        return 2
    w = Worker(own, lobby, a.slots, a.name)
    print("ready %d" % os.getpid(), flush=True)
    w.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
