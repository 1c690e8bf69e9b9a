"""SharedAnswersFixture finds a batch.SHARE caller changing its answer."""
from pypowervm.wrappers import storage as pvm_stg
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.tests.functional import base
from nova_powervm.tests.functional import shared_answers
from nova_powervm.virt.powervm import batch


class TestSharedAnswersFixture(base.AdapterSimTestCase):

    # The fixture under test is set up by each test.
    check_shared_answers = False

    def setUp(self):
        super().setUp()
        vios_w = pvm_vios.VIOS.get(self.adapter)[0]
        vg_w = pvm_stg.VG.get(self.adapter, parent=vios_w)[0]
        self.getter = pvm_stg.VG.getter(
            self.adapter, entry_uuid=vg_w.uuid, parent_class=pvm_vios.VIOS,
            parent_uuid=vios_w.uuid)
        self.key = ('VolumeGroup', vg_w.uuid)
        self.guard = shared_answers.SharedAnswersFixture()
        self.guard.setUp()
        self.checked = False
        self.addCleanup(self._end)

    def _end(self):
        if not self.checked:
            self.guard.cleanUp(raise_first=False)

    def _check(self):
        self.checked = True
        self.guard.cleanUp()

    def _add_disk(self, name, answer=batch.SHARE, reuse=False):
        def add(vg_w):
            if any(vd.name == name for vd in vg_w.virtual_disks):
                return False
            vg_w.virtual_disks.append(pvm_stg.VDisk.bld(
                self.adapter, name, 1))
            return True
        vg_w, _ok = batch.update(self.key, self.getter, add, answer=answer,
                                 reuse=reuse)
        return vg_w

    def _phantom(self, vg_w):
        vg_w.virtual_disks.append(pvm_stg.VDisk.bld(self.adapter,
                                                    'phantom', 1))

    def test_unchanged_answer_passes(self):
        self._add_disk('d1')
        self._add_disk('d2', answer=batch.COPY)
        self.assertEqual(1, self.guard.shared)
        self._check()
        self.assertEqual([], self.guard.violations)

    def test_changed_answer_fails_at_the_end(self):
        self._phantom(self._add_disk('d1'))
        err = self.assertRaises(AssertionError, self._check)
        self.assertIn('at the end of the test', str(err))
        self.assertIn('phantom', str(err))

    def test_changed_answer_found_when_a_later_batch_takes_it(self):
        self._phantom(self._add_disk('d1'))
        # The next change starts from the answer the slot keeps.
        self._add_disk('d2', answer=batch.COPY, reuse=True)
        self.assertEqual(1, len(self.guard.violations))
        self.assertIn('when a later batch took it', self.guard.violations[0])
        self.assertRaises(AssertionError, self._check)
