"""/proc/self/mountinfo parsing: escapes, optional fields, stacked mounts."""

from __future__ import annotations

from havirt.agents.pool import mountinfo

TEXT = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "130 22 0:55 / /var/lib/libvirt/images rw,nosuid,nodev,noexec,relatime shared:70 master:3"
    " - nfs4 nfs1:/export/images rw,vers=4.2\n"
    "131 130 0:61 / /var/lib/libvirt/images rw,nosuid,nodev,relatime - fuse /srv/src"
    " rw,user_id=0\n"
    "140 22 7:0 / /mnt/with\\040space\\134x rw - ext4 /dev/loop0 rw\n"
    "garbage line\n"
)


def test_parse() -> None:
    mounts = mountinfo.parse(TEXT)
    assert len(mounts) == 4
    assert mounts[1] == mountinfo.Mount(
        "/var/lib/libvirt/images", "nfs4", "nfs1:/export/images", "rw,nosuid,nodev,noexec,relatime"
    )
    assert mounts[3].mount_point == "/mnt/with space\\x"


def test_mounts_at_lists_stacked_mounts_bottom_first_and_matches_as_text() -> None:
    mounts = mountinfo.parse(TEXT)
    stacked = mountinfo.mounts_at("/var/lib/libvirt/images/", mounts)
    assert [m.fstype for m in stacked] == ["nfs4", "fuse"]
    assert mountinfo.mounts_at("/var/lib/libvirt", mounts) == []
    assert mountinfo.mounts_at("/mnt/with space\\x", mounts)[0].source == "/dev/loop0"
