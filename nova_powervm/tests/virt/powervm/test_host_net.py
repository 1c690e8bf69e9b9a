"""Unit tests: deleting a vswitch only while nothing uses it (host_net)."""
from unittest import mock

from pypowervm import exceptions as pvm_exc

from nova_powervm.tests.virt.powervm import test_vif as tv
from nova_powervm.virt.powervm import host_net
from nova_powervm.virt.powervm import vif


def _http_error(status):
    return pvm_exc.HttpError(mock.Mock(status=status, reqmethod='DELETE',
                                       reqpath='x', body='', headers={}))


class TestDeleteUnusedVswitch(tv.VifTestBase):

    def setUp(self):
        super().setUp()
        self.mgmt = tv.fake_vswitch('MGMTSWITCH', 'vsw5')
        self.vswitches.append(self.mgmt)

    def delete(self):
        return host_net.delete_unused_vswitch(self.adapter, 'MGMTSWITCH')

    def test_deletes_after_a_fresh_read(self):
        host_net.get_vswitch(self.adapter, 'MGMTSWITCH')     # cached
        self.mgmt.delete.side_effect = lambda: self.vswitches.remove(
            self.mgmt)
        self.assertTrue(self.delete())
        self.assertEqual(2, self.vsw_get.call_count)
        self.mgmt.delete.assert_called_once_with()
        # Forgotten: a spawn's RMC adapter gets a new switch.
        with mock.patch('pypowervm.wrappers.network.VSwitch.bld') as vbld:
            vbld.return_value.create.return_value = tv.fake_vswitch(
                'MGMTSWITCH', 'vsw6')
            vif.plug_mgmt_vif(self.adapter, self.inst, [])
        vbld.assert_called_once_with(self.adapter, 'MGMTSWITCH')
        self.bld.assert_called_once_with(self.adapter, 4094,
                                         tv.VSW_BASE + 'vsw6')

    def test_kept_while_an_adapter_is_being_put_on_it(self):
        with host_net.using_vswitch(self.adapter, 'MGMTSWITCH') as vsw:
            self.assertIs(self.mgmt, vsw)
            self.assertFalse(self.delete())
        self.mgmt.delete.assert_not_called()
        self.assertTrue(self.delete())
        self.mgmt.delete.assert_called_once_with()

    def test_kept_while_plug_mgmt_vif_creates_the_adapter(self):
        def create(**kw):
            self.assertFalse(self.delete())
            return mock.Mock()
        self.bld.side_effect = None
        self.bld.return_value.create.side_effect = create
        vif.plug_mgmt_vif(self.adapter, self.inst, [])
        self.mgmt.delete.assert_not_called()

    def test_kept_when_powervm_says_in_use(self):
        self.mgmt.delete.side_effect = _http_error(409)
        self.assertFalse(self.delete())
        self.assertIs(self.mgmt,
                      host_net.get_vswitch(self.adapter, 'MGMTSWITCH'))

    def test_answer_lost_after_the_delete(self):
        def gone():
            self.vswitches.remove(self.mgmt)
            raise _http_error(500)
        self.mgmt.delete.side_effect = gone
        self.assertTrue(self.delete())

    def test_failed_delete_raises(self):
        self.mgmt.delete.side_effect = _http_error(500)
        self.assertRaises(pvm_exc.HttpError, self.delete)

    def test_absent_switch_is_deleted_already(self):
        self.vswitches.remove(self.mgmt)
        self.assertTrue(self.delete())
