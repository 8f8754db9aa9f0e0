"""A CIB's version (admin_epoch, epoch, num_updates). Pure parsing, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from havirt.tools.errors import HavirtError
from havirt.tools.userinput import parse_xml, quote


@dataclass(frozen=True)
class CibVersion:
    """A CIB's version. (admin_epoch, epoch) changes with every configuration change;
    num_updates only with status updates."""

    admin_epoch: int
    epoch: int
    num_updates: int

    @classmethod
    def of(cls, cib_xml: str | bytes) -> CibVersion:
        root = parse_xml(cib_xml, "the CIB")
        numbers = []
        for name in ("admin_epoch", "epoch", "num_updates"):
            text = root.get(name, "0")
            if not (text.isascii() and text.isdigit() and len(text) <= 18):
                raise HavirtError(
                    f"the CIB's {name} is {quote(text)}, not a whole number",
                    "check the CIB (cibadmin --query)",
                )
            numbers.append(int(text))
        return cls(*numbers)

    @property
    def configuration(self) -> tuple[int, int]:
        return (self.admin_epoch, self.epoch)

    def __str__(self) -> str:
        return f"{self.admin_epoch}.{self.epoch}.{self.num_updates}"
