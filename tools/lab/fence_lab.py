"""``fence_havirt_lab``: the lab's fence agent (FenceAgentAPI), for lab nodes only.

It powers a lab node off and on for real: "off" SIGKILLs every process of the
node (its QEMU guests, libvirtd, Corosync, Pacemaker), "on" starts its daemons
again. Pacemaker runs it inside a *surviving* node; the lab's state file under
/var/lib/havirt-lab is visible there (nodes share the host's file system but for
their private directories), and entering the target node's namespaces needs no
more than its namespace holder's PID.

Options come as ``name=value`` lines on stdin (as Pacemaker passes them) or as
``--name=value`` arguments: ``action`` (on, off, reboot, status, list, monitor,
metadata, validate-all), ``plug`` (or ``port``/``nodename``: the node), ``lab``
(the lab's name), ``lab_dir`` (default /var/lib/havirt-lab).
"""

from __future__ import annotations

import sys
import time

EXIT_OK, EXIT_ERROR, EXIT_OFF = 0, 1, 2
ACTIONS = ("on", "off", "reboot", "status", "list", "list-status", "monitor")
ACTIONS += ("metadata", "validate-all")
OPTIONS = {
    "action": "Fencing action (default reboot)",
    "plug": "The lab node to fence",
    "port": "The lab node to fence (old name of plug)",
    "lab": "The lab's name",
    "lab_dir": "Where labs keep their state (default /var/lib/havirt-lab)",
}

METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_havirt_lab" shortdesc="Fence agent for havirt's local test lab">
<longdesc>Powers a node of havirt's local lab off (kills all its processes) and on (starts its
daemons). For the lab only: it has no effect on real hosts.</longdesc>
<vendor-url>https://github.com/havirt/havirt</vendor-url>
<parameters>
{parameters}
</parameters>
<actions>
{actions}
</actions>
</resource-agent>
"""


def metadata() -> str:
    parameters = []
    for name, text in OPTIONS.items():
        required = "1" if name in ("plug", "lab") else "0"
        extra = ' deprecated="1"' if name == "port" else ""
        parameters.append(
            f'\t<parameter name="{name}" unique="0" required="{required}"{extra}>\n'
            f'\t\t<getopt mixed="--{name}=[value]" />\n'
            f'\t\t<content type="string" />\n'
            f'\t\t<shortdesc lang="en">{text}</shortdesc>\n'
            "\t</parameter>"
        )
    on_attrs = ' on_target="0" automatic="0"'
    actions = [
        f'\t<action name="{action}"{on_attrs if action == "on" else ""} />' for action in ACTIONS
    ]
    return METADATA.format(parameters="\n".join(parameters), actions="\n".join(actions))


def parse_options(argv: list[str], stdin_text: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    if argv:
        for arg in argv:
            name, _, value = arg.lstrip("-").partition("=")
            options[name.replace("-", "_")] = value
    elif stdin_text:
        for line in stdin_text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, _, value = line.partition("=")
                options[name.strip()] = value.strip()
    for name in list(options):
        if name not in OPTIONS and name not in ("nodename", "help"):
            print(f"fence_havirt_lab: warning: unknown option {name!r} ignored", file=sys.stderr)
    return options


def run(options: dict[str, str]) -> int:
    from .cluster import ClusterLab
    from .node import DEFAULT_BASE_DIR

    action = options.get("action") or options.get("option") or "reboot"
    if action == "metadata":
        print(metadata())
        return EXIT_OK
    if action not in ACTIONS:
        print(f"fence_havirt_lab: unknown action {action!r}", file=sys.stderr)
        return EXIT_ERROR
    lab_name = options.get("lab")
    if not lab_name:
        print("fence_havirt_lab: option 'lab' (the lab's name) is required", file=sys.stderr)
        return EXIT_ERROR
    try:
        lab = ClusterLab.attach(lab_name, options.get("lab_dir") or DEFAULT_BASE_DIR)
    except Exception as exc:  # any failure to find the lab is a fencing error
        print(f"fence_havirt_lab: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if action in ("list", "list-status"):
        for name, node in lab.nodes.items():
            state = "on" if node.is_powered_on() else "off"
            print(f"{name},{state}" if action == "list-status" else f"{name},")
        return EXIT_OK
    if action in ("monitor", "validate-all"):
        return EXIT_OK
    plug = options.get("plug") or options.get("port") or options.get("nodename")
    node = lab.nodes.get(plug or "")
    if node is None:
        print(f"fence_havirt_lab: no node {plug!r} in lab {lab_name}", file=sys.stderr)
        return EXIT_ERROR
    if action == "status":
        return EXIT_OK if node.is_powered_on() else EXIT_OFF
    if action in ("off", "reboot"):
        node.power_off()
        if node.is_powered_on():
            print(f"fence_havirt_lab: {plug} is still on after power off", file=sys.stderr)
            return EXIT_ERROR
    if action in ("on", "reboot"):
        time.sleep(0.2)  # a real power cycle is not instantaneous either
        node.power_on(wait=False)
    return EXIT_OK


def main() -> None:
    argv = sys.argv[1:]
    stdin_text = None if argv or sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    sys.exit(run(parse_options(argv, stdin_text)))


if __name__ == "__main__":
    main()
