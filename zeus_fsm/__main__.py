"""`python -m zeus_fsm`: the same as the `zeus-fsm` command."""

from zeus_fsm.cli import main

main()
