"""The SSH adapter: fabric connections whose host keys are checked, never trusted blindly.

fabric's ``Connection`` accepts any host key by default (paramiko's
``AutoAddPolicy``), and so does each ProxyJump hop it builds. Here every
connection, and every hop before it, loads the known_hosts files given (or
``~/.ssh/known_hosts`` and ``/etc/ssh/ssh_known_hosts``, as ``ssh`` does) and
uses :class:`RefuseUnknownHost`, a ``RejectPolicy``: a host missing from them is
refused, and a host whose key differs from the known one is refused by paramiko
(``BadHostKeyException``). Nothing is ever written to a known_hosts file.
Connection failures become :class:`ConnectError` with the reason and the fix.

The TCP connection is opened here, with ``TCP_NODELAY``, before the handshake:
without it every small SSH packet (a channel request, a command) waits for the
node's delayed ACK, about 40 ms per round trip on Linux, which made a trivial
remote command take 50 ms instead of 5.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import paramiko
from fabric import Config, Connection
from havirt.ocf.runner import TIMEOUT_RC, CommandResult
from havirt.tools.validate.targets import Target

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint (what ``ssh-keygen -lf`` prints)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"host key for {hostname} is not in known_hosts")
        self.hostname = hostname
        self.key = key


def _known_hosts_name(address: str, port: int) -> str:
    """How known_hosts names a host: ``addr``, or ``[addr]:port`` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


class RefuseUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising an error that carries the offered key."""

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise UnknownHostKey(hostname, key)


@dataclass
class ConnectError(Exception):
    """A node could not be reached: ``kind`` names the reason; ``fix`` says what to do."""

    kind: str  # host-key-unknown, host-key-changed, auth, refused, timeout, resolve, ssh
    message: str
    fix: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class SSHOptions:
    known_hosts: tuple[str, ...] = ()  # empty: DEFAULT_KNOWN_HOSTS
    identities: tuple[str, ...] = ()  # empty: ~/.ssh/id_* and the agent, as ssh does
    ssh_config: str | None = None  # None: ~/.ssh/config and /etc/ssh/ssh_config
    connect_timeout: float = 10.0

    def known_hosts_files(self) -> list[Path]:
        paths = self.known_hosts or DEFAULT_KNOWN_HOSTS
        return [Path(os.path.expanduser(p)) for p in paths]


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``host``, small packets sent at once (``TCP_NODELAY``).

    Failures are raised as paramiko raises them when it connects itself
    (refused or unreachable: ``NoValidConnectionsError``), so that
    :meth:`FabricConnector.explain` names them the same way.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
            raise paramiko.ssh_exception.NoValidConnectionsError({(host, port): exc}) from None
        raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class FabricSession:
    """One open connection: ``run`` returns a CommandResult, like the local runner.

    A command runs on its own SSH channel of the connection, read here directly:
    fabric's ``run`` (invoke's runner) adds threads per command that poll every
    10 ms, ~10 ms per command and CPU for as long as a command runs (validate
    waits on 16 of them at once for the trust probes).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def user(self) -> str:
        return str(self.connection.user)

    @property
    def port(self) -> int:
        return int(self.connection.port)

    def run(self, command: str, timeout: float) -> CommandResult:
        argv = (command,)
        deadline = time.monotonic() + timeout
        out, err = bytearray(), bytearray()

        def text(data: bytearray) -> str:
            return data.decode(errors="replace")

        try:
            transport = self.connection.client.get_transport()
            if transport is None:
                raise paramiko.SSHException("not connected")
            channel = transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(argv, 255, "", f"SSH session failed: {exc}")
        try:
            channel.exec_command(command)
            channel.shutdown_write()  # nothing on its stdin
            # stdout to its end, then stderr: paramiko buffers stderr meanwhile (our
            # commands write little there; a flood of it would only end at the deadline).
            for receive, into in ((channel.recv, out), (channel.recv_stderr, err)):
                while chunk := _receive(channel, receive, deadline):
                    into += chunk
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            return CommandResult(argv, channel.exit_status, text(out), text(err))
        except TimeoutError:
            return CommandResult(argv, TIMEOUT_RC, text(out), text(err), timed_out=True)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            return CommandResult(argv, 255, text(out), f"SSH session failed: {exc}")
        finally:
            channel.close()

    def close(self) -> None:
        self.connection.close()


def _receive(channel: paramiko.Channel, receive: Any, deadline: float) -> bytes:
    """The next chunk ``receive`` gives (b"" at the end), or TimeoutError at ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    channel.settimeout(remaining)
    return bytes(receive(65536))


class FabricConnector:
    """Opens :class:`FabricSession` objects with verified host keys."""

    def __init__(self, options: SSHOptions) -> None:
        self.options = options
        overrides: dict[str, Any] = {"load_ssh_configs": True}
        if options.ssh_config is not None:
            self.config = Config(runtime_ssh_path=options.ssh_config, overrides=overrides)
        else:
            self.config = Config(overrides=overrides)
        self.known_hosts = [p for p in options.known_hosts_files() if p.is_file()]
        self.timeout = int(max(1, options.connect_timeout))

    def connect_kwargs(self) -> dict[str, Any]:
        if self.options.identities:
            # Like `ssh -i KEY -o IdentitiesOnly=yes`: only these keys.
            return {
                "key_filename": list(self.options.identities),
                "look_for_keys": False,
                "allow_agent": False,
            }
        return {}

    def connect(self, target: Target) -> FabricSession:
        connection = Connection(
            target.address,
            user=target.user,
            port=target.port,
            # Its own copy: a Connection writes into its config (inline_ssh_env), and
            # invoke rebuilds a config on every write, under the other threads' reads.
            config=self.config.clone(),
            connect_timeout=self.timeout,
            connect_kwargs=self.connect_kwargs(),
        )
        self.verify_host_keys(connection)
        sock: socket.socket | None = None
        try:
            if not connection.gateway:  # a ProxyJump/ProxyCommand brings its own channel
                sock = open_socket(connection.host, int(connection.port), self.timeout)
                # A new dict: without --identity, connect_kwargs is the config's own.
                connection.connect_kwargs = {**connection.connect_kwargs, "sock": sock}
            connection.open()
        except Exception as exc:
            connection.close()
            if sock is not None:
                sock.close()
            raise self.explain(target, str(connection.user), int(connection.port), exc) from None
        return FabricSession(connection)

    def verify_host_keys(self, connection: Connection) -> None:
        """Check host keys on ``connection`` and on every ProxyJump hop before it: fabric
        builds each hop as a Connection of its own, which would accept any key."""
        hop: Any = connection
        while isinstance(hop, Connection):
            for path in self.known_hosts:
                # "system" host keys: read, never written back.
                hop.client.load_system_host_keys(str(path))
            hop.client.set_missing_host_key_policy(RefuseUnknownHost())
            hop = hop.gateway  # None, a ProxyCommand string (OpenSSH checks), or a hop

    def explain(
        self, target: Target, user: str, port_number: int, exc: BaseException
    ) -> ConnectError:
        """The reason a connection failed, with the fix, in the admin's words."""
        where = f"{target.address}:{port_number}" if port_number != 22 else target.address
        files = ", ".join(str(p) for p in self.options.known_hosts_files())
        port = f"-p {port_number} " if port_number != 22 else ""
        if isinstance(exc, UnknownHostKey):
            return ConnectError(
                "host-key-unknown",
                f"host key of {where} ({exc.key.get_name()} {fingerprint(exc.key)}) is not in "
                f"known_hosts ({files}): refused, havirt never accepts an unknown host key",
                "compare that fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` run "
                f"on {target.name} itself; only if they match, add exactly the key compared: "
                f"echo '{_known_hosts_name(target.address, port_number)} {exc.key.get_name()} "
                f"{exc.key.get_base64()}' >> ~/.ssh/known_hosts (or pass --known-hosts FILE)",
            )
        if isinstance(exc, paramiko.BadHostKeyException):
            return ConnectError(
                "host-key-changed",
                f"host key of {where} CHANGED: it offers {exc.key.get_name()} "
                f"{fingerprint(exc.key)}, known_hosts has {fingerprint(exc.expected_key)}; "
                "refused (someone may be intercepting the connection, or the host was reinstalled)",
                f"if {target.name} was reinstalled or re-keyed, check the new fingerprint on it, "
                f"then: ssh-keygen -R {target.address} and add the new key; otherwise investigate",
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return ConnectError(
                "auth",
                f"{user}@{where} refused our keys: {exc}",
                f"add your public key to ~{user}/.ssh/authorized_keys on {target.name} "
                f"(ssh-copy-id {port}{user}@{target.address}), or pass --identity KEY",
            )
        if isinstance(exc, socket.gaierror):
            return ConnectError(
                "resolve",
                f"cannot resolve {target.address}: {exc.strerror or exc}",
                f"give the address: --host {target.name}=ADDRESS, or fix DNS / /etc/hosts here",
            )
        if isinstance(exc, TimeoutError | socket.timeout):
            return ConnectError(
                "timeout",
                f"no answer from {where} within {self.options.connect_timeout:g} s",
                f"check that {target.name} is up and that port {port_number} is reachable",
            )
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | ConnectionError):
            return ConnectError(
                "refused",
                f"cannot connect to {where}: {exc}",
                f"start sshd on {target.name} and check firewalls for port {port_number}",
            )
        return ConnectError(
            "ssh",
            f"SSH to {where} failed: {exc.__class__.__name__}: {exc}",
            f"try `ssh {port}{user}@{target.address}` by hand to see why",
        )


def make_connector(
    known_hosts: Sequence[str] = (),
    identities: Sequence[str] = (),
    ssh_config: str | None = None,
    connect_timeout: float = 10.0,
) -> FabricConnector:
    return FabricConnector(
        SSHOptions(tuple(known_hosts), tuple(identities), ssh_config, connect_timeout)
    )
