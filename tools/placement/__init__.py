"""Placement: the cluster's capacity model, Pacemaker's predictions, moves with temporary
constraints, balancing, and the admin's placement wishes."""
