"""What the machines cost per use: building them, and each event they judge.

    .venv/bin/python -m benchmarks.bench_machine [--repeat 2000] [--rounds 7]

Pure CPU, no I/O: it times, per dialect, in microseconds (median of --rounds rounds of
--repeat each, rounds of all items interleaved so machine load hits them alike):

- **Handshake()**: building one (what a master pays per slave, and what the slave
  pays per child before step 1 unless it built one earlier);
- **register + R**: one Handshake fed a child's handshake as both sides do:
  socket, P, (pipe,) R:OK: the events of one spawn;
- **files batch**: one LoadedFiles event of 10 paths in the open files region;
- **Lifecycle()** and **lifecycle cycle**: building the master's lifecycle of one slave,
  and taking it start -> register -> succeed -> stop;
- **bare trigger**: for scale, one trigger of a flat `transitions.Machine` with one
  model, and (if importable) of a `HierarchicalMachine` with a parallel state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from zeus_fsm.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect
from zeus_fsm.protocol.events import Event, FdKind, PipePassed, SocketPassed
from zeus_fsm.protocol.lifecycle import Lifecycle
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import ActionResult, LoadedFiles, PidIdentifier

PID, PARENT, UID = 4605, 4600, 1000


def child_events(dialect: Dialect) -> list[Event]:
    kind = dialect.slave_socket_kind
    events: list[Event] = [
        SocketPassed((kind,), dialect.socket_payload, PID, UID),
        PidIdentifier(PID, "child", PARENT if dialect.has_parent_pid else None),
    ]
    if dialect.files_on_pipe:
        events.append(PipePassed((FdKind.FIFO,)))
    events.append(ActionResult())
    return events


def expectation(dialect: Dialect) -> Expectation:
    return Expectation(identifier="child", parent_pid=PARENT if dialect.has_parent_pid else None,
                       pid=PID, uid=UID)


def items(dialect: Dialect) -> dict[str, Callable[[], object]]:
    events = child_events(dialect)
    batch = LoadedFiles(tuple(b"/app/lib/file_%02d.rb" % i for i in range(10)))
    connected = Handshake(dialect, expectation(dialect))
    connected.handle_all(events)

    def register() -> None:
        machine = Handshake(dialect, expectation(dialect))
        machine.handle_all(events)

    def cycle() -> None:
        lifecycle = Lifecycle()
        for trigger in ("start", "register", "succeed", "stop"):
            lifecycle.fire(trigger)

    return {
        "Handshake()": lambda: Handshake(dialect, expectation(dialect)),
        f"Handshake() + register + R ({len(events)} events)": register,
        "files batch (10 paths), one event": lambda: connected.handle(batch),
        "Lifecycle()": Lifecycle,
        "Lifecycle() + start..stop (4 triggers)": cycle,
    }


def bare_triggers() -> dict[str, Callable[[], object]]:
    from transitions import Machine

    class Model:
        state = "a"

    flat_model = Model()
    flat = Machine(model=flat_model, states=["a", "b"], initial="a", auto_transitions=False)
    flat.add_transition("go", "a", "b")
    flat.add_transition("go", "b", "a")
    out: dict[str, Callable[[], object]] = {
        "transitions.Machine trigger (flat)": lambda: flat_model.trigger("go")}  # type: ignore[attr-defined]
    try:
        from transitions.extensions.nesting import HierarchicalMachine
    except ImportError:  # pragma: no cover
        return out
    nested_model = Model()
    nested = HierarchicalMachine(
        model=nested_model, auto_transitions=False, initial="p",
        states=[{"name": "p", "parallel": [{"name": "r", "children": ["a", "b"], "initial": "a"},
                                           {"name": "f", "children": ["o"], "initial": "o"}]}])
    nested.add_transition("go", "p_r_a", "p_r_b")
    nested.add_transition("go", "p_r_b", "p_r_a")
    out["HierarchicalMachine trigger (parallel)"] = (
        lambda: nested_model.trigger("go"))  # type: ignore[attr-defined]
    return out


def measure(work: dict[str, Callable[[], object]], repeat: int,
            rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(rounds):
        for name, call in work.items():
            started = time.perf_counter()
            for _ in range(repeat):
                call()
            samples[name].append((time.perf_counter() - started) / repeat)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}; "
          f"median of {args.rounds} rounds of {args.repeat}")
    for name in DIALECT_NAMES:
        print(f"{name}:")
        for item, seconds in measure(items(get_dialect(name)), args.repeat,
                                     args.rounds).items():
            print(f"  {seconds * 1e6:9.1f} us  {item}")
    print("for scale:")
    for item, seconds in measure(bare_triggers(), args.repeat, args.rounds).items():
        print(f"  {seconds * 1e6:9.1f} us  {item}")


if __name__ == "__main__":
    main()
