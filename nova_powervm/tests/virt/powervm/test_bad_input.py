"""Unit tests: input refused before anything is created.

host.check_fits (flavor larger than the managed system) and
DiskAdapter.check_image (image disk formats a backend boots).
"""
from unittest import mock

from nova import exception as nova_exc
from nova import objects
from nova import test
from pypowervm.wrappers import base_partition as pvm_bp

from nova_powervm.virt.powervm.disk import driver as disk_dvr
from nova_powervm.virt.powervm.disk import ssp
from nova_powervm.virt.powervm import host


def _host():
    return mock.Mock(memory_configurable=8192, proc_units_configurable=4.0,
                     max_vcpus_per_aix_linux_lpar=64,
                     max_procs_per_aix_linux_lpar=8, system_name='sys1')


def _lpar(mem=2048, units=0.5, vprocs=2, dedicated=False, procs=2):
    lpar = mock.Mock(env=pvm_bp.LPARType.AIXLINUX)
    lpar.mem_config.desired = mem
    lpar.proc_config.has_dedicated = dedicated
    lpar.proc_config.shared_proc_cfg.desired_units = units
    lpar.proc_config.shared_proc_cfg.desired_virtual = vprocs
    lpar.proc_config.dedicated_proc_cfg.desired = procs
    return lpar


class TestCheckFits(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.inst = mock.Mock(flavor=mock.Mock(vcpus=2))
        self.inst.flavor.name = 'm1.big'

    def test_fits(self):
        host.check_fits(_host(), _lpar(), self.inst)
        host.check_fits(_host(), _lpar(mem=8192, units=4.0, vprocs=64),
                        self.inst)
        host.check_fits(_host(), _lpar(dedicated=True, procs=4), self.inst)

    def _refused(self, lpar, *words):
        err = self.assertRaises(nova_exc.ComputeResourcesUnavailable,
                                host.check_fits, _host(), lpar, self.inst)
        for word in ('m1.big', 'sys1') + words:
            self.assertIn(word, str(err))

    def test_memory(self):
        self._refused(_lpar(mem=8448), 'memory_mb 8448', '8192 MB')

    def test_processor_units(self):
        self._refused(_lpar(units=4.5), 'vcpus', '4.5', '4.0')
        self._refused(_lpar(dedicated=True, procs=5), 'vcpus')

    def test_virtual_processors(self):
        self._refused(_lpar(vprocs=65), 'vcpus 65', '64 processors')
        self._refused(_lpar(dedicated=True, procs=9, units=9), 'vcpus')

    def test_limits_only_for_aix_linux(self):
        # The per-partition processor limit is the AIX/Linux one: an IBM i
        # partition above it fits, but the system's totals still apply.
        lpar = _lpar(vprocs=65)
        lpar.env = pvm_bp.LPARType.OS400
        self.assertIsNone(host.check_fits(_host(), lpar, self.inst))
        lpar.mem_config.desired = 8448
        self._refused(lpar, 'memory_mb 8448')


class TestCheckImage(test.NoDBTestCase):

    @staticmethod
    def _meta(fmt):
        return objects.ImageMeta.from_dict(
            {'id': 'c0ffee00-0000-4000-8000-000000000001',
             'disk_format': fmt, 'container_format': 'bare'})

    def test_formats(self):
        local = mock.Mock(image_formats=('raw', 'qcow2'))
        for fmt in ('raw', 'qcow2'):
            disk_dvr.DiskAdapter.check_image(local, self._meta(fmt))
        err = self.assertRaises(nova_exc.ImageUnacceptable,
                                disk_dvr.DiskAdapter.check_image, local,
                                self._meta('vmdk'))
        self.assertIn('vmdk', str(err))

    def test_ssp_boots_raw_only(self):
        self.assertEqual(('raw',), ssp.SSPDiskAdapter.image_formats)
        sspd = mock.Mock(image_formats=ssp.SSPDiskAdapter.image_formats)
        disk_dvr.DiskAdapter.check_image(sspd, self._meta('raw'))
        self.assertRaises(nova_exc.ImageUnacceptable,
                          disk_dvr.DiskAdapter.check_image, sspd,
                          self._meta('qcow2'))
