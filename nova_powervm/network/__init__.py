"""Neutron-side pieces for PowerVM (loaded by neutron-server, not nova)."""
