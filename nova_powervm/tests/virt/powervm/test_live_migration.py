"""Unit tests: live migration (driver_live_migration, live_migration).

What reaches pypowervm's migration task (job arguments, mappings) and
which refusals come before anything is sent.
"""
from unittest import mock

import fixtures
from nova import exception as nova_exc
from nova import test
from pypowervm import exceptions as pvm_exc
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm.objects import migrate_data as mig_obj
from nova_powervm.virt.powervm import driver
from nova_powervm.virt.powervm import driver_live_migration as drv_lpm
from nova_powervm.virt.powervm import ids
from nova_powervm.virt.powervm import live_migration as lpm
from nova_powervm.virt.powervm import live_migration_target as lpm_tgt
from nova_powervm.virt.powervm import slot_map
from nova_powervm.virt.powervm.volume import driver as volume_dvr

UDID1, UDID2 = 'UDID-1', 'UDID-2'


def _fc_bdm(vol, boot_index=None):
    return {'boot_index': boot_index, 'connection_info': {
        'driver_volume_type': 'fibre_channel',
        'data': {'volume_id': vol, 'target_wwn': ['500507680b2155e4'],
                 'target_lun': 1}}}


def _bdi(*bdms):
    return {'block_device_mapping': list(bdms)}


def _md(**kw):
    values = dict(dest_sys_name='sys2', dest_ip='10.0.0.2',
                  dest_user_id='wlp', dest_proc_compat=['power8', 'power9'],
                  dest_mem_region_mb=256, dest_ssp_uuid='ssp-1', vol_data={})
    values.update(kw)
    return mig_obj.PowerVMLiveMigrateData(**values)


class LpmTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.flags(my_ip='10.0.0.2')
        self.drv = driver.PowerVMDriver(mock.Mock())
        self.drv.adapter = mock.Mock()
        self.drv.host_uuid = 'host-1'
        self.drv.host_wrapper = mock.Mock(
            system_name='sys1', memory_region_size=256,
            migration_data={'active_migrations_supported': 16,
                            'active_migrations_in_progress': 0})
        self.drv.disk_dvr = mock.Mock(capabilities={'shared_storage': True},
                                      ssp_uuid='ssp-1')
        self.inst = mock.Mock(uuid='0b3b0f72-b3d4-4e5b-9e05-3f6e0a0c7a11',
                              system_metadata={})
        self.inst.name = 'inst'
        self.inst.get_network_info.return_value = [
            {'id': 'port-1', 'type': 'pvm_sea'}]
        self.lpar = mock.Mock(uuid='3B3B0F72-B3D4-4E5B-9E05-3F6E0A0C7A11',
                              migration_state='Not_Migrating',
                              proc_compat_mode='POWER8', state='running')
        self.lpar.name = 'inst'
        self.lpar.can_lpm.return_value = (True, None)
        self.get_lpar = self.useFixture(fixtures.MockPatchObject(
            lpm.vm, 'get_instance_wrapper', return_value=self.lpar)).mock
        self.mig = self.useFixture(fixtures.MockPatchObject(
            lpm, 'pvm_mig')).mock
        self.cfgdrv = self.useFixture(fixtures.MockPatchObject(
            lpm.configdrive, 'required_by', return_value=False)).mock
        self.vioses = self.useFixture(fixtures.MockPatchObject(
            lpm.pvm_par, 'get_active_vioses', return_value=[])).mock
        self.console = self.useFixture(fixtures.MockPatchObject(
            lpm, 'pvm_console')).mock
        self.console.get_public_key.return_value = 'ssh-rsa AAAA src'
        self.tgt = self.useFixture(fixtures.MockPatchObject(
            lpm, 'lpm_tgt')).mock
        self.tgt.best_effort.side_effect = lpm_tgt.best_effort
        self.tgt.ATTEMPTS = lpm_tgt.ATTEMPTS


class TestDestination(LpmTestCase):

    def setUp(self):
        super().setUp()
        self.dest_host = mock.Mock(
            system_name='sys2', memory_region_size=256,
            proc_compat_modes=('default', 'POWER8', 'POWER9_Plus'),
            migration_data={'active_migrations_supported': 16,
                            'active_migrations_in_progress': 3},
            memory_free=4096, proc_units_avail=1.5)
        self.drv.host_wrapper.refresh.return_value = self.dest_host
        self.build = self.useFixture(fixtures.MockPatchObject(
            lpm.vm, 'build_lpar')).mock
        lpar_w = self.build.return_value
        lpar_w.mem_config.desired = 2048
        lpar_w.proc_config.has_dedicated = False
        lpar_w.proc_config.shared_proc_cfg.desired_units = 0.5
        self.fits = self.useFixture(fixtures.MockPatchObject(
            lpm.pvm_host, 'check_fits')).mock

    def test_describes_this_host(self):
        md = self.drv.check_can_live_migrate_destination(
            'ctx', self.inst, {}, {})
        self.assertIsInstance(md, mig_obj.PowerVMLiveMigrateData)
        self.assertEqual('sys2', md.dest_sys_name)
        self.assertEqual('10.0.0.2', md.dest_ip)
        self.assertEqual('wlp', md.dest_user_id)
        self.assertEqual(['default', 'power8', 'power9+'],
                         md.dest_proc_compat)
        self.assertEqual(256, md.dest_mem_region_mb)
        self.assertEqual('ssp-1', md.dest_ssp_uuid)
        self.assertEqual({}, md.vol_data)
        # The partition the flavor gives must fit the fresh system.
        self.build.assert_called_once_with(self.drv.adapter, self.dest_host,
                                           self.inst)
        self.fits.assert_called_once_with(self.dest_host,
                                          self.build.return_value, self.inst)
        # A check: nothing is created (pre_live_migration prepares).
        self.drv.adapter.create.assert_not_called()
        self.tgt.prepare.assert_not_called()
        # It survives nova's RPC serializer.
        prim = md.obj_to_primitive()
        self.assertEqual('PowerVMLiveMigrateData',
                         prim['nova_object.name'])
        back = mig_obj.PowerVMLiveMigrateData.obj_from_primitive(prim)
        self.assertEqual(['default', 'power8', 'power9+'],
                         back.dest_proc_compat)

    def test_no_room(self):
        self.fits.side_effect = nova_exc.ComputeResourcesUnavailable(
            reason='8192 MB of memory asked, 1024 MB free')
        ex = self.assertRaises(
            nova_exc.MigrationPreCheckError,
            self.drv.check_can_live_migrate_destination, 'ctx', self.inst,
            {}, {})
        self.assertIn('target sys2', str(ex))
        self.assertIn('1024 MB free', str(ex))

    def test_not_enough_free_on_the_target(self):
        for attr, value, words in (
                ('memory_free', 1024, 'target sys2 has 1024 MB of memory '
                                      'free; the partition needs 2048 MB'),
                ('proc_units_avail', 0.2, 'target sys2 has 0.2 processor '
                                          'units free; the partition needs '
                                          '0.5')):
            saved = getattr(self.dest_host, attr)
            setattr(self.dest_host, attr, value)
            ex = self.assertRaises(
                nova_exc.MigrationPreCheckError,
                self.drv.check_can_live_migrate_destination, 'ctx',
                self.inst, {}, {})
            self.assertIn(words, str(ex))
            setattr(self.dest_host, attr, saved)

    def test_block_migration(self):
        ex = self.assertRaises(
            nova_exc.MigrationPreCheckError,
            self.drv.check_can_live_migrate_destination, 'ctx', self.inst,
            {}, {}, block_migration=True)
        self.assertIn('does not copy disks', str(ex))
        self.drv.host_wrapper.refresh.assert_not_called()

    def test_too_many_migrations(self):
        self.dest_host.migration_data['active_migrations_in_progress'] = 16
        ex = self.assertRaises(
            nova_exc.MigrationPreCheckError,
            self.drv.check_can_live_migrate_destination, 'ctx', self.inst,
            {}, {})
        self.assertIn('runs 16 of its 16 concurrent', str(ex))
        self.fits.assert_not_called()

    def test_rest_failures_are_refusals(self):
        # nova puts the instance in ERROR on anything but a refusal.
        err = pvm_exc.HttpError(mock.Mock(status=500, reqmethod='GET',
                                          reqpath='/ManagedSystem/x'))
        self.drv.host_wrapper.refresh.side_effect = err
        ex = self.assertRaises(
            nova_exc.MigrationPreCheckError,
            self.drv.check_can_live_migrate_destination, 'ctx', self.inst,
            {}, {})
        self.assertIn('reading the target system failed', str(ex))
        self.assertIn(str(err), str(ex))


class TestSource(LpmTestCase):

    def _check(self, md=None, bdi=None):
        return self.drv.check_can_live_migrate_source(
            'ctx', self.inst, md or _md(), bdi)

    def _refused(self, words, md=None, bdi=None):
        ex = self.assertRaises(nova_exc.MigrationPreCheckError, self._check,
                               md, bdi)
        for word in words:
            self.assertIn(word, str(ex))
        # Nothing was sent to the partition: no job, no change.
        self.mig.migrate_lpar.assert_not_called()
        self.drv.adapter.update_by_path.assert_not_called()
        self.drv.adapter.create.assert_not_called()
        return ex

    def test_checks_then_notes_this_novalink_key(self):
        self.mig_key = self.console.get_public_key
        md = _md()
        self.assertIs(md, self._check(md))
        self.assertEqual('ssh-rsa AAAA src', md.public_key)
        self.mig_key.assert_called_once_with(self.drv.adapter)
        self.lpar.can_lpm.assert_called_once_with(self.drv.host_wrapper)
        # PowerVM validates in the Migrate job (the target authorizes the
        # key and discovers vSCSI hdisks in pre_live_migration first).
        self.mig.migrate_lpar.assert_not_called()

    def test_rest_failures_are_refusals(self):
        self.get_lpar.side_effect = pvm_exc.Error('HTTP 500 on partition')
        self._refused(['reading the partition failed: HTTP 500 on '
                       'partition'])
        self.get_lpar.side_effect = None
        self.console.get_public_key.side_effect = pvm_exc.Error('HTTP 500')
        self._refused(["reading this NovaLink's SSH public key failed: "
                       "HTTP 500"])

    def test_partition_not_ready(self):
        self.lpar.can_lpm.return_value = (False, 'LPAR is not in an active '
                                                 'state.')
        self._refused(['partition inst', 'not in an active state'])

    def test_already_migrating(self):
        self.lpar.migration_state = 'Migration_Starting'
        self._refused(['already in migration state Migration_Starting'])

    def test_processor_compatibility_mode(self):
        self.lpar.proc_compat_mode = 'POWER10'
        self._refused(['processor compatibility mode POWER10',
                       'power8, power9', 'sys2'])

    def test_memory_region_size(self):
        self._refused(['memory region size 256 MB differs from 128 MB'],
                      md=_md(dest_mem_region_mb=128))

    def test_local_boot_disk(self):
        self.drv.disk_dvr.capabilities['shared_storage'] = False
        self._refused(['storage of this host only', 'disk_driver'])
        self.get_lpar.assert_not_called()

    def test_boot_volume_needs_no_shared_pool(self):
        self.drv.disk_dvr.capabilities['shared_storage'] = False
        md = self._check(bdi=_bdi(_fc_bdm('vol-1', boot_index=0)))
        self.assertEqual('ssh-rsa AAAA src', md.public_key)

    def test_other_shared_pool(self):
        self._refused(['sys2 is not a member of shared storage pool ssp-1'],
                      md=_md(dest_ssp_uuid='ssp-2'))

    def test_volume_type_that_cannot_move(self):
        bdm = {'boot_index': None, 'connection_info': {
            'driver_volume_type': 'iscsi', 'data': {'volume_id': 'vol-9'}}}
        self._refused(['volume vol-9', 'iscsi'], bdi=_bdi(bdm))

    def test_config_drive(self):
        self.cfgdrv.return_value = True
        self._refused(['config drive'])

    def test_ovs_port(self):
        self.inst.get_network_info.return_value = [
            {'id': 'port-2', 'type': 'ovs'}]
        self._refused(['port port-2', 'ovs'])

    def test_no_partition(self):
        self.get_lpar.side_effect = nova_exc.InstanceNotFound(
            instance_id='x')
        self._refused(['no partition'])

    def test_source_runs_too_many_migrations(self):
        self.drv.host_wrapper.migration_data[
            'active_migrations_in_progress'] = 16
        self._refused(['sys1 runs 16 of its 16'])


class TestMigrate(LpmTestCase):

    def setUp(self):
        super().setUp()
        self.post = mock.Mock()
        self.recover = mock.Mock()
        self.fault = self.useFixture(fixtures.MockPatchObject(
            lpm.compute_utils, 'add_instance_fault_from_exc')).mock
        self.rpc = self.useFixture(fixtures.MockPatchObject(
            lpm.compute_rpcapi, 'ComputeAPI')).mock.return_value
        self.close = self.useFixture(fixtures.MockPatch(
            'pypowervm.tasks.vterm.close_vterm')).mock
        # The order of the terminal's closing and the jobs.
        self.calls = mock.Mock()
        self.calls.attach_mock(self.close, 'close_vterm')
        self.calls.attach_mock(self.mig.migrate_lpar, 'migrate_lpar')

    def _jobs(self, vfc=None, vscsi=None):
        """PowerVM validates first, then migrates (same arguments)."""
        args = dict(virtual_fc_mappings=vfc, virtual_scsi_mappings=vscsi,
                    tgt_mgmt_svr='10.0.0.2', tgt_mgmt_usr='wlp',
                    vlan_check_override=True)
        return [mock.call(self.lpar, 'sys2', validate_only=True, **args),
                mock.call(self.lpar, 'sys2', **args)]

    def _rolled_back(self, md, status='error'):
        """The target was told to undo its preparation, then nova."""
        self.rpc.rollback_live_migration_at_destination. \
            assert_called_once_with('ctx', self.inst, 'host2',
                                    destroy_disks=False, migrate_data=md)
        self.recover.assert_called_once_with('ctx', self.inst, 'host2', md,
                                             migration_status=status)
        self.post.assert_not_called()

    def _migrate(self, md):
        self.drv.live_migration('ctx', self.inst, 'host2', self.post,
                                self.recover, False, md)

    def test_migrates_with_volume_mappings_then_post(self):
        md = _md(vol_data={'vscsi:U': '1'})
        self.useFixture(fixtures.MockPatchObject(
            lpm, 'adapter_mappings',
            return_value=(['3//1'], ['5//2//fcs1'])))
        self._migrate(md)
        self.assertEqual(self._jobs(['5//2//fcs1'], ['3//1']),
                         self.mig.migrate_lpar.call_args_list)
        lpm.adapter_mappings.assert_called_once_with(
            self.vioses.return_value, self.lpar.uuid, {'vscsi:U': '1'})
        self.vioses.assert_called_once_with(
            self.drv.adapter, xag=['ViosSCSIMapping', 'ViosFCMapping'])
        self.post.assert_called_once_with('ctx', self.inst, 'host2', False,
                                          md)
        self.recover.assert_not_called()

    def test_without_volumes_powervm_picks_the_adapters(self):
        self._migrate(_md())
        self.assertEqual(self._jobs(), self.mig.migrate_lpar.call_args_list)
        self.vioses.assert_not_called()
        self.rpc.rollback_live_migration_at_destination.assert_not_called()
        self.fault.assert_not_called()

    def test_terminal_closed_right_before_the_jobs(self):
        forget = self.useFixture(fixtures.MockPatchObject(
            lpm.console, 'forget')).mock
        self._migrate(_md())
        pvm_uuid = ids.pvm_uuid(self.inst)
        self.assertEqual(
            [mock.call.close_vterm(self.drv.adapter, pvm_uuid)] +
            [getattr(mock.call, 'migrate_lpar')(*c.args, **c.kwargs)
             for c in self._jobs()], self.calls.mock_calls)
        # A console's proxy connecting later is refused (the shared VNC
        # listener survives).
        forget.assert_called_once_with(pvm_uuid)
        self.post.assert_called_once()

    def test_terminal_close_failure_leaves_it_to_powervm(self):
        # Best effort: PowerVM's validation refuses if one is still open.
        self.close.side_effect = pvm_exc.JobRequestFailed(
            operation_name='CloseVterm', error='HSCL0001 busy')
        self._migrate(_md())
        self.close.assert_called_once()
        self.assertEqual(self._jobs(), self.mig.migrate_lpar.call_args_list)
        self.post.assert_called_once()

    def test_mapping_refusal_closes_no_terminal(self):
        self.useFixture(fixtures.MockPatchObject(
            lpm, 'adapter_mappings', side_effect=nova_exc.
            MigrationPreCheckError(reason='too few target VIOSes')))
        self._migrate(_md(vol_data={'vscsi:U': '1'}))
        self.close.assert_not_called()
        self.mig.migrate_lpar.assert_not_called()
        self.recover.assert_called_once()

    def test_validation_refused(self):
        md = _md()
        self.mig.migrate_lpar.side_effect = pvm_exc.JobRequestFailed(
            operation_name='MigrateValidate',
            error='HSCL1B05 the target does not authorize the key')
        self._migrate(md)
        # Only the validation ran; a refusal in the instance's faults.
        self.assertEqual(self._jobs()[:1],
                         self.mig.migrate_lpar.call_args_list)
        self._rolled_back(md)
        exc = self.fault.call_args[0][2]
        self.assertIsInstance(exc, nova_exc.MigrationPreCheckError)
        self.assertIn("PowerVM's validation of the move to sys2", str(exc))
        self.assertIn('HSCL1B05', str(exc))

    def test_failed_job_rolls_back(self):
        md = _md()
        self.mig.migrate_lpar.side_effect = [None, pvm_exc.JobRequestFailed(
            operation_name='Migrate', error='HSCLB4C1 the target failed')]
        self._migrate(md)
        self._rolled_back(md)
        self.mig.migrate_recover.assert_not_called()
        exc = self.fault.call_args[0][2]
        self.assertIsInstance(exc, nova_exc.MigrationError)
        self.assertIn('HSCLB4C1 the target failed', str(exc))

    def test_abort(self):
        md = _md()

        def job(*args, **kwargs):
            self.drv.live_migration_abort(self.inst)
            raise pvm_exc.JobRequestFailed(operation_name='Migrate',
                                           error='aborted')
        self.mig.migrate_lpar.side_effect = job
        self._migrate(md)
        self.mig.migrate_abort.assert_called_once_with(self.lpar)
        self._rolled_back(md, 'cancelled')
        self.fault.assert_not_called()
        # The next failure is not an abort.
        self.mig.migrate_lpar.side_effect = pvm_exc.Error('x')
        self.recover.reset_mock()
        self.rpc.reset_mock()
        self._migrate(md)
        self.recover.assert_called_once_with('ctx', self.inst, 'host2', md,
                                             migration_status='error')

    def test_abort_refused(self):
        self.mig.migrate_abort.side_effect = pvm_exc.JobRequestFailed(
            operation_name='MigrateAbort', error='not migrating')
        ex = self.assertRaises(nova_exc.MigrationError,
                               self.drv.live_migration_abort, self.inst)
        self.assertIn('not migrating', str(ex))

    def test_stuck_partition_is_recovered(self):
        stuck = mock.Mock(migration_state='Migration_Failed',
                          state='migrating running')
        self.get_lpar.side_effect = [self.lpar, stuck, self.lpar]
        self.mig.migrate_lpar.side_effect = pvm_exc.Error('lost')
        self._migrate(_md())
        self.mig.migrate_recover.assert_called_once_with(stuck, force=True)
        self.recover.assert_called_once()

    def test_lost_answer_but_partition_moved(self):
        self.get_lpar.side_effect = [
            self.lpar, nova_exc.InstanceNotFound(instance_id='x')]
        self.mig.migrate_lpar.side_effect = pvm_exc.Error('lost')
        md = _md()
        self._migrate(md)
        self.post.assert_called_once_with('ctx', self.inst, 'host2', False,
                                          md)
        self.recover.assert_not_called()

    def test_force_complete_not_supported(self):
        ex = self.assertRaises(
            drv_lpm.LiveMigrationForceCompleteNotSupported,
            self.drv.live_migration_force_complete, self.inst)
        self.assertIn('abort it instead', str(ex))


class TestAdapterMappings(test.NoDBTestCase):

    def _smap(self, slot, stg):
        return mock.Mock(backing_storage=stg,
                         client_adapter=mock.Mock(lpar_slot_num=slot))

    def test_mappings(self):
        adpt = mock.MagicMock()
        pv1 = pvm_stor.PV.bld(adpt, 'hdisk1', udid=UDID1)
        pv2 = pvm_stor.PV.bld(adpt, 'hdisk2', udid=UDID2)
        lu = mock.Mock(spec=pvm_stor.LU)
        vios1 = mock.Mock(scsi_mappings=[
            self._smap(3, pv1), self._smap(3, pv2), self._smap(4, lu)],
            vfc_mappings=[mock.Mock(client_adapter=mock.Mock(
                lpar_slot_num=5, wwpns=['C0507600AAAA0000',
                                        'C0507600AAAA0001']))])
        vios2 = mock.Mock(scsi_mappings=[self._smap(6, pv1)],
                          vfc_mappings=[])
        vol_data = {volume_dvr.lpm_vscsi_key(UDID1): '1,2',
                    volume_dvr.lpm_vscsi_key(UDID2): '2',
                    volume_dvr.lpm_vfc_key('C0507600AAAA0000'): '1/fcs0'}
        with mock.patch.object(lpm.scsi_maps, 'find_maps',
                               side_effect=lambda vios_w, lpar:
                               vios_w.scsi_mappings), \
                mock.patch.object(lpm.tsk_vfc, 'find_maps',
                                  side_effect=lambda maps, lpar: maps):
            vscsi, vfc = lpm.adapter_mappings([vios1, vios2], 'LPAR',
                                              vol_data)
        # Slot 3 carries both hdisks: only VIOS 2 sees both.  The LU's
        # slot is left to PowerVM.  Slot 6 goes to the other VIOS.
        self.assertEqual(['3//2', '6//1'], vscsi)
        self.assertEqual(['5//1//fcs0'], vfc)

    def _paths(self, vol_data):
        """Two paths (VIOS 1 slot 3, VIOS 2 slot 4) to one disk, and a
        second disk on slot 5 of VIOS 1.
        """
        adpt = mock.MagicMock()
        pv1 = pvm_stor.PV.bld(adpt, 'hdisk1', udid=UDID1)
        pv2 = pvm_stor.PV.bld(adpt, 'hdisk2', udid=UDID2)
        vios1 = mock.Mock(scsi_mappings=[self._smap(3, pv1),
                                         self._smap(5, pv2)],
                          vfc_mappings=[])
        vios2 = mock.Mock(scsi_mappings=[self._smap(4, pv1)],
                          vfc_mappings=[])
        with mock.patch.object(lpm.scsi_maps, 'find_maps',
                               side_effect=lambda vios_w, lpar:
                               vios_w.scsi_mappings), \
                mock.patch.object(lpm.tsk_vfc, 'find_maps',
                                  side_effect=lambda maps, lpar: maps):
            return lpm.adapter_mappings([vios1, vios2], 'LPAR', vol_data)

    def test_each_path_of_a_disk_on_its_own_target_vios(self):
        # Different disks may share a target VIOS; a disk's paths not.
        vscsi, _vfc = self._paths({volume_dvr.lpm_vscsi_key(UDID1): '1,2',
                                   volume_dvr.lpm_vscsi_key(UDID2): '1'})
        self.assertEqual(['3//1', '5//1', '4//2'], vscsi)

    def test_too_few_target_vioses_for_the_paths(self):
        # Only target VIOS 1 discovered the disk: its second path (the
        # simulator's Migrate fails "already mapped") is refused first.
        ex = self.assertRaises(
            nova_exc.MigrationPreCheckError, self._paths,
            {volume_dvr.lpm_vscsi_key(UDID1): '1',
             volume_dvr.lpm_vscsi_key(UDID2): '1'})
        self.assertIn('client adapter 4 were discovered only by target '
                      'VIOS 1', str(ex))


class TestVolumesAndNetwork(LpmTestCase):

    def test_pre_live_migration_fills_vol_data(self):
        def pre(vol_data):
            vol_data['vscsi:U'] = '1,2'
        with mock.patch.object(volume_dvr, 'build_volume_driver') as build:
            build.return_value.pre_live_migration_on_destination = pre
            md = self.drv.pre_live_migration(
                'ctx', self.inst, _bdi(_fc_bdm('vol-1')), [], None, _md())
        self.assertEqual({'vscsi:U': '1,2'}, md.vol_data)

    def test_pre_live_migration_authorizes_the_source_key(self):
        sent = _md(public_key='ssh-rsa AAAA src')
        md = self.drv.pre_live_migration('ctx', self.inst, _bdi(), [], None,
                                         sent)
        self.tgt.prepare.assert_called_once_with(self.drv, self.inst,
                                                 'ssh-rsa AAAA src', sent)
        self.assertEqual({}, md.vol_data)
        self.tgt.release.assert_not_called()

    def test_pre_live_migration_adopts_a_shared_slot_map(self):
        with mock.patch.object(slot_map, 'adopt') as adopt:
            self.drv.pre_live_migration('ctx', self.inst, _bdi(), [], None,
                                        _md())
        adopt.assert_called_once_with(self.inst, 'host-1')

    def test_pre_live_migration_key_refused(self):
        self.tgt.prepare.side_effect = pvm_exc.Error('400')
        self.drv.host_wrapper.system_name = 'sys2'
        ex = self.assertRaises(
            nova_exc.MigrationPreCheckError, self.drv.pre_live_migration,
            'ctx', self.inst, _bdi(), [], None, _md(public_key='k'))
        self.assertIn("SSH key or creating the switch MGMTSWITCH on sys2 "
                      "failed", str(ex))

    def test_pre_live_migration_volume_unreachable(self):
        with mock.patch.object(volume_dvr, 'build_volume_driver') as build:
            build.return_value.volume_id = 'vol-1'
            build.return_value.pre_live_migration_on_destination. \
                side_effect = nova_exc.VolumeAttachFailed(
                    volume_id='vol-1', reason='found on 0 VIOS')
            self.drv.host_wrapper.system_name = 'sys2'
            ex = self.assertRaises(
                nova_exc.MigrationPreCheckError, self.drv.pre_live_migration,
                'ctx', self.inst, _bdi(_fc_bdm('vol-1')), [], None, _md())
        self.assertIn('volume vol-1 cannot be reached from sys2', str(ex))
        self.assertIn('found on 0 VIOS', str(ex))
        # The key and switch it prepared are released again.
        self.tgt.release.assert_called_once_with(self.drv, self.inst,
                                                 failed=True)

    def test_rollback_at_destination_releases(self):
        md = _md()
        with mock.patch.object(volume_dvr, 'build_volume_driver') as build:
            self.drv.rollback_live_migration_at_destination(
                'ctx', self.inst, [], _bdi(_fc_bdm('vol-1')), migrate_data=md)
        build.return_value.disconnect_volume.assert_called_once_with()
        # With what pre_live_migration recorded there (the process may
        # have restarted since).
        self.tgt.release.assert_called_once_with(
            self.drv, self.inst, failed=True, migrate_data=md)

    def test_rollback_at_destination_retries_a_failed_disconnect(self):
        with mock.patch.object(volume_dvr, 'build_volume_driver') as build:
            vol = build.return_value
            vol.disconnect_volume.side_effect = [
                pvm_exc.Error('RemoveDevice failed'), None]
            self.drv.rollback_live_migration_at_destination(
                'ctx', self.inst, [], _bdi(_fc_bdm('vol-1')))
        self.assertEqual([mock.call(), mock.call()],
                         vol.disconnect_volume.call_args_list)

    def test_pre_live_migration_failure_disconnects_prepared_volumes(self):
        vols = [mock.Mock(volume_id='vol-1'), mock.Mock(volume_id='vol-2')]
        vols[1].pre_live_migration_on_destination.side_effect = (
            pvm_exc.Error('discovery failed'))
        with mock.patch.object(volume_dvr, 'build_volume_driver',
                               side_effect=vols + [vols[0]]):
            ex = self.assertRaises(
                nova_exc.MigrationPreCheckError,
                self.drv.pre_live_migration, 'ctx', self.inst,
                _bdi(_fc_bdm('vol-1'), _fc_bdm('vol-2')), [], {}, _md())
        self.assertIn('volume vol-2 cannot be reached', str(ex))
        vols[0].disconnect_volume.assert_called_once_with()
        vols[1].disconnect_volume.assert_not_called()
        self.tgt.release.assert_called_once_with(self.drv, self.inst,
                                                 failed=True)

    def test_post_at_destination_bridges_vlans(self):
        vifs = [{'id': 'p1', 'type': 'pvm_sea'}]
        with mock.patch.object(lpm.vif_mod, 'ensure_sea_vlan') as ensure, \
                mock.patch.object(drv_lpm.driver_rebuild, 'record'):
            self.drv.post_live_migration_at_destination(
                'ctx', self.inst, vifs, False, _bdi())
        ensure.assert_called_once_with(self.drv.adapter, self.inst, vifs[0],
                                       host_uuid='host-1')
        self.tgt.release.assert_called_once_with(self.drv, self.inst,
                                                 failed=False)

    def test_post_at_destination_failure_names_the_port(self):
        vifs = [{'id': 'p1', 'type': 'pvm_sea'}]
        self.drv.host_wrapper.system_name = 'sys2'
        with mock.patch.object(lpm.vif_mod, 'ensure_sea_vlan',
                               side_effect=pvm_exc.Error('HTTP 500 on '
                                                         'NetworkBridge')):
            ex = self.assertRaises(
                nova_exc.MigrationError,
                self.drv.post_live_migration_at_destination, 'ctx',
                self.inst, vifs, False, _bdi())
        self.assertIn('bridging the VLAN of port p1 on sys2 failed: HTTP 500 '
                      'on NetworkBridge', str(ex))
        with mock.patch.object(volume_dvr, 'build_volume_driver') as build, \
                mock.patch.object(lpm.vif_mod, 'ensure_sea_vlan'):
            build.return_value.volume_id = 'vol-1'
            build.return_value.post_live_migration_at_destination. \
                side_effect = pvm_exc.Error('HTTP 500 on VirtualIOServer')
            ex = self.assertRaises(
                nova_exc.MigrationError,
                self.drv.post_live_migration_at_destination, 'ctx',
                self.inst, vifs, False, _bdi(_fc_bdm('vol-1')))
        self.assertIn('recording the ports of volume vol-1 on sys2 failed: '
                      'HTTP 500 on VirtualIOServer', str(ex))

    def test_post_at_source_unbridges_vlans(self):
        vifs = [{'id': 'p1', 'type': 'pvm_sea'}]
        with mock.patch.object(lpm.vif_mod, 'release_sea_vlans') as rel:
            self.drv.post_live_migration_at_source('ctx', self.inst, vifs)
        rel.assert_called_once_with(self.drv.adapter, self.inst, vifs,
                                    tries=2)

    def test_post_at_source_deletes_this_hosts_slot_map(self):
        with mock.patch.object(lpm.vif_mod, 'release_sea_vlans'), \
                mock.patch.object(slot_map, 'left') as left:
            self.drv.post_live_migration_at_source('ctx', self.inst, [])
        left.assert_called_once_with(self.inst, 'host-1')

    def test_post_live_migration_cleans_source_volumes(self):
        with mock.patch.object(volume_dvr, 'build_volume_driver') as build:
            build.return_value.post_live_migration_at_source.side_effect = (
                pvm_exc.Error('busy'))
            # Best effort: the partition has moved already.
            self.drv.post_live_migration(
                'ctx', self.inst, _bdi(_fc_bdm('vol-1'), _fc_bdm('vol-2')),
                _md())
        # Each volume tried twice.
        self.assertEqual(
            4, build.return_value.post_live_migration_at_source.call_count)
