"""`zeus-fsm start`: keep a tree of slaves booted and restart what changed.

- config.py      zeus.json, parsed into node specs (pure)
- tree.py        the tree of nodes and restart planning (pure, no I/O)
- supervisor.py  the runtime loop: Master + watcher + view
- watch.py       file watching through watchfiles
- view.py        the live status table (rich) and --json-status lines
- command.py     the click command `start`
"""
