"""SSH trust: every node reaches every other as the migration user without a prompt,
and the peer it reaches is the one it meant."""

from __future__ import annotations

from havirt.tools.findings import ERROR, Finding
from havirt.tools.validate.checks.context import Context, short
from havirt.tools.validate.facts import Trust


def _trust_fix(ctx: Context, node: str, peer: str, trust: Trust) -> tuple[str, str]:
    """(reason, fix) for a failed probe from ``node`` to ``peer``."""
    login = ctx.login_users.get(node, "the SSH user")
    user = ctx.migration_user(node)
    if trust.ssh_ok is False:
        error = trust.ssh_error or "ssh failed"
        lowered = error.lower()
        if "host key verification failed" in lowered or "host key for" in lowered:
            return error, (
                f"on {node}, as {login}: add {peer}'s host key as {peer} itself has it "
                f"(/etc/ssh/ssh_host_ed25519_key.pub on {peer}, copied over a trusted channel, "
                f"never fetched with ssh-keyscan) to ~/.ssh/known_hosts, as '{peer} <type> <key>'"
            )
        if "permission denied" in lowered:
            return error, (
                f"on {node}, as {login}: ssh-copy-id {user}@{peer} (puts {node}'s public key "
                f"into ~{user}/.ssh/authorized_keys on {peer})"
            )
        if "resolve" in lowered:
            return error, f"make {peer} resolvable on {node} (/etc/hosts or DNS)"
        if "refused" in lowered or "timed out" in lowered or "no route" in lowered:
            return error, f"start sshd on {peer} and let {node} reach its port 22"
        return error, f"on {node}, as {login}: run ssh -v {user}@{peer} true to see why"
    error = trust.libvirt_error or "failed"
    if trust.ssh_ok:
        return f"SSH works, libvirt over SSH does not: {error}", (
            f"make sure libvirtd runs on {peer} and that {user} may use qemu:///system there "
            "(root or the 'libvirt' group); virt-ssh-helper (libvirt-clients) must be installed"
        )
    return error, f"on {node}, as {login}: run virsh -c qemu+ssh://{user}@{peer}/system hostname"


def check_ssh_trust(ctx: Context) -> list[Finding]:
    found = []
    for node in ctx.order:
        trust = ctx.facts[node].trust
        if not trust:
            continue
        user = ctx.migration_user(node)
        for peer in [n for n in (t.name for t in ctx.targets) if n in trust]:
            result = trust[peer]
            item = f"{node} -> {peer}"
            if result.ok:
                peer_facts = ctx.facts.get(peer)
                expected = peer_facts.hostname if peer_facts else None
                if result.answered and expected and short(result.answered) != short(expected):
                    found.append(
                        Finding(
                            "ssh-trust",
                            ERROR,
                            f"qemu+ssh://{peer} from {node} reaches a host that calls itself "
                            f"'{result.answered}', not {peer} ('{expected}')",
                            f"on {node}: make '{peer}' resolve to {peer}'s address "
                            "(/etc/hosts or DNS)",
                            node=node,
                            item=item,
                            expected=expected,
                            actual=result.answered,
                        )
                    )
                continue
            reason, fix = _trust_fix(ctx, node, peer, result)
            found.append(
                Finding(
                    "ssh-trust",
                    ERROR,
                    f"{node} cannot reach {peer} as {user} without a prompt "
                    f"(qemu+ssh://{user}@{peer}/system): {reason}",
                    fix,
                    node=node,
                    item=item,
                )
            )
    return found
