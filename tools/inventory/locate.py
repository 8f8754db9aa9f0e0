"""Where each key of a TOML document is: a map from key paths to line numbers.

``tomllib`` parses TOML but keeps no positions, and an inventory error without a
line number sends the admin hunting. This scanner reads the same text once more
and records, for every key, table header and array element, the line where it
starts. It only has to understand *valid* TOML (tomllib has already accepted
the text), so it skips values without interpreting them.

Paths are tuples of keys (str) and array indexes (int), the same shape the
loader uses: ``("guests", 2, "memory")`` is the ``memory`` key of the third
``[[guests]]`` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

Path = tuple[str | int, ...]

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_VALUE_END = frozenset(",]}#\n")


KEY_LIMIT = 60


def render_path(path: Iterable[str | int]) -> str:
    """``("guests", 2, "memory")`` -> ``guests[2].memory`` (quoted where a key needs it)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        if len(part) > KEY_LIMIT:  # a key is a word: a huge one is echoed cut
            part = part[:KEY_LIMIT] + "..."
        if not part.isprintable():
            part = "".join(c if c.isprintable() else "?" for c in part)
        key = part if part and set(part) <= _BARE_KEY else '"' + part.replace('"', '\\"') + '"'
        out += f".{key}" if out else key
    return out


class Locations:
    """Line numbers (1-based) of the keys of one TOML text."""

    def __init__(self, lines: dict[Path, int]) -> None:
        self._lines = lines

    def line(self, path: Iterable[str | int]) -> int | None:
        """The line of ``path``, else of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def exact(self, path: Iterable[str | int]) -> int | None:
        return self._lines.get(tuple(path))


def locate(text: str) -> Locations:
    """Scan a TOML text that tomllib accepted; see the module docstring."""
    return Locations(_Scanner(text).scan())


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        # Arrays of tables seen so far (resolved path -> index of the last element).
        self.aot_last: dict[Path, int] = {}

    # -- low-level ---------------------------------------------------------------------

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def skip_ws(self, newlines: bool = False) -> None:
        """Skip blanks (and newlines and comments when ``newlines``)."""
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.advance()
            elif ch == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    def record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- document ----------------------------------------------------------------------

    def scan(self) -> dict[Path, int]:
        table: Path = ()
        while True:
            self.skip_ws(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            if self.peek(2) == "[[":
                self.advance(2)
                line = self.line
                keys = self.key(close="]]")
                table = self.open_array_table(keys, line)
            elif self.peek() == "[":
                self.advance()
                line = self.line
                keys = self.key(close="]")
                table = self.resolve(keys)
                self.record(table, line)
            else:
                self.key_value(table)

    def resolve(self, keys: list[str]) -> Path:
        """A header's keys as a path: an array of tables along the way means its last element."""
        path: Path = ()
        for key in keys:
            path = (*path, key)
            if path in self.aot_last:
                path = (*path, self.aot_last[path])
        return path

    def open_array_table(self, keys: list[str], line: int) -> Path:
        parent = self.resolve(keys[:-1])
        array = (*parent, keys[-1])
        index = self.aot_last.get(array, -1) + 1
        self.aot_last[array] = index
        self.record(array, line)
        self.record((*array, index), line)
        return (*array, index)

    def key(self, close: str | None = None) -> list[str]:
        """A (dotted) key; with ``close``, also the header's closing bracket(s)."""
        keys: list[str] = []
        while True:
            self.skip_ws()
            ch = self.peek()
            if ch in ('"', "'"):
                keys.append(self.quoted_key(ch))
            else:
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos] in _BARE_KEY:
                    self.advance()
                keys.append(self.text[start : self.pos])
            self.skip_ws()
            if self.peek() == ".":
                self.advance()
                continue
            if close is not None:
                self.advance(len(close))
            return keys

    def quoted_key(self, quote: str) -> str:
        self.advance()
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == quote:
                self.advance()
                return "".join(out)
            if quote == '"' and ch == "\\":
                out.append(self._escape())
                continue
            out.append(ch)
            self.advance()

    def _escape(self) -> str:
        """One escape sequence of a basic string (we are at the backslash)."""
        simple = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
        code = self.text[self.pos + 1]
        if code in simple:
            self.advance(2)
            return simple[code]
        width = 4 if code == "u" else 8
        digits = self.text[self.pos + 2 : self.pos + 2 + width]
        self.advance(2 + width)
        return chr(int(digits, 16))

    def key_value(self, table: Path) -> None:
        line = self.line
        keys = self.key()
        path = (*table, *keys)
        for depth in range(len(table) + 1, len(path) + 1):
            self.record(path[:depth], line)  # dotted keys define their tables here
        self.skip_ws()
        self.advance()  # "="
        self.skip_ws()
        self.value(path)

    # -- values ------------------------------------------------------------------------

    def value(self, path: Path) -> None:
        ch = self.peek()
        if ch == "[":
            self.array(path)
        elif ch == "{":
            self.inline_table(path)
        elif ch in ('"', "'"):
            self.string(ch)
        else:
            while self.pos < len(self.text) and self.text[self.pos] not in _VALUE_END:
                self.advance()

    def string(self, quote: str) -> None:
        if self.peek(3) == quote * 3:
            self.advance(3)
            while True:
                if quote == '"' and self.peek() == "\\":
                    self.advance(2)
                elif self.peek(3) == quote * 3:
                    # A closing delimiter may carry up to two extra quotes: """a"""""
                    self.advance(3)
                    while self.peek() == quote:
                        self.advance()
                    return
                else:
                    self.advance()
        self.advance()
        while True:
            ch = self.peek()
            if quote == '"' and ch == "\\":
                self.advance(2)
            elif ch == quote:
                self.advance()
                return
            else:
                self.advance()

    def items(self, closing: str) -> Iterator[None]:
        """Past the opening bracket, then once at the start of each item (commas and
        white space skipped) until the ``closing`` one, which it passes too."""
        self.advance()
        while True:
            self.skip_ws(newlines=True)
            if self.peek() == closing:
                self.advance()
                return
            if self.peek() == ",":
                self.advance()
                continue
            yield

    def array(self, path: Path) -> None:
        for index, _ in enumerate(self.items("]")):
            element = (*path, index)
            self.record(element, self.line)
            self.value(element)

    def inline_table(self, path: Path) -> None:
        for _ in self.items("}"):
            self.key_value(path)
