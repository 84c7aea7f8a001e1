"""Which reported files changed: watchfiles (its public `watch`) in one thread, coalesced.

The runtime says which files matter (`watch(paths)`); the watcher watches
their directories, not the files: an editor that saves by writing a new file
and renaming it over the old one replaces the inode a file watch would follow.
Changes to other files in those directories are dropped here.

Coalescing happens twice. watchfiles groups changes until `step_ms` pass with
no new one (at most `debounce_ms`); then every batch not yet taken is merged,
so a restart that is busy while more batches arrive sees them as one set.

The thread owns the watchfiles object; the runtime only calls `watch`, `take`
and `close`, and learns of news through `on_news` (a waker).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Iterable

import watchfiles

#: What watchfiles.watch yields: a set of changes (empty when its wait ran out).
Watch = Generator[set[tuple[watchfiles.Change, str]], None, None]

#: How often the thread looks up from waiting to see whether it must re-watch or stop.
_LOOK_UP_MS = 100


class FileWatcher:
    """Watches the directories of the files it is given; `take()` the changed ones."""

    def __init__(self, on_news: Callable[[], None], *, debounce_ms: int = 300,
                 step_ms: int = 20) -> None:
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._on_news = on_news
        self._lock = threading.Lock()
        self._files: frozenset[bytes] = frozenset()
        self._wanted: frozenset[bytes] = frozenset()  # directories
        self._watching: frozenset[bytes] = frozenset()  # what the thread watches now
        self._changed: set[bytes] = set()
        self._closing = threading.Event()
        self.failure: str | None = None  # why the thread stopped watching, if it did
        self._thread = threading.Thread(target=self._run, name="zeus-fsm-watch", daemon=True)
        self._thread.start()

    # ---- the runtime's side ----------------------------------------------------------

    def watch(self, files: Iterable[bytes]) -> None:
        """Report changes to exactly these files from now on."""
        files = frozenset(files)
        dirs = frozenset(os.path.dirname(path) for path in files)
        with self._lock:
            self._files = files
            self._wanted = dirs

    @property
    def up_to_date(self) -> bool:
        """The thread watches every directory wanted (those that exist)."""
        with self._lock:
            return self._wanted <= self._watching

    def take(self) -> set[bytes]:
        """The watched files that changed since the last take (a merged set)."""
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread (bounded: it looks up every _LOOK_UP_MS)."""
        self._closing.set()
        self._thread.join(timeout)

    # ---- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        watch: Watch | None = None
        try:
            while not self._closing.is_set():
                with self._lock:
                    wanted = self._wanted
                if wanted != self._watching:
                    watch = self._rewatch(watch, wanted)
                if watch is None:  # nothing to watch yet, or the watch could not start
                    self._closing.wait(_LOOK_UP_MS / 1000)
                    continue
                self._deliver(next(watch, set()))
        except Exception as error:  # a watcher that died must say so, not go quiet
            self.failure = f"file watching stopped: {error!r}"
            self._on_news()
        finally:
            if watch is not None:
                watch.close()

    def _start(self, directories: list[bytes]) -> Watch:
        """watchfiles' public generator: it wakes every _LOOK_UP_MS (an empty set) so the
        thread can re-watch or stop, and stops at once when `_closing` is set."""
        return watchfiles.watch(*(os.fsdecode(d) for d in directories), watch_filter=None,
                                debounce=self.debounce_ms, step=self.step_ms,
                                stop_event=self._closing, rust_timeout=_LOOK_UP_MS,
                                yield_on_timeout=True, raise_interrupt=False, debug=False,
                                force_polling=False, recursive=False,
                                ignore_permission_denied=True)

    def _rewatch(self, old: Watch | None, wanted: frozenset[bytes]) -> Watch | None:
        """A watcher for the wanted directories (those that exist); the old one is read
        once more after the new one started, then closed."""
        present = sorted(d for d in wanted if os.path.isdir(d))
        new = None
        if present:
            new = self._start(present)
            try:  # the generator starts watching at its first step
                first = next(new, set())
            except OSError as error:  # a directory went away meanwhile: try again soon
                self.failure = f"cannot watch {len(present)} directories: {error}"
                return old
        self.failure = None
        if old is not None:
            self._deliver(next(old, set()))
            old.close()
        if new is not None:
            self._deliver(first)
        with self._lock:
            # Missing directories count as watched: nothing in them can change unseen
            # until they exist, and a file reported in them would make them exist.
            news, self._watching = wanted != self._watching, wanted
        if news:
            self._on_news()  # `up_to_date` changed
        return new

    def _deliver(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        paths = {os.fsencode(path) for _change, path in changes}
        with self._lock:
            hits = paths & self._files
            self._changed |= hits
        if hits:
            self._on_news()
