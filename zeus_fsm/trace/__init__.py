"""`zeus-fsm trace`: a real run of the master against a slave, narrated.

- narrator.py  runs the master and narrates each observed event
- views.py     the run as a highlighted state diagram and a sequence diagram
- command.py   the click command `trace`
"""
