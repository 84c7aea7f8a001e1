"""Fake slaves (raw sockets) and a leak checker for the master's tests."""
