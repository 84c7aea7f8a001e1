"""How fast the Master gets slaves connected: the reference slave against a bare fork and
against the real Zeus Ruby shim, in one run.

    .venv/bin/python -m benchmarks.bench_spawn [--children 300] [--roots 10] [--imports 20]
                                               [--gap SECONDS] [--breakdown]
    ZEUSREF=~/.cache/zeusref .venv/bin/python -m benchmarks.bench_spawn   # adds the Ruby shim

Every slave runs a plan whose actions do nothing (benchmarks/plans/spawn_plan.py, and
spawn_plan.rb for Ruby), so what is timed is the slave and the master, not an action.
In one run it measures:

- **child spawn**: `Master.spawn(root, "child_noop")`, from the call (S goes out first)
  to the child connected (R:OK handled), for the reference slave in both dialects (with
  its spare child, zeus_fsm/slave/spare.py, `ZEUS_FSM_SPARE=1`, and with spares off, the
  default) and,
  when `ZEUSREF` names a built real Zeus (../shared/zeusref/README.md), the real Ruby
  shim (zeus dialect), driven by the same Master; each child is stopped after it is
  timed;
- **bare**: a fork + socketpair + fd pass + two writes (P, R) in Python, read back by
  the parent, with the dialect's socket type: the least a slave can do;
- **root boot**: Popen to the root connected, for each slave;
- **imports**: `python -c pass` against `python -c "import zeus_fsm.slave.reference"`
  (what `python -m zeus_fsm.slave` loads), wall time, as this environment starts them
  and with a bytecode cache; and `-X importtime`'s cumulative figure for the module.

The machine is shared and busy, so the subjects are timed in interleaved batches (a load
spike hits all of them alike) and compared as medians within the run: the ratio to the
bare baseline is the figure to read, not the milliseconds.

Spawns follow each other at once by default (the next S a few milliseconds after the last
child connected: a spare may still be in the making); `--gap 0.02` leaves 20 ms between
them, untimed, as restarts after file changes come.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path

import attrs

from zeus_fsm.master.loop import Master, SlaveSession
from zeus_fsm.master.observe import (
    Channel,
    Direction,
    HandshakeFed,
    LifecycleMoved,
    ObservedEvent,
    WireEvent,
)
from zeus_fsm.transport.processes import SPARE_ENV

ROOT = Path(__file__).resolve().parent.parent
PLANS = Path(__file__).resolve().parent / "plans"
PLAN = "benchmarks.plans.spawn_plan:SpawnPlan"
IDENTIFIER = "child_noop"
SLAVE_MODULE = "zeus_fsm.slave.reference"


@attrs.frozen
class Subject:
    name: str
    dialect: str
    command: tuple[str, ...]
    #: Set in the slave's environment on top of this one's.
    env: tuple[tuple[str, str], ...] = ()


def subjects(zeusref: str | None) -> list[Subject]:
    found = [Subject(f"zeus_fsm reference slave, spare {switch}", dialect,
                     (sys.executable, "-m", "zeus_fsm.slave", "--plan", PLAN,
                      "--dialect", dialect), ((SPARE_ENV, "1" if switch == "on" else "0"),))
             for dialect in ("spec", "zeus") for switch in ("off", "on")]
    if zeusref:
        lib = Path(zeusref).expanduser() / "src" / "rubygem" / "lib"
        if not (lib / "zeus.rb").is_file():
            raise SystemExit(f"ZEUSREF={zeusref}: no {lib}/zeus.rb (see ../shared/zeusref)")
        ruby = shutil.which("ruby")
        if ruby is None:
            raise SystemExit("ZEUSREF is set but there is no ruby on PATH")
        found.append(Subject("real Zeus Ruby shim (v0.20.0)", "zeus",
                             (ruby, f"-I{lib}", "-rrubygems", f"-r{PLANS / 'spawn_plan.rb'}",
                              "-eZeus.go")))
    return found


def open_master(stack: ExitStack, subject: Subject,
                observer: Callable[[ObservedEvent], None] | None = None) -> Master:
    return stack.enter_context(Master(list(subject.command), subject.dialect,
                                      cwd=str(ROOT), observer=observer,
                                      env={**os.environ, **dict(subject.env)}))


def boot(master: Master, subject: Subject) -> SlaveSession:
    root = master.boot_root()
    if not root.ok:
        raise SystemExit(f"{subject.name} ({subject.dialect}): root failed: "
                         f"{root.errors or root.result}")
    return root


def spawn_once(master: Master, root: SlaveSession, subject: Subject, gap: float = 0.0) -> float:
    time.sleep(gap)
    started = time.perf_counter()
    child = master.spawn(root, IDENTIFIER)
    elapsed = time.perf_counter() - started
    if not child.ok:
        raise SystemExit(f"{subject.name} ({subject.dialect}): {IDENTIFIER} failed: "
                         f"{child.errors or child.result}")
    master.stop(child)
    return elapsed


def time_boot(subject: Subject) -> float:
    with ExitStack() as stack:
        master = open_master(stack, subject)
        started = time.perf_counter()
        boot(master, subject)
        return time.perf_counter() - started


# ---- the bare baseline ----------------------------------------------------------------


def bare_spawn(sock_type: int, ours: socket.socket, theirs: socket.socket,
               gap: float = 0.0) -> float:
    """fork; the child makes a socketpair, passes one end, writes P and R; the parent reads."""
    time.sleep(gap)
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
    elapsed = time.perf_counter() - started
    channel.close()
    os.waitpid(pid, 0)
    return elapsed


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


# ---- children, interleaved ------------------------------------------------------------


def time_children(found: list[Subject], count: int, batch: int, gap: float = 0.0,
                  ) -> tuple[dict[Subject, list[float]], dict[str, list[float]]]:
    """`count` child spawns per subject and bare spawns per dialect, in interleaved batches,
    `gap` seconds apart (untimed: S back to back, or as restarts come, far apart)."""
    spawns: dict[Subject, list[float]] = {s: [] for s in found}
    bare: dict[str, list[float]] = {"spec": [], "zeus": []}
    kinds = {"spec": socket.SOCK_DGRAM, "zeus": socket.SOCK_STREAM}
    with ExitStack() as stack:
        masters = {s: open_master(stack, s) for s in found}
        roots = {s: boot(masters[s], s) for s in found}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        stack.callback(ours.close)
        stack.callback(theirs.close)
        for subject in found:  # warm-up: first spawns fault in code paths on both sides
            for _ in range(5):
                spawn_once(masters[subject], roots[subject], subject)
        done = 0
        while done < count:
            size = min(batch, count - done)
            for subject in found:
                spawns[subject].extend(spawn_once(masters[subject], roots[subject], subject, gap)
                                       for _ in range(size))
            for dialect, kind in kinds.items():
                bare[dialect].extend(bare_spawn(kind, ours, theirs, gap) for _ in range(size))
            done += size
    return spawns, bare


# ---- imports --------------------------------------------------------------------------


def time_imports(count: int) -> dict[str, list[float]]:
    """Wall time of `python -c pass` and of importing the slave, interleaved; as this
    environment starts them, and with a bytecode cache in a temporary folder."""
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as cache:
        cached = dict(os.environ, PYTHONPYCACHEPREFIX=cache)
        cached.pop("PYTHONDONTWRITEBYTECODE", None)
        runs = {
            "python -c pass": ("pass", None),
            f"import {SLAVE_MODULE}": (f"import {SLAVE_MODULE}", None),
            "python -c pass, bytecode cached": ("pass", cached),
            f"import {SLAVE_MODULE}, bytecode cached": (f"import {SLAVE_MODULE}", cached),
        }
        for code, env in runs.values():  # warm-up, and fill the cache
            subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
        for name in runs:
            out[name] = []
        for _ in range(count):
            for name, (code, env) in runs.items():
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
                out[name].append(time.perf_counter() - started)
        out["-X importtime, cumulative"] = [
            importtime(SLAVE_MODULE, None) for _ in range(count)]
        out["-X importtime, cumulative, bytecode cached"] = [
            importtime(SLAVE_MODULE, cached) for _ in range(count)]
    return out


def importtime(module: str, env: dict[str, str] | None) -> float:
    """-X importtime's cumulative seconds for `module` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          env=env, check=True, cwd=ROOT, capture_output=True, text=True)
    for line in done.stderr.splitlines():
        fields = [f.strip() for f in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6
    raise SystemExit(f"-X importtime did not report {module}")


# ---- where a reference child's time goes (--breakdown) ------------------------------

STAGES = ("S sent -> socket received (slave forks, makes its socketpair)",
          "socket -> P (master checks the fd; slave sends P)",
          "P -> R (slave: [pipe,] action, R)",
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


def breakdown(subject: Subject, count: int) -> tuple[list[list[float]], list[float]]:
    """Per stage, its durations; and the master's CPU seconds per spawn (no observer)."""
    events: list[ObservedEvent] = []
    stages: list[list[float]] = [[] for _ in STAGES]
    with ExitStack() as stack:
        master = open_master(stack, subject, events.append)
        root = boot(master, subject)
        for _ in range(count):
            events.clear()
            child = master.spawn(root, IDENTIFIER)
            for index, (start, end) in enumerate(pairwise(_stage_marks(events))):
                stages[index].append(end - start)
            master.stop(child)
    cpu = []
    with ExitStack() as stack:
        master = open_master(stack, subject)
        root = boot(master, subject)
        for _ in range(count):
            started = time.process_time()
            child = master.spawn(root, IDENTIFIER)
            cpu.append(time.process_time() - started)
            master.stop(child)
    return stages, cpu


# ---- report ---------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def spread(values: list[float]) -> str:
    deciles = statistics.quantiles(values, n=10)
    return f"{ms(statistics.median(values))} (p10 {ms(deciles[0])}, p90 {ms(deciles[-1])})"


def rows(found: list[Subject], spawns: dict[Subject, list[float]], bare: dict[str, list[float]],
         boots: dict[Subject, list[float]]) -> Iterator[str]:
    yield "| slave | dialect | root boot (Popen -> connected) | child spawn (S -> connected) " \
          "| x bare |"
    yield "|---|---|---|---|---|"
    for dialect in ("spec", "zeus"):
        yield f"| bare fork + socketpair + fd pass + 2 writes | {dialect} | - | " \
              f"{spread(bare[dialect])} | 1.00 |"
        for subject in (s for s in found if s.dialect == dialect):
            ratio = statistics.median(spawns[subject]) / statistics.median(bare[dialect])
            yield f"| {subject.name} | {dialect} | {ms(statistics.median(boots[subject]))} | " \
                  f"{spread(spawns[subject])} | {ratio:.2f} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=300, help="spawns per slave")
    parser.add_argument("--batch", type=int, default=20, help="spawns per interleaved batch")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds between two spawns, untimed (default: back to back)")
    parser.add_argument("--roots", type=int, default=10, help="root boots per slave")
    parser.add_argument("--imports", type=int, default=20, help="interpreter starts per row")
    parser.add_argument("--breakdown", action="store_true",
                        help="also split a reference child's spawn into stages")
    args = parser.parse_args(argv)
    found = subjects(os.environ.get("ZEUSREF"))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    if not any(s.name.startswith("real") for s in found):
        print("(ZEUSREF is not set: no Ruby shim row)")
    spawns, bare = time_children(found, args.children, args.batch, args.gap)
    boots: dict[Subject, list[float]] = {s: [] for s in found}
    for _ in range(args.roots):
        for subject in found:
            boots[subject].append(time_boot(subject))
    imports = time_imports(args.imports)
    print(f"load average {os.getloadavg()[0]:.2f} at end; "
          f"medians of {args.children} spawns ({args.gap * 1000:g} ms apart) and "
          f"{args.roots} boots per slave\n")
    for line in rows(found, spawns, bare, boots):
        print(line)
    print(f"\nimports (wall time of a fresh interpreter; min and median of {args.imports}):")
    for name, values in imports.items():
        print(f"  {name:<58} min {ms(min(values)):>9}  median {ms(statistics.median(values)):>9}")
    extra = [statistics.median(imports[f"import {SLAVE_MODULE}{how}"])
             - statistics.median(imports[f"python -c pass{how}"])
             for how in ("", ", bytecode cached")]
    print(f"  the slave's imports on top of python -c pass (medians): {ms(extra[0])}, "
          f"bytecode cached {ms(extra[1])}")
    if args.breakdown:
        for subject in (s for s in found if s.name.startswith("zeus_fsm")):
            stages, cpu = breakdown(subject, max(args.children // 4, 20))
            print(f"\nwhere a reference child's time goes ({subject.name}, {subject.dialect}, "
                  "medians, as the master observes it):")
            for name, values in zip(STAGES, stages, strict=True):
                print(f"  {ms(statistics.median(values)):>9}  {name}")
            print(f"  {ms(statistics.median(cpu)):>9}  master CPU per spawn() "
                  "(overlaps the above)")


if __name__ == "__main__":
    main()
