"""The TOML locator: every key, table header and array element gets its line."""

from __future__ import annotations

import tomllib

from havirt.tools.inventory.locate import locate, render_path

TEXT = '''\
# a comment with [brackets] and "quotes"
[cluster]
name = "x"   # trailing comment
"quoted key" = 'literal # not a comment'

[cluster.properties]
dc-deadtime = "5s"

[[nodes]]
name = "n1"
addresses = [
  "10.0.0.1",   # first
  "10.0.0.2",
]
fence = { agent = "fence_x", options = { plug = "n1" } }

[[nodes]]
name = "n2"
[nodes.fence]
agent = "fence_y"
options.plug = "n2"

[[guests]]
name = """multi
line ] } "quoted"
"""
memory = "1GiB"

[[guests]]
name = 'g2'
disk.size = "2GiB"
'''


def test_locator_lines() -> None:
    tomllib.loads(TEXT)  # the locator is only ever run on valid TOML
    loc = locate(TEXT)
    assert loc.exact(("cluster",)) == 2
    assert loc.exact(("cluster", "name")) == 3
    assert loc.exact(("cluster", "quoted key")) == 4
    assert loc.exact(("cluster", "properties", "dc-deadtime")) == 7
    assert loc.exact(("nodes",)) == 9
    assert loc.exact(("nodes", 0)) == 9
    assert loc.exact(("nodes", 0, "addresses", 0)) == 12
    assert loc.exact(("nodes", 0, "addresses", 1)) == 13
    assert loc.exact(("nodes", 0, "fence", "options", "plug")) == 15
    assert loc.exact(("nodes", 1)) == 17
    assert loc.exact(("nodes", 1, "fence")) == 19
    assert loc.exact(("nodes", 1, "fence", "options", "plug")) == 21
    assert loc.exact(("guests", 0, "name")) == 24
    assert loc.exact(("guests", 0, "memory")) == 27
    assert loc.exact(("guests", 1, "disk", "size")) == 31


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    loc = locate(TEXT)
    assert loc.line(("guests", 1, "vcpus")) == 29
    assert loc.line(("policies", "stickiness")) is None


def test_render_path() -> None:
    assert render_path(("guests", 2, "memory")) == "guests[2].memory"
    assert render_path(("cluster", "quoted key")) == 'cluster."quoted key"'
    assert render_path(("nodes", 0, "fence", "options", "plug")) == "nodes[0].fence.options.plug"
