"""Which running guests use a pool, from their live XML."""

from __future__ import annotations

from havirt.agents.pool import usage as pool_usage

LIVE = """<domain type='kvm' id='3'>
  <name>vm1</name>
  <os><type>hvm</type><kernel>/srv/images/boot/vmlinuz</kernel>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/local/overlay.qcow2' index='2'/>
      <backingStore type='file' index='1'>
        <format type='qcow2'/>
        <source file='/srv/images/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda'/>
    </disk>
    <disk type='volume' device='disk'>
      <source pool='images' volume='data.raw'/>
      <target dev='vdb'/>
    </disk>
    <disk type='block' device='disk'><source dev='/dev/vg0/lv1'/><target dev='vdc'/></disk>
    <filesystem type='mount'><source dir='/srv/images/share'/><target dir='share'/></filesystem>
    <serial type='file'><source path='/var/log/vm1.log'/></serial>
    <console type='pty'><source path='/dev/pts/3'/></console>
  </devices>
</domain>"""


def test_every_path_is_found_including_the_backing_chain() -> None:
    paths = pool_usage.referenced_paths(LIVE)
    assert "/srv/images/base.qcow2" in paths  # a backing file counts
    assert "/srv/images/share" in paths and "/srv/images/boot/vmlinuz" in paths
    assert "/dev/vg0/lv1" in paths and "/usr/share/OVMF/OVMF_CODE.fd" in paths
    assert len(paths) == len(set(paths))


def test_uses() -> None:
    assert pool_usage.uses(LIVE, "other", "/srv/images") == [
        "/srv/images/base.qcow2",
        "/srv/images/share",
        "/srv/images/boot/vmlinuz",
    ]
    assert pool_usage.uses(LIVE, "images", "/nowhere") == ["images/data.raw"]
    assert pool_usage.uses(LIVE, "vg0", "/dev/vg0") == ["/dev/vg0/lv1"]
    assert pool_usage.uses(LIVE, "x", "/srv/img") == []  # a prefix is not a parent directory
    assert pool_usage.uses(LIVE, "x", None, ["/dev/vg0//lv1"]) == ["/dev/vg0/lv1"]


def test_is_under() -> None:
    assert pool_usage.is_under("/srv/images", "/srv/images/")
    assert pool_usage.is_under("/srv/images/a/../b", "/srv/images")
    assert not pool_usage.is_under("/srv/images2/a", "/srv/images")
    assert not pool_usage.is_under("/anything", "/")
