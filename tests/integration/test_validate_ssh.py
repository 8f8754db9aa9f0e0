"""The SSH adapter's TCP connection: small packets go out at once, and a refused
port is named as before (loopback only; the handshake itself is tested against the
lab's sshd in tests/integration/test_validate.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from havirt.tools.validate import ssh
from havirt.tools.validate.targets import Target


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server
    server.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    return port


def test_the_socket_sends_small_packets_at_once(listener: socket.socket) -> None:
    sock = ssh.open_socket("127.0.0.1", listener.getsockname()[1], timeout=5)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()


def test_a_refused_connection_is_named_refused_with_its_fix() -> None:
    port = closed_port()
    connector = ssh.make_connector(known_hosts=["/dev/null"], ssh_config="/dev/null")
    with pytest.raises(ssh.ConnectError) as caught:
        connector.connect(Target("node1", "127.0.0.1", "root", port))
    assert caught.value.kind == "refused"
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "start sshd on node1" in caught.value.fix


def test_a_server_that_is_not_ssh_is_an_ssh_failure_not_a_hang(listener: socket.socket) -> None:
    listener.settimeout(5)
    port = listener.getsockname()[1]
    connector = ssh.make_connector(
        known_hosts=["/dev/null"], ssh_config="/dev/null", connect_timeout=2
    )

    def close_at_once() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"not ssh\r\n")
        conn.close()

    server = threading.Thread(target=close_at_once)
    server.start()
    with pytest.raises(ssh.ConnectError) as caught:
        connector.connect(Target("node1", "127.0.0.1", "root", port))
    server.join(timeout=10)
    assert caught.value.kind == "ssh"
    # Without --identity fabric's connect_kwargs is the config's own: the socket of one
    # connection must not end up there for the next ones.
    assert "sock" not in connector.config.connect_kwargs


def test_host_keys_are_checked_on_every_proxyjump_hop_too(tmp_path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host node1\n    ProxyJump jump1,jump2\n")
    connector = ssh.make_connector(known_hosts=["/dev/null"], ssh_config=str(config))
    connection = ssh.Connection("node1", config=connector.config.clone())
    hops = []
    hop = connection
    while isinstance(hop, ssh.Connection):
        hops.append(hop)
        hop = hop.gateway
    assert sorted(h.host for h in hops) == ["jump1", "jump2", "node1"]
    # fabric's default, which would accept any key, on every hop:
    assert all(isinstance(h.client._policy, ssh.paramiko.AutoAddPolicy) for h in hops)
    connector.verify_host_keys(connection)
    assert all(isinstance(h.client._policy, ssh.RefuseUnknownHost) for h in hops)
