"""Fault matrix cells: iSCSI, RBD and file I/O attach/detach.

The machinery (cells, checks, test names) is test_fault_matrix's; see its
docstring.  To keep the run short these flows get three cells per step:
an HTTP 500 at each request, a failure of each job and a lost answer at
each write (the full matrix of all seven dimensions passed once: 112
cells, 14 minutes on the shared machine).  After a failed iSCSI attach no
hdisk stays and no VIOS stays logged in to the target (the inventory
includes the sessions); a failed detach leaves the volume attached and a
retry completes it.  RBD detach and file I/O attach/detach are one GET and
one POST: an HTTP 500 at each, and the POST made but its answer lost (HTTP
500, dropped connection).
"""
# nova's concurrency set-up first, as in test_fault_matrix.
from nova import monkey_patch
monkey_patch.patch()

from nova_powervm import conf as cfg  # noqa: E402
from nova_powervm.tests.functional import test_fault_matrix as fm  # noqa
from nova_powervm.tests.functional import test_volumes_iscsi as tvi  # noqa

CONF = cfg.CONF
FILE_PATH = tvi.file_info('gpfs')['data']['device_path']


def _generate(cls):
    """Three cells per step: HTTP 500, job failure, lost write answer."""
    return fm._generate(cls, only=('http500', 'job', 'amb_loss'))


def _generate_small(cls):
    """One-POST flows: HTTP 500 at each request, both lost answers."""
    return fm._generate(cls, only=('http500', 'amb500', 'amb_loss'))


class _IscsiFlow(fm._VolumeFlow):
    """One iSCSI LUN reached by both VIOSes (CHAP)."""

    def prepare(self):
        self.sim.add_iscsi_target(tvi.IQN, tvi.PORTALS[:1], luns={1: 1},
                                  chap_user='cinder', chap_secret=tvi.SECRET)
        return {'inst': self.make_vm(),
                'info': tvi.iscsi_info(portals=tvi.PORTALS[:1])}


@_generate
class TestAttachVolumeISCSI(_IscsiFlow):
    """attach_volume: login + hdisk on each VIOS, one mapping POST each."""

    max_requests = 9
    max_jobs = 2
    max_updates = 2
    max_writes = 6

    def run_flow(self, state):
        self.attach(state)

    def check_succeeded(self, state, before):
        self.assertGreaterEqual(
            len(self.pv_maps(state['inst'])),
            CONF.powervm.vscsi_vios_connections_required)
        self.detach(state)
        self.assertInventory(before)


@_generate
class TestDetachVolumeISCSI(_IscsiFlow):
    """detach_volume: mappings removed, then hdisks and sessions."""

    max_requests = 9
    max_jobs = 2
    max_updates = 2
    max_writes = 6

    def prepare(self):
        state = super().prepare()
        self.attach(state)
        self.detach(state)
        state['detached'] = self.sim.inventory()
        self.attach(state)
        return state

    def run_flow(self, state):
        self.detach(state)

    def check_failed(self, state, before, err):
        self.check_detach_failed(state, before)

    def check_succeeded(self, state, before):
        self.assertEqual({}, self.pv_maps(state['inst']))
        self.assertInventory(state['detached'])


@_generate
class TestAttachVolumeRBD(fm._VolumeFlow):
    """attach_volume (RBD): RBDExists job, one mapping POST."""

    max_requests = 5
    max_jobs = 1
    max_updates = 1
    max_writes = 3

    def prepare(self):
        self.sim.add_rbd_pool('volumes')
        self.sim.add_rbd_image('volumes', 'volume-r')
        return {'inst': self.make_vm(), 'info': tvi.rbd_info()}

    def run_flow(self, state):
        self.attach(state)

    def check_succeeded(self, state, before):
        self.detach(state)
        self.assertInventory(before)


class _DetachFlow(object):
    """Detach of an attached volume: a failure leaves it attached."""

    def run_flow(self, state):
        self.detach(state)

    def check_failed(self, state, before, err):
        self.check_detach_failed(state, before)

    def check_succeeded(self, state, before):
        self.assertInventory(state['detached'])


@_generate_small
class TestDetachVolumeRBD(_DetachFlow, fm._VolumeFlow):
    """detach_volume (RBD): one mapping removal POST."""

    max_requests = 2
    max_updates = 1
    max_writes = 1

    def prepare(self):
        self.sim.add_rbd_pool('volumes')
        self.sim.add_rbd_image('volumes', 'volume-r')
        state = {'inst': self.make_vm(), 'info': tvi.rbd_info()}
        state['detached'] = self.sim.inventory()
        self.attach(state)
        return state


class _FileFlow(fm._VolumeFlow):
    """One GPFS volume file every VIOS sees."""

    def prepare(self):
        self.sim.add_volume_file(FILE_PATH)
        return {'inst': self.make_vm(), 'info': tvi.file_info('gpfs')}


@_generate_small
class TestAttachVolumeFileIO(_FileFlow):
    """attach_volume (file I/O): one mapping POST on one VIOS."""

    max_requests = 2
    max_updates = 1
    max_writes = 1

    def run_flow(self, state):
        self.attach(state)

    def check_succeeded(self, state, before):
        self.detach(state)
        self.assertInventory(before)


@_generate_small
class TestDetachVolumeFileIO(_DetachFlow, _FileFlow):
    """detach_volume (file I/O): one mapping removal POST."""

    max_requests = 2
    max_updates = 1
    max_writes = 1

    def prepare(self):
        state = super().prepare()
        state['detached'] = self.sim.inventory()
        self.attach(state)
        return state
