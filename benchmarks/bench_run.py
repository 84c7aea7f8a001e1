"""What a preloader is for: `zeus-fsm run` against a cold start of the same command.

    .venv/bin/python -m benchmarks.bench_run [--runs 30]

Writes a plan whose boot action imports a realistically heavy set of modules (what a
test run of a mid-sized Python project loads: the standard library's network, data
and concurrency modules, rich, click, attrs, pytest and hypothesis), and a command
`first` that prints one line. In one run, medians of --runs each:

- cold:  `python -c "import <the set>; print('ready')"`, spawn to its first output;
- run:   `zeus-fsm run first` against a running `zeus-fsm start`, spawn to the
         command's first output (the client's own start-up included);
- and, when ZEUSREF names the real Zeus (../shared/zeusref): the real Go client and
  master with the real Ruby shim, `zeus zcheck argv x` (a no-op command printing
  `x`), spawn to first output; against `zeus-fsm run zcheck argv x` through
  `zeus-fsm start` in the same run.

The ratio cold / run is the preloader's value (target: at least 5x); run / real
Zeus should stay within 1.5x. Nothing here asserts a duration; it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HEAVY = ("email.mime.multipart", "http.client", "json", "decimal", "asyncio",
         "xml.etree.ElementTree", "sqlite3", "ssl", "urllib.request", "logging.handlers",
         "unittest", "multiprocessing", "concurrent.futures", "csv", "zipfile", "tarfile",
         "rich.console", "rich.table", "click", "attrs", "pytest", "hypothesis",
         "hypothesis.strategies")
PLAN = textwrap.dedent(f'''
    import sys

    class Plan:
        def boot(self):
            import {", ".join(HEAVY)}

        def first(self):
            print("ready", flush=True)

        def zcheck(self):
            from zeus_fsm.examples.zcheck import main
            return main()
''')
# A string command, as Zeus writes it: the real client reads this file too.
CONFIG = {"command": "{python} -m zeus_fsm.slave --plan bplan:Plan --dialect zeus",
          "plan": {"boot": {"first": [], "zcheck": []}}}
WAIT = 30.0


def first_output(command: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds from spawning `command` to its first byte on stdout (then it is reaped);
    an output other than the command's own is an error, never a figure."""
    began = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], WAIT)
    took = time.perf_counter() - began
    if not ready or not process.stdout.read(1):
        process.kill()
        process.wait(WAIT)
        raise SystemExit(f"no output from {' '.join(command)} within {WAIT:g} s")
    rest = process.stdout.read()
    process.wait(WAIT)
    if (command[-1] == "x" and not rest.startswith(b"\0")) or process.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: status {process.returncode}, output "
                         f"{rest[:200]!r}: not the command's")
    return took


def median_of(runs: int, command: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    first_output(command, cwd, env)  # warm-up: page cache, lazy imports of the client
    return statistics.median(first_output(command, cwd, env) for _ in range(runs))


@contextmanager
def zeus_fsm_start(folder: Path, env: dict[str, str]) -> Iterator[None]:
    start = subprocess.Popen([sys.executable, "-m", "zeus_fsm", "start", "zeus.json",
                              "--dialect", "zeus", "--json-status"], cwd=folder, env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert start.stdout is not None
        end = time.monotonic() + WAIT
        for line in start.stdout:
            event = json.loads(line)
            if event["event"] == "settled" and all(
                    row["state"] == "connected" for row in event["nodes"]):
                break
            if time.monotonic() > end:
                raise SystemExit("zeus-fsm start did not settle")
        yield
    finally:
        start.terminate()
        start.wait(WAIT)


def real_zeus_figures(runs: int, ours: list[str], env: dict[str, str],
                      ours_folder: Path) -> tuple[float, float, float] | None:
    """Medians of the same no-op command: the real client and master with the Ruby shim,
    ours end to end, and the real client through our master and slave (which splits our
    time into the client's and the master and slave's); `env` points at our socket."""
    root = os.environ.get("ZEUSREF", "")
    if not root or not Path(root, "bin", "zeus").exists():
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "interop"))
    from real_zeus import real_master, ruby_shim_command

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "app"
        config = {"command": " ".join(ruby_shim_command()),
                  "plan": {"boot": {"zcheck": []}}}
        theirs = {k: v for k, v in env.items() if k != "ZEUSSOCK"}  # .zeus.sock by Gemfile
        with real_master(folder, config):
            real = median_of(runs, [str(Path(root, "bin", "zeus")), "zcheck", "argv", "x"],
                             folder, theirs)
    ours_time = median_of(runs, [*ours, "zcheck", "argv", "x"], ours_folder, env)
    mixed = median_of(runs, [str(Path(root, "bin", "zeus")), "zcheck", "argv", "x"],
                      ours_folder, env)
    return real, ours_time, mixed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    client = Path(sys.executable).with_name("zeus-fsm")
    ours = [str(client), "run"] if client.exists() else [sys.executable, "-m", "zeus_fsm",
                                                          "run"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bplan.py").write_text(PLAN, encoding="utf-8")
        (folder / "zeus.json").write_text(json.dumps(CONFIG), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(folder),
               "ZEUSSOCK": str(folder / ".zeus.sock")}
        cold_code = f"import {', '.join(HEAVY)}; print('ready', flush=True)"
        with zeus_fsm_start(folder, env):
            cold = median_of(args.runs, [sys.executable, "-c", cold_code], folder, env)
            run = median_of(args.runs, [*ours, "first"], folder, env)
            real = real_zeus_figures(args.runs, ours, env, folder)
    load = os.getloadavg()[0]
    print(f"medians of {args.runs}, load average {load:.1f} (2 cores)")
    print(f"  cold python with the imports:      {cold * 1000:7.1f} ms")
    print(f"  zeus-fsm run (preloaded):          {run * 1000:7.1f} ms   "
          f"cold / run = {cold / run:.1f}x (target >= 5x)")
    if real is None:
        print("  real Zeus: set ZEUSREF to compare (../shared/zeusref/README.md)")
    else:
        real_time, ours_time, mixed = real
        print(f"  real zeus client + Ruby shim:      {real_time * 1000:7.1f} ms   "
              "(zcheck argv x)")
        print(f"  zeus-fsm run, same command:        {ours_time * 1000:7.1f} ms   "
              f"ours / real = {ours_time / real_time:.2f}x (target <= 1.5x)")
        print(f"  real zeus client, our master+slave:{mixed * 1000:7.1f} ms   "
              f"= {mixed / real_time:.2f}x real (the rest of ours is the Python client)")


if __name__ == "__main__":
    main()
