"""zeus_fsm: the Zeus master/slave handshake as an explicit state machine.

The package is layered so that data flows one way (bytes -> decoder ->
message -> machine -> runtime decision). Importing the package itself is
cheap on purpose: the reference slave imports only what it needs to talk.
"""

__version__ = "0.1.0"
