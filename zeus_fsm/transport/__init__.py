"""The OS boundary: the only package that touches sockets, fds, terminals and processes.

- fds.py          socketpairs, SCM_RIGHTS, SO_PEERCRED, fd kinds, pipes, bounded waits, clock
- processes.py    environment names, starting slaves, pidfds, signals, groups, /proc,
                  whether a process exists, how it ended
- drain.py        reading an fd to its end (bounded), and whether written output was read
- terminal.py     pseudo-terminals, raw mode, window sizes (the `run` client)
- unix_socket.py  the master's `.zeus.sock` (mode 0600) and a client's connection to it
"""
