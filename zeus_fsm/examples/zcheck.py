"""`zcheck`: the command a plan provides for the checker's command cases (zeus dialect).

Small enough to write in any language. Its first argument picks one behaviour;
it writes nothing else to stdout or stderr, raw bytes, flushed before it exits:

    exit N        nothing; exit status N (decimal, 0 to 255)
    argv A...     each argument after `argv`, each followed by one NUL, on stdout; 0
    stderr TEXT   TEXT exactly on stderr (no newline added); 0
    cat           stdin copied to stdout until end of file; 0
    sleep S       nothing; 0 after S seconds (decimal, fractions allowed)
    kill N        sends itself signal N (if it survives, exits 0 after 5 s)
    ids           "<pid> <ppid> <pgid> <sid>\\n" on stdout; 0
    anything else, or missing or malformed arguments:
                  one line on stderr starting "zcheck: "; exit status 2

Arguments are bytes: compared as bytes, never decoded (a Linux argument need not
be UTF-8). In Python they arrive in sys.argv as text with surrogate escapes, and
os.fsencode gives the bytes back.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

#: What a malformed call exits with.
EXIT_USAGE = 2
#: How long `kill N` waits when the signal did not end it.
KILL_GRACE = 5.0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def zcheck(argv: Sequence[bytes]) -> int:
    """Run one behaviour; return the exit status (a signal may end the process first)."""
    op, rest = (argv[0], list(argv[1:])) if argv else (None, [])
    try:
        if op == b"exit":
            code = int(rest[0], 10)
            if not 0 <= code <= 255:
                raise ValueError(f"exit status {code} is not from 0 to 255")
            return code
        if op == b"argv":
            _write_all(1, b"".join(arg + b"\0" for arg in rest))
            return 0
        if op == b"stderr":
            _write_all(2, rest[0])
            return 0
        if op == b"cat":
            while chunk := os.read(0, 65_536):
                _write_all(1, chunk)
            return 0
        if op == b"sleep":
            time.sleep(float(rest[0]))
            return 0
        if op == b"kill":
            os.kill(os.getpid(), int(rest[0], 10))
            time.sleep(KILL_GRACE)
            return 0
        if op == b"ids":
            ids = (os.getpid(), os.getppid(), os.getpgrp(), os.getsid(0))
            _write_all(1, " ".join(map(str, ids)).encode() + b"\n")
            return 0
    except (IndexError, ValueError, OverflowError) as error:
        _write_all(2, f"zcheck: bad arguments for {op!r}: {error}\n".encode(
            "utf-8", "backslashreplace"))
        return EXIT_USAGE
    _write_all(2, f"zcheck: unknown behaviour {op!r}\n".encode("utf-8", "backslashreplace"))
    return EXIT_USAGE


def main() -> int:
    """zcheck with this process's arguments (sys.argv[1:], back to their bytes)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing of the plan's may follow the raw bytes written below
    return zcheck([os.fsencode(arg) for arg in sys.argv[1:]])
