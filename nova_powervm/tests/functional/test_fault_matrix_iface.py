"""Fault matrix cells: interface attach/detach and the VNC console open.

The machinery (cells, checks, the generated test names) is
test_fault_matrix's; see its docstring.  Attach and detach act on a
running partition whose RMC connection is up (a hot plug); os-vif (the
Open vSwitch side of an ovs port) is mocked.  The console opens through
NovaLink's local logon, so pypowervm runs the simulator's terminal
commands (``vterm_cmd``); those talk to the admin API, which no fault
touches: the cells are the REST requests.
"""
# nova's concurrency set-up first, as in test_fault_matrix.
from nova import monkey_patch
monkey_patch.patch()


import fixtures  # noqa: E402

from nova_powervm.simulator import rfb_client  # noqa: E402
from nova_powervm.tests.functional import base  # noqa: E402
from nova_powervm.tests.functional import fixtures as pvm_fixtures  # noqa
from nova_powervm.tests.functional import test_fault_matrix as fm  # noqa
from nova_powervm.tests.functional import test_iface_console as tic  # noqa
from nova_powervm.tests.functional import test_lifecycle as lc  # noqa
from nova_powervm.virt.powervm import console  # noqa: E402
from nova_powervm.virt.powervm import ids  # noqa: E402
from nova_powervm.virt.powervm import vif as vif_mod  # noqa: E402
from nova_powervm.virt.powervm import vm  # noqa: E402

INST = '1a2b3c4d-0000-4000-8000-0000000000f1'


def _instance():
    inst = base.bare_instance(INST, 21, 'vm21')
    inst.task_state = None
    inst.config_drive = ''
    return inst


class _IfaceFlow(fm._FaultMatrix):
    """A running partition with an active RMC connection."""

    vif_type = 'pvm_sea'

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatchObject(vif_mod, 'os_vif'))

    def make_vm(self):
        inst = _instance()
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        self.drv.power_on(None, inst, [])
        self.sim.set_rmc(ids.pvm_uuid(inst))
        return inst

    def vif(self):
        # pvm_sea: a VLAN the seeded SEA carries (no SEA change to cover).
        if self.vif_type == 'pvm_sea':
            return tic.make_vif(1, self.vif_type, vlan=lc.SEA_PVID)
        return tic.make_vif(1, self.vif_type)

    def attach(self, state):
        self.drv.attach_interface(None, state['inst'], None, state['vif'])

    def detach(self, state):
        self.drv.detach_interface(None, state['inst'], state['vif'])


class _Attach(_IfaceFlow):

    def prepare(self):
        return {'inst': self.make_vm(), 'vif': self.vif()}

    def run_flow(self, state):
        self.attach(state)

    def check_succeeded(self, state, before):
        self.assertIsNotNone(vif_mod.find_cna(
            self.drv.adapter, state['inst'], state['vif']))
        self.detach(state)
        self.assertInventory(before)


class _Detach(_IfaceFlow):

    def prepare(self):
        state = {'inst': self.make_vm(), 'vif': self.vif()}
        state['detached'] = self.sim.inventory()
        self.attach(state)
        state['pvid'] = vif_mod.find_cna(self.drv.adapter, state['inst'],
                                         state['vif']).pvid
        return state

    def run_flow(self, state):
        self.detach(state)

    def check_failed(self, state, before, err):
        # Still attached: as before, or plugged back (an equivalent adapter:
        # same MAC, VLAN and vswitch) when a step after the removal of the
        # partition's adapter failed...
        cna = vif_mod.find_cna(self.drv.adapter, state['inst'], state['vif'])
        self.assertIsNotNone(cna, 'the adapter is gone after a failed '
                             'detach')
        self.assertEqual(state['pvid'], cna.pvid)
        # ...and a retry detaches it completely.
        self.detach(state)
        self.assertInventory(state['detached'])

    def check_succeeded(self, state, before):
        self.assertInventory(state['detached'])


@fm._generate
class TestAttachInterfaceSEA(_Attach):
    """Partition, its adapters, the vswitch feed; one adapter PUT."""

    max_requests = 4
    max_updates = 0
    max_writes = 1


@fm._generate
class TestAttachInterfaceOVS(_Attach):
    """Trunk adapter on the NovaLink partition, then the client adapter."""

    vif_type = 'ovs'
    max_requests = 8
    max_updates = 0
    max_writes = 2


@fm._generate
class TestDetachInterfaceSEA(_Detach):
    """The partition's adapter DELETE."""

    max_requests = 3
    max_updates = 0
    max_writes = 1


@fm._generate
class TestDetachInterfaceOVS(_Detach):
    """The client adapter, then the trunk adapter."""

    vif_type = 'ovs'
    max_requests = 5
    max_updates = 0
    max_writes = 2


@fm._generate
class TestOpenConsole(fm._FaultMatrix):
    """get_vnc_console: the partition's id and type, then mkvterm."""

    max_requests = 2
    max_updates = 0
    max_writes = 0

    def setUp(self):
        super().setUp()
        self.useFixture(pvm_fixtures.VncConsoleFixture(self.sim))
        self.flags(server_proxyclient_address=tic.VNC_HOST, group='vnc')
        self.flags(group='powervm', password=None)
        self.drv = self.new_driver()

    def prepare(self):
        inst = _instance()
        vm.create_lpar(self.drv.adapter, self.drv.host_wrapper, inst)
        return {'inst': inst}

    def run_flow(self, state):
        state['console'] = self.drv.get_vnc_console(None, state['inst'])

    def check_succeeded(self, state, before):
        cons = state['console']
        sock, _answer, greeting = rfb_client.rfb_connect(
            cons.host, cons.port, cons.internal_access_path)
        sock.close()
        self.assertEqual(b'RFB 003.008\n', greeting)
        console.close(self.drv.adapter, state['inst'])
        self.assertInventory(before)
