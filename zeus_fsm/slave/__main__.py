"""`python -m zeus_fsm.slave`: run the reference slave."""

from zeus_fsm.slave.reference import main

main()
