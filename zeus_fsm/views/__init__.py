"""Teaching views generated from the tables: nothing here is drawn by hand.

- state.py      the slave handshake's state diagram (Graphviz dot and Mermaid)
- lifecycle.py  the lifecycle diagram
- sequence.py   sequence diagrams of a handshake, from the dialect codecs
- export.py     spec/machine.json
- build.py      writes (or checks) every file in diagrams/
- command.py    the click command `diagrams`
"""
