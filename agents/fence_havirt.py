"""fence_havirt - fence cluster nodes that are libvirt guests, through the libvirt API.

The nodes of a cluster of virtual machines (the nested lab, or any cluster of
VMs) are powered off and on at the hypervisor that runs them: off is libvirt's
destroy (a hard power-off), on is start, the status is the domain's state, and
the plug is the domain's name or UUID. The hypervisor is a libvirt URI
(``qemu+ssh://``, ``qemu+libssh://``, ``qemu+tls://``, ``qemu+tcp://``,
``qemu:///system``): no shell, no prompt parsing, no pexpect.

SSH host keys are always checked: a URI with ``no_verify`` (or libssh's
``known_hosts_verify=ignore|auto``) is refused, ``qemu+ssh`` URIs get
``no_tty=1`` (ssh's BatchMode: an unknown host key fails instead of asking), and
the auth callback answers only a user name and a password, never "accept this
host key".
"""

from __future__ import annotations

from havirt.agents.guest.migration import check_uri
from havirt.ocf.fencing import OFF, ON, FenceAgent, FenceContext, FenceError, FenceOption, Plug
from havirt.ocf.params import shown

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from havirt.agents.libvirt.protocols import Domain, Hypervisor
    from havirt.ocf.params import Params

    T = TypeVar("T")
    # Hypervisor's signature: (uri, deadline, budget=None, credentials=None,
    # connect_timeout=None).
    HypervisorFactory = Callable[..., Hypervisor]

SSH_TRANSPORTS = ("ssh", "libssh", "libssh2")
_HEX = frozenset("0123456789abcdefABCDEF")


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else "must be a TCP port (1-65535)"


def _absolute(value: str) -> str | None:
    return None if value.startswith("/") else f"{shown(value)} must be an absolute path"


OPTIONS: tuple[FenceOption, ...] = (
    FenceOption(
        "uri",
        "libvirt URI of the hypervisor that runs the nodes, e.g. "
        "qemu+ssh://root@host/system, qemu+tls://host/system, qemu:///system",
        metavar="uri",
    ),
    FenceOption(
        "ip",
        "Hypervisor host name or address: short for uri=qemu+ssh://[username@]ip[:ipport]/system",
        short="a",
        metavar="host",
    ),
    FenceOption(
        "ipport",
        "SSH port of the hypervisor (with ip)",
        type="integer",
        short="u",
        metavar="port",
        check=_port,
    ),
    FenceOption(
        "username",
        "User name: the SSH login with ip; given to libvirt when it asks for one (SASL, libssh)",
        short="l",
        metavar="name",
    ),
    FenceOption(
        "identity_file",
        "SSH private key for the ssh, libssh and libssh2 transports (libvirt's keyfile=)",
        short="k",
        metavar="path",
        check=_absolute,
    ),
    FenceOption(
        "known_hosts",
        "known_hosts file for the libssh and libssh2 transports (qemu+ssh uses OpenSSH's own)",
        metavar="path",
        check=_absolute,
    ),
    FenceOption(
        "missing_as_off",
        "Report a domain the hypervisor does not know as OFF instead of failing",
        type="boolean",
    ),
)


class LibvirtFailure(FenceError):
    """libvirt answered a call with an error; ``code`` is libvirt's error number."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


def looks_like_uuid(text: str) -> bool:
    bare = text.replace("-", "")
    if len(bare) != 32 or not set(bare) <= _HEX:
        return False
    dashes = text[8:9] + text[13:14] + text[18:19] + text[23:24]
    return len(text) == 32 or (len(text) == 36 and dashes == "----")


def _query(uri: str) -> list[tuple[str, str]]:
    query = uri.partition("?")[2]
    pairs = []
    for item in query.replace(";", "&").split("&"):
        if item:
            key, _, value = item.partition("=")
            pairs.append((key, value))
    return pairs


def _quoted(path: str) -> str:
    from urllib.parse import quote  # only when a key or known_hosts file is configured

    return quote(path, safe="/._-~+")


def connection_uri(opts: Params) -> str:
    """The libvirt URI to connect to, built and checked from the options.

    Raises FenceError for a missing or malformed URI and for anything that would
    turn the SSH host key check off."""
    uri: str = opts.get("uri") or ""  # built from ip below when not given
    ip = opts.get("ip")
    if uri and ip:
        raise FenceError("give either uri or ip, not both (ip is short for a qemu+ssh uri)")
    if not uri and not ip:
        raise FenceError(
            "no hypervisor given: set uri=qemu+ssh://root@HOST/system (or ip=HOST, "
            "short for that URI)"
        )
    if ip:
        if any(c in ip for c in "/?@#& ") or ip.startswith("-"):
            raise FenceError(f"option ip: {shown(ip)} is not a host name or address")
        host = f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
        user = f"{opts.username}@" if opts.get("username") else ""
        port = f":{opts.ipport}" if opts.get("ipport") else ""
        uri = f"qemu+ssh://{user}{host}{port}/system"
    elif opts.get("ipport"):
        raise FenceError(
            "ipport applies only with ip; with uri, put the port into it "
            "(qemu+ssh://HOST:PORT/system)"
        )
    problem = check_uri(uri, "uri")
    if problem:
        raise FenceError(f"option uri: {problem}")
    transport = uri.partition("://")[0].partition("+")[2]
    userinfo = uri.partition("://")[2].split("/", 1)[0].rpartition("@")[0]
    if ":" in userinfo:
        raise FenceError(
            "option uri: it carries a password (user:password@), which every log would show: "
            "use password_file or password_script"
        )
    params = dict(_query(uri))
    extra: list[str] = []
    if transport in SSH_TRANSPORTS:
        if params.get("no_verify", "0") != "0":
            raise FenceError(
                "option uri: no_verify turns the SSH host key check off, so a spoofed "
                "hypervisor could answer for the real one: remove it and put the "
                "hypervisor's host key into known_hosts"
            )
        if params.get("known_hosts_verify", "normal") != "normal":
            raise FenceError(
                f"option uri: known_hosts_verify={params['known_hosts_verify']} does not check "
                "unknown SSH host keys: remove it and put the hypervisor's host key into "
                "known_hosts"
            )
        if transport == "ssh":
            if params.get("no_tty", "1") != "1":
                raise FenceError(
                    "option uri: no_tty must stay 1 (ssh's BatchMode): ssh must never ask "
                    "whether to trust a host key or for a password"
                )
            if "no_tty" not in params:
                extra.append("no_tty=1")
        for option, param in (("identity_file", "keyfile"), ("known_hosts", "known_hosts")):
            path = opts.get(option)
            if not path:
                continue
            if param == "known_hosts" and transport == "ssh":
                raise FenceError(
                    "option known_hosts: qemu+ssh runs OpenSSH, which reads its own "
                    "known_hosts (~/.ssh/known_hosts of the user running the agent, "
                    "/etc/ssh/ssh_known_hosts); use those, or a qemu+libssh:// uri"
                )
            if param in params:
                raise FenceError(f"option {option}: the uri already sets {param}=; give one")
            extra.append(f"{param}={_quoted(path)}")
    else:
        for option in ("identity_file", "known_hosts"):
            if opts.get(option):
                raise FenceError(
                    f"option {option} applies only to SSH transports "
                    f"(qemu+ssh, qemu+libssh, qemu+libssh2), not to '{transport or 'local'}'"
                )
    if not extra:
        return uri
    joiner = "&" if "?" in uri else "?"
    return uri + joiner + "&".join(extra)


class FenceHavirt(FenceAgent):
    name = "fence_havirt"
    version = "1.0"
    shortdesc = "Fence agent for libvirt guests, through the libvirt API"
    longdesc = (
        "fence_havirt powers off and on cluster nodes that are libvirt guests of a "
        "hypervisor, through the libvirt API with a libvirt URI (qemu+ssh://, qemu+libssh://, "
        "qemu+tls://, qemu+tcp://, qemu:///system). Off is libvirt's destroy (an immediate "
        "hard power-off), on is start, status is the domain's state; the plug is the domain's "
        "name or UUID. Every call is bounded by a timeout, SSH host keys are always checked, "
        "and a password is only read from standard input, a file or a script."
    )
    vendor_url = "https://libvirt.org"
    options = OPTIONS

    def __init__(self, hypervisor: HypervisorFactory | None = None) -> None:
        # How the agent opens libvirt: None is the real boundary (imported only then);
        # a test passes a fake with the same signature.
        self.hypervisor = hypervisor

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def _uri(ctx: FenceContext) -> str:
        return ctx.carried(_Carried).uri

    def _libvirt(self, ctx: FenceContext, what: str, call: Callable[[], T]) -> T:
        from havirt.agents.libvirt.boundary import HypervisorError, HypervisorUnavailable

        try:
            return call()
        except HypervisorUnavailable as exc:
            raise FenceError(f"cannot reach libvirt at {self._uri(ctx)}: {exc}") from None
        except HypervisorError as exc:
            raise LibvirtFailure(
                f"libvirt at {self._uri(ctx)} failed to {what}: {exc}", exc.code
            ) from None

    def _lookup(self, ctx: FenceContext, hv: Hypervisor, plug: str) -> Domain | None:
        uuid = plug if looks_like_uuid(plug) else None
        return self._libvirt(ctx, f"look up {plug}", lambda: hv.lookup(name=plug, uuid=uuid))

    def _unknown(self, ctx: FenceContext, plug: str) -> FenceError:
        return FenceError(
            f"the hypervisor at {self._uri(ctx)} has no domain named {shown(plug)} (the plug is a "
            f"domain name or UUID; '{self.name} -o list' shows them)"
        )

    # -- callbacks -------------------------------------------------------------
    def validate(self, ctx: FenceContext) -> None:
        import os

        ctx.carried(_Carried).uri = connection_uri(ctx.options)
        for option in ("identity_file", "known_hosts"):
            path = ctx.options.get(option)
            if path and not os.access(path, os.R_OK):
                raise FenceError(f"option {option}: {path} does not exist or cannot be read")

    def connect(self, ctx: FenceContext) -> Hypervisor:
        from havirt.agents.libvirt.boundary import Credentials

        creds = None
        if ctx.password is not None:
            creds = Credentials(ctx.options.get("username"), ctx.password)
        if self.hypervisor is None:
            from havirt.agents.libvirt.boundary import Hypervisor

            self.hypervisor = Hypervisor
        hv = self.hypervisor(
            self._uri(ctx),
            ctx.deadline,
            credentials=creds,
            connect_timeout=ctx.options.login_timeout,
        )
        if ctx.action != "status":
            # Power changes and listings need libvirt-python: connect now, so an
            # unreachable hypervisor is reported as such. status takes the fast C path.
            self._libvirt(ctx, "connect", hv.connect)
            ctx.log.debug(f"connected to {self._uri(ctx)}")
        return hv

    def close(self, ctx: FenceContext, session: Hypervisor) -> None:
        session.close()

    def get_power_status(self, ctx: FenceContext, session: Hypervisor, plug: str) -> str:
        from havirt.agents.libvirt.boundary import NO_DOMAIN

        dom = self._lookup(ctx, session, plug)
        state = None
        if dom is not None:
            try:
                state = self._libvirt(ctx, f"read the state of {plug}", dom.state)
            except LibvirtFailure as exc:
                if exc.code != NO_DOMAIN:
                    raise
        if state is None:  # unknown to libvirt, or gone since the lookup
            if plug in ctx.carried(_Carried).destroyed:
                return OFF  # a transient domain ends with its destroy
            if ctx.options.missing_as_off:
                ctx.log.info(f"{plug} is unknown to the hypervisor: OFF (missing_as_off)")
                return OFF
            raise self._unknown(ctx, plug)
        ctx.log.debug(f"{plug} is {state}")
        # Only a shut-off domain has no QEMU process: paused, crashed (kept), in
        # shutdown or suspended guests still hold their memory and disks.
        return OFF if state.state == "shutoff" else ON

    def set_power_status(
        self, ctx: FenceContext, session: Hypervisor, plug: str, state: str
    ) -> None:
        from havirt.agents.libvirt.boundary import OPERATION_INVALID

        dom = self._lookup(ctx, session, plug)
        if dom is None:
            raise self._unknown(ctx, plug)
        try:
            if state == OFF:
                self._libvirt(ctx, f"destroy {plug}", lambda: dom.destroy(graceful=False))
                ctx.carried(_Carried).destroyed.add(plug)
            else:
                self._libvirt(ctx, f"start {plug}", dom.start)
        except LibvirtFailure as exc:
            if exc.code != OPERATION_INVALID:
                raise
            # "not running" / "already running": the state query that follows decides.
            ctx.log.info(f"{exc}: checking its state")

    def list_plugs(self, ctx: FenceContext, session: Hypervisor) -> list[Plug]:
        domains = self._libvirt(ctx, "list domains", session.domains)
        return [
            Plug(d.name, d.uuid, OFF if d.state.state == "shutoff" else ON)
            for d in sorted(domains, key=lambda d: d.name)
        ]


class _Carried:
    """What one callback leaves for the next within a run (``ctx.state``)."""

    __slots__ = ("uri", "destroyed")

    def __init__(self) -> None:
        self.uri = ""  # the connection URI, set by validate
        self.destroyed: set[str] = set()  # plugs destroyed in this run


def main() -> None:
    from havirt.ocf.fencing import main as run

    run(FenceHavirt)


if __name__ == "__main__":
    main()
