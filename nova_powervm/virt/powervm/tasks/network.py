"""TaskFlow tasks for the instance's network adapters (thin; see vif.py)."""
from nova.compute import task_states
from nova import exception as nova_exc
from nova.network import model as network_model
from oslo_log import log as logging
from taskflow.types import failure as task_fail

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm import exception as exc
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm import vif

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

# nova waits for network-vif-plugged events (ports not yet active) only
# when spawning (and at interface attach: hotplug).
_SPAWN_STATES = (task_states.SPAWNING, task_states.REBUILD_SPAWNING)


class PlugVifs(tf_base.Task):
    """Plug the VIFs missing on the partition; provides 'vm_cnas'.

    Requires 'lpar_wrap'.  Waits for Neutron's network-vif-plugged events of
    ports not yet active (``[DEFAULT] vif_plugging_timeout``).  Revert
    unplugs only what this task plugged.
    """

    def __init__(self, virt_api, adapter, instance, network_info,
                 hotplug=False, new_partition=False):
        """:param hotplug: an interface attach: wait for the events of the
            VIFs not yet active whatever the instance's task state.
        :param new_partition: the flow created the partition (tasks.vm.Create
            before this task): it has no adapters yet, none are read.
        """
        super().__init__(name='plug_vifs', provides='vm_cnas',
                         requires=['lpar_wrap'])
        self.virt_api = virt_api
        self.adapter = adapter
        self.instance = instance
        self.network_info = network_info or []
        self.hotplug = hotplug
        self.new_partition = new_partition
        self.plugged = []
        self.existing = None

    def execute(self, lpar_wrap):
        # Every VIF is checked before anything is created.
        for one in self.network_info:
            vif.validate(self.instance, one)
        existing = ([] if self.new_partition else
                    vif.get_cnas(self.adapter, self.instance))
        self.existing = existing
        events = self._events()
        if events:
            try:
                with self.virt_api.wait_for_instance_event(
                        self.instance, events,
                        timeout=CONF.vif_plugging_timeout,
                        error_callback=self._event_failed):
                    self._plug(lpar_wrap, existing)
            except nova_exc.InstanceEventTimeout:
                if CONF.vif_plugging_is_fatal:
                    raise nova_exc.VirtualInterfaceCreateException()
                LOG.warning('Timed out waiting for network-vif-plugged '
                            'events; continuing.', instance=self.instance)
        else:
            self._plug(lpar_wrap, existing)
        # A vNIC (pvm_sriov) is no client network adapter.
        return existing + [p.cna for p in self.plugged if p.cna is not None]

    def _plug(self, lpar_wrap, existing):
        self.plugged = vif.plug_vifs(self.adapter, self.instance,
                                     self.network_info, lpar_wrap=lpar_wrap,
                                     cna_list=existing)

    def _events(self):
        if not (CONF.vif_plugging_timeout and (
                self.hotplug or
                self.instance.task_state in _SPAWN_STATES)):
            return []
        return [('network-vif-plugged', one['id'])
                for one in self.network_info
                if one.get('active', True) is False]

    def _event_failed(self, event_name, instance):
        LOG.error('Neutron reported a failure plugging %s.', event_name,
                  instance=instance)
        if CONF.vif_plugging_is_fatal:
            raise nova_exc.VirtualInterfaceCreateException()

    def revert(self, lpar_wrap, result, flow_failures, **kwargs):
        if self.hotplug and isinstance(result, task_fail.Failure):
            self._revert_hotplug(result)
            return
        if not self.plugged:
            return
        LOG.warning('Unplugging %d VIF(s) after a failed operation.',
                    len(self.plugged), instance=self.instance)
        vif.unplug_all(self.adapter, self.instance, self.plugged)
        self.plugged = []

    def _revert_hotplug(self, result):
        """An attach failed: remove its adapters, created or not.

        The create whose answer was lost made an adapter nobody holds a
        wrapper of: every VIF not on the partition before is looked up
        (client adapter by MAC, trunk by device name) and removed.
        """
        if not tf_base.may_have_changed(result) or self.existing is None:
            return
        LOG.warning('Removing what the failed interface attach may have '
                    'created.', instance=self.instance)
        for one in self.network_info:
            if vif.find_cna(self.adapter, self.instance, one,
                            cna_list=self.existing) is not None:
                continue
            try:
                vif.unplug(self.adapter, self.instance, one)
            except Exception:
                LOG.exception('Removing port %s failed.', one.get('id'),
                              instance=self.instance)


class CheckIoModifiable(tf_base.Task):
    """Refuse adapter changes a partition cannot take now.

    Requires 'lpar_wrap'.  A running partition takes adapters only through
    DLPAR, i.e. with an active RMC connection; a stopped one always.
    """

    def __init__(self, instance):
        super().__init__(name='check_io_modifiable', requires=['lpar_wrap'])
        self.instance = instance

    def execute(self, lpar_wrap):
        capable, reason = lpar_wrap.can_modify_io()
        if not capable:
            raise exc.PartitionIoNotModifiable(instance=self.instance.name,
                                               reason=reason)


class UnplugVif(tf_base.Task):
    """Remove one VIF's adapters (interface detach).  Requires 'lpar_wrap'.

    Provides 'vm_cnas' (the partition's adapters left).  The partition's
    adapter goes first; if a later step (trunk adapter, Open vSwitch port)
    fails, revert plugs the VIF back.
    """

    def __init__(self, adapter, instance, vif_info):
        super().__init__(name='unplug_vif', provides='vm_cnas',
                         requires=['lpar_wrap'])
        self.adapter = adapter
        self.instance = instance
        self.vif = vif_info
        self.had_cna = False

    def execute(self, lpar_wrap):
        cna_list = vif.get_cnas(self.adapter, self.instance)
        cna = vif.find_cna(self.adapter, self.instance, self.vif,
                           cna_list=cna_list)
        self.had_cna = cna is not None
        vif.unplug(self.adapter, self.instance, self.vif, cna_list=cna_list)
        vif.release_sea_vlans(self.adapter, self.instance, [self.vif])
        return [c for c in cna_list if c is not cna]

    def revert(self, lpar_wrap, result, flow_failures, **kwargs):
        if not self.had_cna or vif.find_cna(self.adapter, self.instance,
                                            self.vif) is not None:
            return
        LOG.warning('Plugging port %s back after a failed detach.',
                    self.vif.get('id'), instance=self.instance)
        try:
            # What is left of the host side, then the whole VIF again.
            vif.unplug(self.adapter, self.instance, self.vif, cna_list=[],
                       keep_client=True)
            vif.plug(self.adapter, self.instance, self.vif,
                     lpar_wrap=lpar_wrap)
        except Exception:
            LOG.exception('Plugging the port back failed.',
                          instance=self.instance)


class UnplugVifs(tf_base.Task):
    """Unplug the instance's VIFs (trunk adapters too).  Idempotent.

    With ``partition_deleted`` (the flow deletes the partition next) the
    partition's own adapters are left to go with it: only OVS ports and
    trunk adapters are removed, which saves two requests per VIF.
    """

    def __init__(self, adapter, instance, network_info,
                 partition_deleted=False):
        super().__init__(name='unplug_vifs')
        self.adapter = adapter
        self.instance = instance
        self.network_info = network_info or []
        self.partition_deleted = partition_deleted

    def execute(self):
        vif.unplug_vifs(self.adapter, self.instance, self.network_info,
                        partition_deleted=self.partition_deleted)


class ReleaseSeaVlans(tf_base.Task):
    """Remove the pvm_sea ports' VLANs no adapter uses from the SEAs.

    Runs after the partition is deleted; best effort (see sea_vlan.py).
    Revert (a later task failed) bridges them again.
    """

    def __init__(self, adapter, instance, network_info):
        super().__init__(name='release_sea_vlans')
        self.adapter = adapter
        self.instance = instance
        self.network_info = network_info or []

    def execute(self):
        vif.release_sea_vlans(self.adapter, self.instance, self.network_info)

    def revert(self, result, flow_failures, **kwargs):
        for one in self.network_info:
            if one.get('type') == vif.VIF_TYPE_PVM_SEA:
                try:
                    vif.ensure_sea_vlan(self.adapter, self.instance, one)
                except Exception:
                    LOG.exception('Bridging the VLAN of port %s again '
                                  'failed.', one.get('id'),
                                  instance=self.instance)


class PlugMgmtVif(tf_base.Task):
    """Create the RMC management adapter; requires 'vm_cnas'.

    Provides 'mgmt_cna' (None when ``use_rmc_mgmt_vif`` is off).  Revert
    deletes the adapter if this task created it.
    """

    def __init__(self, adapter, instance):
        super().__init__(name='plug_mgmt_vif', provides='mgmt_cna',
                         requires=['vm_cnas'])
        self.adapter = adapter
        self.instance = instance
        self.created = None

    def execute(self, vm_cnas, lpar_wrap=None):
        if not CONF.powervm.use_rmc_mgmt_vif:
            return None
        cna = vif.plug_mgmt_vif(self.adapter, self.instance, vm_cnas,
                                lpar_wrap=lpar_wrap)
        if not any(c is cna for c in vm_cnas or []):
            self.created = cna
        return cna

    def revert(self, vm_cnas, result, flow_failures, lpar_wrap=None,
               **kwargs):
        if self.created is None or isinstance(result, task_fail.Failure):
            return
        LOG.warning('Deleting the RMC management adapter after a failed '
                    'operation.', instance=self.instance)
        try:
            vif.unplug_mgmt_vif(self.created)
        except Exception:
            LOG.exception('The RMC management adapter could not be deleted.',
                          instance=self.instance)
        self.created = None


def plug_mgmt_vif(adapter, instance):
    """[PlugMgmtVif], or [] when ``use_rmc_mgmt_vif`` is off (no task).

    A flow without it provides no 'mgmt_cna' (its users take it as
    optional); the engine's bookkeeping costs about a millisecond per task.
    """
    if not CONF.powervm.use_rmc_mgmt_vif:
        return []
    return [PlugMgmtVif(adapter, instance)]


def unplug_vifs(adapter, instance, network_info, partition_deleted=False):
    """[UnplugVifs], or [] when it has nothing to do.

    Before a partition's deletion only ovs VIFs have host-side pieces
    (see :func:`vif.unplug_vifs`); without them the task is left out.
    """
    ovs = network_model.VIF_TYPE_OVS
    if not network_info or partition_deleted and not any(
            one.get('type') == ovs for one in network_info):
        return []
    return [UnplugVifs(adapter, instance, network_info,
                       partition_deleted=partition_deleted)]
