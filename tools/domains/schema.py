"""libvirt's own schema for domain XML (``domain.rng``, shipped with libvirt), so that a
definition libvirt would refuse is refused before it is stored.

The schema files are read from the machine's libvirt installation (the directory is a
parameter: tests and other layouts pass theirs); they include one another by relative
name, never over the network.
"""

from __future__ import annotations

import os

from havirt.tools.errors import BadRequest, HavirtError
from lxml import etree

SCHEMA_DIR = "/usr/share/libvirt/schemas"  # Debian's libvirt0 (and every other distribution's)
_LOADED: dict[str, etree.RelaxNG] = {}


def _schema(directory: str) -> etree.RelaxNG:
    if directory not in _LOADED:
        path = os.path.join(directory, "domain.rng")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            _LOADED[directory] = etree.RelaxNG(etree.parse(path, parser))
        except OSError:
            raise HavirtError(
                f"libvirt's domain schema {path} is missing",
                "install libvirt (Debian: libvirt0), or run havirt on a cluster node",
            ) from None
        except (etree.XMLSyntaxError, etree.RelaxNGParseError) as exc:
            raise HavirtError(f"libvirt's domain schema {path} is unusable: {exc}") from None
    return _LOADED[directory]


def check_schema(root: etree._Element, what: str, directory: str = SCHEMA_DIR) -> None:
    """Refuse (one line: where and what libvirt's schema says) when ``root`` is not a
    domain libvirt would accept."""
    schema = _schema(directory)
    if schema.validate(root):
        return
    errors = list(schema.error_log)
    # libxml2 reports from the inside out: the first error names the element at fault,
    # the last where validation gave up; both help.
    line = next((e.line for e in errors if e.line), 0)
    where = f" (line {line})" if line else ""
    said = "; ".join(dict.fromkeys(e.message for e in errors)) or "it does not match"
    raise BadRequest(
        f"{what} is not a libvirt domain definition{where}: {said}",
        "fix the XML (virt-xml-validate FILE domain shows every error)",
    )
