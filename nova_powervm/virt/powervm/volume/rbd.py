"""Ceph RBD connector.

The Virtual I/O Server opens the image (``pool/image``, Cinder's
``data['name']``) with its Ceph client as the ``[powervm] rbd_user`` user
(Cinder's ``auth_username`` when the option is empty) and serves it to the
partition as a virtual disk (pypowervm ``stor.RBD``) through one VIOS.
Before any change, pypowervm's ``RBDExists`` job checks that the VIOS
reaches the image: the management partition if it is a VIOS, else the
first active VIOS (by partition ID) that finds it.
"""
from nova import exception as nova_exc
from pypowervm import exceptions as pvm_exc
from pypowervm.tasks import hdisk as tsk_hdisk
from pypowervm.wrappers import storage as pvm_stor

from nova_powervm import conf as cfg
from nova_powervm.virt.powervm.volume import fileio

CONF = cfg.CONF


class RBDVolumeAdapter(fileio.VdiskRefAdapter):
    """Cinder ``rbd``: a Ceph image served by the VIOS."""

    what = 'RBD image'

    @classmethod
    def vol_type(cls):
        return 'rbd'

    def disk_name(self, exc_cls=nova_exc.VolumeAttachFailed):
        name = self._data.get('name') or ''
        pool, _sep, image = name.partition('/')
        if not pool or not image or '/' in image:
            raise self._bad(exc_cls, 'RBD name %r is not pool/image' % name)
        return name

    def user(self):
        return CONF.powervm.rbd_user or self._data.get('auth_username')

    def storage_ref(self, name):
        return pvm_stor.RBD.bld_ref(self.adapter, name, tag=self.volume_id,
                                    user=self.user() or None)

    def pick_vios(self, feed, name):
        feed = sorted(feed, key=lambda v: (not v.is_mgmt_partition, v.id))
        errors = []
        for vios_w in feed:
            try:
                if tsk_hdisk.rbd_exists(self.adapter, vios_w.uuid, name):
                    return vios_w
            except pvm_exc.Error as exc:
                errors.append('%s: %s' % (vios_w.name, exc))
        reason = ('RBD image %s (or its pool) does not exist on any active '
                  'Virtual I/O Server' % name)
        if errors:
            reason += ' (%s)' % '; '.join(errors)
        raise nova_exc.VolumeAttachFailed(volume_id=self.volume_id,
                                          reason=reason)
