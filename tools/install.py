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
from havirt.tools.errors import HavirtError
from havirt.tools.userinput import read_only

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


def _writable_dir(path: str, what: str, option: str) -> None:
    """Refuse, before anything is written, a directory that cannot take the agents."""
    if not os.path.exists(path):
        raise HavirtError(f"{what} {path} does not exist", f"create it or pass {option}")
    if not os.path.isdir(path):
        raise HavirtError(f"{what} {path} is not a directory", f"pass a directory as {option}")
    if not os.access(path, os.W_OK):
        why = "is read-only" if read_only(path) else "is not writable by this user"
        raise HavirtError(f"{what} {path} {why}", f"run as root or pass another {option}")


def _os_error(exc: OSError) -> HavirtError:
    return HavirtError(
        f"cannot write {exc.filename}: {exc.strerror}; nothing was installed",
        "run as root, or check the directories given with --ocf-root and --fence-dir",
    )


def _read_manifest(provider_dir: str) -> list[InstalledFile]:
    path = _manifest_path(provider_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            return [InstalledFile(**e) for e in json.load(handle)]
    except FileNotFoundError:
        return []
    except (ValueError, TypeError, OSError) as exc:
        raise HavirtError(
            f"the install manifest {path} is damaged ({exc})", "remove the agents by hand"
        ) from None


def install(ocf_root: str, fence_dir: str, python: str | None = None) -> InstallReport:
    """Write every agent and the manifest, all or nothing.

    Each agent is written to a temporary file next to its place first; only when all
    were written is the manifest saved (naming every file, so ``--uninstall`` can
    always remove what is there) and the agents renamed into place. A failure before
    that removes the temporary files and leaves the system as it was."""
    provider_dir = os.path.join(ocf_root, "resource.d", PROVIDER)
    if not os.path.isdir(ocf_root):
        raise HavirtError(
            f"OCF root {ocf_root} does not exist"
            if not os.path.exists(ocf_root)
            else f"OCF root {ocf_root} is not a directory",
            "install resource-agents (apt-get install resource-agents) or pass --ocf-root",
        )
    _writable_dir(fence_dir, "fence agent directory", "--fence-dir")
    existing = provider_dir  # the deepest part of it that exists takes the new folders
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    _writable_dir(existing, "OCF directory", "--ocf-root")
    previous = _read_manifest(provider_dir)
    made_dirs: list[str] = []
    staged: list[tuple[str, str]] = []  # (temporary file, final path)
    written: list[InstalledFile] = []
    try:
        for directory in (os.path.dirname(provider_dir), provider_dir):
            if not os.path.isdir(directory):
                os.mkdir(directory, 0o755)
                made_dirs.append(directory)
        for name, (kind, module) in AGENTS.items():
            path = os.path.join(provider_dir if kind == "ocf" else fence_dir, name)
            content = launcher(module, python).encode()
            tmp = f"{path}.havirt-tmp"
            with open(tmp, "wb") as handle:
                staged.append((tmp, path))
                handle.write(content)
            os.chmod(tmp, 0o755)
            written.append(InstalledFile(path, kind, _sha(content)))
        # Files of an earlier install elsewhere (another --fence-dir) stay listed.
        paths = {f.path for f in written}
        listed = written + [f for f in previous if f.path not in paths]
        manifest = _manifest_path(provider_dir)
        with open(f"{manifest}.havirt-tmp", "w", encoding="utf-8") as handle:
            staged.append((f"{manifest}.havirt-tmp", manifest))
            json.dump([asdict(f) for f in listed], handle, indent=1)
    except OSError as exc:
        for tmp, _ in staged:
            _unlink(tmp)
        for directory in reversed(made_dirs):
            _rmdir(directory)
        raise _os_error(exc) from None
    # The manifest first: from here on, --uninstall knows every file.
    try:
        for tmp, path in [staged[-1], *staged[:-1]]:
            os.replace(tmp, path)  # atomic: Pacemaker never runs a half-written agent
    except OSError as exc:
        for tmp, _ in staged:
            _unlink(tmp)
        raise HavirtError(
            f"cannot put {exc.filename} in place: {exc.strerror}",
            "fix the cause and run install-agents again, or --uninstall",
        ) from None
    return InstallReport(ocf_root, provider_dir, tuple(written), (), ())


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def uninstall(ocf_root: str) -> InstallReport:
    provider_dir = os.path.join(ocf_root, "resource.d", PROVIDER)
    entries = _read_manifest(provider_dir)
    if not entries and not os.path.exists(_manifest_path(provider_dir)):
        return InstallReport(ocf_root, provider_dir, (), (), ())
    removed: list[str] = []
    kept: list[str] = []
    try:
        for entry in entries:
            try:
                with open(entry.path, "rb") as handle:
                    current = _sha(handle.read(1 << 20))
            except FileNotFoundError:
                continue
            if current != entry.sha256:
                kept.append(entry.path)  # someone changed it: not ours to delete any more
                continue
            os.unlink(entry.path)
            removed.append(entry.path)
        os.unlink(_manifest_path(provider_dir))
    except OSError as exc:
        raise HavirtError(
            f"cannot remove {exc.filename}: {exc.strerror}"
            + (f" (removed so far: {', '.join(removed)})" if removed else ""),
            "run as root; the manifest still lists what is left",
        ) from None
    try:
        os.rmdir(provider_dir)
    except OSError:
        pass  # not empty: other files are there, leave them
    return InstallReport(ocf_root, provider_dir, (), tuple(removed), tuple(kept))
