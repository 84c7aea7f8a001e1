"""The OS boundary: the only package that touches sockets, fds and processes.

- fds.py        socketpairs, SCM_RIGHTS, SO_PEERCRED, fd kinds, pipes, bounded waits, clock
- processes.py  environment names, starting slaves, pidfds, signals, groups, /proc
"""
