"""Bytes shown safely to a person, and read back from what a person typed.

Every place that shows wire bytes (errors, reports, diagrams, the trace) goes
through here, so offending input can never reach a terminal raw.
"""

from __future__ import annotations

import codecs

#: How many bytes of offending input an error message shows.
SHOWN_BYTES = 80


def show_bytes(data: bytes, limit: int = SHOWN_BYTES) -> str:
    """Render bytes for a human: repr, cut to `limit` bytes with the total length."""
    if len(data) <= limit:
        return repr(bytes(data))
    return f"{bytes(data[:limit])!r}... ({len(data)} bytes in all)"


def escape_bytes(data: bytes) -> str:
    """Bytes as text a reader can paste back into `zeus-fsm decode`.

    Printable ASCII stays; `\\0`, `\\n`, `\\t`, `\\r`, `\\\\` and `\\xNN` stand
    for the rest, so NULs and newlines are visible.
    """
    named = {0: "\\0", 10: "\\n", 9: "\\t", 13: "\\r", 92: "\\\\"}
    out: list[str] = []
    for index, byte in enumerate(data):
        shown = named.get(byte) or (chr(byte) if 32 <= byte < 127 else f"\\x{byte:02x}")
        if byte == 0 and data[index + 1:index + 2].isdigit():
            shown = "\\x00"  # "\\0" then a digit would read back as an octal escape
        out.append(shown)
    return "".join(out)


def printable(text: str) -> str:
    """Text with its control characters escaped (tabs kept), safe to print on a terminal."""
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text)


def parse_escaped(text: str) -> bytes:
    """Turn `P:1:0:boot\\0` (as typed in a shell) into bytes; raise ValueError if malformed.

    Non-ASCII text stands for its UTF-8 bytes; backslash escapes follow Python's
    bytes literals (\\0, \\n, \\xNN, \\\\ ...).
    """
    try:
        return codecs.escape_decode(text.encode("utf-8", "surrogateescape"))[0]
    except ValueError as error:
        raise ValueError(f"cannot read {text!r} as escaped bytes: {error}") from None
