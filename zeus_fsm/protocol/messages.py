"""The handshake's messages as frozen attrs classes.

A message object that exists is valid: every field is checked at
construction, so decoders build messages and let the validators judge.
Validators raise ValueError; decoders turn that into a MalformedMessage that
names the sender and the requirement (see dialects.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

#: Linux's PID_MAX_LIMIT: no pid can be larger (kernel/pid.c, 64-bit).
PID_MAX = 4_194_304


class FieldError(ValueError):
    """A field value breaks a rule; carries the requirement ID it breaks."""

    def __init__(self, requirement: str, reason: str) -> None:
        self.requirement = requirement
        self.reason = reason
        super().__init__(reason)


def _pid(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 1 <= value <= PID_MAX:
        raise FieldError("FRAME-4", f"{attribute.name} {value!r} is not a pid from 1 to {PID_MAX}")


def _parent_pid(_inst: Any, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None or (type(value) is int and value == 0):  # not False: bool is an int
        return
    _pid(_inst, attribute, value)  # type: ignore[arg-type]


def _identifier(_inst: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise FieldError("FRAME-5", f"{attribute.name} must be text, got {type(value).__name__}")
    if "\0" in value or "\n" in value:
        raise FieldError("FRAME-5", f"{attribute.name} {value!r} contains NUL or newline")


def _child_identifier(inst: Any, attribute: attrs.Attribute[str], value: str) -> None:
    _identifier(inst, attribute, value)
    if not value:
        raise FieldError("FRAME-5", f"{attribute.name} must not be empty")


def check_path(path: bytes) -> None:
    """The rule for one loaded-file path (FILES-1)."""
    if not path.startswith(b"/"):
        raise FieldError("FILES-1", f"path {path!r} is not absolute")
    if b"\0" in path or b"\n" in path:
        raise FieldError("FILES-1", f"path {path!r} contains NUL or newline")


def _paths(_inst: Any, _attribute: attrs.Attribute[tuple[bytes, ...]],
           value: tuple[bytes, ...]) -> None:
    if not value:
        raise FieldError("FILES-1", "a Loaded Files message carries at least one path")
    for path in value:  # hot path: one pass, no calls for a good path
        if type(path) is not bytes or path[:1] != b"/" or b"\0" in path or b"\n" in path:
            if type(path) is not bytes:
                raise FieldError("FILES-1", f"path {path!r} is not bytes")
            check_path(path)


def _as_tuple(value: Iterable[bytes]) -> tuple[bytes, ...]:
    return value if type(value) is tuple else tuple(value)


def _error_text(_inst: Any, _attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise FieldError("RESULT-3", "an error result carries a non-empty error text")
    if value == "OK":
        raise FieldError("RESULT-3", "error text 'OK' is indistinguishable from success")


@attrs.frozen
class PidIdentifier:
    """P: the first message on a slave's own socket."""

    pid: int = attrs.field(validator=_pid)
    identifier: str = attrs.field(validator=_identifier)
    #: zeus only: 0 for the root, the forking slave's pid for a child.
    parent_pid: int | None = attrs.field(default=None, validator=_parent_pid)


@attrs.frozen
class ActionResult:
    """R: OK (error is None) or the error text of a failed action."""

    error: str | None = attrs.field(default=None, validator=_error_text)

    @property
    def ok(self) -> bool:
        return self.error is None


@attrs.frozen
class LoadedFiles:
    """One or more loaded-file paths (F datagrams in spec, pipe lines in zeus).

    Paths are bytes because Linux paths need not be UTF-8. One message carries
    a batch so the machine sees one event per read, not one per file.
    """

    paths: tuple[bytes, ...] = attrs.field(converter=_as_tuple, validator=_paths)

    @classmethod
    def of(cls, paths: Sequence[bytes]) -> LoadedFiles:
        return cls(tuple(paths))


@attrs.frozen
class SpawnSlave:
    """S: master asks a connected slave to fork a child booting `identifier`."""

    identifier: str = attrs.field(validator=_child_identifier)


@attrs.frozen
class SpawnCommand:
    """C: master asks for a command process (outside the seed; parsed, not implemented)."""

    identifier: str = attrs.field(validator=_child_identifier)


Message = PidIdentifier | ActionResult | LoadedFiles | SpawnSlave | SpawnCommand

#: Wire letter of each message type (the same in both dialects).
LETTERS: dict[type[Any], bytes] = {
    PidIdentifier: b"P",
    ActionResult: b"R",
    LoadedFiles: b"F",
    SpawnSlave: b"S",
    SpawnCommand: b"C",
}


def to_json(message: Message) -> dict[str, object]:
    """A JSON-ready dict of a message (paths as text with surrogate escapes kept lossless)."""
    if isinstance(message, PidIdentifier):
        out: dict[str, object] = {"type": "pid", "pid": message.pid}
        if message.parent_pid is not None:
            out["parent_pid"] = message.parent_pid
        out["identifier"] = message.identifier
        return out
    if isinstance(message, ActionResult):
        return {"type": "result", "ok": message.ok, "error": message.error}
    if isinstance(message, LoadedFiles):
        return {"type": "files",
                "paths": [p.decode("utf-8", "surrogateescape") for p in message.paths]}
    if isinstance(message, SpawnSlave):
        return {"type": "spawn", "identifier": message.identifier}
    return {"type": "command", "identifier": message.identifier}
