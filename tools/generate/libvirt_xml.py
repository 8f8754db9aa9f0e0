"""libvirt storage pool and network definitions for every node.

The same XML on every node is the point: live migration needs the same pool at
the same path and the same network on both ends (``havirt validate`` checks
the nodes against these). A pool Pacemaker manages (an NFS storage with
``managed = true``) is started by its StoragePool clone: define it on each
node without autostart.
"""

from __future__ import annotations

from havirt.tools.inventory import Inventory, Network, Storage
from lxml import etree

FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"


def _text(parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    el.text = text
    return el


def pool_xml(storage: Storage) -> str:
    if storage.type == "nfs":
        nsmap = {"fs": FS_NS} if storage.mount_options else None
        pool = etree.Element("pool", {"type": "netfs"}, nsmap=nsmap)
        _text(pool, "name", storage.name)
        source = etree.SubElement(pool, "source")
        etree.SubElement(source, "host", name=storage.server or "")
        etree.SubElement(source, "dir", path=storage.export or "")
        etree.SubElement(source, "format", type="nfs")
    else:
        pool = etree.Element("pool", {"type": "dir"})
        _text(pool, "name", storage.name)
    target = etree.SubElement(pool, "target")
    _text(target, "path", storage.target)
    if storage.type == "nfs" and storage.mount_options:
        opts = etree.SubElement(pool, f"{{{FS_NS}}}mount_opts")
        for option in storage.mount_options:
            etree.SubElement(opts, f"{{{FS_NS}}}option", name=option)
    return etree.tostring(pool, pretty_print=True, encoding="unicode")


def network_xml(inv: Inventory, network: Network) -> str:
    net = etree.Element("network")
    _text(net, "name", network.name)
    if network.forward != "isolated":
        etree.SubElement(net, "forward", mode=network.forward)
    if network.forward == "bridge":
        etree.SubElement(net, "bridge", name=network.bridge)
        return etree.tostring(net, pretty_print=True, encoding="unicode")
    etree.SubElement(net, "bridge", name=network.bridge, stp="on", delay="0")
    if network.domain:
        etree.SubElement(net, "domain", name=network.domain)
    assert network.address is not None and network.address.prefix is not None  # the loader's rule
    ip = etree.SubElement(
        net, "ip", address=str(network.address.ip), prefix=str(network.address.prefix)
    )
    hosts = [g for g in inv.guests if g.network == network.name and g.mac and g.ip]
    if hosts:
        dhcp = etree.SubElement(ip, "dhcp")
        for guest in hosts:
            assert guest.mac is not None and guest.ip is not None
            etree.SubElement(dhcp, "host", mac=guest.mac, name=guest.name, ip=str(guest.ip.ip))
    return etree.tostring(net, pretty_print=True, encoding="unicode")
