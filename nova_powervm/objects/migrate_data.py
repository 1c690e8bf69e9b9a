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


@obj_base.NovaObjectRegistry.register
class PowerVMLiveMigrateData(migrate_data.LiveMigrateData):
    """What the destination and source hosts tell each other.

    ``vol_data`` holds per-volume strings the volume connectors exchange
    (see ``volume.driver.VolumeAdapter``); ``dest_*`` describe the target
    managed system and its NovaLink.
    """
    # Version 1.0: Initial version
    VERSION = '1.0'

    fields = {
        'dest_sys_name': fields.StringField(),
        'dest_ip': fields.StringField(),
        'dest_user_id': fields.StringField(),
        'dest_proc_compat': fields.ListOfStringsField(),
        'dest_mem_region_mb': fields.IntegerField(),
        'dest_ssp_uuid': fields.StringField(nullable=True),
        'public_key': fields.StringField(nullable=True),
        'vol_data': fields.DictOfNullableStringsField(),
    }
