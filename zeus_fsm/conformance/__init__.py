"""`zeus-fsm check`: the conformance checker for slaves written in any language.

It plays the master against a slave command, one fresh slave process per
case, and judges what the slave does through the same handshake machine the
reference master uses. Modules, one job each:

- driver.py   the judge: starts a slave, watches its sockets, pipe and exit
- cases.py    the case catalogue, as data (id, requirement, level, dialects)
- runner.py   runs the selected cases and turns outcomes into verdicts
- report.py   text (colour only on a tty), JSON and JUnit XML reports
- command.py  the click command `check`
"""
