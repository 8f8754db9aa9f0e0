"""Install havirt's agents where Pacemaker looks for them.

OCF agents go to ``$OCF_ROOT/resource.d/havirt/`` (mode 0755); fence agents
are regular files named ``fence_*`` in the fence agents' directory. Each is a
tiny launcher bound to the Python interpreter havirt is installed in. A
manifest records what was written (with checksums), so ``--uninstall`` removes
exactly that and nothing an admin changed or added.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass

from havirt.ocf.runner import CommandRunner

from .errors import HavirtError

PROVIDER = "havirt"
MANIFEST = ".havirt-manifest.json"
DEFAULT_OCF_ROOT = "/usr/lib/ocf"
DEFAULT_FENCE_DIR = "/usr/sbin"

# executable name -> (kind, module with a main())
AGENTS: dict[str, tuple[str, str]] = {
    "VirtualDomain": ("ocf", "havirt.agents.virtual_domain"),
    "fence_havirt": ("fence", "havirt.agents.fence_havirt"),
    "StoragePool": ("ocf", "havirt.agents.storage_pool"),
}


@dataclass(frozen=True)
class InstalledFile:
    path: str
    kind: str
    sha256: str


@dataclass(frozen=True)
class InstallReport:
    ocf_root: str
    provider_dir: str
    written: tuple[InstalledFile, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]  # files left alone (changed by someone else)


def default_ocf_root(runner: CommandRunner | None = None) -> str:
    """OCF_ROOT as resource-agents' pkg-config file says, else the usual path."""
    runner = runner or CommandRunner()
    result = runner.run(["pkg-config", "--variable=ocfrootdir", "resource-agents"], timeout=10)
    root = result.stdout.strip() if result.ok else ""
    return root or DEFAULT_OCF_ROOT


def _import_roots() -> tuple[str, str]:
    """(directory holding havirt's packages, this environment's site-packages)."""
    import sysconfig

    import havirt.ocf

    package_parent = os.path.dirname(os.path.abspath(havirt.ocf.__path__[0]))
    return package_parent, sysconfig.get_paths()["purelib"]


def launcher(module: str, python: str | None = None) -> str:
    """A launcher that starts fast: Pacemaker runs the guest agent's monitor every few
    seconds for every guest, so it skips site processing (-S: no .pth scanning, no
    editable-install finder) and puts exactly the two directories it needs on sys.path."""
    python = python or sys.executable
    package_parent, site = _import_roots()
    return (
        f"#!{python} -IS\n"
        "# Installed by 'havirt install-agents'; removed by its --uninstall.\n"
        "import sys\n"
        "import types\n\n"
        f"sys.path[0:0] = [{site!r}]\n"
        "# havirt is a namespace whose packages (ocf, agents, tools) live side by side here:\n"
        "_havirt = types.ModuleType('havirt')\n"
        f"_havirt.__path__ = [{package_parent!r}]\n"
        "sys.modules['havirt'] = _havirt\n\n"
        f"from {module} import main\n\n"
        "main()\n"
    )


def _sha(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def _manifest_path(provider_dir: str) -> str:
    return os.path.join(provider_dir, MANIFEST)


def _write_exec(path: str, content: str) -> None:
    tmp = f"{path}.havirt-tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)  # atomic: Pacemaker never runs a half-written agent


def install(ocf_root: str, fence_dir: str, python: str | None = None) -> InstallReport:
    provider_dir = os.path.join(ocf_root, "resource.d", PROVIDER)
    if not os.path.isdir(ocf_root):
        raise HavirtError(
            f"OCF root {ocf_root} does not exist",
            "install resource-agents (apt-get install resource-agents) or pass --ocf-root",
        )
    try:
        os.makedirs(provider_dir, mode=0o755, exist_ok=True)
        written: list[InstalledFile] = []
        for name, (kind, module) in AGENTS.items():
            directory = provider_dir if kind == "ocf" else fence_dir
            path = os.path.join(directory, name)
            content = launcher(module, python)
            _write_exec(path, content)
            written.append(InstalledFile(path, kind, _sha(content.encode())))
        with open(_manifest_path(provider_dir), "w", encoding="utf-8") as handle:
            json.dump([asdict(f) for f in written], handle, indent=1)
    except PermissionError as exc:
        raise HavirtError(
            f"cannot write {exc.filename}: permission denied", "run as root"
        ) from None
    return InstallReport(ocf_root, provider_dir, tuple(written), (), ())


def uninstall(ocf_root: str) -> InstallReport:
    provider_dir = os.path.join(ocf_root, "resource.d", PROVIDER)
    try:
        with open(_manifest_path(provider_dir), encoding="utf-8") as handle:
            entries = [InstalledFile(**e) for e in json.load(handle)]
    except FileNotFoundError:
        return InstallReport(ocf_root, provider_dir, (), (), ())
    except (ValueError, TypeError) as exc:
        raise HavirtError(
            f"the install manifest {_manifest_path(provider_dir)} is damaged ({exc})",
            "remove the agents by hand",
        ) from None
    removed: list[str] = []
    kept: list[str] = []
    for entry in entries:
        try:
            with open(entry.path, "rb") as handle:
                current = _sha(handle.read())
        except FileNotFoundError:
            continue
        if current != entry.sha256:
            kept.append(entry.path)  # someone changed it: not ours to delete any more
            continue
        os.unlink(entry.path)
        removed.append(entry.path)
    os.unlink(_manifest_path(provider_dir))
    try:
        os.rmdir(provider_dir)
    except OSError:
        pass  # not empty: other files are there, leave them
    return InstallReport(ocf_root, provider_dir, (), tuple(removed), tuple(kept))
