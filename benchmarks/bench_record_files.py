"""How fast the Master records loaded files, against a bare read-and-split loop.

    .venv/bin/python -m benchmarks.bench_record_files [--paths 100000] [--runs 3]

For each dialect, one slave process (this module run with `--slave`: raw sockets, no
zeus_fsm code) registers as a root, sends R:OK, then waits until an agreed moment
(CLOCK_MONOTONIC is system-wide) and sends --paths loaded-file paths as fast as it can:
F datagrams (spec) or lines on the pipe (zeus). Two readers are timed from that moment
until the last path is recorded:

- master: a Master (`wait_files` until all are in `root.loaded_files`): decoding,
  batching, the Handshake, duplicate checking, recording;
- bare: the same slave read by a plain loop in this process: recv the datagrams and
  strip `F:` (spec), or read the pipe and split on newlines (zeus).

It prints paths per second for each and the ratio bare / master (how many times slower
the master is than the bare loop); the median of --runs runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

from zeus_fsm.master.loop import Master

DIALECTS = ("spec", "zeus")
LEAD = 0.3  # seconds between starting the slave and its first path: boot fits in it


def path(n: int) -> bytes:
    return b"/app/lib/some/project/module_%07d.rb" % n


# ---- the slave (runs in its own process) -----------------------------------------------------


def run_slave(dialect: str, count: int, start_at: float) -> None:
    zeus = dialect == "zeus"
    master = socket.socket(fileno=int(os.environ["ZEUS_MASTER_FD"]))
    local, remote = socket.socketpair(socket.AF_UNIX,
                                      socket.SOCK_STREAM if zeus else socket.SOCK_DGRAM)
    socket.send_fds(master, [b"\0"], [remote.fileno()])
    remote.close()
    pipe_w = -1
    if zeus:
        local.sendall(b"P:%d:0:boot\0" % os.getpid())
        r, pipe_w = os.pipe()
        socket.send_fds(local, [b"\0"], [r])
        os.close(r)
        local.sendall(b"R:OK\0")
    else:
        local.send(b"P:%d:" % os.getpid())
        local.send(b"R:OK")
    time.sleep(max(0.0, start_at - time.monotonic()))
    if zeus:
        data = memoryview(b"".join(path(n) + b"\n" for n in range(count)))
        while data:
            data = data[os.write(pipe_w, data[:65536]):]
    else:
        for n in range(count):
            local.send(b"F:" + path(n))
    local.recv(1)  # until the reader closes it (or kills us)


def slave_command(dialect: str, count: int, start_at: float) -> list[str]:
    return [sys.executable, "-m", "benchmarks.bench_record_files", "--slave", dialect,
            str(count), repr(start_at)]


# ---- the two readers ---------------------------------------------------------------------------


def time_master(dialect: str, count: int) -> float:
    start_at = time.monotonic() + LEAD
    with Master(slave_command(dialect, count, start_at), dialect, step_timeout=10.0) as master:
        root = master.boot_root()
        if not root.ok:
            raise SystemExit(f"the slave failed: {root.errors}")
        if not master.wait_files(root, lambda files: len(files) >= count, timeout=120.0):
            raise SystemExit(f"only {len(root.loaded_files)} of {count} paths arrived")
        took = time.monotonic() - start_at
        if root.loaded_files[-1] != path(count - 1) or len(root.loaded_files) != count:
            raise SystemExit("the master recorded other paths than were sent")
    return took


def _recv_one(sock: socket.socket) -> tuple[bytes, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(sock, 65536, 4)
    return data, fds


def time_bare(dialect: str, count: int) -> float:
    """The same slave, read by the plainest loop that still yields the list of paths."""
    zeus = dialect == "zeus"
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    start_at = time.monotonic() + LEAD
    process = subprocess.Popen(slave_command(dialect, count, start_at), pass_fds=[theirs.fileno()],
                               env={**os.environ, "ZEUS_MASTER_FD": str(theirs.fileno())})
    theirs.close()
    try:
        _, [fd] = _recv_one(ours)
        slave = socket.socket(fileno=fd)
        paths: list[bytes] = []
        if zeus:
            received = b""
            fds: list[int] = []
            while not fds or not received.endswith(b"R:OK\0"):  # P, the pipe, R
                data, more = _recv_one(slave)
                received, fds = received + data, fds + more
            [pipe] = fds
            buffer = b""
            while len(paths) < count:
                chunk = os.read(pipe, 1 << 16)
                lines = (buffer + chunk).split(b"\n")
                buffer = lines.pop()
                paths.extend(lines)
            os.close(pipe)
        else:
            slave.recv(65536)  # P
            slave.recv(65536)  # R
            while len(paths) < count:
                paths.append(slave.recv(65536)[2:])
        took = time.monotonic() - start_at
        slave.close()
        if paths[-1] != path(count - 1):
            raise SystemExit("the bare loop read other paths than were sent")
    finally:
        process.kill()
        process.wait()
        ours.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slave", nargs=3, metavar=("DIALECT", "COUNT", "START_AT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slave:
        run_slave(args.slave[0], int(args.slave[1]), float(args.slave[2]))
        return
    count = args.paths
    print(f"{count} paths, median of {args.runs} runs, timed from the slave's first path")
    for dialect in DIALECTS:
        master = statistics.median(time_master(dialect, count) for _ in range(args.runs))
        bare = statistics.median(time_bare(dialect, count) for _ in range(args.runs))
        print(f"{dialect}: master {count / master:>10,.0f} paths/s ({master:.3f} s)   "
              f"bare {count / bare:>10,.0f} paths/s ({bare:.3f} s)   "
              f"master is {master / bare:.2f}x the bare loop's time")


if __name__ == "__main__":
    main()
