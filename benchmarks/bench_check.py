"""How long `zeus-fsm check` takes against the bundled reference slave.

    .venv/bin/python -m benchmarks.bench_check [--repeat 3] [--jobs 1 4]

Runs the whole suite, as a user would (`python -m zeus_fsm check --dialect D`,
a fresh interpreter each time), for both dialects and each --jobs value, and
prints the median wall-clock seconds of --repeat runs. It also splits one run's
time per case (from the JSON report), so a slow case stands out. Every run must
end in `N passed, 0 failed`; a failing run stops the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(dialect: str, jobs: int, report: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "zeus_fsm", "check", "--dialect", dialect,
                           "--jobs", str(jobs), "--json", str(report)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    elapsed = time.monotonic() - started
    last = done.stdout.rstrip("\n").splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not last.endswith(" passed, 0 failed"):
        sys.exit(f"check --dialect {dialect} failed (exit {done.returncode}):\n"
                 f"{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+",
                        default=[1, min(4, os.cpu_count() or 1)])
    args = parser.parse_args()
    print(f"zeus-fsm check against the reference slave; {os.cpu_count()} CPUs; "
          f"median of {args.repeat} runs")
    slowest: dict[str, list[tuple[float, str]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        for jobs in dict.fromkeys(args.jobs):
            for dialect in ("spec", "zeus"):
                times = [one_run(dialect, jobs, report) for _ in range(args.repeat)]
                cases = json.loads(report.read_text(encoding="utf-8"))["cases"]
                print(f"  {dialect:4}  --jobs {jobs}:  {statistics.median(times):6.2f} s "
                      f"(min {min(times):.2f}, max {max(times):.2f}) for {len(cases)} cases, "
                      f"sum of case times {sum(c['seconds'] for c in cases):.2f} s")
                slowest[dialect] = sorted(((c["seconds"], c["id"]) for c in cases),
                                          reverse=True)[:3]
    for dialect, top in slowest.items():
        shown = ", ".join(f"{case} {seconds:.2f} s" for seconds, case in top)
        print(f"  slowest cases ({dialect}, last run): {shown}")


if __name__ == "__main__":
    main()
