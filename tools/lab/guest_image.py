"""Assets for the lab's tiny test guest, and the domain XML that boots it.

The guest is a Debian 6.1 kernel plus a busybox-static initramfs whose /init
(see :mod:`havirt.tools.lab.guest_init`) prints a ready marker on ttyS0,
powers off on the ACPI power button and answers a few guest agent commands.
It needs no root filesystem; the qcow2 disk it gets is only there so that the
domain looks like a real one (and migrations carry a disk).

Assets are built once into a cache directory and reused while the recipe
(init script, module list, busybox binary) is unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import re
import shutil
import struct
import tempfile
import uuid as uuidlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from havirt.tools.lab.cpio import CpioArchive
from havirt.tools.lab.guest_init import AGENT_PORT_NAME, MODULE_LIST_PATH, render_init_script
from havirt.tools.lab.proc import LabError, run
from lxml import etree

DEFAULT_CACHE_DIR = Path("/var/cache/havirt-lab/guest")
BUSYBOX = Path("/bin/busybox")
QEMU_BINARY = "/usr/bin/qemu-system-x86_64"
APT_ARCHIVES = Path("/var/cache/apt/archives")
KERNEL_PACKAGE_RE = re.compile(r"^linux-image-6\.1\.0-(\d+)-amd64$")
# Loaded by /init in dependency order: the ACPI power button and its input
# events, virtio-serial for the guest agent channel, virtio-blk for the disk.
WANTED_MODULES = ("button", "evdev", "virtio_pci", "virtio_console", "virtio_blk")
RECIPE_VERSION = "1"
DEFAULT_CMDLINE = ("console=ttyS0", "panic=-1")


@dataclass(frozen=True)
class GuestAssets:
    """Paths of a built guest: kernel and initramfs (both readable by any node)."""

    kernel: Path
    initrd: Path
    kernel_version: str
    kernel_package: str


# ---------------------------------------------------------------- kernel


def kernel_package_candidates(timeout: float = 60.0) -> list[str]:
    """Names of linux-image-6.1.0-N-amd64 packages apt knows, newest ABI first."""
    out = run(["apt-cache", "pkgnames", "linux-image-6.1.0-"], timeout=timeout, check=True)
    found = []
    for name in out.stdout.split():
        match = KERNEL_PACKAGE_RE.match(name)
        if match:
            found.append((int(match.group(1)), name))
    return [name for _, name in sorted(found, reverse=True)]


def download_kernel_package(
    dest: Path,
    timeout: float = 600.0,
    archives: Path = APT_ARCHIVES,
    known: Callable[[], list[str]] = kernel_package_candidates,
) -> Path:
    """`apt-get download` the newest installable 6.1 kernel image into ``dest``, or take
    it from apt's own cache ``archives`` when it is there (a machine without a way to
    a mirror, like the Vagrant lab's, whose box keeps its kernel's package there).
    ``known``: the candidate packages, newest first."""
    candidates = known()
    if not candidates:
        raise LabError(
            "no linux-image-6.1.0-N-amd64 package known to apt (run 'apt-get update' first)"
        )
    for name in candidates:
        cached = sorted(archives.glob(f"{name}_*.deb"))
        if cached:
            return Path(shutil.copy(cached[-1], dest))
    errors = []
    for name in candidates[:5]:
        result = run(["apt-get", "download", name], cwd=dest, timeout=timeout)
        debs = sorted(dest.glob(f"{name}_*.deb"))
        if result.ok and debs:
            return debs[0]
        errors.append(result.describe())
    raise LabError("could not download a kernel package: " + "; ".join(errors))


def modinfo_depends(ko: bytes) -> list[str]:
    """The ``depends=`` list from a kernel module's ``.modinfo`` ELF section."""
    if ko[:4] != b"\x7fELF" or ko[4] != 2 or ko[5] != 1:
        raise LabError("not a little-endian ELF64 kernel module")
    shoff = struct.unpack_from("<Q", ko, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        name = struct.unpack_from("<I", ko, base)[0]
        offset, size = struct.unpack_from("<QQ", ko, base + 0x18)
        return name, offset, size

    _, str_off, _ = section(shstrndx)
    for index in range(shnum):
        name_off, offset, size = section(index)
        name = ko[str_off + name_off : ko.index(b"\0", str_off + name_off)]
        if name == b".modinfo":
            for entry in ko[offset : offset + size].split(b"\0"):
                if entry.startswith(b"depends="):
                    value = entry[len(b"depends=") :].decode()
                    return [dep for dep in value.split(",") if dep]
            return []
    return []


def module_load_order(modules_dir: Path, wanted: Sequence[str]) -> list[Path]:
    """The .ko files for ``wanted`` and their dependencies, dependencies first.

    Modules built into the kernel (no .ko file) are skipped.
    """
    index: dict[str, Path] = {}
    for ko in modules_dir.rglob("*.ko"):
        index[ko.stem.replace("-", "_")] = ko
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        key = name.replace("-", "_")
        if key in seen or key not in index:
            return
        seen.add(key)
        for dep in modinfo_depends(index[key].read_bytes()):
            visit(dep)
        order.append(index[key])

    for name in wanted:
        visit(name)
    return order


def extract_kernel(deb: Path, dest: Path, scratch: Path) -> tuple[str, list[Path]]:
    """Unpack ``deb``; copy vmlinuz and the wanted modules to ``dest``.

    Returns the kernel version and the copied modules in load order.
    """
    run(["dpkg-deb", "-x", deb, scratch], timeout=300, check=True)
    kernels = sorted((scratch / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise LabError(f"no /boot/vmlinuz-* in {deb.name}")
    version = kernels[0].name.removeprefix("vmlinuz-")
    shutil.copyfile(kernels[0], dest / "vmlinuz")
    moddir = next(
        (
            p
            for p in (scratch / "lib/modules" / version, scratch / "usr/lib/modules" / version)
            if p.is_dir()
        ),
        None,
    )
    if moddir is None:
        raise LabError(f"no modules for {version} in {deb.name}")
    (dest / "modules").mkdir(exist_ok=True)
    ordered = []
    for ko in module_load_order(moddir, WANTED_MODULES):
        target = dest / "modules" / ko.name
        shutil.copyfile(ko, target)
        ordered.append(target)
    (dest / "modules" / "order").write_text("".join(f"{p.name}\n" for p in ordered))
    return version, ordered


# ---------------------------------------------------------------- initramfs


def is_static_elf(binary: bytes) -> bool:
    """True for an ELF64 executable without a PT_INTERP (dynamic loader) header."""
    if binary[:4] != b"\x7fELF" or binary[4] != 2:
        return False
    phoff = struct.unpack_from("<Q", binary, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", binary, 0x36)
    pt_interp = 3
    types = (struct.unpack_from("<I", binary, phoff + i * phentsize)[0] for i in range(phnum))
    return pt_interp not in types


def build_initramfs(modules: Sequence[Path], busybox: Path = BUSYBOX) -> bytes:
    """A gzipped newc initramfs: static busybox, the /init script, ``modules``."""
    busybox_bytes = busybox.read_bytes()
    if not is_static_elf(busybox_bytes):
        raise LabError(f"{busybox} is not statically linked: install busybox-static")
    archive = CpioArchive()
    for directory in (
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run",
        "root", "etc", "etc/havirt", "lib", "lib/modules",
    ):  # fmt: skip
        archive.add_dir(directory)
    archive.add_chardev("dev/console", 5, 1)
    archive.add_file("bin/busybox", busybox_bytes, 0o755)
    archive.add_symlink("bin/sh", "busybox")
    archive.add_file("init", render_init_script().encode(), 0o755)
    names = []
    for ko in modules:
        archive.add_file(f"lib/modules/{ko.name}", ko.read_bytes())
        names.append(ko.stem)
    archive.add_file(MODULE_LIST_PATH.lstrip("/"), "".join(f"{n}\n" for n in names).encode())
    return gzip.compress(archive.getvalue(), compresslevel=6, mtime=0)


def recipe_digest(busybox: Path = BUSYBOX) -> str:
    """Changes whenever the initramfs would come out different."""
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    digest.update(render_init_script().encode())
    digest.update(",".join(WANTED_MODULES).encode())
    digest.update(busybox.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_guest_assets(
    cache_dir: Path | str = DEFAULT_CACHE_DIR, *, force: bool = False
) -> GuestAssets:
    """Return the cached guest assets, building what is missing or stale.

    The first build downloads a kernel package (~70 MB) with apt-get; later
    calls only check the stamp file. Safe to call from concurrent processes.
    """
    cache = Path(cache_dir)
    with _locked(cache):
        stamp_path = cache / "assets.json"
        stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
        kernel, initrd = cache / "vmlinuz", cache / "initrd.gz"
        order_file = cache / "modules" / "order"
        have_kernel = kernel.exists() and order_file.exists() and "kernel_version" in stamp
        if force or not have_kernel:
            stamp = {}
            # Unpacked in the local temporary directory, not in the cache: the cache
            # may be on NFS (the Vagrant lab's), where unpacking 400 MB of a kernel
            # package takes minutes; only the kernel and a few modules are kept.
            with tempfile.TemporaryDirectory(prefix="havirt-kernel-") as tmp:
                downloads, scratch = Path(tmp, "deb"), Path(tmp, "x")
                downloads.mkdir()
                scratch.mkdir()
                deb = download_kernel_package(downloads)
                version, _ = extract_kernel(deb, cache, scratch)
            stamp["kernel_version"] = version
            stamp["kernel_package"] = deb.name.split("_")[0]
        digest = recipe_digest()
        if stamp.get("recipe") != digest or not initrd.exists():
            modules = [cache / "modules" / n for n in order_file.read_text().split()]
            _atomic_write(initrd, build_initramfs(modules))
            stamp["recipe"] = digest
            _atomic_write(stamp_path, json.dumps(stamp, indent=2).encode())
        return GuestAssets(kernel, initrd, stamp["kernel_version"], stamp["kernel_package"])


# ---------------------------------------------------------------- domain


def create_disk(path: Path | str, size_mib: int = 64) -> Path:
    """Create an empty qcow2 image (``qemu-img create``); replaces an old one."""
    disk = Path(path)
    disk.parent.mkdir(parents=True, exist_ok=True)
    disk.unlink(missing_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", disk, f"{size_mib}M"], timeout=60, check=True)
    return disk


def guest_cmdline(
    name: str,
    *,
    ignore_acpi: bool = False,
    ignore_shutdown: bool = False,
    agent_responds: bool = True,
    extra: Sequence[str] = (),
) -> str:
    """The kernel command line for the test guest (see guest_init for the switches)."""
    words = [*DEFAULT_CMDLINE, f"havirt.name={name}"]
    if ignore_acpi:
        words.append("havirt.ignore_acpi=1")
    if ignore_shutdown:
        words.append("havirt.ignore_shutdown=1")
    if not agent_responds:
        words.append("havirt.agent=0")
    return " ".join([*words, *extra])


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def domain_xml(
    *,
    name: str,
    uuid: str,
    assets: GuestAssets,
    disk: Path | str,
    console_log: Path | str,
    cmdline: str | None = None,
    memory_mib: int = 128,
    agent_channel: bool = True,
) -> str:
    """A libvirt domain definition for the test guest (TCG: ``type='qemu'``).

    Paths are as the libvirt daemon sees them. The serial console is appended
    to ``console_log``, so a migrated guest keeps writing to the same file.
    """
    str(uuidlib.UUID(uuid))  # raises ValueError on a malformed uuid
    domain = etree.Element("domain", type="qemu")
    _sub(domain, "name", name)
    _sub(domain, "uuid", uuid)
    _sub(domain, "memory", str(memory_mib), unit="MiB")
    _sub(domain, "vcpu", "1")
    os_el = _sub(domain, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    _sub(os_el, "kernel", str(assets.kernel))
    _sub(os_el, "initrd", str(assets.initrd))
    _sub(os_el, "cmdline", cmdline if cmdline is not None else guest_cmdline(name))
    _sub(_sub(domain, "features"), "acpi")
    _sub(domain, "clock", offset="utc")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    devices = _sub(domain, "devices")
    _sub(devices, "emulator", QEMU_BINARY)
    disk_el = _sub(devices, "disk", type="file", device="disk")
    _sub(disk_el, "driver", name="qemu", type="qcow2", cache="none")
    _sub(disk_el, "source", file=str(disk))
    _sub(disk_el, "target", dev="vda", bus="virtio")
    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=str(console_log), append="on")
    _sub(serial, "target", port="0")
    if agent_channel:
        channel = _sub(devices, "channel", type="unix")
        _sub(channel, "target", type="virtio", name=AGENT_PORT_NAME)
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="none")
    return etree.tostring(domain, pretty_print=True, encoding="unicode")
