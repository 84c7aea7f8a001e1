"""NUL-terminated texts on a stream (or across datagrams): the one framing of the zeus
dialect's slave stream, a command's runner socket and a client's connection.

The rules live here once: a frame ends at a NUL; empty frames (the bytes that fds
ride on, or a stray NUL) are skipped; a partial frame waits for the next read; a
frame that grows past `max_frame` without its NUL is FRAME-3; bytes left when the
channel ends are FRAME-2. A frame that does not decode raises with the frames
decoded before it in `salvaged`, and what followed it stays buffered, so nothing
reported correctly is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from zeus_fsm.protocol.errors import FrameTooLarge, MalformedMessage, Role

T = TypeVar("T")


class NulFrames(Generic[T]):
    """Feed bytes, get the decoded frames; `decode` turns one frame (no NUL) into a T."""

    def __init__(self, decode: Callable[[bytes], T], sender: Role, max_frame: int,
                 channel: str) -> None:
        self._decode = decode
        self._sender = sender
        self._max = max_frame
        self._channel = channel  # for the FRAME-2 message: "channel", "runner socket"...
        self._buffer = b""

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[T]:
        frames = (self._buffer + data).split(b"\0")
        self._buffer = frames.pop()
        out: list[T] = []
        for index, frame in enumerate(frames):
            if not frame:
                continue  # FRAME-2: empty frames are ignored
            try:
                out.append(self._decode(frame))
            except MalformedMessage as error:
                # Keep what follows the bad frame, so the caller may feed(b"") on.
                rest = frames[index + 1:]
                self._buffer = b"".join(f + b"\0" for f in rest) + self._buffer
                error.salvaged = tuple(out)
                raise
        if len(self._buffer) > self._max:
            shown, self._buffer = self._buffer, b""
            oversize = FrameTooLarge(f"unterminated frame grew past {self._max} bytes",
                                     culprit=self._sender, requirement="FRAME-3", data=shown)
            oversize.salvaged = tuple(out)
            raise oversize
        return out

    def close(self) -> None:
        """The channel ended: bytes left over are a frame cut short (FRAME-2)."""
        if self._buffer:
            left, self._buffer = self._buffer, b""
            raise MalformedMessage(f"{self._channel} ended inside a frame (no NUL)",
                                   culprit=self._sender, requirement="FRAME-2", data=left)
