"""The libvirt boundary: the only modules that talk to libvirt.

libvirt-python through boundary.py, and libvirt's C API through c_api.py for the
monitor's hot path; definition_backup.py keeps an admin's definitions safe.
"""
