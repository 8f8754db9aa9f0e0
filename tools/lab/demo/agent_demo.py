"""The demo: ocf:havirt:VirtualDomain doing its job on a two-node lab.

:func:`run_demo` brings up a lab of two simulated hypervisor hosts (each with
its own libvirtd), boots a tiny real QEMU guest with the agent, live-migrates
it, shows the agent keeping its answer while libvirtd is down, and shows a
crash being reported, measuring every step. It yields one :class:`~.demo_steps.Step` per
step and prints nothing: what is going on during long waits goes to the
``progress`` callback. The lab is always taken down at the end (also on error
or Ctrl-C), unless ``keep`` asks to leave it up.

The cluster stack (Corosync/Pacemaker) is not in the lab yet: the demo calls
the agent exactly as pacemaker-execd would (environment variables, one
action per run, inside the node), and plays Pacemaker's part itself.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from havirt.tools import install
from havirt.tools.errors import HavirtError
from havirt.tools.lab import READY_MARKER, Lab, LabError, LabGuest, build_guest_assets, create_guest
from havirt.tools.lab.demo.agent_calls import (
    INSTALLED_OCF_ROOT,
    agent_env,
    agent_launcher_is_current,
    call_agent,
    expect,
)
from havirt.tools.lab.demo.steps import (
    DEMO_LAB,
    AgentCall,
    DemoEntry,
    Step,
    StepFailed,
    StepRunner,
    StepSpec,
)
from havirt.tools.lab.lab import DEFAULT_BASE_DIR, missing_requirements

GUEST_NAME = "demo-vm"
MONITOR_INTERVAL_MS = 10000


def take_down(lab_name: str = DEMO_LAB, base_dir: Path | str = DEFAULT_BASE_DIR) -> bool:
    """Take down a demo lab left up by ``keep``; False if there was none."""
    try:
        lab = Lab.attach(lab_name, base_dir, cache_dir=None)
    except LabError:
        return False
    lab.down()
    return True


class _Demo(StepRunner[Lab]):
    """The demo's state between steps; each step method fills in its :class:`Step`."""

    # State between steps (set by the steps; StepRunner's constructor is the demo's).
    guest: LabGuest | None = None
    agent = ""
    ocf_root = INSTALLED_OCF_ROOT

    # ------------------------------------------------------------ helpers

    @property
    def the_guest(self) -> LabGuest:
        assert self.guest is not None
        return self.guest

    def agent_env(self, interval_ms: int, timeout_ms: int, **reskeys: str) -> dict[str, str]:
        return agent_env(self.the_guest, self.ocf_root, interval_ms, timeout_ms, **reskeys)

    def call(
        self,
        node: str,
        action: str,
        *,
        interval_ms: int = 0,
        timeout_ms: int = 30000,
        **reskeys: str,
    ) -> AgentCall:
        env = self.agent_env(interval_ms, timeout_ms, **reskeys)
        return call_agent(self.the_lab.nodes[node], self.agent, action, env, self.clock)

    def migration(self, node: str, action: str, timeout_ms: int) -> AgentCall:
        """``action`` (migrate_to or migrate_from) on ``node`` of the move node1 -> node2."""
        return self.call(
            node,
            action,
            timeout_ms=timeout_ms,
            CRM_meta_migrate_source="node1",
            CRM_meta_migrate_target="node2",
        )

    def succeeded(self, step: Step, call: AgentCall) -> None:
        """:func:`expect` success of ``call``, whose time is then the step's."""
        expect(step, call, 0)
        step.seconds = call.seconds

    def qemu_pids(self) -> dict[str, list[int]]:
        return self.the_guest.qemu_pids()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Seconds until ``predicate()`` held; LabError after ``timeout``."""
        began = self.clock()
        with self.ticking(what):
            while not predicate():
                if self.clock() - began > timeout:
                    raise LabError(f"timed out after {timeout:.0f} s {what}")
                time.sleep(0.1)
        return self.clock() - began

    # ------------------------------------------------------------ steps

    def guest_image(self, step: Step) -> None:
        guest_cache = self.cache_dir / "guest"
        cached = (guest_cache / "assets.json").exists()
        what = (
            "checking the cached guest image"
            if cached
            else "building the guest image (downloads a Debian kernel package, ~70 MB, once)"
        )
        began = self.clock()
        with self.ticking(what):
            self.assets = build_guest_assets(guest_cache)
        step.seconds = self.clock() - began
        step.facts = {
            "cache": str(guest_cache),
            "kernel": self.assets.kernel_version,
            "reused": cached,
        }
        step.summary = (
            f"kernel {self.assets.kernel_version} + busybox initramfs "
            f"({'reused from' if cached else 'built into'} {guest_cache})"
        )

    def lab_up(self, step: Step) -> None:
        with self.ticking("starting 2 nodes, each with its own libvirtd"):
            Lab.cleanup_stale(self.base_dir)  # labs of killed runs
            lab = Lab(self.lab_name, self.base_dir, ("node1", "node2"), cache_dir=self.cache_dir)
            self.lab = lab
            began = self.clock()
            try:
                lab.up(detached=self.keep)
            except LabError as exc:
                raise HavirtError(
                    f"the lab did not start: {exc}",
                    "check that libvirt-daemon-system and qemu-system-x86 are installed "
                    "(tools/bootstrap.sh setup) and that no other libvirtd holds the lab's "
                    "paths",
                ) from None
            step.seconds = self.clock() - began
        assert self.assets is not None
        self.guest = create_guest(lab, GUEST_NAME, assets=self.assets)
        step.facts = {
            "lab": lab.name,
            "dir": str(lab.dir),
            "nodes": {
                name: {"address": n.address, "libvirt": n.uri_tcp, "pid": n.holder_pid}
                for name, n in lab.nodes.items()
            },
            "shared_dir": lab.shared_mount,
            "guest": {"name": self.the_guest.name, "config": self.the_guest.node_xml_path},
        }
        step.summary = "node1 ({}) and node2 ({}), each running its own libvirtd".format(
            lab.nodes["node1"].address, lab.nodes["node2"].address
        )
        step.note = (
            f"Each node is a set of namespaces (network, mount, hostname) on this machine; "
            f"{lab.shared_mount} is shared by both like an NFS export, and holds "
            f"{GUEST_NAME}'s definition and disk."
        )

    def install_agent(self, step: Step) -> None:
        installed = os.path.join(
            INSTALLED_OCF_ROOT, "resource.d", install.PROVIDER, "VirtualDomain"
        )
        if agent_launcher_is_current(installed):
            self.agent, self.ocf_root = installed, INSTALLED_OCF_ROOT
            how = "installed by 'havirt install-agents'"
        else:
            root = self.the_lab.dir / "ocf"  # removed with the lab
            (root / "sbin").mkdir(parents=True, exist_ok=True)
            root.chmod(0o755)
            report = install.install(str(root), str(root / "sbin"))
            (self.agent,) = [f.path for f in report.written if f.path.endswith("/VirtualDomain")]
            self.ocf_root = str(root)
            how = "installed by install.install into a private OCF root"
        step.facts = {"agent": self.agent, "ocf_root": self.ocf_root, "how": how}
        step.summary = f"ocf:havirt:VirtualDomain = {self.agent} ({how})"

    def start(self, step: Step) -> None:
        with self.ticking(f"starting {GUEST_NAME} on node1"):
            call = self.call("node1", "start", timeout_ms=90000)
        self.succeeded(step, call)
        step.summary = f"start on node1 answered {call.rc} ({call.rc_name}) in {call.seconds:.1f} s"
        step.facts = {"qemu_pids": self.qemu_pids()}

    def boot(self, step: Step) -> None:
        guest = self.the_guest
        line = ""

        def ready() -> bool:
            nonlocal line
            with contextlib.suppress(LabError):
                line = guest.wait_console(READY_MARKER, timeout=0)
                return True
            return False

        step.seconds = self.wait_for(ready, 120, f"waiting for {GUEST_NAME} to boot")
        step.facts = {"console": line, "console_log": str(guest.console_log)}
        step.summary = f"the guest printed its ready line after {step.seconds:.1f} s: {line}"

    def monitor(self, step: Step) -> None:
        probe = self.call("node1", "monitor")
        expect(step, probe, 0)
        elsewhere = self.call("node2", "monitor")
        expect(step, elsewhere, 7)
        recurring = self.call("node1", "monitor", interval_ms=MONITOR_INTERVAL_MS)
        expect(step, recurring, 0)
        step.seconds = recurring.seconds
        step.summary = (
            f"probe on node1: {probe.rc} (running), probe on node2: {elsewhere.rc} "
            f"(not running), recurring monitor on node1: {recurring.rc} "
            f"in {recurring.seconds:.2f} s"
        )

    def migrate_to(self, step: Step) -> None:
        with self.ticking("live migration node1 -> node2 (migrate_to on node1)"):
            call = self.migration("node1", "migrate_to", timeout_ms=120000)
        self.succeeded(step, call)
        step.summary = f"migrate_to on node1 answered {call.rc} in {call.seconds:.1f} s"

    def migrate_from(self, step: Step) -> None:
        call = self.migration("node2", "migrate_from", timeout_ms=60000)
        self.succeeded(step, call)
        step.summary = f"migrate_from on node2 answered {call.rc} in {call.seconds:.2f} s"

    def one_copy(self, step: Step) -> None:
        pids = self.qemu_pids()
        node2 = self.the_lab.nodes["node2"]
        boots = self.the_guest.console_text().count(READY_MARKER)
        ping = node2.virsh(
            "qemu-agent-command", GUEST_NAME, '{"execute":"guest-ping"}', timeout=30, check=False
        )
        step.facts = {"qemu_pids": pids, "boots_on_console": boots, "guest_agent_ping": ping.ok}
        if list(pids) != ["node2"] or len(pids["node2"]) != 1:
            raise StepFailed(f"expected exactly one QEMU, on node2; found {pids or 'none'}")
        if boots != 1 or not ping.ok:
            raise StepFailed(
                f"the guest did not survive the migration intact (ready lines: {boots}, "
                f"guest agent: {ping.describe()})"
            )
        source_stop = self.call("node1", "stop")
        expect(step, source_stop, 0)
        monitor = self.call("node2", "monitor", interval_ms=MONITOR_INTERVAL_MS)
        expect(step, monitor, 0)
        clauses = [
            f"one QEMU process (pid {pids['node2'][0]}) on node2, none on node1",
            "the guest did not reboot and answers its guest agent",
            f"stop on node1 (Pacemaker's clean-up of the source): {source_stop.rc}",
            f"monitor on node2: {monitor.rc}",
        ]
        step.summary = "; ".join(clauses)

    def libvirtd_down(self, step: Step) -> None:
        node2 = self.the_lab.nodes["node2"]
        node2.stop_libvirtd()
        try:
            step.facts["libvirtd_running"] = bool(node2.libvirtd_pids())
            probe = self.call("node2", "monitor", timeout_ms=20000)
            step.seconds = probe.seconds
            explanation = next(
                (x.split(":", 1)[1].strip() for x in probe.log if "libvirt is unreachable" in x),
                "",
            )
            step.facts["explanation"] = explanation
        finally:
            began = self.clock()
            with self.ticking("restarting libvirtd on node2"):
                node2.start_libvirtd()
            step.facts["libvirtd_restart_seconds"] = round(self.clock() - began, 3)
        expect(step, probe, 0)
        step.summary = (
            f"probe on node2 with libvirtd stopped answered {probe.rc} (running) in "
            f"{probe.seconds:.2f} s: {explanation or 'no explanation logged'}; libvirtd "
            f"restarted in {step.facts['libvirtd_restart_seconds']:.1f} s"
        )

    def crash(self, step: Step) -> None:
        pids = self.qemu_pids().get("node2", [])
        if len(pids) != 1:
            raise StepFailed(f"expected one QEMU on node2 to kill; found {self.qemu_pids()}")
        os.kill(pids[0], signal.SIGKILL)
        killed = self.clock()
        answer: list[AgentCall] = []

        def noticed() -> bool:
            call = self.call("node2", "monitor", interval_ms=MONITOR_INTERVAL_MS)
            answer[:] = [call]
            return call.rc != 0

        self.wait_for(noticed, 30, "waiting for the monitor to notice the crash")
        step.seconds = self.clock() - killed
        call = answer[0]
        step.facts = {"killed_pid": pids[0]}
        expect(step, call, 7)
        step.summary = (
            f"killed QEMU pid {pids[0]} on node2; the next monitor answered {call.rc} "
            f"({call.rc_name}): {call.reason or 'no reason given'}"
        )

    def stop(self, step: Step) -> None:
        call = self.call("node2", "stop")
        self.succeeded(step, call)
        left = self.qemu_pids()
        step.facts = {"qemu_pids": left}
        if left:
            raise StepFailed(f"QEMU processes left after stop: {left}")
        step.summary = (
            f"stop on node2 answered {call.rc} ({call.rc_name}) in {call.seconds:.2f} s; "
            "no QEMU process of the guest left on any node"
        )

    def lab_down(self, step: Step) -> None:
        began = self.clock()
        with self.ticking("taking the lab down"):
            self.the_lab.down()
        step.seconds = self.clock() - began
        self.lab = None
        step.summary = "every process, namespace, mount and file of the lab is gone"

    def keep_up(self, step: Step) -> None:
        lab, guest = self.the_lab, self.the_guest
        nodes = {}
        for name, node in lab.nodes.items():
            enter = " ".join(shlex.quote(x) for x in node.command([]))
            nodes[name] = {"address": node.address, "enter": enter}
        env = self.agent_env(MONITOR_INTERVAL_MS, 30000)
        env.pop("PATH")
        env_words = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        agent = f"{nodes['node1']['enter']} env {env_words} {self.agent} monitor"
        step.facts = {
            "lab": lab.name,
            "nodes": nodes,
            "console_log": str(guest.console_log),
            "agent": agent,
            "down": "havirt demo --down"
            + ("" if lab.name == DEMO_LAB else f" --lab-name {lab.name}"),
        }
        step.summary = f"lab {lab.name} left up, as asked (--keep)"

    # ------------------------------------------------------------ the run

    STEPS = (
        StepSpec(
            "guest-image",
            "The guest image",
            method="guest_image",
            timed="guest image (build or reuse)",
            note="A real QEMU guest, emulated in software (TCG): no KVM needed.",
        ),
        StepSpec(
            "lab",
            "A lab of two hypervisor hosts",
            method="lab_up",
            timed="lab up (2 nodes, 2 libvirtd)",
        ),
        StepSpec(
            "agent",
            "The agent",
            method="install_agent",
            note=(
                "The demo runs it inside a node exactly as pacemaker-execd would: one action per "
                "run, parameters as OCF_RESKEY_* variables, the exit code is the answer."
            ),
        ),
        StepSpec(
            "start",
            "Start the guest on node1",
            timed="start on node1",
            note="start returns once libvirt runs the guest; the guest then boots.",
        ),
        StepSpec("boot", "The guest boots", timed="guest boot to its ready line"),
        StepSpec(
            "monitor",
            "Probe and monitor",
            timed="recurring monitor",
            note=(
                "Pacemaker probes every node before it trusts its own records; the answers are "
                "read from libvirt's API, not parsed from virsh output."
            ),
        ),
        StepSpec(
            "migrate_to",
            "Live migration: migrate_to on node1",
            timed="migrate_to (node1)",
            note=(
                "migrate_to watches the migration and aborts it before its own timeout, so the "
                "source keeps the guest instead of an operation that never ends."
            ),
        ),
        StepSpec(
            "migrate_from",
            "Live migration: migrate_from on node2",
            timed="migrate_from (node2)",
            note="migrate_from checks on the target that the guest arrived and runs.",
        ),
        StepSpec(
            "one-copy",
            "Exactly one copy runs, on node2",
            method="one_copy",
            note="Two copies of a guest writing to one disk destroy it: the agent checks.",
        ),
        StepSpec(
            "libvirtd-down",
            "Safety: libvirtd stopped on node2",
            method="libvirtd_down",
            timed="probe with libvirtd down",
            note=(
                "The agent never answers 'not running' while a QEMU process of the guest exists. "
                "A stock agent could answer 'not running' here, and Pacemaker would then start a "
                "second copy on another node: two QEMUs writing one disk."
            ),
        ),
        StepSpec(
            "crash",
            "A crash: QEMU killed on node2",
            timed="crash noticed by monitor",
            note=(
                "Pacemaker takes 7 from a recurring monitor as a failure: it stops the resource "
                "and starts it again, here or elsewhere."
            ),
        ),
        StepSpec(
            "stop",
            "Stop after the crash",
            timed="stop (already stopped)",
            note="stop of a stopped guest succeeds (idempotent), as Pacemaker requires.",
        ),
    )

    def finish(self) -> Iterator[Step]:
        if self.lab is not None:
            if self.keep and self.guest is not None:
                yield self.run_step(StepSpec("keep", "The lab stays up", "keep_up"))
                self.lab = None  # not ours to take down any more
            else:
                yield self.run_step(
                    StepSpec("lab-down", "Tear the lab down", "lab_down", "lab down")
                )


# The demo (see DemoEntry); the lab's own checks say whether this machine can host it.
run_demo = DemoEntry(_Demo, missing_requirements)
