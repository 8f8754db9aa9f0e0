"""Where the lab guest's kernel package comes from: apt's own cache first (the Vagrant
lab's machines have no mirror to download from), else apt-get download."""

from __future__ import annotations

from pathlib import Path

from havirt.tools.lab.guest_image import download_kernel_package


def test_the_kernel_package_in_apts_cache_is_taken_without_a_download(tmp_path: Path) -> None:
    archives, dest = tmp_path / "archives", tmp_path / "dest"
    archives.mkdir()
    dest.mkdir()
    (archives / "linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb").write_bytes(b"deb")
    (archives / "linux-image-6.1.0-49-amd64_6.1.170-1_amd64.deb").write_bytes(b"old")
    deb = download_kernel_package(
        dest,
        archives=archives,
        known=lambda: ["linux-image-6.1.0-51-amd64", "linux-image-6.1.0-50-amd64"],
    )
    # the newest package that is cached (51 is known to apt but not downloaded)
    assert deb == dest / "linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb"
    assert deb.read_bytes() == b"deb"
