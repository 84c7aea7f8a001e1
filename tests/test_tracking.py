"""Loaded-file tracking in-process: what counts as loaded, resolved how, reported once."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from zeus_fsm.slave.tracking import FileTracker, module_file, resolve, traceback_files


class Sink:
    """A report callback that records what it was given; can time out or fail on demand."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.accept_at_most: int | None = None
        self.error: OSError | None = None

    def __call__(self, paths: Sequence[bytes]) -> int:
        if self.error is not None:
            raise self.error
        count = len(paths) if self.accept_at_most is None else min(self.accept_at_most,
                                                                     len(paths))
        self.sent.extend(paths[:count])
        return count


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def tracker(sink: Sink) -> Iterator[FileTracker]:
    made = FileTracker(sink, interval=0.01)
    try:
        yield made
    finally:
        made.stop(2.0)  # the audit hook stays installed in this process: stop recording


def real(path: Path) -> bytes:
    return os.fsencode(os.path.realpath(path))


def fresh_module(directory: Path, name: str, body: str = "VALUE = 1\n") -> Path:
    path = directory / f"{name}.py"
    path.write_text(body)
    return path


@pytest.fixture
def import_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("zeus_fsm_tracking_probe"):
            del sys.modules[name]


def test_module_imported_during_the_action_is_reported(
        tracker: FileTracker, sink: Sink, import_dir: Path) -> None:
    before = fresh_module(import_dir, "zeus_fsm_tracking_probe_before")
    during = fresh_module(import_dir, "zeus_fsm_tracking_probe_during")
    importlib.import_module("zeus_fsm_tracking_probe_before")

    tracker.start_action()
    importlib.import_module("zeus_fsm_tracking_probe_during")
    assert tracker.flush(2.0)

    assert real(during) in sink.sent
    assert real(before) not in sink.sent


def test_files_opened_for_reading_count_and_written_ones_do_not(
        tracker: FileTracker, sink: Sink, tmp_path: Path) -> None:
    read, written, low_level = tmp_path / "read.txt", tmp_path / "written.txt", tmp_path / "os.txt"
    read.write_text("r")
    low_level.write_text("o")

    tracker.start_action()
    read.read_text()
    written.write_text("w")
    os.close(os.open(low_level, os.O_RDONLY))
    assert tracker.flush(2.0)

    assert real(read) in sink.sent and real(low_level) in sink.sent
    assert real(written) not in sink.sent


def test_nothing_opened_before_the_action_counts(
        tracker: FileTracker, sink: Sink, tmp_path: Path) -> None:
    early = tmp_path / "early.txt"
    early.write_text("e")
    early.read_text()

    tracker.start_action()
    assert tracker.flush(2.0)

    assert real(early) not in sink.sent


def test_each_path_is_reported_once(tracker: FileTracker, sink: Sink, tmp_path: Path) -> None:
    data = tmp_path / "twice.txt"
    data.write_text("x")
    tracker.start_action()
    data.read_text()
    tracker.flush(2.0)
    data.read_text()
    (tmp_path / "link.txt").symlink_to(data)
    (tmp_path / "link.txt").read_text()  # the same file by another name
    tracker.flush(2.0)

    assert sink.sent.count(real(data)) == 1
    assert len(sink.sent) == len(set(sink.sent))


def test_relative_path_resolves_against_the_cwd_when_it_was_opened(
        tracker: FileTracker, sink: Sink, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here.txt").write_text("h")
    monkeypatch.chdir(tmp_path)
    tracker.start_action()
    Path("here.txt").read_text()
    monkeypatch.chdir("/")
    tracker.flush(2.0)

    assert real(tmp_path / "here.txt") in sink.sent


def test_a_non_utf8_path_is_reported_as_its_bytes(
        tracker: FileTracker, sink: Sink, tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    os.close(os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644))
    tracker.start_action()
    with open(raw, "rb"):
        pass
    tracker.flush(2.0)

    assert os.fsencode(os.path.realpath(tmp_path)) + b"/caf\xe9.txt" in sink.sent


def test_what_resolve_will_not_report(tmp_path: Path) -> None:
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "mod.cpython-311.pyc").write_bytes(b"\0")
    newline = tmp_path / "new\nline.txt"
    newline.write_text("n")
    plain = tmp_path / "plain.txt"
    plain.write_text("p")

    assert resolve(str(cache / "mod.cpython-311.pyc")) is None  # its source is reported
    assert resolve("/proc/self/status") is None
    assert resolve(str(tmp_path / "missing.txt")) is None
    assert resolve(str(tmp_path)) is None  # a directory is not a loaded file
    assert resolve(str(newline)) is None  # no wire format can carry it
    assert resolve(str(plain)) == real(plain)


def test_a_report_that_times_out_keeps_the_rest_for_later(
        tracker: FileTracker, sink: Sink, tmp_path: Path) -> None:
    files = [tmp_path / f"f{i}.txt" for i in range(3)]
    for path in files:
        path.write_text("x")
    tracker.start_action()
    for path in files:
        path.read_text()
    sink.accept_at_most = 1

    assert tracker.flush(2.0) is False
    assert tracker.pending == 2
    sink.accept_at_most = None
    assert tracker.flush(2.0) is True

    assert sink.sent == [real(path) for path in files]


def test_a_dead_channel_stops_reporting_without_raising(
        tracker: FileTracker, sink: Sink, tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    tracker.start_action()
    (tmp_path / "x.txt").read_text()
    sink.error = BrokenPipeError(32, "Broken pipe")

    assert tracker.flush(2.0) is False
    assert isinstance(tracker.failure, BrokenPipeError)


def test_the_reporter_thread_reports_a_lazy_import(
        tracker: FileTracker, sink: Sink, import_dir: Path) -> None:
    lazy = fresh_module(import_dir, "zeus_fsm_tracking_probe_lazy")
    tracker.start_action()
    tracker.start_reporter()

    def later() -> None:
        time.sleep(0.05)
        importlib.import_module("zeus_fsm_tracking_probe_lazy")

    thread = threading.Thread(target=later)
    thread.start()
    thread.join(5)
    deadline = time.monotonic() + 5
    while real(lazy) not in sink.sent and time.monotonic() < deadline:
        time.sleep(0.01)

    assert real(lazy) in sink.sent


def test_traceback_files_follow_frames_causes_and_syntax_errors(import_dir: Path) -> None:
    fresh_module(import_dir, "zeus_fsm_tracking_probe_raiser",
                 "def boom():\n    raise KeyError('inner')\n")
    broken = fresh_module(import_dir, "zeus_fsm_tracking_probe_broken", "def (:\n")
    raiser = importlib.import_module("zeus_fsm_tracking_probe_raiser")
    try:
        try:
            raiser.boom()
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as error:
        chained = error
    try:
        importlib.import_module("zeus_fsm_tracking_probe_broken")
    except SyntaxError as error:
        syntax = error

    assert raiser.__file__ in traceback_files(chained)
    assert __file__ in traceback_files(chained)
    assert str(broken) in traceback_files(syntax)
    assert not any(name.startswith("<") for name in traceback_files(syntax))


def test_module_file_does_not_call_a_lazy_modules_getattr() -> None:
    calls: list[str] = []
    lazy = types.ModuleType("lazy_probe")

    def module_getattr(name: str) -> object:
        calls.append(name)
        raise AttributeError(name)

    lazy.__getattr__ = module_getattr  # type: ignore[method-assign]
    with_file = types.ModuleType("with_file")
    with_file.__file__ = "/somewhere/with_file.py"

    assert module_file(lazy) is None
    assert module_file(with_file) == "/somewhere/with_file.py"
    assert module_file(object()) is None
    assert calls == []
