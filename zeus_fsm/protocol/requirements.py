"""The numbered requirements of spec/handshake.md, as data.

spec/handshake.md is the normative prose; this table is what code cites.
A test keeps the two in step: every ID here appears in the document with the
same sentence, and every ID the document defines is here.
"""

from __future__ import annotations

import attrs

from zeus_fsm.protocol.errors import Role

BOTH = frozenset({"spec", "zeus"})
SPEC = frozenset({"spec"})
ZEUS = frozenset({"zeus"})


@attrs.frozen
class Requirement:
    id: str
    level: str  # "MUST" or "SHOULD"
    section: str  # e.g. "1" (Socket); sections follow spec/handshake.md
    who: Role  # the side the rule binds
    text: str
    dialects: frozenset[str] = BOTH


SECTIONS: dict[str, str] = {
    "1": "Socket",
    "2": "Pid & Identifier",
    "3": "Loaded-files channel",
    "4": "Action Result",
    "5": "Loaded Files",
    "6": "Spawning children",
    "7": "Failure and shutdown",
    "8": "Framing",
    "9": "Commands",
    "10": "Clients",
}

_S, _M, _C = Role.SLAVE, Role.MASTER, Role.CLIENT

REQUIREMENTS: tuple[Requirement, ...] = (
    # 1. Socket
    Requirement("SOCKET-1", "MUST", "1", _M,
                "The master starts the slave with ZEUS_MASTER_FD naming an inherited "
                "AF_UNIX SOCK_DGRAM socket."),
    Requirement("SOCKET-2", "MUST", "1", _S,
                "The slave sends one end of a new AF_UNIX socketpair over the master socket, "
                "as one datagram carrying exactly one file descriptor, within the master's "
                "step timeout."),
    Requirement("SOCKET-3", "MUST", "1", _S,
                "The slave's socketpair is of type SOCK_DGRAM.", SPEC),
    Requirement("SOCKET-4", "MUST", "1", _S,
                "The slave's socketpair is of type SOCK_STREAM.", ZEUS),
    Requirement("SOCKET-5", "MUST", "1", _S,
                "The slave exits non-zero, within the master's step timeout, when "
                "ZEUS_MASTER_FD is unset, not a number, closed, or not a socket."),
    Requirement("SOCKET-6", "SHOULD", "1", _S,
                "When ZEUS_MASTER_FD is bad, the slave says what is wrong in one line on "
                "stderr."),
    # 2. Pid & Identifier
    Requirement("PID-1", "MUST", "2", _S,
                "The first message on the slave's socket is a Pid & Identifier (P) message, "
                "sent exactly once."),
    Requirement("PID-2", "MUST", "2", _S,
                "The pid in P is the slave's own pid: the SO_PEERCRED pid of its socket (a "
                "process in the slaves' process group) and, for the root, the process the "
                "master started."),
    Requirement("PID-3", "MUST", "2", _S,
                "The root slave's identifier is blank (P:<pid>:); a child's is the identifier "
                "it was given with S.", SPEC),
    Requirement("PID-4", "MUST", "2", _S,
                "The root slave's identifier is boot; a child's is the identifier it was given "
                "with S.", ZEUS),
    Requirement("PID-5", "MUST", "2", _S,
                "The parent pid in P is 0 for the root and the pid of the forking slave for a "
                "child.", ZEUS),
    Requirement("PID-6", "MUST", "2", _S,
                "The slave's socket belongs to a process of the master's uid."),
    # 3. Loaded-files channel
    Requirement("CHAN-1", "MUST", "3", _S,
                "Right after P, the slave sends the read end of a pipe over its socket: one "
                "fd, payload one NUL byte.", ZEUS),
    # 4. Action Result
    Requirement("RESULT-1", "MUST", "4", _S,
                "The Action Result (R) comes after P (and, in zeus, after the pipe), exactly "
                "once."),
    Requirement("RESULT-2", "MUST", "4", _S,
                "When the action ran without error the slave sends R:OK."),
    Requirement("RESULT-3", "MUST", "4", _S,
                "When the action failed the slave sends R with a non-empty error text other "
                "than OK."),
    Requirement("RESULT-4", "SHOULD", "4", _S,
                "The error text is the console output the error would print to stderr: one or "
                "more lines, each ending in a newline."),
    Requirement("RESULT-5", "MUST", "4", _S,
                "An identifier with no action gives an error result, not a hang."),
    Requirement("RESULT-6", "MUST", "4", _S,
                "The slave sends R within the master's step timeout after P."),
    # 5. Loaded Files
    Requirement("FILES-1", "MUST", "5", _S,
                "Every loaded-file path is absolute and contains no NUL or newline."),
    Requirement("FILES-2", "SHOULD", "5", _S,
                "Every loaded-file path is expanded and names a file that exists."),
    Requirement("FILES-3", "SHOULD", "5", _S,
                "Each loaded file is reported once."),
    Requirement("FILES-4", "MUST", "5", _S,
                "Loaded files are sent only after P, as F:<path> datagrams on the slave's "
                "socket, one path each.", SPEC),
    Requirement("FILES-5", "MUST", "5", _S,
                "Loaded files are written to the pipe, one path per line ending in a "
                "newline; a line holds at most 4096 bytes before its newline.", ZEUS),
    Requirement("FILES-6", "MUST", "5", _S,
                "Files loaded after the result (lazily) are reported too, until the channel "
                "closes."),
    Requirement("FILES-7", "MUST", "5", _S,
                "Reporting loaded files never stops the slave from handling S."),
    Requirement("FILES-8", "MUST", "5", _M,
                "The master accepts loaded files at any time after P, before or after R, "
                "until the channel closes, and loses none."),
    # 6. Spawning children
    Requirement("SPAWN-1", "MUST", "6", _M,
                "The master sends S only to a connected slave."),
    Requirement("SPAWN-2", "MUST", "6", _S,
                "On S:<identifier> the slave forks one child, which repeats steps 1 to 5 "
                "over the inherited master socket with that identifier."),
    Requirement("SPAWN-3", "MUST", "6", _S,
                "Several S messages arriving in one read are each handled.", ZEUS),
    Requirement("SPAWN-4", "SHOULD", "6", _S,
                "A C (Spawn Command) message the slave does not implement is refused in its "
                "log, not by crashing.", SPEC),
    Requirement("SPAWN-5", "MUST", "6", _S,
                "One S yields exactly one registration on the master socket."),
    # 7. Failure and shutdown
    Requirement("CRASH-1", "MUST", "7", _S,
                "After a failed result the slave sends its remaining loaded files, then "
                "closes its channel."),
    Requirement("CRASH-2", "MUST", "7", _M,
                "After a failed result the master reads loaded files until the channel "
                "closes (bounded), then stops the slave and reaps it."),
    Requirement("CRASH-3", "MUST", "7", _S,
                "A slave does not close its socket or exit before sending R."),
    # 8. Framing
    Requirement("FRAME-1", "MUST", "8", _S,
                "A message is one letter (P, R, F, S or C), a colon, and a payload."),
    Requirement("FRAME-2", "MUST", "8", _S,
                "Every message on the stream ends with a NUL byte; an empty frame is "
                "ignored.", ZEUS),
    Requirement("FRAME-3", "MUST", "8", _S,
                "A message is at most 65536 bytes (one datagram, or one NUL-framed frame not "
                "counting its NUL); a longer error text is truncated by its sender."),
    Requirement("FRAME-4", "MUST", "8", _S,
                "A pid field is a decimal integer from 1 to 4194304 (0 only as the root's "
                "parent pid in zeus)."),
    Requirement("FRAME-5", "MUST", "8", _S,
                "An identifier is UTF-8 text with no NUL and no newline; a child's identifier "
                "is not empty."),
    # 9. Commands (zeus only: the seed defines no wire for C)
    Requirement("CMD-1", "MUST", "9", _M,
                "The master sends C only to a connected slave, one at a time: the next C to "
                "that slave only after the runner socket of the previous one arrived.", ZEUS),
    Requirement("CMD-2", "MUST", "9", _S,
                "On C:<command> the slave forks a runner that sends one end of a new AF_UNIX "
                "SOCK_DGRAM socketpair over the slave's stream, within the master's step "
                "timeout: one fd, payload exactly one NUL byte.", ZEUS),
    Requirement("CMD-3", "MUST", "9", _M,
                "On the runner socket the master sends the header <client_pid>:<argc> "
                "(NUL-terminated, one datagram), then the arguments fd, the stdout fd (also "
                "the command's stdin) and the stderr fd, each in its own message with payload "
                "one NUL byte, in that order.", ZEUS),
    Requirement("CMD-4", "MUST", "9", _M,
                "The arguments fd yields each argument followed by one NUL byte, then end of "
                "file; there are argc of them, and an argument may be empty or not UTF-8.",
                ZEUS),
    Requirement("CMD-5", "MUST", "9", _S,
                "The command, a process forked for it below the slave, sends "
                "P:<pid>:<slave_pid>: on the runner socket before it runs, within the "
                "master's step timeout: its own pid (neither the slave's nor the runner's), "
                "the pid of the slave that received C, and an empty identifier.", ZEUS),
    Requirement("CMD-6", "MUST", "9", _S,
                "The command runs with stdin and stdout on the stdout fd, stderr on the "
                "stderr fd, and exactly the arguments received, in order.", ZEUS),
    Requirement("CMD-7", "MUST", "9", _S,
                "When the command ends, the runner sends its exit status <code> (decimal, 0 "
                "to 255, NUL-terminated) on the runner socket, once, within the master's "
                "step timeout: the command's exit code, or 128+N when signal N ended it.",
                ZEUS),
    Requirement("CMD-8", "MUST", "9", _S,
                "The runner does not exit before it has sent the exit status.", ZEUS),
    Requirement("CMD-9", "MUST", "9", _S,
                "The runner ends the command when the client process (the header's client "
                "pid) no longer exists, checking at least once a second.", ZEUS),
    Requirement("CMD-10", "MUST", "9", _S,
                "While commands run, the slave keeps serving S and C.", ZEUS),
    Requirement("CMD-11", "MUST", "9", _S,
                "A command the plan does not provide ends with a non-zero exit status and a "
                "message on its stderr, not a hang.", ZEUS),
    Requirement("CMD-12", "SHOULD", "9", _S,
                "An uncaught error in the command is printed on its stderr as the language "
                "prints it, and gives exit status 1.", ZEUS),
    # 10. Clients: the `zeus` client and the master on .zeus.sock (both dialects)
    Requirement("CLIENT-1", "MUST", "10", _C,
                "A client connects to the master's AF_UNIX SOCK_STREAM socket and sends "
                "T:<argc>:<client_pid>:<command> first: argc counts the arguments after the "
                "command, client_pid is its own pid (SO_PEERCRED of the connection), and the "
                "command is a name or alias the master knows."),
    Requirement("CLIENT-2", "MUST", "10", _C,
                "Right after T the client sends one end of a new AF_UNIX SOCK_STREAM "
                "socketpair, on one NUL byte, and writes each argument followed by a NUL to "
                "its other end, then closes it."),
    Requirement("CLIENT-3", "MUST", "10", _C,
                "Then the client sends its stdout fd (also the command's stdin) and its "
                "stderr fd, each a terminal or an AF_UNIX SOCK_STREAM socket, each alone on "
                "one NUL byte, and sends nothing more."),
    Requirement("CLIENT-4", "MUST", "10", _M,
                "The master answers with the command's pid, <pid> NUL-terminated, once the "
                "command has sent its P; a request for a slave that is still booting waits "
                "for it, for a bounded time."),
    Requirement("CLIENT-5", "MUST", "10", _M,
                "When the command ends the master sends its exit status <code> "
                "(NUL-terminated, 0 to 255) and closes the connection and every fd of that "
                "command."),
    Requirement("CLIENT-6", "MUST", "10", _M,
                "When the slave that provides the command has crashed, the master answers "
                "pid 0, writes that slave's error text to the client's stdout fd, sends "
                "status 1 and closes, at once."),
    Requirement("CLIENT-7", "MUST", "10", _M,
                "When a client goes away, the master ends its command (if one runs) and "
                "frees what it held; other clients are not affected."),
    Requirement("CLIENT-8", "MUST", "10", _M,
                "A command the master does not know ends the connection at once, without a "
                "pid; the client says so and exits non-zero."),
    Requirement("CLIENT-9", "MUST", "10", _M,
                "Only the user who runs the master may use it: the socket file is mode 0600 "
                "and a connection whose SO_PEERCRED uid is another user's is closed unread."),
)

BY_ID: dict[str, Requirement] = {r.id: r for r in REQUIREMENTS}


def requirement(req_id: str) -> Requirement:
    """Look up a requirement; an unknown ID is a programming error."""
    return BY_ID[req_id]
