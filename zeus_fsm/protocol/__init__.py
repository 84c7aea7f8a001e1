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
"""

from zeus_fsm.protocol.connection import SlaveConnection
from zeus_fsm.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect
from zeus_fsm.protocol.errors import ProtocolError, Role
from zeus_fsm.protocol.events import (
    ChannelClosed,
    Deadline,
    Event,
    FdKind,
    PipeClosed,
    PipePassed,
    SocketPassed,
)
from zeus_fsm.protocol.lifecycle import Lifecycle
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import (
    ActionResult,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.protocol.requirements import REQUIREMENTS, Requirement

__all__ = [
    "DIALECT_NAMES",
    "REQUIREMENTS",
    "ActionResult",
    "ChannelClosed",
    "Deadline",
    "Dialect",
    "Event",
    "Expectation",
    "FdKind",
    "Handshake",
    "Lifecycle",
    "LoadedFiles",
    "Message",
    "PidIdentifier",
    "PipeClosed",
    "PipePassed",
    "ProtocolError",
    "Requirement",
    "Role",
    "SlaveConnection",
    "SocketPassed",
    "SpawnCommand",
    "SpawnSlave",
    "get_dialect",
]
