"""Maintenance: drain a node (standby) and bring it back, cluster maintenance mode."""
