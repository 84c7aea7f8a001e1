"""The "explain" texts of a command's steps (zeus): C, the runner socket, and what
crosses that socket, for a reader who has never seen the protocol."""

from __future__ import annotations

from collections.abc import Callable

from zeus_fsm.trace.steps import Step

Explainer = Callable[[Step, str, bool, bool], str]


def _field(step: Step, name: str) -> str:
    return next((f.data.decode("utf-8", "replace") for frame in step.frames for f in frame
                 if f.name == name), "?")


def _command(step: Step, who: str, _zeus: bool, first: bool) -> str:
    text = (f"A client asked to run a command (`zeus {_field(step, 'identifier')} ...`), "
            f"so the master sends C:<command> to {who}, the slave whose plan has it. ")
    if first:
        text += ("This is what the whole tree is for: the slave has the application loaded, "
                 "so a process forked from it starts warm. The master asks one C at a time "
                 "(CMD-1), and the slave keeps serving S and C while the command runs.")
    return text


def _runner(step: Step, who: str, _zeus: bool, first: bool) -> str:
    text = (f"{who} forked a runner for the command, and the runner sends one end of a new "
            "SOCK_DGRAM socketpair back over the slave's stream, as an fd on one NUL byte. ")
    if first:
        text += ("Why a runner and a socket of its own? Everything about this one command "
                 "(its client's terminal, its pid, its exit status) now travels on that "
                 "socket, so the slave's stream stays free for the next S or C.")
    return text


def _header(step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return (f"On the runner socket the master sends the header: the client's pid "
            f"({_field(step, 'client pid')}) and how many arguments follow "
            f"({_field(step, 'argc')}). The runner watches that pid: if the client goes "
            "away, the command is ended.")


def _fds(_step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return ("Then three fds, each on its own one-byte message: the arguments (each "
            "NUL-terminated, then end of file), the command's stdout, which is also its "
            "stdin, and its stderr. They are the client's own sockets: the command talks "
            "to the client's terminal directly, and the master is not in the way.")


def _pid(step: Step, who: str, _zeus: bool, _first: bool) -> str:
    return (f"The runner forked the command itself, and the command says who it is: "
            f"P:<pid>:<slave_pid>: with its own pid ({_field(step, 'command pid')}) and "
            f"the pid of the slave that got C ({_field(step, 'slave pid')}), the identifier "
            f"empty. The master relays the pid to the client, which forwards signals to it "
            f"(Ctrl-C reaches {who}).")


def _ended(_step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return ("The command's process ended: the master sees it go (it watches the pid). "
            "Its exit status must follow on the runner socket.")


def _exit(step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return (f"The runner sends the command's exit status ({_field(step, 'exit status')}), "
            "once, NUL-terminated; the master relays it to the client, whose `zeus` "
            "process exits with it, as if the command had run in the client's shell.")


def _hangup(_step: Step, _who: str, _zeus: bool, _first: bool) -> str:
    return "The runner exits once the status is sent: its socket closes."


def _timeout(_step: Step, who: str, _zeus: bool, _first: bool) -> str:
    return f"Nothing came from {who} within the master's step timeout."


BY_KIND: dict[str, Explainer] = {
    "command": _command, "runner": _runner, "run-header": _header, "run-fds": _fds,
    "run-pid": _pid, "run-ended": _ended, "run-exit": _exit, "run-hangup": _hangup,
    "run-timeout": _timeout,
}
