"""`zeus-fsm start` for days: memory, fds and processes over thousands of restarts.

    .venv/bin/python -m benchmarks.bench_soak [--restarts 10000] [--root-every 100]
                                              [--dialect spec] [--warm-up 50]

Writes a small plan into a temp dir (boot -> alpha -> gamma, boot -> beta; each
action reads its own .txt file), runs `python -m zeus_fsm start --json-status
--debounce 10` on it as a user would, and edits files one at a time, waiting
after each edit until the tree has settled with the edited node booted once
more: beta.txt (a leaf: one slave restarts), and every `--root-every`-th edit
root.txt (the root: the command is run again, the whole tree restarts). Root
restarts are kept rare: each makes a new Master, which would hide what an old
one kept.

After `--warm-up` restarts it takes the supervisor's RSS (/proc/PID/statm),
its open fds and its descendant processes as the baseline, then samples them
every `--sample-every` restarts. It prints the figures; tests/test_soak.py runs
the same driver at a CI size and asserts on them.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from benchmarks.start_tree import Event, StartProcess, plan_directory
from zeus_fsm.transport.processes import descendants, process_table

#: The longest one restart may take before the soak gives up (a restart takes ~50 ms).
WAIT = 30.0
PAGE = os.sysconf("SC_PAGE_SIZE")


@attrs.frozen
class Sample:
    restarts: int
    seconds: float
    rss: int  # bytes
    fds: int
    processes: int  # descendants of the supervisor, zombies included


@attrs.frozen
class SoakResult:
    dialect: str
    restarts: int
    root_restarts: int
    warm_up: int
    seconds: float
    baseline: Sample
    samples: tuple[Sample, ...]

    @property
    def final(self) -> Sample:
        return self.samples[-1]

    @property
    def growth(self) -> int:
        """RSS bytes gained from the baseline to the last sample."""
        return self.final.rss - self.baseline.rss

    @property
    def peak_growth(self) -> int:
        return max(s.rss for s in self.samples) - self.baseline.rss

    @property
    def per_restart_ms(self) -> float:
        return 1000 * self.seconds / max(1, self.restarts)

    def lines(self) -> list[str]:
        fds = sorted({s.fds for s in self.samples})
        procs = sorted({s.processes for s in self.samples})
        return [
            f"{self.dialect}: {self.restarts} restarts ({self.root_restarts} of the root) "
            f"in {self.seconds:.1f} s ({self.per_restart_ms:.1f} ms each)",
            f"  RSS after {self.warm_up} warm-up restarts {self.baseline.rss / 2**20:.1f} MiB, "
            f"at the end {self.final.rss / 2**20:.1f} MiB: growth "
            f"{self.growth / 1024:+.0f} KiB (peak {self.peak_growth / 1024:+.0f} KiB, "
            f"{self.growth / max(1, self.restarts - self.warm_up):+.1f} bytes per restart)",
            f"  fds {self.baseline.fds} at the baseline; seen {fds}",
            f"  descendant processes {self.baseline.processes} at the baseline; seen {procs}",
        ]


class Start(StartProcess):
    """A running `zeus-fsm start --json-status`, its lines read by a thread."""

    def __init__(self, directory: Path, dialect: str) -> None:
        super().__init__(directory, dialect, debounce=10)

    def settled(self, node: str | None = None, runs: int = 0) -> dict[str, Event]:
        """The next "settled" line with every node connected (and `node` at `runs`)."""
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if event is None:
                raise RuntimeError("zeus-fsm start exited during the soak")
            if event["event"] != "settled":
                continue
            rows = {row["node"]: row for row in event["nodes"]}
            if all(row["state"] == "connected" and row["files"] for row in rows.values()) \
                    and (node is None or rows[node]["runs"] >= runs):
                return rows
        raise TimeoutError(f"the tree did not settle within {WAIT:g} s")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT)
            raise

    def sample(self, restarts: int, started: float) -> Sample:
        pid = self.process.pid
        with open(f"/proc/{pid}/statm") as statm:
            rss = int(statm.read().split()[1]) * PAGE
        # The least of a few looks: an fd the watcher thread holds for a moment is no leak.
        fds = min(_looked_apart(lambda: len(os.listdir(f"/proc/{pid}/fd"))))
        return Sample(restarts, time.monotonic() - started, rss, fds,
                      min(_looked_apart(lambda: len(descendants([pid], process_table())))))


def _looked_apart(look: Callable[[], int], times: int = 3) -> list[int]:
    values = []
    for _ in range(times):
        values.append(look())
        time.sleep(0.005)
    return values


def soak(restarts: int, *, dialect: str = "spec", root_every: int = 100, warm_up: int = 50,
         sample_every: int = 100) -> SoakResult:
    """Run the soak; the caller judges the figures."""
    with plan_directory("soakplan") as directory:
        start = Start(directory, dialect)
        try:
            runs = {node: 1 for node in ("boot", "beta")}
            start.settled()
            began = time.monotonic()
            baseline = start.sample(0, began)
            samples: list[Sample] = []
            roots = 0
            for n in range(1, restarts + 1):
                root = root_every > 0 and n % root_every == 0
                node, target = ("boot", "root.txt") if root else ("beta", "beta.txt")
                roots += root
                if root:
                    runs["beta"] += 1  # the whole tree boots again
                runs[node] += 1
                (directory / target).write_text(f"{n}\n", encoding="utf-8")
                start.settled(node, runs[node])
                if n == warm_up:
                    baseline = start.sample(n, began)
                elif n > warm_up and (n % sample_every == 0 or n == restarts):
                    samples.append(start.sample(n, began))
            seconds = time.monotonic() - began
            if not samples:
                samples.append(start.sample(restarts, began))
        finally:
            start.stop()
    return SoakResult(dialect, restarts, roots, min(warm_up, restarts), seconds, baseline,
                      tuple(samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=10_000)
    parser.add_argument("--root-every", type=int, default=100,
                        help="every Nth edit is of root.txt (0: never)")
    parser.add_argument("--warm-up", type=int, default=50)
    parser.add_argument("--sample-every", type=int, default=500)
    parser.add_argument("--dialect", nargs="+", default=["spec"])
    args = parser.parse_args()
    print(f"zeus-fsm start soak: {os.cpu_count()} CPUs; {args.restarts} restarts, every "
          f"{args.root_every}th of the root")
    for dialect in args.dialect:
        result = soak(args.restarts, dialect=dialect, root_every=args.root_every,
                      warm_up=args.warm_up, sample_every=args.sample_every)
        for line in result.lines():
            print(line)


if __name__ == "__main__":
    main()
