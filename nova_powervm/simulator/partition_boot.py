"""Host reboot: Virtual I/O Servers that come up after the REST server.

After a host reboot NovaLink's REST server answers before the VIOSes have
booted: they read "not activated", then "running" with RMC "inactive", and
only then "active" (what pypowervm's ``get_active_vioses`` and
``validate_vios_ready`` wait for).  The control ``reboot_host`` replays that;
``Simulator(vios_boot_s=..., vios_rmc_s=...)`` (CLI ``--vios-boot-delay``,
``--vios-rmc-delay``) does it at start and on reset().  Each step is a
MODIFY_URI event, as on a real host.
"""
import threading

from nova_powervm.simulator import partition
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import xmlutil as xu

_GEN = 'vios_boot_generation'


def _vioses(sim):
    return [o for o in sim.store.of_type('VirtualIOServer')
            if o.text('IsManagementPartition') != 'true']


def _later(sim, gen, seconds, fn):
    """Run fn under the state lock after ``seconds`` unless superseded."""
    if seconds is None:
        return      # never: the VIOS stays where it is

    def run():
        xu.mark_simulator_thread()   # XML work only under sim.lock
        with sim.lock:
            # reset() (which clears sim.extra) or a later reboot_host
            # supersedes this boot.
            if sim.extra.get(_GEN) is gen:
                fn()
    timer = threading.Timer(max(0.0, seconds), run)
    timer.daemon = True
    timer.start()


@reg.control('reboot_host')
def reboot_host(sim, vios_boot_s=0.0, vios_rmc_s=0.0, lpars=True,
                emit=True):
    """Simulate a host reboot.

    Every VIOS (and, with ``lpars``, every client partition; the
    management partition runs the REST server and stays up) goes "not
    activated".  After ``vios_boot_s`` seconds the VIOSes are "running"
    with RMC "inactive"; ``vios_rmc_s`` seconds later RMC is "active".
    ``None`` for either means never (a VIOS that does not come up).
    """
    gen = object()
    with sim.lock:
        sim.extra[_GEN] = gen
        vioses = _vioses(sim)
        down = list(vioses)
        if lpars:
            down += [o for o in sim.store.of_type('LogicalPartition')
                     if o.text('IsManagementPartition') != 'true']
        for obj in down:
            if obj.text('PartitionState') != 'not activated':
                partition.set_state(sim, obj, 'not activated', emit=emit)

    def rmc_up():
        for obj in vioses:
            if obj.key in sim.store.objs and \
                    obj.text('PartitionState') == 'running':
                obj.set('ResourceMonitoringControlState', 'active')
                sim.store.touch(obj, detail='RMCState')

    def booted():
        for obj in vioses:
            if obj.key in sim.store.objs:
                partition.set_state(sim, obj, 'running', emit=False)
                obj.set('ResourceMonitoringControlState', 'inactive')
                sim.store.touch(obj, detail='PartitionState')
        if vios_rmc_s:
            _later(sim, gen, vios_rmc_s, rmc_up)
        elif vios_rmc_s is not None:
            rmc_up()

    if vios_boot_s:
        _later(sim, gen, vios_boot_s, booted)
    elif vios_boot_s is not None:
        with sim.lock:
            booted()
    return [o.uuid for o in vioses]
