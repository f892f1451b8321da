#!/usr/bin/env python3
"""lobby_launch.py - creates a pool's lobby listener once and starts the
pool's lobby-aware workers with it inherited, so they share ONE socket
(one accept queue), not SO_REUSEPORT copies.

  lobby_launch.py --lobby IP:PORT [--fd 3] -- CMD ARGS... [-- CMD ARGS...]

Every CMD gets the lobby as fd FD (default 3): write "--lobby-fd 3" in its
arguments. Prints "lobby PID FD" (this process holds it too: register it
with `steerctl pool lobby POOL --pid PID --fd FD`), then "worker PID" per
command, then "ready PID". SIGTERM/SIGINT go to every worker; it exits when
all have exited. A worker that dies is not restarted: the others go on
serving the lobby.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys


def split_cmds(rest):
    cmds, cur = [], []
    for a in rest:
        if a == "--":
            if cur:
                cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    if cur:
        cmds.append(cur)
    return cmds


def main():
    ap = argparse.ArgumentParser(usage="%(prog)s --lobby IP:PORT [--fd N] -- CMD... [-- CMD...]")
    ap.add_argument("--lobby", required=True, help="IP:PORT of the lobby listener")
    ap.add_argument("--fd", type=int, default=3, help="fd number the workers get")
    ap.add_argument("--backlog", type=int, default=4096)
    a, rest = ap.parse_known_args()
    cmds = split_cmds(rest)
    if not cmds or a.fd < 3:
        ap.error("give at least one command after --, and --fd >= 3")
    host, _, port = a.lobby.rpartition(":")
    lobby = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lobby.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        lobby.bind((host, int(port)))
    except (OSError, ValueError) as e:
        print("Error: cannot listen on %s: %s" % (a.lobby, e), file=sys.stderr)
        return 1
    lobby.listen(a.backlog)
    if lobby.fileno() != a.fd:
        os.dup2(lobby.fileno(), a.fd, inheritable=True)
        lobby.close()
    else:
        os.set_inheritable(a.fd, True)
    print("lobby %d %d" % (os.getpid(), a.fd), flush=True)
    kids = []
    for cmd in cmds:
        p = subprocess.Popen(cmd, pass_fds=(a.fd,), stdin=subprocess.DEVNULL)
        kids.append(p)
        print("worker %d" % p.pid, flush=True)

    def forward(signo, _frame):
        for p in kids:
            if p.poll() is None:
                p.send_signal(signo)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    print("ready %d" % os.getpid(), flush=True)
    rc = 0
    for p in kids:
        while True:
            try:
                r = p.wait()
                break
            except InterruptedError:
                continue
        rc = rc or (r if r > 0 else 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
