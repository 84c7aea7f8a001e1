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


# --------------------------------------------------------------------------
# The command path (zeus only): messages on a command's runner socket
# --------------------------------------------------------------------------

#: The largest argc a runner header may carry (Linux's MAX_ARG_STRINGS).
MAX_ARGC = 0x7FFF_FFFF
#: The largest exit status a process can have (a wait status keeps 8 bits).
MAX_EXIT_STATUS = 255


def _argc(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_ARGC:
        raise FieldError("CMD-3", f"{attribute.name} {value!r} is not a count from 0 to "
                                  f"{MAX_ARGC}")


def _exit_code(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_EXIT_STATUS:
        raise FieldError("CMD-7", f"{attribute.name} {value!r} is not an exit status from 0 "
                                  f"to {MAX_EXIT_STATUS}")


@attrs.frozen
class RunnerHeader:
    """`<client_pid>:<argc>`: the master's first datagram on a command's runner socket.

    The client pid is the process the runner watches (the command ends when it is
    gone); argc is how many arguments the arguments fd carries.
    """

    client_pid: int = attrs.field(validator=_pid)
    argc: int = attrs.field(validator=_argc)


@attrs.frozen
class CommandPid:
    """`P:<pid>:<slave_pid>:`: the command's own P on the runner socket.

    Four fields like a zeus slave's P, but the third is the slave that received C
    (not the runner, the command's real parent) and the identifier is empty.
    """

    pid: int = attrs.field(validator=_pid)
    slave_pid: int = attrs.field(validator=_pid)


@attrs.frozen
class ExitStatus:
    """`<code>`: the runner's last message, the command's exit status (0 to 255)."""

    code: int = attrs.field(validator=_exit_code)


@attrs.frozen
class CommandArguments:
    """What the arguments fd carries: each argument, NUL-terminated, then end of file.

    Bytes, because an argument need not be UTF-8; an empty argument is an argument.
    """

    args: tuple[bytes, ...] = attrs.field(converter=_as_tuple)

    @args.validator
    def _check(self, _attribute: attrs.Attribute[tuple[bytes, ...]],
               value: tuple[bytes, ...]) -> None:
        for arg in value:
            if type(arg) is not bytes or b"\0" in arg:
                raise FieldError("CMD-4", f"argument {arg!r} is not bytes without NUL")


CommandMessage = RunnerHeader | CommandPid | ExitStatus

# --------------------------------------------------------------------------
# The client path: a client and the master, on the master's `.zeus.sock`
# --------------------------------------------------------------------------


def _command_name(_inst: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise FieldError("CLIENT-1", f"{attribute.name} must be non-empty text")
    if "\0" in value:
        raise FieldError("CLIENT-1", f"{attribute.name} {value!r} contains NUL")


def _argc_count(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_ARGC:
        raise FieldError("CLIENT-1", f"{attribute.name} {value!r} is not a count from 0 to "
                                     f"{MAX_ARGC}")


def _started_pid(_inst: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= PID_MAX:
        raise FieldError("CLIENT-4", f"{attribute.name} {value!r} is not 0 or a pid from 1 "
                                     f"to {PID_MAX}")


@attrs.frozen
class CommandRequest:
    """`T:<argc>:<client_pid>:<command>`: a client asks the master to run a command.

    argc counts the arguments after the command; they follow on the arguments fd.
    """

    argc: int = attrs.field(validator=_argc_count)
    client_pid: int = attrs.field(validator=_pid)
    command: str = attrs.field(validator=_command_name)


@attrs.frozen
class CommandStarted:
    """`<pid>`: the master tells the client the command's pid; 0 means the slave that
    provides it has crashed (its error text follows on the client's stdout)."""

    pid: int = attrs.field(validator=_started_pid)

    @property
    def crashed(self) -> bool:
        return self.pid == 0


ClientMessage = CommandRequest | CommandStarted | ExitStatus


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


def command_to_json(message: CommandMessage | CommandArguments) -> dict[str, object]:
    """A JSON-ready dict of a command-path message (arguments as surrogate-escaped text)."""
    if isinstance(message, RunnerHeader):
        return {"type": "header", "client_pid": message.client_pid, "argc": message.argc}
    if isinstance(message, CommandPid):
        return {"type": "command_pid", "pid": message.pid, "slave_pid": message.slave_pid}
    if isinstance(message, ExitStatus):
        return {"type": "exit_status", "code": message.code}
    return {"type": "arguments",
            "args": [a.decode("utf-8", "surrogateescape") for a in message.args]}


def client_to_json(message: ClientMessage) -> dict[str, object]:
    """A JSON-ready dict of a client-path message."""
    if isinstance(message, CommandRequest):
        return {"type": "request", "argc": message.argc, "client_pid": message.client_pid,
                "command": message.command}
    if isinstance(message, CommandStarted):
        return {"type": "started", "pid": message.pid}
    return {"type": "exit_status", "code": message.code}
