"""Developers' tools: not part of what an admin runs."""
