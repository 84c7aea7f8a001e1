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
