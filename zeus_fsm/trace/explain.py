"""The "explain" text of each step, for a reader who has never seen the protocol.

Each text says what just happened and, the first time it matters, why the
protocol does it this way (why a socketpair, why an fd is passed, why files
may come after R). It is chosen by the step's kind and what the machine did,
so it follows the run rather than a script.
"""

from __future__ import annotations

from collections.abc import Callable

from zeus_fsm.protocol.events import Deadline
from zeus_fsm.protocol.messages import ActionResult, LoadedFiles, PidIdentifier, SpawnSlave
from zeus_fsm.trace import explain_command
from zeus_fsm.trace.steps import Lane, Step

_PRELOADER = (
    "Zeus is a preloader: it boots an application once, keeps it in memory, and forks "
    "copies of that warm process on demand, so a test run starts in milliseconds "
    "instead of seconds. The master is the process that supervises this tree; every "
    "process in the tree is a slave. ")


def explain(step: Step, lanes: dict[str, Lane], dialect: str, first: bool) -> str:
    """The newcomer's text for one step; `first`: this kind of step is new to the reader."""
    who = lanes[step.lane].label if step.lane in lanes else "the slave"
    if step.violation:
        return (f"The machine refused this step: it breaks {step.violation_requirement}. "
                "The handshake of this slave is now 'broken' (the red dashed edge): nothing "
                "more is accepted from it, and the master stops it. Every refusal is a row "
                "of the tables, which is how the page can name the rule that was broken.")
    text = _BY_KIND.get(step.kind)
    return text(step, who, dialect == "zeus", first) if text is not None else ""


def _explain_start(_step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return (_PRELOADER + "Here the master starts the root slave. First it makes a "
            "socketpair: two connected AF_UNIX SOCK_DGRAM sockets. The slave inherits "
            "one end, and the environment variable ZEUS_MASTER_FD tells it which file "
            "descriptor that is. Every slave, the root and every child forked later, "
            "registers on this one shared 'master socket'.")


def _explain_socket(_step: Step, who: str, zeus: bool, first: bool) -> str:
    base = (f"{who} sends the master one end of a brand-new socketpair of its own "
            f"({'SOCK_STREAM' if zeus else 'SOCK_DGRAM'}), over the master socket. ")
    if not first:
        return base + "Same first step as before: a private line to the master, passed as an fd."
    return base + ("Why? The master socket is shared by every slave, so a message on it "
                   "cannot say who sent it. A private socketpair gives master and this slave "
                   "a line of their own. The socket itself travels as SCM_RIGHTS ancillary "
                   "data: the kernel copies an open file descriptor into the master's "
                   "process. A datagram cannot be empty, so the fd rides on a single NUL byte.")


def _explain_pipe(_step: Step, who: str, _zeus: bool, first: bool) -> str:
    return (f"Right after P, {who} sends the read end of a pipe over its socket, again "
            "as an fd on one NUL byte. " + (
                "Why a pipe? Loaded files can be thousands of paths and can come at any "
                "time. On a pipe of their own, one path per line, they never get in the "
                "way of R or of the master's S on the socket." if first else
                "Loaded files will come down this pipe, one path per line."))


def _explain_spawn(step: Step, who: str, _zeus: bool, first: bool) -> str:
    assert isinstance(step.event, SpawnSlave)
    return (f"The master asks {who} to fork a child that runs "
            f"'{step.event.identifier}'. " + (
                "This is what a preloader is for: the child starts as a copy of an "
                "already-booted process, with everything loaded. It inherits the "
                "master socket through the fork and repeats the handshake on a line of "
                "its own. S may only go to a connected slave (SPAWN-1)." if first else
                "The child inherits the master socket and repeats the handshake."))


def _explain_hangup(step: Step, who: str, zeus: bool, _first: bool) -> str:
    how = ("its socket reached end of file" if zeus else
           "its process exited: on Linux a SOCK_DGRAM socketpair gives no end of file, so "
           "the master watches the process through a pidfd and takes its exit as the "
           "close, after reading every datagram still queued")
    crashed = "up_result_crashed" in step.before
    return (f"{who}'s channel closed: {how}. " + (
        "For a crashed slave this is what the master was waiting for: it kept reading "
        "loaded files until now (CRASH-1), so a change to any of them can restart this "
        "slave later." if crashed else "The slave is gone."))


def _explain_pipeclose(_step: Step, who: str, _zeus: bool, _first: bool) -> str:
    return (f"{who}'s loaded-files pipe reached end of file: no more paths will come, and "
            "the files region of its handshake is done.")


def _explain_timeout(step: Step, who: str, _zeus: bool, _first: bool) -> str:
    assert isinstance(step.event, Deadline)
    return (f"Nothing came from {who} within {step.event.seconds:g} s. Every wait of this "
            "master is bounded; a step that never comes is a broken rule, not a hang.")


def _explain_signal(_step: Step, who: str, _zeus: bool, _first: bool) -> str:
    return (f"The run is over, so the master stops {who}: SIGTERM, then SIGKILL if it is "
            "still there after a grace period. Children first, the root last.")


def _explain_malformed(_step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return ("These bytes do not decode as any message of this dialect, so the machine "
            "was never fed: the decoder itself names the rule they break.")


def _explain_pid(step: Step, who: str, zeus: bool, first: bool) -> str:
    message = step.event
    assert isinstance(message, PidIdentifier)
    root = message.parent_pid == 0 if zeus else not message.identifier
    fields = ("its pid, the pid of the slave that forked it (0 for the root) and the "
              "identifier of the action it runs" if zeus else
              "its pid and the identifier of the action it runs")
    text = f"{who} introduces itself on its own line with P: {fields}. "
    if root:
        text += ("The root was started by the master, not forked, so its identifier is "
                 + ("'boot' and its parent pid is 0. " if zeus else "empty. "))
    if first:
        text += ("The master checks the pid against the socket's SO_PEERCRED (who really "
                 "made it) and the identifier against what it asked for. ")
    text += ("Then the slave runs its action; the handshake enters 'up', a parallel state: "
             "the result and the loaded files are two regions, side by side."
             if not zeus else "The pipe for loaded files must follow.")
    return text


def _explain_result(step: Step, who: str, _zeus: bool, first: bool) -> str:
    message = step.event
    assert isinstance(message, ActionResult)
    if message.ok:
        return (f"{who}'s action ran without error: R:OK. Steps 1 to 4 are done and the "
                "slave is connected: from now on it serves S. " + (
                    "Note the files region: it stays open. Connected does not mean the "
                    "slave has finished reporting what it loaded." if first else ""))
    return (f"{who}'s action raised. R carries the error text, written the way the "
            "language would print it (here, a Python traceback). The slave is now crashed: "
            "it will close its channel, and until it does the master keeps reading its "
            "loaded files. A failed action still reports what it loaded, because a fix to "
            "one of those files is what should restart it.")


def _explain_files(step: Step, who: str, zeus: bool, first: bool) -> str:
    message = step.event
    assert isinstance(message, LoadedFiles)
    count = len(message.paths)
    paths = f"{count} loaded file{'s' if count != 1 else ''}"
    how = ("lines on its pipe" if zeus else
           f"F datagram{'s' if count != 1 else ''}, one path each")
    text = f"{who} reports {paths}, as {how}. "
    after = any(leaf in step.before for leaf in ("up_result_connected", "up_result_crashed"))
    if after:
        text += ("They come after R, and that is allowed: files are often loaded lazily, "
                 "after the action has returned (this is a parallel region of the "
                 "handshake, not a step after R). ")
    else:
        text += "They come before R: the action is still running. "
    if first:
        text += ("Why report files at all? A preloader must know which files each slave "
                 "has loaded, so that when one of them changes it restarts exactly the "
                 "slaves that depend on it.")
    return text


_BY_KIND: dict[str, Callable[[Step, str, bool, bool], str]] = {
    "start": _explain_start, "socket": _explain_socket, "pid": _explain_pid,
    "pipe": _explain_pipe, "ok": _explain_result, "fail": _explain_result,
    "files": _explain_files, "spawn": _explain_spawn, "hangup": _explain_hangup,
    "pipeclose": _explain_pipeclose, "timeout": _explain_timeout, "signal": _explain_signal,
    "malformed": _explain_malformed, **explain_command.BY_KIND,
}
