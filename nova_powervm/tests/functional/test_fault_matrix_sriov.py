"""Fault matrix cells: SR-IOV vNIC (pvm_sriov) interface attach (the plug).

The machinery is test_fault_matrix's (see its docstring); the flows are
test_fault_matrix_iface's hot plug on a running partition with RMC.
"""
# nova's concurrency set-up first, as in test_fault_matrix.
from nova import monkey_patch
monkey_patch.patch()


from nova_powervm.tests.functional import test_fault_matrix as fm  # noqa
from nova_powervm.tests.functional import test_fault_matrix_iface as fmi  # noqa
from nova_powervm.tests.functional import test_sriov  # noqa: E402


class _SriovFlow(object):
    """Mixin: the VIF is a pvm_sriov port on ``sriovnet1``."""

    vif_type = 'pvm_sriov'

    def vif(self):
        return test_sriov.sriov_vif(1)

    def vnic_macs(self):
        return [v['mac'] for v in
                self.sim.inventory()['sriov']['vnics'].values()]


@fm._generate
class TestAttachInterfaceSRIOV(_SriovFlow, fmi._Attach):
    """Partition, its adapters and vNICs, the system, the VIOSes; one PUT."""

    max_requests = 6
    max_updates = 0
    max_writes = 1

    def check_succeeded(self, state, before):
        self.assertEqual(['FA163E000201'], self.vnic_macs())
        self.detach(state)
        self.assertInventory(before)
