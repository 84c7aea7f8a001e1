"""The master: runs a tree of slaves over real sockets, driven by the protocol machines.

- loop.py     `Master`: one poll loop over every socket, pipe and pidfd
- session.py  one slave as the master holds it: its protocol connection, lifecycle
              and OS handles (sockets, pipe, pidfd)
- observe.py  structured events the master reports (status views, trace, tests)
"""
