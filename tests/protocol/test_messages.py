"""Messages: a message object that exists is valid; validators cite the rule they enforce."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeus_fsm.protocol.messages import (
    PID_MAX,
    ActionResult,
    FieldError,
    LoadedFiles,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
    check_path,
    to_json,
)

IDENTIFIER_CHARS = st.characters(codec="utf-8", exclude_characters="\0\n")


def rejected(requirement: str, build: Any, *args: Any, **kwargs: Any) -> FieldError:
    with pytest.raises(FieldError) as caught:
        build(*args, **kwargs)
    assert caught.value.requirement == requirement
    assert str(caught.value) == caught.value.reason
    return caught.value


@given(pid=st.integers(1, PID_MAX), identifier=st.text(IDENTIFIER_CHARS),
       parent=st.none() | st.just(0) | st.integers(1, PID_MAX))
def test_valid_pid_identifier_builds(pid: int, identifier: str, parent: int | None) -> None:
    message = PidIdentifier(pid, identifier, parent)
    assert (message.pid, message.identifier, message.parent_pid) == (pid, identifier, parent)


@given(st.integers(max_value=0) | st.integers(min_value=PID_MAX + 1))
def test_pid_out_of_kernel_range_is_refused(pid: int) -> None:
    rejected("FRAME-4", PidIdentifier, pid, "x")


@pytest.mark.parametrize("pid", [True, 1.0, "1", None])
def test_pid_must_be_an_int(pid: Any) -> None:
    rejected("FRAME-4", PidIdentifier, pid, "x")


@pytest.mark.parametrize("parent", [-1, PID_MAX + 1, False])
def test_parent_pid_out_of_range_is_refused(parent: Any) -> None:
    rejected("FRAME-4", PidIdentifier, 5, "x", parent)


@pytest.mark.parametrize("identifier", ["a\0b", "a\nb", "\n", b"boot", None])
def test_bad_identifier_is_refused(identifier: Any) -> None:
    rejected("FRAME-5", PidIdentifier, 5, identifier)
    rejected("FRAME-5", SpawnSlave, identifier)
    rejected("FRAME-5", SpawnCommand, identifier)


def test_child_identifier_is_not_empty_but_p_may_be_blank() -> None:
    rejected("FRAME-5", SpawnSlave, "")
    rejected("FRAME-5", SpawnCommand, "")
    assert PidIdentifier(5, "").identifier == ""


@pytest.mark.parametrize("text", ["", "OK", b"boom"])
def test_bad_error_text_is_refused(text: Any) -> None:
    rejected("RESULT-3", ActionResult, text)


def test_result_ok_and_error() -> None:
    assert ActionResult().ok
    failed = ActionResult("ok")  # only exactly OK is success
    assert not failed.ok
    assert failed.error == "ok"


@pytest.mark.parametrize("path", [b"", b"rel/a.rb", b"/a\0b", b"/a\nb", "/str/path"])
def test_bad_path_is_refused(path: Any) -> None:
    rejected("FILES-1", LoadedFiles, (b"/good.rb", path))


def test_empty_batch_is_refused() -> None:
    rejected("FILES-1", LoadedFiles, ())


def test_check_path_names_the_fault() -> None:
    assert "not absolute" in rejected("FILES-1", check_path, b"a.rb").reason
    assert "NUL or newline" in rejected("FILES-1", check_path, b"/a\n").reason
    check_path(b"/\xff\xfe.rb")  # bytes, need not be UTF-8


@given(st.lists(st.binary().map(lambda b: b"/" + b.replace(b"\0", b"").replace(b"\n", b"")),
                min_size=1))
def test_any_absolute_clean_paths_build_a_batch(paths: list[bytes]) -> None:
    batch = LoadedFiles(paths)  # a list is converted
    assert batch.paths == tuple(paths)
    assert LoadedFiles.of(paths) == batch


def test_messages_are_frozen() -> None:
    message = SpawnSlave("child")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.identifier = "other"  # type: ignore[misc]
    assert attrs.evolve(message, identifier="other").identifier == "other"
    with pytest.raises(FieldError):
        attrs.evolve(message, identifier="")


def test_to_json_of_every_message_type() -> None:
    assert to_json(PidIdentifier(12, "boot", 0)) == {
        "type": "pid", "pid": 12, "parent_pid": 0, "identifier": "boot"}
    assert to_json(PidIdentifier(12, "")) == {"type": "pid", "pid": 12, "identifier": ""}
    assert to_json(ActionResult()) == {"type": "result", "ok": True, "error": None}
    assert to_json(ActionResult("E\n")) == {"type": "result", "ok": False, "error": "E\n"}
    assert to_json(LoadedFiles((b"/a", b"/caf\xe9"))) == {
        "type": "files", "paths": ["/a", "/caf\udce9"]}
    assert to_json(SpawnSlave("c")) == {"type": "spawn", "identifier": "c"}
    assert to_json(SpawnCommand("c")) == {"type": "command", "identifier": "c"}


@given(st.binary(min_size=1).map(lambda b: b"/" + b.replace(b"\0", b"").replace(b"\n", b"")))
def test_to_json_keeps_non_utf8_paths_lossless(path: bytes) -> None:
    shown = to_json(LoadedFiles((path,)))["paths"]
    assert isinstance(shown, list)
    assert shown[0].encode("utf-8", "surrogateescape") == path
