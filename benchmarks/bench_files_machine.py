"""Cost per loaded-file path: bare decoding vs decoding plus the handshake machine.

Run: .venv/bin/python -m benchmarks.bench_files_machine [--paths N] [--repeat R]

(a) bare: the decoder alone over realistic paths, as a master would read them: the zeus
    pipe in reads of up to 64 KiB, the spec channel one F datagram per path.
(b) machine: the same, plus every decoded batch fed to a Handshake that is registered and
    has its loaded-files region open (one event per batch, never one per file).
The ratio b/a is the price of judging every batch with the machine; the target is <= 1.5x.
Timings are medians of several runs (time.perf_counter); nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from zeus_fsm.protocol.dialects import SPEC_DIALECT, ZEUS_DIALECT, Dialect
from zeus_fsm.protocol.errors import Role
from zeus_fsm.protocol.events import FdKind, PipePassed, SocketPassed
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import ActionResult, LoadedFiles, PidIdentifier

TARGET = 1.5
#: What one read of a pipe returns at most (the default pipe capacity on Linux).
PIPE_READ = 65_536
#: Datagrams a spec master can drain per wake-up and feed to the machine as one batch:
#: Linux queues at most net.unix.max_dgram_qlen (default 10) datagrams on a unix socket.
SPEC_BURST = 10
#: A spec master may also gather F datagrams across wake-ups (flushing before any other
#: message) so that one event carries more paths.
SPEC_GATHERED = 256

_GEMS = (b"activesupport-7.1.3", b"actionpack-7.1.3", b"rack-3.0.9", b"nokogiri-1.16.2",
         b"zeitwerk-2.6.13", b"concurrent-ruby-1.2.3", b"i18n-1.14.1", b"tzinfo-2.0.6")
_DIRS = (b"core_ext/object", b"core_ext/string", b"dependencies", b"notifications",
         b"cache/strategy", b"log_subscriber", b"html/sanitizer", b"")


def realistic_paths(count: int) -> list[bytes]:
    """Paths shaped like a Rails app's loaded gems (70 to 130 bytes), one not UTF-8."""
    out = []
    for i in range(count):
        gem = _GEMS[i % len(_GEMS)]
        sub = _DIRS[(i // len(_GEMS)) % len(_DIRS)]
        name = gem.split(b"-")[0]
        out.append(b"/home/deploy/.rbenv/versions/3.3.0/lib/ruby/gems/3.3.0/gems/%s/lib/%s/%s/"
                   b"file_%05d.rb" % (gem, name, sub, i))
    out[count // 2] = b"/srv/app/lib/caf\xe9_legacy.rb"  # Linux paths need not be UTF-8
    return out


def pipe_reads(paths: Sequence[bytes]) -> list[bytes]:
    """The zeus pipe's bytes cut into full reads, lines split across read boundaries."""
    stream = b"".join(p + b"\n" for p in paths)
    return [stream[i:i + PIPE_READ] for i in range(0, len(stream), PIPE_READ)]


def open_files_region(dialect: Dialect) -> Handshake:
    """A Handshake of a registered, connected slave: state up (connected, files open)."""
    pid = 4605
    machine = Handshake(dialect, Expectation(pid=pid))
    zeus = dialect.files_on_pipe
    machine.handle(SocketPassed((FdKind.UNIX_STREAM if zeus else FdKind.UNIX_DGRAM,),
                                peer_pid=pid))
    machine.handle(PidIdentifier(pid, dialect.root_identifier, 0 if zeus else None))
    if zeus:
        machine.handle(PipePassed((FdKind.FIFO,)))
    machine.handle(ActionResult())
    assert machine.files_open and machine.phase == "connected"
    return machine


def zeus_pipe(reads: Sequence[bytes], machine: Handshake | None) -> int:
    decoder = ZEUS_DIALECT.pipe_decoder()
    count = 0
    for data in reads:
        batch = decoder.feed(data)
        if batch is not None:
            count += len(batch.paths)
            if machine is not None:
                machine.handle(batch)
    decoder.close()
    return count


def spec_datagrams(datagrams: Sequence[bytes], machine: Handshake | None, burst: int) -> int:
    """Decode F datagrams; with a machine, feed it one LoadedFiles per burst of datagrams."""
    decoder = SPEC_DIALECT.channel_decoder(Role.SLAVE)
    count = 0
    for start in range(0, len(datagrams), burst):
        found: list[bytes] = []
        for data in datagrams[start:start + burst]:
            for message in decoder.feed(data):
                assert isinstance(message, LoadedFiles)
                found.extend(message.paths)
        count += len(found)
        if machine is not None:  # merging re-validates the paths: part of the machine's price
            machine.handle(LoadedFiles(found))
    return count


def compare(bare: Callable[[], int], judged: Callable[[], int], paths: int,
            repeat: int) -> tuple[float, float]:
    """Median ns/path of each; runs alternate so a change in machine load hits both alike."""
    timings: dict[Callable[[], int], list[float]] = {bare: [], judged: []}
    for round_ in range(repeat + 1):
        for run in (bare, judged):
            started = time.perf_counter()
            seen = run()
            elapsed = time.perf_counter() - started
            if seen != paths:
                raise RuntimeError(f"decoded {seen} paths, expected {paths}")
            if round_:  # the first round warms caches up
                timings[run].append(elapsed)
    return (statistics.median(timings[bare]) / paths * 1e9,
            statistics.median(timings[judged]) / paths * 1e9)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    paths = realistic_paths(args.paths)
    reads = pipe_reads(paths)
    datagrams = [SPEC_DIALECT.encode(LoadedFiles((p,))) for p in paths]
    zeus_machine, spec_machine = open_files_region(ZEUS_DIALECT), open_files_region(SPEC_DIALECT)

    rows: list[tuple[str, str, float, float]] = []
    for label, per_event, bare, judged in (
        ("zeus pipe, 64 KiB reads", f"~{args.paths // len(reads)}",
         lambda: zeus_pipe(reads, None), lambda: zeus_pipe(reads, zeus_machine)),
        (f"spec F datagrams, {SPEC_BURST}/burst", str(SPEC_BURST),
         lambda: spec_datagrams(datagrams, None, SPEC_BURST),
         lambda: spec_datagrams(datagrams, spec_machine, SPEC_BURST)),
        (f"spec F datagrams, {SPEC_GATHERED} gathered", str(SPEC_GATHERED),
         lambda: spec_datagrams(datagrams, None, SPEC_GATHERED),
         lambda: spec_datagrams(datagrams, spec_machine, SPEC_GATHERED)),
        ("spec F datagrams, unbatched", "1",
         lambda: spec_datagrams(datagrams, None, 1),
         lambda: spec_datagrams(datagrams, spec_machine, 1)),
    ):
        a, b = compare(bare, judged, args.paths, args.repeat)
        rows.append((label, per_event, a, b))

    print(f"{args.paths} paths, median of {args.repeat} runs; target b/a <= {TARGET}x\n")
    print(f"{'channel':<32} {'paths/event':>11} {'(a) bare':>12} {'(b) +machine':>13} "
          f"{'b/a':>6}")
    for label, per_event, a, b in rows:
        verdict = "" if per_event == "1" else ("  ok" if b / a <= TARGET else "  OVER")
        print(f"{label:<32} {per_event:>11} {a:>9.0f} ns {b:>10.0f} ns {b / a:>5.2f}x{verdict}")
    print(f"\nspec {SPEC_BURST}/burst: all a unix datagram queue holds per wake-up;"
          f" {SPEC_GATHERED} gathered: F datagrams collected across wake-ups;"
          "\nunbatched: one machine event per path, shown for contrast.")


if __name__ == "__main__":
    main()
