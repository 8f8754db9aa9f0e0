"""The storage pool agent (ocf:havirt:StoragePool) beyond its OCF mapping.

The OCF mapping itself is agents/storage_pool.py, the module Pacemaker's launcher runs.
"""
