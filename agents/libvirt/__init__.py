"""The libvirt boundary: the only modules that talk to libvirt.

libvirt-python through boundary.py, and libvirt's C API through c_api.py for the
monitor's hot path; definition_backup.py keeps an admin's definitions safe.
protocols.py is what the agents use of the boundary, as the Protocols their type hints
name (the tests' fake libvirt implements them too).
"""
