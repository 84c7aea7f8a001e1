"""Which files a Python slave's action loaded: the seed's "clever tricks".

Two sources, merged, each path resolved and reported once:

- modules: names new in `sys.modules` since the action began, by `__file__`;
- opened files: an audit hook on "open" (PEP 578) records paths opened for
  reading, data files included.

Audit hooks cannot be removed, so one hook is installed per process and gated
by the live recorder; a forked child swaps in a fresh one (see `FileTracker`).
A reporter thread repeats the diff every few tens of milliseconds, so files
loaded lazily (a thread importing after the result) reach the master too. Its
lock guards only the tracker's own lists, never anything the slave's S loop
needs, and every send it makes is bounded by the caller's `report`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: How often the reporter thread looks for newly loaded files, in seconds.
REPORT_INTERVAL = 0.025
#: The longest path a loaded-files line may carry (dialects.MAX_PATH_LINE).
MAX_PATH = 4_096

#: Pseudo-filesystems: opening /proc/self/... is not loading a file worth watching.
_PSEUDO_ROOTS = ("/proc/", "/sys/", "/dev/")

Report = Callable[[Sequence[bytes]], int]
"""Sends paths in order and returns how many went out (fewer when a bounded send
timed out; the rest are retried). Raises OSError when the channel is gone."""


class _Recorder:
    """Paths opened for reading, appended by the audit hook from any thread."""

    def __init__(self) -> None:
        self.active = False
        self.opened: deque[str | bytes] = deque()


_recorder: _Recorder | None = None
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Runs for every audit event in the process: leave at once unless it matters.
    if event != "open":
        return
    recorder = _recorder
    if recorder is None or not recorder.active:
        return
    try:
        path = _path_opened_for_reading(*args)
    except Exception:  # an exception here would fail the open() being watched
        return
    if path is not None:
        recorder.opened.append(path)


def _path_opened_for_reading(path: Any, mode: str | None, flags: int) -> str | bytes | None:
    if isinstance(path, int):  # open(fd): no path to report
        return None
    if mode is None:  # os.open(): only flags say how
        if flags & os.O_ACCMODE == os.O_WRONLY or flags & (os.O_CREAT | os.O_TRUNC):
            return None
    elif "r" not in mode:
        return None
    raw: str | bytes = os.fspath(path)
    if os.path.isabs(raw):
        return raw
    # Relative to the cwd of this moment, not of the reporter's later look.
    if isinstance(raw, bytes):
        return os.path.join(os.getcwdb(), raw)
    return os.path.join(os.getcwd(), raw)


def _install(recorder: _Recorder) -> None:
    global _recorder, _hook_installed
    _recorder = recorder
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True


def resolve(raw: str | bytes) -> bytes | None:
    """A loaded file as reported: absolute, symlinks resolved, bytes; None if not reportable.

    Not reportable: bytecode caches (the module's source is reported instead),
    pseudo-files, anything that is not an existing regular file, and paths no
    wire format can carry (a newline inside, or longer than a path may be).
    """
    text = os.fsdecode(raw)
    if text.endswith(".pyc") and "/__pycache__/" in text:
        return None
    real = os.path.realpath(text)
    if real.startswith(_PSEUDO_ROOTS) or not os.path.isfile(real):
        return None
    path = os.fsencode(real)
    if b"\n" in path or len(path) >= MAX_PATH:
        return None
    return path


def module_file(module: object) -> str | bytes | None:
    """A module's __file__, read without triggering a lazy module's __getattr__."""
    try:
        namespace = object.__getattribute__(module, "__dict__")
    except Exception:  # sys.modules may hold objects that are not modules
        return None
    file = namespace.get("__file__") if isinstance(namespace, dict) else None
    return file if isinstance(file, str | bytes) else None


def traceback_files(error: BaseException) -> list[str]:
    """The source files named by an error's traceback, its causes and contexts."""
    files: list[str] = []
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        frame = current.__traceback__
        while frame is not None:
            files.append(frame.tb_frame.f_code.co_filename)
            frame = frame.tb_next
        if isinstance(current, SyntaxError) and current.filename:
            files.append(current.filename)  # the file that did not compile is not a frame
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
    return [f for f in files if not f.startswith("<")]  # <frozen ...>, <string>


class FileTracker:
    """Loaded files of one slave process: collects, deduplicates, reports.

    Each slave process has its own: the child reports only what its own action loads.
    A child's may be made by the process that forks it, before the fork (the reference
    slave does, so a child's first step is its socketpair): it records nothing and
    holds no lock until `start_action`, so nothing of it is in use across the fork.
    """

    def __init__(self, report: Report, interval: float = REPORT_INTERVAL) -> None:
        self._report = report
        self._interval = interval
        #: Modules loaded before the action; None until start_action or take_baseline.
        self._known_modules: set[str] | None = None
        self._recorder = _Recorder()
        self._pending: list[bytes] = []  # resolved and new, not yet sent
        self._accepted: set[bytes] = set()  # every path ever pending: each goes out once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Why reporting stopped for good (the channel went away, or report raised).
        self.failure: BaseException | None = None

    # ---- the action ------------------------------------------------------

    def take_baseline(self) -> None:
        """The modules loaded now are not the action's (see `start_action`)."""
        self._known_modules = set(sys.modules)

    def share_baseline(self, parent: FileTracker) -> None:
        """The modules `parent` (this process's tracker) knows are not the action's.

        For a child's tracker made before the fork: the parent's reporter keeps its own
        set current, so no list of sys.modules is made per child (each one writes to
        every module name's page, and after a fork every page of the parent is
        copy-on-write again: ~0.1 ms of page faults per spawn, measured). The set is not
        changed in this process (the child's copy is the child's after the fork); and
        keep_baseline replaces it when it is not current.
        """
        if parent._known_modules is None:
            self.take_baseline()
        else:
            self._known_modules = parent._known_modules

    def keep_baseline(self) -> None:
        """Retake the baseline only if sys.modules changed size since it was taken.

        For a forking parent, right before the fork: listing every module name costs a
        page fault per page of names in a child that has just been forked (copy-on-write),
        ~0.25 ms before its first step (measured), and a parent that has built its
        child's tracker while idle has usually loaded nothing since. A size check can miss
        one module dropped and another loaded in between: then the child reports a module
        its parent loaded, or misses one its parent dropped and it loads again; either
        file is its parent's too, whose restart restarts the child anyway.
        """
        if self._known_modules is None or len(self._known_modules) != len(sys.modules):
            self.take_baseline()

    def start_action(self) -> None:
        """From now on, new modules and files opened for reading count as loaded.

        Modules loaded before count as known: those of `take_baseline`/`keep_baseline`
        if one was taken (by the forking parent), else those loaded now.
        """
        with self._lock:
            if self._known_modules is None:
                self._known_modules = set(sys.modules)
        _install(self._recorder)
        self._recorder.active = True

    def note_traceback(self, error: BaseException) -> None:
        """A failed action: the files in its traceback count as loaded too."""
        with self._lock:
            self._accept(traceback_files(error))

    # ---- reporting ---------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Collect and send everything now; True when nothing is left unsent."""
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            self._collect()
            return self._send_pending()
        finally:
            self._lock.release()

    def start_reporter(self) -> None:
        """Report in the background from now on (lazy loads included)."""
        self._thread = threading.Thread(target=self._run, name="zeus-fsm-files", daemon=True)
        self._thread.start()

    def detach(self) -> None:
        """In a forked process that reports nothing (a command's runner): stop recording.

        The audit hook stays (hooks cannot be removed) but records nothing more, so a
        long-running command does not collect paths for ever.
        """
        self._recorder.active = False
        self._recorder.opened.clear()

    def stop(self, timeout: float) -> None:
        """Stop recording and the reporter thread; a last flush() may follow."""
        self._recorder.active = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        first = True
        while True:
            with self._lock:
                # The first look comes right after R: a full one (copying sys.modules)
                # would compete for the CPU with the master handling R (~0.35 ms of a
                # spawn on 2 busy cores, measured; in a process just forked every module
                # touched is a page fault). When sys.modules kept its size and nothing was
                # opened, nothing is new, or the next look (a full one) finds it.
                self._collect(quick=first)
                first = False
                self._send_pending()
            if self.failure is not None or self._stop.wait(self._interval):
                return

    # ---- under the lock ------------------------------------------------------

    def _collect(self, quick: bool = False) -> None:
        if (quick and not self._recorder.opened and self._known_modules is not None
                and len(sys.modules) == len(self._known_modules)):
            return
        modules = sys.modules.copy()  # one C-level copy: safe while other threads import
        if self._known_modules is None:  # reporting without an action: nothing is its
            self._known_modules = set(modules)
        new = modules.keys() - self._known_modules
        self._known_modules.update(new)
        found: list[str | bytes | None] = [module_file(module) for name, module
                                           in modules.items() if name in new]
        opened = self._recorder.opened
        while opened:
            found.append(opened.popleft())
        self._accept(found)

    def _accept(self, candidates: Iterable[str | bytes | None]) -> None:
        for raw in candidates:
            path = resolve(raw) if raw is not None else None
            if path is not None and path not in self._accepted:
                self._accepted.add(path)
                self._pending.append(path)

    def _send_pending(self) -> bool:
        if not self._pending:
            return True
        if self.failure is not None:
            return False
        try:
            sent = self._report(self._pending)
        except Exception as error:  # the channel is gone (OSError) or the machine refused
            self.failure = error
            return False
        del self._pending[:sent]
        return not self._pending
