"""An SSP destroy costs the same however many LUs the pool holds.

The cluster's other logical units (other instances, other hosts) are
created through the REST API; a destroy on this host then costs the same
requests and bytes with 0 or 150 of them: the instance's LU is read alone
(disk/ssp_lus.py), not found in a read of every LU of the tier.
"""
import re

from pypowervm.tasks import storage as tsk_stg
from pypowervm.wrappers import storage as pvm_stg

from nova_powervm.simulator import xmlutil as xu
from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import test_lifecycle
from nova_powervm.virt.powervm.disk import ssp

OTHERS = 150
# One LU entry is ~1.3 KB: a read of the others would be ~200 KB.
SLACK_BYTES = 500


def _shape(log):
    """Sorted (method, path with UUIDs and job ids masked) of a log."""
    return sorted((r['method'], re.sub(
        r'[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|/\d+$', 'X',
        r['path'])) for r in log)


class TestSSPDestroyCounts(base.ClassSimTestCase):
    disk_driver = 'ssp'

    def setUp(self):
        super().setUp()
        self.vifs = [test_lifecycle.sea_vif(1, test_lifecycle.SEA_PVID)]
        self.made = 0

    def lu_names(self):
        return sorted(xu.text(lu, 'UnitName')
                      for lu in self.sim.objects('LogicalUnit'))

    def add_others(self, count):
        tier = self.drv.disk_dvr._tier
        for index in range(count):
            tsk_stg.crt_lu(tier, 'other_%04d' % index, 1, thin=True,
                           typ=pvm_stg.LUType.DISK)

    def spawn(self):
        self.made += 1
        inst = test_lifecycle.make_instance(self.made,
                                            image_ref=self.image_id)
        inst.uuid = 'c0ffee%02d-0000-4000-8000-000000000000' % self.made
        self.drv.spawn(None, inst, self.image_meta, [], None, {}, self.vifs)
        inst.task_state = None
        return inst

    def destroy_log(self, inst):
        self.sim.clear_request_log()
        self.drv.destroy(None, inst, self.vifs)
        return base.non_event(self.sim.request_log())

    def test_destroy_independent_of_pool_size(self):
        # The first power off of the process reads the job template.
        self.destroy_log(self.spawn())
        few = self.destroy_log(self.spawn())
        self.add_others(OTHERS)
        before = self.lu_names()
        inst = self.spawn()
        disk = self.drv.disk_dvr.get_disk_name('boot', inst)
        self.assertIn(disk, self.lu_names())
        many = self.destroy_log(inst)
        # The instance's LU is gone, every other LU is still there.
        self.assertEqual(before, self.lu_names())
        self.assertEqual(_shape(few), _shape(many))
        self.assertEqual(9, len(many))
        few_bytes = sum(r['bytes'] for r in few)
        many_bytes = sum(r['bytes'] for r in many)
        self.assertLess(abs(many_bytes - few_bytes), SLACK_BYTES,
                        (few_bytes, many_bytes))
        feed = '/Tier/%s/LogicalUnit' % self.drv.disk_dvr._tier.uuid
        self.assertEqual([], [r for r in many if r['method'] == 'GET' and
                              r['path'].endswith(feed)])

    def test_restarted_process_reads_the_feed_once(self):
        # A process that never saw the LU (a restart): one read of the
        # tier's LUs finds it; the other LUs stay.
        inst = self.spawn()
        self.add_others(3)
        before = self.lu_names()
        disk = self.drv.disk_dvr.get_disk_name('boot', inst)
        fresh = ssp.SSPDiskAdapter(self.drv.adapter, self.drv.host_uuid)
        lus = fresh.boot_disks(inst)
        self.assertEqual([disk], [lu.name for lu in lus])
        self.drv.disk_dvr.detach_disk(inst)
        fresh = ssp.SSPDiskAdapter(self.drv.adapter, self.drv.host_uuid)
        self.sim.clear_request_log()
        fresh.delete_disks(lus)
        self.assertEqual(['GET', 'DELETE'], [
            r['method'] for r in base.non_event(self.sim.request_log())])
        self.assertEqual(sorted(set(before) - {disk}), self.lu_names())
