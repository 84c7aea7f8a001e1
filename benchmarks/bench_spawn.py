"""How fast the Master boots slaves, against a bare Python baseline.

    .venv/bin/python -m benchmarks.bench_spawn [--children 200] [--roots 10]

Measures, in one run and for both dialects, with the reference slave and the demo plan:

- root: `boot_root()`, from Popen to the root connected (R:OK handled);
- child: `spawn(root, "child_ok")`, from the call (S is sent right away) to the child
  connected, median of --children spawns (each child is stopped after it is timed);
- baseline: a bare fork + socketpair + fd pass + two writes (P, R) in Python, read
  back by the parent, of the dialect's socket type; median of as many.

It prints the medians and the ratio child / baseline (target <= 1.5x), then where a
child's time goes: a second pass with an observer splits each spawn at the wire events
the master sees (S sent, socket received, P, R, connected), and the master's own CPU
time per spawn (time.process_time) shows how much of it is the master's work.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from itertools import pairwise

from zeus_fsm.master.loop import Master
from zeus_fsm.master.observe import (
    Channel,
    Direction,
    HandshakeFed,
    LifecycleMoved,
    ObservedEvent,
    WireEvent,
)

PLAN = "zeus_fsm.examples.demo:DemoPlan"
DIALECTS = ("spec", "zeus")


def slave_command(dialect: str) -> list[str]:
    return [sys.executable, "-m", "zeus_fsm.slave", "--plan", PLAN, "--dialect", dialect]


def time_roots(dialect: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        with Master(slave_command(dialect), dialect) as master:
            started = time.perf_counter()
            root = master.boot_root()
            times.append(time.perf_counter() - started)
            if not root.ok:
                raise SystemExit(f"root failed: {root.errors or root.result}")
    return times


def time_children(dialect: str, count: int, identifier: str) -> tuple[list[float], list[float]]:
    """(spawn() call -> connected, S sent -> R handled) for `count` children."""
    calls, wire = [], []
    with Master(slave_command(dialect), dialect) as master:
        root = master.boot_root()
        for _ in range(count):
            started = time.perf_counter()
            child = master.spawn(root, identifier)
            calls.append(time.perf_counter() - started)
            if not child.ok or child.started_at is None or child.result_at is None:
                raise SystemExit(f"{identifier} failed: {child.errors or child.result}")
            wire.append(child.result_at - child.started_at)
            master.stop(child)
    return calls, wire


#: The stages of one spawn, between the events `_stage_marks` picks out.
STAGES = ("S sent -> socket received (slave forks, makes its socketpair)",
          "socket -> P (master checks the fd; slave sends P)",
          "P -> R (slave runs the action)",
          "R -> connected (master records the result)")


def _first(events: list[ObservedEvent], test: Callable[[ObservedEvent], bool]) -> float:
    return next(e.at for e in events if test(e))


def _stage_marks(events: list[ObservedEvent]) -> list[float]:
    def fed(name: str) -> Callable[[ObservedEvent], bool]:
        return lambda e: isinstance(e, HandshakeFed) and type(e.event).__name__ == name

    return [
        _first(events, lambda e: isinstance(e, WireEvent) and e.direction is Direction.SENT),
        _first(events, lambda e: isinstance(e, WireEvent) and e.channel is Channel.MASTER),
        _first(events, fed("PidIdentifier")),
        _first(events, fed("ActionResult")),
        _first(events, lambda e: isinstance(e, LifecycleMoved) and e.after == "connected"),
    ]


def breakdown(dialect: str, count: int, identifier: str) -> tuple[list[list[float]], list[float]]:
    """Per stage, its durations; and the master's CPU seconds per spawn (no observer)."""
    events: list[ObservedEvent] = []
    stages: list[list[float]] = [[] for _ in STAGES]
    with Master(slave_command(dialect), dialect, observer=events.append) as master:
        root = master.boot_root()
        for _ in range(count):
            events.clear()
            child = master.spawn(root, identifier)
            marks = _stage_marks(events)
            for index, (start, end) in enumerate(pairwise(marks)):
                stages[index].append(end - start)
            master.stop(child)
    cpu = []
    with Master(slave_command(dialect), dialect) as master:
        root = master.boot_root()
        for _ in range(count):
            started = time.process_time()
            child = master.spawn(root, identifier)
            cpu.append(time.process_time() - started)
            master.stop(child)
    return stages, cpu


def time_baseline(sock_type: int, count: int) -> list[float]:
    """fork; the child makes a socketpair, passes one end, writes P and R; the parent reads."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                local, remote = socket.socketpair(socket.AF_UNIX, sock_type)
                socket.send_fds(theirs, [b"\0"], [remote.fileno()])
                local.send(b"P:%d:0:child\0" % os.getpid())
                local.send(b"R:OK\0")
                os._exit(0)
            _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            channel = socket.socket(fileno=fds[0])
            read_two_messages(channel)
            times.append(time.perf_counter() - started)
            channel.close()
            os.waitpid(pid, 0)
    finally:
        ours.close()
        theirs.close()
    return times


def read_two_messages(channel: socket.socket) -> None:
    """Two datagrams, or a stream up to its second NUL."""
    if channel.type == socket.SOCK_DGRAM:
        channel.recv(4096)
        channel.recv(4096)
        return
    received = b""
    while received.count(b"\0") < 2:
        chunk = channel.recv(4096)
        if not chunk:
            raise SystemExit("baseline child closed early")
        received += chunk


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, values: list[float], fmt: Callable[[float], str] = ms) -> None:
    print(f"  {name:<34} median {fmt(median(values))}   "
          f"p10 {fmt(statistics.quantiles(values, n=10)[0])}   n={len(values)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--roots", type=int, default=10)
    parser.add_argument("--identifier", default="child_ok",
                        help="the demo action each child runs (child_ok loads 2 files)")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    for dialect in DIALECTS:
        sock_type = socket.SOCK_STREAM if dialect == "zeus" else socket.SOCK_DGRAM
        roots = time_roots(dialect, args.roots)
        calls, wire = time_children(dialect, args.children, args.identifier)
        bare = time_baseline(sock_type, args.children)
        print(f"{dialect}:")
        report("root: Popen -> connected", roots)
        report("child: spawn() -> connected", calls)
        report("child: S sent -> R handled", wire)
        report("baseline: fork+socketpair+fd+2 writes", bare)
        print(f"  ratio child spawn / baseline: {median(calls) / median(bare):.2f}x "
              "(target <= 1.5x)")
        stages, cpu = breakdown(dialect, max(args.children // 4, 20), args.identifier)
        print("  where a child's time goes (medians, observed by the master):")
        for name, values in zip(STAGES, stages, strict=True):
            print(f"    {ms(median(values))}  {name}")
        print(f"    {ms(median(cpu))}  master CPU per spawn() (overlaps the above)")


if __name__ == "__main__":
    main()
