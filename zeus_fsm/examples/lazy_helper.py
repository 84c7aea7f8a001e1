"""Imported by DemoPlan.child_lazy's thread, after the child has sent R:OK.

Its path must still reach the master: files loaded lazily are reported too.
"""

LOADED_LATE = True
