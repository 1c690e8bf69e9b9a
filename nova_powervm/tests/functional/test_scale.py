"""A host with many partitions: periodic work at constant REST cost.

The simulator is seeded once per class with N client partitions
(``partitions=N``, seed_scale.py) owned by N nova instances.  One cycle of
nova-compute's periodic work costs the same requests at N = 10 and
N = 500, and so do a spawn and a destroy.  The power states the driver
answers come from its event-fed cache: at most one event round trip old,
and read fresh when the event feed fails (item 7 of issue 18).

``benchmarks/scale.py`` times the same cycle (``periodic_cycle``).
"""
import contextlib
import time
from unittest import mock

from nova.compute import power_state
from nova.compute import provider_tree
from nova import exception as nova_exc
from nova import objects

from nova_powervm.simulator import seed_scale
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import test_lifecycle
from nova_powervm.virt.powervm import event as pvm_event
from nova_powervm.virt.powervm import ids

_START_LISTENER = pvm_event.start_listener
_GAP = [{'EventType': 'MISSING_EVENTS', 'EventData': '', 'EventID': '0',
         'EventDetail': None}]
# Per cycle: the managed system, the volume group (image cache manager),
# the listener's resync (one quick/All).
PERIODIC_REQUESTS = 3


def owners(count, image_ref=None):
    """nova instances owning the seeded partitions 1..count."""
    out = []
    for index in range(1, count + 1):
        inst = test_lifecycle.make_instance(1, image_ref=image_ref)
        inst.uuid = ids.instance_uuid_candidates(
            seed_scale.partition_uuid(index))[0]
        inst.id = 100000 + index
        inst.task_state = None
        inst.vm_state = 'active'
        out.append(inst)
    return out


@contextlib.contextmanager
def database(insts):
    """nova's database, holding ``insts``, for the driver's look-ups."""
    by_uuid = {i.uuid: i for i in insts}

    def get_by_uuid(ctx, uuid, expected_attrs=None):
        if uuid not in by_uuid:
            raise nova_exc.InstanceNotFound(instance_id=uuid)
        return by_uuid[uuid]

    with mock.patch.object(objects.InstanceList, 'get_by_filters',
                           return_value=insts), \
            mock.patch.object(objects.Instance, 'get_by_uuid',
                              side_effect=get_by_uuid):
        yield


def new_tree(node):
    tree = provider_tree.ProviderTree()
    tree.new_root(node, 'be0c0000-0000-4000-8000-00000000a11c')
    return tree


def periodic_cycle(drv, context, node, insts, tree):
    """One cycle of nova-compute's periodic work on this driver.

    The power state sync (instance count, ``get_info`` of each instance),
    the resource update, the instance-UUID listing, the image cache
    manager and the event listener's resync after lost events.
    """
    drv.get_available_nodes()
    drv.get_num_instances()
    for inst in insts:
        drv.get_info(inst)
    drv.get_available_resource(node)
    drv.update_provider_tree(tree, node)
    drv.list_instance_uuids()
    drv.manage_image_cache(context, insts)
    drv.event_handler.process(_GAP)


class _Scale(object):
    """Request counts of the periodic cycle, a spawn and a destroy.

    Mixed into a ClassSimTestCase with ``partitions`` set.
    """

    @classmethod
    def setUpClass(cls):
        cls.sim_kwargs = dict(base.ClassSimTestCase.sim_kwargs,
                              partitions=cls.partitions)
        if getattr(cls, 'event_hold_s', None):
            cls.sim_kwargs['event_hold_s'] = cls.event_hold_s
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.insts = owners(self.partitions, image_ref=self.image_id)
        db = database(self.insts)
        db.__enter__()
        self.addCleanup(db.__exit__, None, None, None)

    def listen(self):
        """Start the driver's event listener (and stop it at cleanup)."""
        self.drv.event_handler = _START_LISTENER(self.drv)
        self.addCleanup(pvm_event.stop_listener, self.drv,
                        self.drv.event_handler)

    def count(self, fn, *args):
        self.sim.clear_request_log()
        fn(*args)
        return base.non_event(self.sim.request_log())

    def test_periodic_cycle_constant(self):
        self.listen()
        tree = new_tree('compute1')
        args = (self.drv, None, 'compute1', self.insts, tree)
        # The first fills the partition cache (one more quick/All).
        first = self.count(periodic_cycle, *args)
        self.assertEqual(PERIODIC_REQUESTS + 1, len(first))
        log = self.count(periodic_cycle, *args)
        self.assertEqual(
            [('GET', '/rest/api/uom/LogicalPartition/quick/All'),
             ('GET', '/rest/api/uom/ManagedSystem'),
             ('GET', 'VolumeGroup')],
            sorted((r['method'], r['path'] if 'VolumeGroup' not in
                    r['path'] else 'VolumeGroup') for r in log))
        states = [self.drv.get_info(i).state for i in self.insts]
        self.assertEqual([power_state.RUNNING if seed_scale.running(n) else
                          power_state.SHUTDOWN
                          for n in range(1, self.partitions + 1)], states)
        self.assertEqual(sorted(seed_scale.NAME % n for n in range(
            1, self.partitions + 1)), sorted(self.drv.list_instances()))
        self.assertEqual(sorted(i.uuid for i in self.insts),
                         sorted(self.drv.list_instance_uuids()))

    def test_spawn_destroy_constant(self):
        # No listener: its reads would mix into the counts (as in
        # test_request_counts).
        vifs = [test_lifecycle.sea_vif(1, test_lifecycle.SEA_PVID)]
        warm = test_lifecycle.make_instance(1, image_ref=self.image_id)
        self.drv.spawn(None, warm, self.image_meta, [], None, {}, vifs)
        self.drv.destroy(None, warm, vifs)
        inst = test_lifecycle.make_instance(2, image_ref=self.image_id)
        spawn = self.count(self.drv.spawn, None, inst, self.image_meta, [],
                           None, {}, vifs)
        destroy = self.count(self.drv.destroy, None, inst, vifs)
        # As on an empty host (test_request_counts).
        self.assertEqual((8, 8), (len(spawn), len(destroy)))


class TestScale10(_Scale, base.ClassSimTestCase):
    partitions = 10


class TestScale500(_Scale, base.ClassSimTestCase):
    partitions = 500
    # Long enough for a held poll to take the change's event.
    event_hold_s = 1.0

    def test_states_follow_events(self):
        """At most one event round trip old; a lost poll reads fresh."""
        self.listen()
        cache = self.drv.event_handler.cache
        inst = self.insts[0]
        uuid = seed_scale.partition_uuid(1)
        self.assertEqual(power_state.RUNNING, self.drv.get_info(inst).state)
        self.sim.set_partition_state(uuid, 'suspended')
        self.assertTrue(cache.wait_for_poll(60))
        log = self.count(self.drv.get_info, inst)
        self.assertEqual([], log)
        self.assertEqual(power_state.SUSPENDED,
                         self.drv.get_info(inst).state)
        # The answer of the poll that takes the next change's event is
        # lost: the driver notices the failed read and reads fresh.
        self.sim.inject_fault(method='GET', path='/rest/api/uom/Event',
                              drop=True, after_commit=True)
        self.assertTrue(_wait(lambda: not self.sim.faults.list()))
        self.sim.set_partition_state(uuid, 'running')
        self.assertTrue(_wait(lambda: not cache._feed_ok))
        log = self.count(self.drv.get_info, inst)
        self.assertEqual(1, len(log))
        self.assertEqual(power_state.RUNNING, self.drv.get_info(inst).state)


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
