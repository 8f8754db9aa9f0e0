"""The guest agent (ocf:havirt:VirtualDomain) beyond its OCF mapping.

The OCF mapping itself is agents/virtual_domain.py, the module Pacemaker's launcher runs.
"""
