"""Options of the ``[powervm]`` section.

Option names and defaults are kept from the earlier PowerVM drivers so that
an existing nova.conf keeps working unchanged.
"""
from oslo_config import cfg

from nova_powervm.i18n import _

powervm_group = cfg.OptGroup(
    name='powervm',
    title='PowerVM Options',
    help=_('Options for the PowerVM compute driver (NovaLink REST API).'))

connection_opts = [
    cfg.HostAddressOpt(
        'host', default='localhost',
        help=_('Host name or IP address of the NovaLink PowerVM REST API '
               'server.  On the NovaLink partition itself this is '
               'localhost.  An HMC is not supported: nova-compute refuses '
               'to start against one.')),
    cfg.PortOpt(
        'port',
        help=_('TCP port of the REST API server.  Defaults by protocol: '
               '12080 for http, 12443 for https.')),
    cfg.StrOpt(
        'protocol', choices=['http', 'https'], ignore_case=True,
        help=_('Protocol used to talk to the REST API server.  Defaults to '
               'http for local file-based authentication (no password) '
               'and https when a password is set.  http with a password '
               'for a host other than this machine sends the password in '
               'clear text; the driver logs a warning.')),
    cfg.StrOpt(
        'username',
        help=_('User name for the REST API.  Leave unset with no password '
               'to use NovaLink\'s local file-based authentication.')),
    cfg.StrOpt(
        'password', secret=True,
        help=_('Password for the REST API user.  When unset, NovaLink '
               'local file-based authentication is used.')),
    cfg.StrOpt(
        'certpath', default='/etc/ssl/certs/',
        help=_('Directory of the https REST server\'s pinned certificate, '
               '<certpath><host>.crt ("." and ":" in host as "_"): if it '
               'exists, every connection must present exactly that '
               'certificate; otherwise the CA bundle and the host name are '
               'checked.  An empty value disables certificate verification '
               '(not recommended for remote hosts).')),
    cfg.IntOpt(
        'conn_tries', default=300, min=1,
        help=_('Number of attempts to connect to the REST API server before '
               'nova-compute gives up at start-up.  pypowervm waits 2 '
               'seconds between attempts, so the default covers about 10 '
               'minutes: after a host reboot NovaLink\'s REST service may '
               'start after nova-compute.')),
    cfg.IntOpt(
        'rest_timeout', default=1200, min=1,
        help=_('Timeout in seconds of one REST API request.')),
]

lpar_opts = [
    cfg.FloatOpt(
        'proc_units_factor', default=0.1, min=0.05, max=1,
        help=_('Physical processor units assigned per virtual CPU when the '
               'flavor does not set powervm:proc_units.')),
    cfg.IntOpt(
        'uncapped_proc_weight', default=64, min=1, max=255,
        help=_('Processor weight of uncapped shared-processor partitions '
               'when the flavor does not set powervm:shared_weight.')),
    cfg.IntOpt(
        'vios_active_wait_timeout', default=300, min=0,
        help=_('Seconds to wait at start-up for the Virtual I/O Servers '
               'to become active (running with an active RMC connection), '
               'as after a host reboot.  nova-compute starts once every '
               'running VIOS is active, or at the timeout if at least one '
               'is; with none it stops with an error.  The VIOSes are '
               'polled every 5 seconds; 0 checks once.')),
]

storage_opts = [
    cfg.StrOpt(
        'disk_driver', default='localdisk',
        choices=['localdisk', 'ssp'], ignore_case=True,
        help=_('Ephemeral disk driver: "localdisk" (a volume group on a '
               'Virtual I/O Server) or "ssp" (a Shared Storage Pool).')),
    cfg.StrOpt(
        'volume_group_name', default='',
        help=_('Volume group holding ephemeral disks for the localdisk '
               'driver.  "QCOW VG - default" selects file-backed disks, '
               'the only ones that boot qcow2 images (other volume groups '
               'boot raw images only).  Required when disk_driver is '
               'localdisk.')),
    cfg.StrOpt(
        'cluster_name', default='',
        help=_('Shared Storage Pool cluster for the ssp disk driver.  When '
               'empty, the only cluster found is used.')),
    cfg.StrOpt(
        'vopt_media_volume_group', default='rootvg',
        help=_('Volume group that holds (or will hold) the virtual optical '
               'media repository used for config drives.')),
    cfg.IntOpt(
        'vopt_media_rep_size', default=1, min=1,
        help=_('Size in GB of the virtual optical media repository created '
               'when none exists.')),
    cfg.StrOpt(
        'image_meta_local_path', default='/tmp/cfgdrv/',
        help=_('Local directory where config drive ISO images are built '
               'before being uploaded.')),
    cfg.StrOpt(
        'mgmt_disk_by_id_dir', default='/dev/disk/by-id',
        help=_('Directory where a disk mapped to the management partition '
               '(snapshot, shelve, backup) appears as a link whose name '
               'ends with the disk\'s UDID.  Change it only for a '
               'simulated host (the PowerVM simulator\'s --mgmt-disk-dir).')),
]

network_opts = [
    cfg.StrOpt(
        'pvm_vswitch_for_novalink_io', default='NovaLinkVEABridge',
        help=_('Virtual switch that carries the NovaLink partition\'s '
               'trunk adapters for Open vSwitch based networking.')),
    cfg.BoolOpt(
        'use_rmc_mgmt_vif', default=True,
        help=_('Give each partition a management network adapter on the '
               'RMC virtual switch.')),
    cfg.BoolOpt(
        'use_rmc_ipv6_scheme', default=True,
        help=_('Configure the RMC management adapter with an IPv6 '
               'link-local address scheme.')),
    cfg.IntOpt(
        'vnic_required_vfs', default=2, min=1,
        help=_('Number of SR-IOV logical ports (VFs, on different physical '
               'ports where possible) backing each vNIC of a pvm_sriov '
               'port; more than one gives vNIC failover.  A port\'s binding '
               'profile key "vnic_required_vfs" overrides it.')),
    cfg.FloatOpt(
        'vnic_vf_capacity', min=0.0, max=1.0,
        help=_('Share (0.0 to 1.0) of a physical port\'s bandwidth '
               'guaranteed to each SR-IOV logical port of a vNIC; a '
               'multiple of the port\'s minimum capacity granularity.  '
               'Unset uses that granularity.  A port\'s binding profile '
               'key "capacity" overrides it.')),
]

volume_opts = [
    cfg.StrOpt(
        'fc_attach_strategy', default='vscsi',
        choices=['vscsi', 'npiv'], ignore_case=True,
        help=_('How Fibre Channel Cinder volumes reach the partition: '
               '"vscsi" maps the hdisk through the Virtual I/O Servers, '
               '"npiv" gives the partition virtual FC ports.')),
    cfg.IntOpt(
        'vscsi_vios_connections_required', default=1, min=1,
        help=_('Minimum number of Virtual I/O Servers that must map a vSCSI '
               'volume for the attach to succeed.')),
    cfg.BoolOpt(
        'volume_use_multipath', default=False,
        help=_('Report multipath capability to Cinder in the volume '
               'connector.')),
    cfg.StrOpt(
        'iscsi_iface', default='default',
        help=_('iSCSI iface (transport) the Virtual I/O Servers log in to '
               'iSCSI targets with, e.g. "default" (software iSCSI over '
               'TCP) or "iser".')),
    cfg.StrOpt(
        'rbd_user', default='',
        help=_('Ceph user the Virtual I/O Servers open RBD volumes as.  '
               'Empty: the user Cinder names in the connection '
               '(auth_username).')),
    cfg.IntOpt(
        'ports_per_fabric', default=1, min=1,
        help=_('Number of virtual FC ports per fabric for NPIV.')),
    cfg.StrOpt(
        'fabrics', default='A',
        help=_('Comma-separated unique fabric names for NPIV.  Each fabric '
               'X gets an option fabric_X_port_wwpns listing the physical '
               'port WWPNs on that fabric.')),
]

vnc_opts = [
    cfg.BoolOpt(
        'vnc_use_x509_auth', default=False,
        help=_('Require VeNCrypt X509 (TLS with client certificates) on the '
               'VNC consoles of partitions.  The certificates are those of '
               'vnc_ca_certs, vnc_server_cert and vnc_server_key.  Read '
               'when the first console is opened after nova-compute '
               'starts.')),
    cfg.StrOpt(
        'vnc_ca_certs',
        help=_('Path of the CA certificate(s) that VNC clients\' '
               'certificates must be signed by (vnc_use_x509_auth).')),
    cfg.StrOpt(
        'vnc_server_cert',
        help=_('Path of the certificate the VNC console server presents '
               '(vnc_use_x509_auth).')),
    cfg.StrOpt(
        'vnc_server_key',
        help=_('Path of the private key of vnc_server_cert '
               '(vnc_use_x509_auth).')),
]

# Kept apart: the tests point the option elsewhere.
NVRAM_LOCAL_PATH = '$state_path/powervm_nvram'

nvram_opts = [
    cfg.StrOpt(
        'nvram_store', default='local',
        choices=['none', 'local', 'swift'], ignore_case=True,
        help=_('Where partition NVRAM is kept so that a partition recreated '
               'for the same instance (rebuild, evacuate, cold migration, '
               'unshelve) gets its firmware settings back: "local" (files '
               'under nvram_local_path on this host; same-host rebuild '
               'only), "swift" (an OpenStack Object Storage container, '
               'shared by every host) or "none" (not kept).  Saving runs in '
               'the background and never fails an instance operation.')),
    cfg.StrOpt(
        'nvram_local_path', default=NVRAM_LOCAL_PATH,
        help=_('Directory of the "local" NVRAM store (one file per '
               'instance, readable by nova only).')),
    cfg.StrOpt(
        'swift_container', default='powervm_nvram',
        help=_('Swift container of the "swift" NVRAM store (created when '
               'missing).')),
    cfg.StrOpt(
        'swift_username', default='powervm',
        help=_('User name for the Swift NVRAM store.')),
    cfg.StrOpt(
        'swift_user_domain_name', default='powervm',
        help=_('Domain of swift_username (Keystone v3).')),
    cfg.StrOpt(
        'swift_password', secret=True,
        help=_('Password of swift_username.  Required for the "swift" '
               'NVRAM store.')),
    cfg.StrOpt(
        'swift_project_name', default='powervm',
        help=_('Project of the Swift NVRAM store.')),
    cfg.StrOpt(
        'swift_project_domain_name', default='powervm',
        help=_('Domain of swift_project_name (Keystone v3).')),
    cfg.StrOpt(
        'swift_auth_version', default='3', choices=['1', '2', '3'],
        help=_('Authentication version for Swift: "3" (Keystone v3), "2" '
               '(Keystone v2) or "1" (Swift TempAuth).')),
    cfg.StrOpt(
        'swift_auth_url',
        help=_('Keystone (or TempAuth) URL used to find and log on to '
               'Swift.  Required for the "swift" NVRAM store.')),
    cfg.StrOpt(
        'swift_cacert',
        help=_('CA certificate bundle to verify an https Swift and '
               'Keystone with; empty uses the system\'s.')),
    cfg.StrOpt(
        'swift_endpoint_type', default='publicURL',
        choices=['publicURL', 'internalURL', 'adminURL'],
        help=_('Which endpoint of the object-store service in the Keystone '
               'catalog to use.')),
]

slot_map_opts = [
    cfg.StrOpt(
        'slot_map_store', default='local', choices=['local', 'none'],
        ignore_case=True,
        help=_('Where the client adapter slot numbers of each instance '
               '(its slot map) are kept, so that a rebuilt or evacuated '
               'partition gets the same slots for its network adapters and '
               'virtual SCSI storage.  local: one file per instance in '
               'slot_map_dir; none: no slot maps (a recreated partition '
               'gets the next free slots).  Saving a map costs no REST '
               'request (it comes from the wrappers the operation holds).')),
    cfg.StrOpt(
        'slot_map_dir', default='$state_path/powervm_slot_maps',
        help=_('Directory of the local slot map store.  An evacuation '
               'reads the map on the target host, so every compute host '
               'that may take over another\'s instances must see the same '
               'directory (e.g. an NFS export, or one directory for several '
               'nova-compute services on one machine).  The files are '
               'written by nova-compute only (mode 0600); keep the '
               'directory writable by the nova user alone.')),
]

process_opts = [
    cfg.BoolOpt(
        'gc_freeze', default=True,
        help=_('Once the driver has started, move every object then alive '
               '(nova\'s and the driver\'s start-up state, hundreds of '
               'thousands) out of Python\'s cyclic garbage collector '
               '(gc.freeze).  Each operation leaves reference cycles (its '
               'TaskFlow engine) that hold the REST objects it read, whose '
               'parsed XML (a Virtual I/O Server with hundreds of SCSI '
               'mappings: megabytes) only a full collection frees; with the '
               'start-up objects out of the way full collections are cheap '
               'and frequent, so that memory is freed within seconds '
               'instead of building up between rare full collections.  '
               'Objects alive at start-up are still freed when their last '
               'reference goes, only cycles among them no longer are.')),
]

ALL_OPTS = (connection_opts + lpar_opts + storage_opts + network_opts +
            volume_opts + vnc_opts + nvram_opts + slot_map_opts +
            process_opts)


def _fabric_opt(fabric):
    return cfg.StrOpt(
        'fabric_%s_port_wwpns' % fabric, default='',
        help=_('Comma-separated physical FC port WWPNs on fabric %s.  '
               'Empty means every FC port.') % fabric)


def fabric_names(conf):
    """The NPIV fabric names configured in ``[powervm] fabrics``."""
    return [f.strip() for f in conf.powervm.fabrics.split(',') if f.strip()]


def register_fabric_opts(conf):
    """Register fabric_<X>_port_wwpns for each configured fabric."""
    for fabric in fabric_names(conf):
        conf.register_opt(_fabric_opt(fabric), group=powervm_group)


def register_opts(conf):
    conf.register_group(powervm_group)
    conf.register_opts(ALL_OPTS, group=powervm_group)
    # The default fabric 'A' always has its option so that a sample config
    # and a plain nova.conf can set it.
    conf.register_opt(_fabric_opt('A'), group=powervm_group)


def list_opts():
    return [(powervm_group, ALL_OPTS + [_fabric_opt('A')])]
