"""Example inventories, installed as the data package ``havirt.cluster_templates``.

``havirt lab`` and ``havirt demo`` read ``lab.toml`` from here with
:mod:`importlib.resources`, from a checkout and from an installed wheel alike. This file
makes the folder a regular package: Python 3.11's ``importlib.resources`` cannot read a
namespace package of an editable install (its path holds setuptools' placeholder entry).
"""
