"""Mermaid sequence diagrams of the handshake, with the exact bytes on the wire.

`canonical(dialect)` is the reference story for one dialect: the master
starts the root slave, the root registers and connects, the master spawns a
child with S that connects too, and a second child whose action fails. Every
byte string shown is `dialect.encode()` of a real message object, so the
picture cannot drift from the codec. The pids are fixed examples (the
ones in protocol-notes.md), so the output is the same on every run.

`render()` draws any list of arrows and notes; `zeus-fsm trace --mermaid`
uses it for the sequence of an actual run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from zeus_fsm.protocol import command, command_wire
from zeus_fsm.protocol.dialects import ZEUS_DIALECT, Dialect, get_dialect
from zeus_fsm.protocol.escapes import escape_bytes
from zeus_fsm.protocol.messages import (
    ActionResult,
    CommandPid,
    ExitStatus,
    LoadedFiles,
    Message,
    PidIdentifier,
    RunnerHeader,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.views.state import mermaid_text

#: Fixed example pids and file names (from protocol-notes.md's observed run).
ROOT_PID: Final = 4605
CHILD_OK_PID: Final = 4628
CHILD_FAIL_PID: Final = 4631
MASTER_FD: Final = 3
EXAMPLE_ERROR: Final = "RuntimeError: child_fail failed on purpose\n"


@attrs.frozen
class Participant:
    key: str  # Mermaid id
    label: str


@attrs.frozen
class Arrow:
    sender: str
    receiver: str
    text: str
    dashed: bool = False  # a fact about the channel (fork, close), not a message


@attrs.frozen
class Note:
    over: tuple[str, ...]
    text: str


Item = Arrow | Note


def render(title: str, participants: Sequence[Participant], items: Sequence[Item]) -> str:
    """A Mermaid sequenceDiagram; every label made safe for Mermaid's syntax."""
    out = ["---", f'title: "{title}"', "---", "sequenceDiagram", "    autonumber"]
    out += [f"    participant {p.key} as {mermaid_text(p.label)}" for p in participants]
    for item in items:
        if isinstance(item, Note):
            out.append(f"    Note over {','.join(item.over)}: {mermaid_text(item.text)}")
        else:
            arrow = "-->>" if item.dashed else "->>"
            out.append(f"    {item.sender}{arrow}{item.receiver}: {mermaid_text(item.text)}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# The canonical handshake
# --------------------------------------------------------------------------


class _Story:
    """Builds the canonical items for one dialect from real message objects."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.items: list[Item] = []
        zeus = dialect.files_on_pipe
        self.slave_socket = "SOCK_STREAM" if zeus else "SOCK_DGRAM"
        self.channel = "stream" if zeus else "socket"

    def wire(self, sender: str, receiver: str, where: str, message: Message,
             requirement: str) -> None:
        data = self.dialect.encode(message)
        self.items.append(Arrow(sender, receiver,
                                f"{where}: {escape_bytes(data)} · {requirement}"))

    def files(self, slave: str, paths: Sequence[bytes]) -> None:
        batch = LoadedFiles(tuple(paths))
        if self.dialect.files_on_pipe:
            self.wire(slave, "M", "pipe", batch, "FILES-5")
            return
        for path in paths:  # spec: one F datagram per path
            self.wire(slave, "M", self.channel, LoadedFiles((path,)), "FILES-4")

    def register(self, slave: str, pid: int, identifier: str, parent_pid: int) -> None:
        """Steps 1 and 2 (and zeus's pipe): socket, P."""
        self.items.append(Arrow(slave, "M",
                                f"master socket: {escape_bytes(self.dialect.socket_payload)}"
                                f" + fd of its own {self.slave_socket} socket · SOCKET-2"))
        parent = parent_pid if self.dialect.has_parent_pid else None
        self.wire(slave, "M", self.channel, PidIdentifier(pid, identifier, parent),
                  "PID-1")
        if self.dialect.files_on_pipe:
            self.items.append(Arrow(slave, "M", "stream: \\0 + fd of the read end of a pipe"
                                                " · CHAN-1"))

    def spawn(self, parent: str, child: str, identifier: str) -> None:
        self.wire("M", parent, self.channel, SpawnSlave(identifier), "SPAWN-1")
        self.items.append(Arrow(parent, child,
                                "fork: the child inherits the master socket · SPAWN-2",
                                dashed=True))


def canonical_items(dialect_name: str) -> tuple[list[Participant], list[Item]]:
    dialect = get_dialect(dialect_name)
    story = _Story(dialect)
    zeus = dialect.files_on_pipe
    root_id = dialect.root_identifier
    participants = [
        Participant("M", "master"),
        Participant("R", f"root slave (pid {ROOT_PID})"),
        Participant("A", f"child_ok (pid {CHILD_OK_PID})"),
        Participant("F", f"child_fail (pid {CHILD_FAIL_PID})"),
    ]
    add = story.items.append
    add(Note(("M", "R"), f"master makes an AF_UNIX SOCK_DGRAM socketpair\nand starts the root "
                         f"with ZEUS_MASTER_FD={MASTER_FD} · SOCKET-1"))
    story.register("R", ROOT_PID, root_id, 0)
    add(Note(("R",), f"runs the action for identifier {root_id!r}"))
    if zeus:  # the Ruby shim writes files before R; the master must accept either order
        story.files("R", [b"/app/boot.rb"])
        story.wire("R", "M", story.channel, ActionResult(), "RESULT-2")
    else:
        story.wire("R", "M", story.channel, ActionResult(), "RESULT-2")
        story.files("R", [b"/app/boot.rb"])
    add(Note(("M", "R"), "root connected: it now serves S · loaded files may still arrive"))

    story.spawn("R", "A", "child_ok")
    story.register("A", CHILD_OK_PID, "child_ok", ROOT_PID)
    story.wire("A", "M", story.channel, ActionResult(), "RESULT-2")
    story.files("A", [b"/app/child_ok.rb", b"/app/lib/helper.rb"])
    add(Note(("M", "A"), "child_ok connected"))

    story.spawn("R", "F", "child_fail")
    story.register("F", CHILD_FAIL_PID, "child_fail", ROOT_PID)
    story.files("F", [b"/app/child_fail.rb"])  # a failed action still reports its files
    story.wire("F", "M", story.channel, ActionResult(EXAMPLE_ERROR), "RESULT-3")
    closed = "pipe and stream reach end of file" if zeus else "the slave exits (seen via its pidfd)"
    add(Arrow("F", "M", f"{closed} · CRASH-1", dashed=True))
    add(Note(("M", "F"), "master read loaded files until the channel closed,\nthen stops and "
                         "reaps the slave · CRASH-2"))
    return participants, story.items


def canonical(dialect_name: str) -> str:
    """The canonical handshake of one dialect as Mermaid sequenceDiagram text."""
    participants, items = canonical_items(dialect_name)
    title = (f"Canonical handshake, {dialect_name} dialect "
             "(generated from zeus_fsm/protocol/dialects.py, example pids)")
    return render(title, participants, items)


# --------------------------------------------------------------------------
# The canonical command (zeus)
# --------------------------------------------------------------------------

#: Fixed example pids and values (from protocol-commands.md's observed `zeus hello a b`).
CLIENT_PID: Final = 16296
SLAVE_PID: Final = 16225
RUNNER_PID: Final = 16300
COMMAND_PID: Final = 16301
COMMAND_NAME: Final = "hello"
COMMAND_ARGS: Final = (b"a", b"b")
COMMAND_STATUS: Final = 3


def command_items() -> tuple[list[Participant], list[Item]]:
    """`zeus hello a b` from the client's connect to its exit status, every byte from
    the codecs (dialects.py and command_wire.py), example pids."""
    participants = [
        Participant("C", f"client (pid {CLIENT_PID})"),
        Participant("M", "master"),
        Participant("S", f"slave (pid {SLAVE_PID})"),
        Participant("R", f"runner (pid {RUNNER_PID})"),
        Participant("X", f"command (pid {COMMAND_PID})"),
    ]
    header = RunnerHeader(CLIENT_PID, len(COMMAND_ARGS))
    argv = ", ".join(a.decode() for a in (COMMAND_NAME.encode(), *COMMAND_ARGS))
    items: list[Item] = [
        Note(("C", "M"), "outside this spec: the client connects to the master's "
                         "AF_UNIX SOCK_STREAM socket"),
        Arrow("C", "M", f"T:{len(COMMAND_ARGS)}:{CLIENT_PID}:{COMMAND_NAME}\\0, then "
                        "\\0 + fd three times: arguments, stdout, stderr"),
        Note(("S",), "connected: serves S and C"),
        Arrow("M", "S", f"stream: {escape_bytes(ZEUS_DIALECT.encode(SpawnCommand(COMMAND_NAME)))}"
                        " · CMD-1"),
        Arrow("S", "R", "fork: the runner calls setsid() and makes an AF_UNIX SOCK_DGRAM "
                        "socketpair", dashed=True),
        Arrow("R", "M", f"stream: {escape_bytes(command.RUNNER_PAYLOAD)} + fd of the runner "
                        "socket · CMD-2"),
        Note(("M", "S"), "the slave's stream is free again: the next C may follow"),
        Arrow("M", "R", f"runner socket: {escape_bytes(command_wire.encode(header))} · CMD-3"),
        Arrow("M", "R", "runner socket: \\0 + fd, three times: arguments, stdout "
                        "(also stdin), stderr · CMD-3"),
        Note(("R",), "reads the arguments fd to its end: "
                     f"{escape_bytes(command_wire.encode_arguments(COMMAND_ARGS))} · CMD-4"),
        Arrow("R", "X", "fork: the command", dashed=True),
        Arrow("X", "M", "runner socket: "
                        f"{escape_bytes(command_wire.encode(CommandPid(COMMAND_PID, SLAVE_PID)))}"
                        " · CMD-5"),
        Arrow("M", "C", f"{COMMAND_PID}\\0 (the command's pid)"),
        Note(("X",), f"stdin and stdout: the stdout fd, stderr: the stderr fd, argv: {argv} "
                     "· CMD-6"),
        Arrow("X", "C", "output straight to the client's own fds (not through the master)",
              dashed=True),
        Arrow("X", "R", f"exits with status {COMMAND_STATUS}", dashed=True),
        Arrow("R", "M", "runner socket: "
                        f"{escape_bytes(command_wire.encode(ExitStatus(COMMAND_STATUS)))} · CMD-7"),
        Arrow("M", "C", f"{COMMAND_STATUS}\\0, then the master closes the command's fds"),
        Note(("R", "X"), "meanwhile the runner checks every second that the client lives "
                         "(CMD-9), and exits after the status (CMD-8)"),
    ]
    return participants, items


def command_canonical() -> str:
    """The canonical command as Mermaid sequenceDiagram text."""
    participants, items = command_items()
    title = ("A command, zeus dialect: client, master, slave, runner, command "
             "(generated from zeus_fsm/protocol/command_wire.py, example pids)")
    return render(title, participants, items)
