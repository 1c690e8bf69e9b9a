"""Fault matrix cells for rescue and unrescue (see test_fault_matrix).

Every REST request of the flow fails once (HTTP 500, dropped connection),
every job fails once, every write is made and its answer lost, sessions
expire and updates get 412.  A failed rescue
leaves the instance as it was (running, boot disk only; a completely
uploaded rescue image may stay cached); a failed unrescue leaves it rescued.
"""
# nova's concurrency set-up first, as in test_fault_matrix.
from nova import monkey_patch
monkey_patch.patch()

from nova.network import model as network_model  # noqa: E402
from nova import objects  # noqa: E402

from nova_powervm.tests.functional import base  # noqa: E402
from nova_powervm.tests.functional import test_fault_matrix as fm  # noqa
from nova_powervm.tests.functional import test_lifecycle as lc  # noqa: E402
from nova_powervm.virt.powervm import vm  # noqa: E402

RESCUE_IMAGE_SIZE = 2 * 1024 * 1024 + 9


class _RescueMatrix(fm._FaultMatrix):
    """A running instance 1 and a rescue image."""

    def prepare(self):
        img = self.glance.add_image(RESCUE_IMAGE_SIZE, name='rescue-image',
                                    seed='rescue')
        inst = lc.make_instance(1, image_ref=self.image_id)
        self.drv.spawn(None, inst, self.image_meta, [], None, {},
                       network_model.NetworkInfo([]))
        return {'inst': inst, 'rescue_meta': objects.ImageMeta.from_dict(img),
                'rescue_id': img['id']}

    def rescue(self, state):
        self.drv.rescue(None, state['inst'], [], state['rescue_meta'], None,
                        None)

    def pstate(self, state):
        return vm.get_instance_wrapper(self.drv.adapter, state['inst']).state

    def rescue_disks(self, state):
        return sorted({stg.name for stg, _v in
                       self.drv.disk_dvr.instance_disk_iter(state['inst'],
                                                            'rescue')})

    def settle(self, state):
        """Drop the cached rescue image (after checking it is complete)."""
        images = [(self.image_meta.size, self.glance.image_digest(
            self.image_id)), (state['rescue_meta'].size,
                              self.glance.image_digest(state['rescue_id']))]
        for name in self._image_disks():
            self.assertTrue(
                any(base.disk_digest(self.sim, name, size) == digest
                    for size, digest in images),
                'partly uploaded image disk %s left' % name)
        self.drv.manage_image_cache(None, [state['inst']])


class _RescueFlow(_RescueMatrix):

    def run_flow(self, state):
        self.rescue(state)

    def check_failed(self, state, before, err):
        self.settle(state)
        self.assertInventory(before)

    def check_succeeded(self, state, before):
        self.assertEqual('open firmware', self.pstate(state))
        self.assertEqual(1, len(self.rescue_disks(state)))
        self.drv.unrescue(None, state['inst'])
        self.settle(state)
        self.assertInventory(before)


class _UnrescueFlow(_RescueMatrix):

    def prepare(self):
        state = super().prepare()
        self.drv.manage_image_cache(None, [state['inst']])
        state['base'] = self.sim.inventory()
        self.rescue(state)
        return state

    def run_flow(self, state):
        self.drv.unrescue(None, state['inst'])

    def check_failed(self, state, before, err):
        # Still rescued, nothing lost: a retry completes the unrescue.
        self.assertInventory(before)
        self.assertEqual('open firmware', self.pstate(state))
        self.drv.unrescue(None, state['inst'])
        self.check_succeeded(state, before)

    def check_succeeded(self, state, before):
        self.assertEqual('running', self.pstate(state))
        self.assertEqual([], self.rescue_disks(state))
        self.settle(state)
        self.assertInventory(state['base'])


@fm._generate
class TestRescueLocalDisk(_RescueFlow):
    """Rescue: power off, upload + copy the rescue image, map, SMS boot."""

    max_requests = 16
    max_jobs = 2
    max_updates = 3
    max_writes = 10


@fm._generate
class TestUnrescueLocalDisk(_UnrescueFlow):
    """Unrescue: power off, unmap + delete the rescue disk, boot."""

    max_requests = 10
    max_jobs = 2
    max_updates = 2
    max_writes = 6


@fm._generate
class TestRescueSSP(_RescueFlow):
    disk_driver = 'ssp'
    max_requests = 24
    max_jobs = 2
    max_updates = 2
    max_writes = 15


@fm._generate
class TestUnrescueSSP(_UnrescueFlow):
    disk_driver = 'ssp'
    max_requests = 11
    max_jobs = 2
    max_updates = 2
    max_writes = 7
