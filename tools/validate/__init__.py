"""``havirt validate``: are the cluster's hypervisor hosts alike where live migration
and failover need them to be?

Three layers, as everywhere in havirt:

* :mod:`havirt.tools.cli.validate` -- the click command: parses options, renders
  (:mod:`.render`);
* :mod:`.engine` -- :func:`~.engine.validate` connects to every node in parallel,
  collects facts (:mod:`.probe`, over the framed scripts of :mod:`.framing` and
  :mod:`.trust_probe`, parsed by :mod:`.facts`) and runs the checks (:mod:`.checks`,
  one module per topic, declared as data in :mod:`.catalog`) into a
  :class:`~.report.Report` of :class:`~havirt.tools.findings.Finding` values;
* :mod:`.ssh` -- the adapter: SSH with fabric/paramiko, host keys verified against
  known_hosts and never accepted otherwise.

Nothing heavy is imported here: ``havirt --help`` must stay fast.
"""
