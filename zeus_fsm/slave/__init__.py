"""The Python reference slave: `python -m zeus_fsm.slave --plan MODULE:CLASS [--dialect D]`.

It imports what it needs to talk and no more (no master, views, trace, start,
conformance, cli, click, rich or watchfiles: an import-linter contract keeps it so).

- reference.py  the slave process: socket, Pid & Identifier, action, result, S
- tracking.py   which files an action loaded (sys.modules diff, open audit hook)
- __main__.py   the entry point
"""
