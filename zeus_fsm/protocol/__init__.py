"""The sans-I/O core: bytes in, messages and decisions out; no sockets, no processes.

Everything that decides the next state of a handshake is a table in machine.py
(the slave handshake) or lifecycle.py (the master's view of a slave process),
and the machines do not know which side they play. Modules, one job each:

- errors.py        ProtocolError and its kinds: who broke which rule, in which state
- requirements.py  the numbered requirements of spec/handshake.md
- messages.py      the wire messages as frozen attrs classes
- escapes.py       showing and parsing bytes safely (Python escapes)
- dialects.py      the `spec` and `zeus` codecs and incremental decoders
- events.py        what a side can observe (messages, fds by kind, hang-ups, deadlines)
- tables.py        the row types every state table is made of
- machine.py       the slave handshake as tables, built into a `transitions` machine
- lifecycle.py     one slave process as the master sees it (unbooted .. stopped)
- connection.py    one slave's connection as a master sees it: decoders + Handshake
- command.py       one command's exchange (zeus), command_wire.py its bytes
- client.py        one client connection on .zeus.sock, client_wire.py its bytes
- flat.py          the engine of the flat table machines (command, client)
- framing.py       NUL-terminated texts: the one framing of stream, runner and client

The public core is named in `__all__` and loaded on first use (PEP 562), so that
importing one module of the core (the `run` client needs four) loads no more.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name and the module that defines it.
_WHERE: dict[str, str] = {
    "DIALECT_NAMES": "zeus_fsm.protocol.dialects",
    "REQUIREMENTS": "zeus_fsm.protocol.requirements",
    "ActionResult": "zeus_fsm.protocol.messages",
    "ChannelClosed": "zeus_fsm.protocol.events",
    "Deadline": "zeus_fsm.protocol.events",
    "Dialect": "zeus_fsm.protocol.dialects",
    "Event": "zeus_fsm.protocol.events",
    "Expectation": "zeus_fsm.protocol.machine",
    "FdKind": "zeus_fsm.protocol.events",
    "Handshake": "zeus_fsm.protocol.machine",
    "Lifecycle": "zeus_fsm.protocol.lifecycle",
    "LoadedFiles": "zeus_fsm.protocol.messages",
    "Message": "zeus_fsm.protocol.messages",
    "PidIdentifier": "zeus_fsm.protocol.messages",
    "PipeClosed": "zeus_fsm.protocol.events",
    "PipePassed": "zeus_fsm.protocol.events",
    "ProtocolError": "zeus_fsm.protocol.errors",
    "Requirement": "zeus_fsm.protocol.requirements",
    "Role": "zeus_fsm.protocol.errors",
    "SlaveConnection": "zeus_fsm.protocol.connection",
    "SocketPassed": "zeus_fsm.protocol.events",
    "SpawnCommand": "zeus_fsm.protocol.messages",
    "SpawnSlave": "zeus_fsm.protocol.messages",
    "get_dialect": "zeus_fsm.protocol.dialects",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
