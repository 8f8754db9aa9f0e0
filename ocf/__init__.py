"""The OCF and fencing protocol layer of havirt.

Knows nothing of libvirt or of the CLI: exit codes, the environment Pacemaker
hands an agent, parameter declarations, meta-data, the action dispatcher,
ocf_log-compatible logging and the one command runner.
"""
