"""Human-facing text made safe to print: no terminal escape reaches a reader raw.

Tag values, model names and messages are user input. Before any of them reaches a
terminal, a log line or an HTTP error message, :func:`printable` replaces control and
format characters (ESC, BEL, CR, bidi overrides, ...) with a visible ``\\xNN`` /
``\\uNNNN`` escape. Line feeds are kept only where the caller says so (multi-line
reports).
"""

from __future__ import annotations

import unicodedata


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control/format character shown as an escape."""
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"}:
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)
