"""The driver's live migration data, as a nova versioned object.

nova 34 has no PowerVM ``LiveMigrateData`` of its own, so the driver
registers one in nova's object registry.  It travels over RPC between the
two nova-compute services and nova-conductor: every process that receives
it must have imported this module (the driver does on import; see
``doc/source/configuration.rst`` for nova-conductor).
"""
from nova.objects import base as obj_base
from nova.objects import fields
from nova.objects import migrate_data
from oslo_utils import versionutils


@obj_base.NovaObjectRegistry.register
class PowerVMLiveMigrateData(migrate_data.LiveMigrateData):
    """What the destination and source hosts tell each other.

    ``vol_data`` holds per-volume strings the volume connectors exchange
    (see ``volume.driver.VolumeAdapter``); ``dest_*`` describe the target
    managed system and its NovaLink; ``dest_added_key`` and
    ``dest_created_switch`` say what the target's ``pre_live_migration``
    set up there (nova hands them back to its roll-back, also after the
    target's nova-compute restarted).
    """
    # Version 1.0: Initial version
    # Version 1.1: dest_added_key, dest_created_switch
    VERSION = '1.1'

    fields = {
        'dest_sys_name': fields.StringField(),
        'dest_ip': fields.StringField(),
        'dest_user_id': fields.StringField(),
        'dest_proc_compat': fields.ListOfStringsField(),
        'dest_mem_region_mb': fields.IntegerField(),
        'dest_ssp_uuid': fields.StringField(nullable=True),
        'public_key': fields.StringField(nullable=True),
        'vol_data': fields.DictOfNullableStringsField(),
        'dest_added_key': fields.BooleanField(),
        'dest_created_switch': fields.BooleanField(),
    }

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        if versionutils.convert_version_to_tuple(target_version) < (1, 1):
            primitive.pop('dest_added_key', None)
            primitive.pop('dest_created_switch', None)
