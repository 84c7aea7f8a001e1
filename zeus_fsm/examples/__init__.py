"""Example plans for the reference slave (`python -m zeus_fsm.slave --plan ...`)."""
