"""Command-line byte strings written with Python-style escapes ('P:12:0:boot\\0')."""

from __future__ import annotations

import codecs


def parse_escaped(text: str) -> bytes:
    """Turn `P:1:0:boot\\0` (as typed in a shell) into bytes; raise ValueError if malformed.

    Non-ASCII text stands for its UTF-8 bytes; backslash escapes follow Python's
    bytes literals (\\0, \\n, \\xNN, \\\\ ...).
    """
    try:
        return codecs.escape_decode(text.encode("utf-8", "surrogateescape"))[0]
    except ValueError as error:
        raise ValueError(f"cannot read {text!r} as escaped bytes: {error}") from None
