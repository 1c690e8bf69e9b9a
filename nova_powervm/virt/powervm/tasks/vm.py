"""TaskFlow tasks for the instance's partition (thin; see vm.py)."""
from oslo_log import log as logging

from nova_powervm.virt.powervm import nvram
from nova_powervm.virt.powervm import power
from nova_powervm.virt.powervm.tasks import base as tf_base
from nova_powervm.virt.powervm import vm

LOG = logging.getLogger(__name__)


class Get(tf_base.Task):
    """Read the instance's partition; provides 'lpar_wrap'."""

    def __init__(self, adapter, instance):
        super().__init__(name='get_vm', provides='lpar_wrap')
        self.adapter = adapter
        self.instance = instance

    def execute(self):
        return vm.get_instance_wrapper(self.adapter, self.instance)


class Create(tf_base.Task):
    """Create the partition; provides 'lpar_wrap'.  Revert deletes it.

    A recreated partition (not a first boot) gets the instance's saved
    NVRAM in its create request when ``nvram_mgr`` has one.
    """

    def __init__(self, adapter, host_wrapper, instance, lpar_w=None,
                 nvram_mgr=None):
        """:param lpar_w: the wrapper already built by vm.build_lpar.

        :param nvram_mgr: the driver's NvramManager (None: no NVRAM).
        """
        super().__init__(name='create_vm', provides='lpar_wrap')
        self.adapter = adapter
        self.host_wrapper = host_wrapper
        self.instance = instance
        self.lpar_w = lpar_w
        self.nvram_mgr = nvram_mgr

    def execute(self):
        lpar_w = self.lpar_w or vm.build_lpar(self.adapter, self.host_wrapper,
                                              self.instance)
        nvram.restore_into(self.nvram_mgr, self.instance, lpar_w)
        return vm.create_lpar(self.adapter, self.host_wrapper, self.instance,
                              lpar_w=lpar_w)

    def revert(self, result, flow_failures, **kwargs):
        if not tf_base.may_have_changed(result):
            # The server refused the create: nothing to remove.
            return
        # Also when the create's own call failed: its answer may have been
        # lost after the partition was made.  Deleted by its UUID (derived
        # from the instance's); already gone is fine.
        LOG.warning('Removing the partition of the failed spawn.',
                    instance=self.instance)
        vm.delete_lpar(self.adapter, self.instance)


class PowerOn(tf_base.Task):
    """Power the partition on (uses 'lpar_wrap' when the flow has it).

    Revert powers it off hard.
    """

    def __init__(self, adapter, instance, opts=None):
        """:param opts: pypowervm PowerOnOpts (e.g. SMS boot mode)."""
        super().__init__(name='pwr_on_vm')
        self.adapter = adapter
        self.instance = instance
        self.opts = opts

    def execute(self, lpar_wrap=None):
        power.power_on(self.adapter, self.instance, lpar_w=lpar_wrap,
                       opts=self.opts)

    def revert(self, result, flow_failures, **kwargs):
        LOG.warning('Powering off the partition of the failed operation.',
                    instance=self.instance)
        # Re-read the state: the flow's wrapper predates the power on.
        power.power_off(self.adapter, self.instance, force_immediate=True)


class PowerOff(tf_base.Task):
    """Power the partition off (uses 'lpar_wrap' when the flow has it).

    :param restore_on_revert: revert powers the partition on again if this
        task stopped it (``revert_opts``: its PowerOnOpts); otherwise
        (destroy) nothing is reverted.
    """

    def __init__(self, adapter, instance, force_immediate=False,
                 restore_on_revert=False, revert_opts=None):
        super().__init__(name='pwr_off_vm')
        self.adapter = adapter
        self.instance = instance
        self.force_immediate = force_immediate
        self.restore_on_revert = restore_on_revert
        self.revert_opts = revert_opts

    def execute(self, lpar_wrap=None):
        return power.power_off(self.adapter, self.instance,
                               force_immediate=self.force_immediate,
                               lpar_w=lpar_wrap)

    def revert(self, result, flow_failures, **kwargs):
        if not self.restore_on_revert or result is not True:
            return
        LOG.warning('Powering the partition on again after a failed '
                    'operation.', instance=self.instance)
        power.power_on(self.adapter, self.instance, opts=self.revert_opts)


class Delete(tf_base.Task):
    """Delete the partition (already gone is success).

    With ``nvram_mgr``: the NVRAM is saved first when the instance lives on
    (rebuild, migration, ...), else removed from the store afterwards.
    """

    def __init__(self, adapter, instance, nvram_mgr=None):
        super().__init__(name='dlt_vm')
        self.adapter = adapter
        self.instance = instance
        self.nvram_mgr = nvram_mgr

    def execute(self):
        nvram.before_delete(self.nvram_mgr, self.instance)
        vm.delete_lpar(self.adapter, self.instance)
        nvram.after_delete(self.nvram_mgr, self.instance)


class SaveNvram(tf_base.Task):
    """Save the partition's NVRAM now (never fails; nothing to revert)."""

    def __init__(self, nvram_mgr, instance):
        super().__init__(name='save_nvram')
        self.nvram_mgr = nvram_mgr
        self.instance = instance

    def execute(self):
        nvram.save_now(self.nvram_mgr, self.instance)


class ForgetNvram(tf_base.Task):
    """Remove the saved NVRAM of an instance that is gone for good."""

    def __init__(self, nvram_mgr, instance):
        super().__init__(name='forget_nvram')
        self.nvram_mgr = nvram_mgr
        self.instance = instance

    def execute(self):
        nvram.after_delete(self.nvram_mgr, self.instance)


class Resize(tf_base.Task):
    """Apply ``flavor`` to the stopped partition (one POST).

    Requires 'lpar_wrap'; provides the updated 'lpar_wrap'.  Revert applies
    ``old_flavor`` to the partition as it is then (re-read).
    """

    def __init__(self, adapter, host_wrapper, instance, flavor, old_flavor):
        super().__init__(name='resize_vm', provides='lpar_wrap')
        self.adapter = adapter
        self.host_wrapper = host_wrapper
        self.instance = instance
        self.flavor = flavor
        self.old_flavor = old_flavor

    def execute(self, lpar_wrap):
        return vm.resize_lpar(self.adapter, self.host_wrapper, self.instance,
                              lpar_wrap, self.flavor)

    def revert(self, result, flow_failures, **kwargs):
        if not tf_base.may_have_changed(result):
            return
        LOG.warning('Restoring the partition\'s flavor %s after a failed '
                    'operation.', self.old_flavor.name,
                    instance=self.instance)
        vm.resize_lpar(self.adapter, self.host_wrapper, self.instance,
                       vm.get_instance_wrapper(self.adapter, self.instance),
                       self.old_flavor)
