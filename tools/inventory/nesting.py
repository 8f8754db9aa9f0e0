"""The one check made before parsing: brackets and braces nested too deep for tomllib
and the checks, which recurse once per level."""

from __future__ import annotations

NESTING_LIMIT = 32


def too_deep(text: str) -> int | None:
    """The line where brackets or braces outside strings and comments nest deeper than
    NESTING_LIMIT (tomllib and the checks recurse once per level), else None."""
    depth = 0
    line = 1
    quote = ""
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            if quote in ('"', "'"):
                quote = ""  # an unterminated one-line string: tomllib reports it
        elif quote:
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if ch == "\\" and quote in ('"', '"""'):
                i += 2
                continue
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            continue
        elif ch in "[{":
            depth += 1
            if depth > NESTING_LIMIT:
                return line
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None
