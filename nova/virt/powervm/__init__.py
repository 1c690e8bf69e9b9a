"""Load point for ``compute_driver=powervm.PowerVMDriver``.

nova imports ``nova.virt.<compute_driver>``; this leaf package is shipped by
the nova-powervm distribution (nova's own ``nova/__init__.py`` and
``nova/virt/__init__.py`` are never touched) and re-exports the driver.
"""
from nova_powervm.virt.powervm.driver import PowerVMDriver

__all__ = ['PowerVMDriver']
