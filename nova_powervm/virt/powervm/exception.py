"""Exceptions raised by the PowerVM driver.

Each derives from a nova exception so nova records a meaningful instance
fault; messages name what failed.
"""
from nova import exception as nova_exc
from pypowervm import exceptions as pvm_exc

from nova_powervm.i18n import _


class RestServerUnreachable(nova_exc.HypervisorUnavailable):
    msg_fmt = _('Unable to reach the PowerVM REST API server at '
                '%(host)s:%(port)s after %(tries)d attempt(s): %(reason)s')


class RestServerUntrusted(nova_exc.HypervisorUnavailable):
    msg_fmt = _('The PowerVM REST API server at %(host)s:%(port)s did not '
                'present a trusted certificate (%(reason)s).  It must present '
                'the certificate in [powervm] certpath (<certpath><host>.crt, '
                'host with "." and ":" as "_") if that file exists, else one '
                'the CA bundle trusts for that host name.')


class RestAuthenticationFailed(nova_exc.HypervisorUnavailable):
    msg_fmt = _('The PowerVM REST API server at %(host)s:%(port)s rejected '
                'the credentials of user %(user)s (HTTP %(status)s).')


class ManagedSystemNotFound(nova_exc.HypervisorUnavailable):
    msg_fmt = _('The PowerVM REST API server at %(host)s:%(port)s reports '
                'no managed system.')


class NotNovaLink(nova_exc.HypervisorUnavailable):
    msg_fmt = _('The PowerVM REST API server at %(host)s:%(port)s is not a '
                'NovaLink (%(reason)s).  This driver supports only NovaLink; '
                'an HMC is not supported.  Point [powervm] host at the '
                'NovaLink partition of the managed system.')


class NoActiveVios(nova_exc.HypervisorUnavailable):
    msg_fmt = _('No Virtual I/O Server of the managed system became active '
                '(running, with an active RMC connection to NovaLink) within '
                '[powervm] vios_active_wait_timeout = %(timeout)d seconds.  '
                'Check that the VIOSes are running and their RMC state.')


# -- disk drivers and snapshot (disk/driver.py, disk/ssp.py, mgmt.py) -------

class ClusterNotFound(nova_exc.NotFound):
    msg_fmt = _('No Shared Storage Pool cluster named %(cluster_name)s was '
                'found; check [powervm] cluster_name.')


class NoClusterFound(nova_exc.NotFound):
    msg_fmt = _('The ssp disk driver needs a Shared Storage Pool cluster, '
                'but the REST API server reports none.')


class TooManyClusters(nova_exc.NovaException):
    msg_fmt = _('[powervm] cluster_name is not set and %(count)d Shared '
                'Storage Pool clusters were found (%(names)s); set '
                'cluster_name to one of them.')


class ClusterHasNoLocalNode(nova_exc.NovaException):
    msg_fmt = _('No Virtual I/O Server of this host is a member of Shared '
                'Storage Pool cluster %(cluster_name)s.')


class NoActiveClusterVIOS(nova_exc.NovaException):
    msg_fmt = _('No Virtual I/O Server of this host in Shared Storage Pool '
                'cluster %(cluster_name)s is active (running with RMC '
                'active) to upload an image through; members: %(vioses)s.')


class DiskMappingFailed(nova_exc.NovaException):
    msg_fmt = _('Unable to map disk %(disk)s to instance %(instance)s: '
                '%(reason)s')


class InstanceDiskMappingFailed(nova_exc.NovaException):
    msg_fmt = _('Unable to map the boot disk of instance %(instance)s to '
                'the management partition: %(reason)s')


class SnapshotCancelled(nova_exc.InstanceNotFound):
    """nova's compute manager treats it as an instance deleted meanwhile."""
    msg_fmt = _('Instance %(instance_id)s is being deleted; its snapshot '
                'was stopped.')


class NoDiskDiscoveryException(nova_exc.NovaException):
    msg_fmt = _('No block device with UDID %(udid)s appeared on vSCSI bus '
                '%(bus)x of the management partition within %(timeout)d '
                'seconds.')


class UniqueDiskDiscoveryException(nova_exc.NovaException):
    msg_fmt = _('Expected one block device matching %(path_pattern)s in the '
                'management partition, found %(count)d.')


class DiskExtendNotSupported(nova_exc.NovaException):
    msg_fmt = _('The boot disk of instance %(instance)s cannot be grown: '
                '%(reason)s')


class DiskShrinkNotSupported(nova_exc.NovaException):
    msg_fmt = _('The boot disk of instance %(instance)s is %(current)s GB; '
                'it cannot be shrunk to %(requested)s GB.')


# -- instance lifecycle (vm.py, tasks/base.py, driver spawn/destroy) --------

class InvalidFlavorExtraSpec(nova_exc.InvalidInput,
                             nova_exc.InvalidParameterValue):
    """A ``powervm:`` flavor extra spec is invalid or conflicts with another.

    Derives from InvalidInput so nova aborts the build (no reschedule) and
    from InvalidParameterValue for callers that catch that.
    """
    msg_fmt = _('Invalid flavor extra spec %(key)s=%(value)s: %(reason)s '
                'Allowed: %(allowed)s.')


class IBMiNotSupported(nova_exc.ImageUnacceptable):
    """An IBM i image: refused before anything is created.

    An ImageUnacceptable, so nova aborts the build without rescheduling.
    """
    msg_fmt = _('Instance %(instance)s cannot be deployed from image '
                '%(image_id)s: IBM i partitions (image property '
                'os_distro=ibmi) are not supported by the PowerVM driver '
                '(their load source and console are not set up).')


class SpawnTaskFailed(nova_exc.InstanceDeployFailure):
    msg_fmt = _('Failed to deploy instance: step %(task)s failed: '
                '%(reason)s')


class DestroyTaskFailed(nova_exc.InstanceTerminationFailure):
    msg_fmt = _('Failed to terminate instance: step %(task)s failed: '
                '%(reason)s')


class PowerVMTaskFailed(nova_exc.NovaException):
    msg_fmt = _('PowerVM operation failed: step %(task)s failed: '
                '%(reason)s')


# -- localdisk (disk/localdisk.py) -------------------------------------------

class VolumeGroupNotConfigured(nova_exc.InvalidConfiguration):
    msg_fmt = _('The localdisk disk driver needs [powervm] volume_group_name: '
                'the name of a volume group on a Virtual I/O Server of this '
                'host.')


class VolumeGroupNotFound(nova_exc.InvalidConfiguration):
    msg_fmt = _('Volume group %(vg_name)s ([powervm] volume_group_name) was '
                'not found on any Virtual I/O Server of this host (searched: '
                '%(vioses)s).')


class VifTypeNotSupported(nova_exc.VirtualInterfacePlugException):
    msg_fmt = _('The PowerVM driver cannot plug port %(port)s of instance '
                '%(instance)s: VIF type %(vif_type)s is not supported '
                '(supported: %(supported)s).')


class VifInvalid(nova_exc.VirtualInterfacePlugException):
    msg_fmt = _('The PowerVM driver cannot plug port %(port)s of instance '
                '%(instance)s: %(reason)s')


class ConfigDriveFailed(nova_exc.NovaException):
    msg_fmt = _('Creating the config drive of instance %(instance)s '
                'failed: %(reason)s')


class NoMediaRepository(nova_exc.InvalidConfiguration):
    msg_fmt = _('No virtual optical media repository exists and volume '
                'group %(vg)s ([powervm] vopt_media_volume_group) was not '
                'found on any active Virtual I/O Server.')


class SriovNoPhysicalPort(nova_exc.VirtualInterfacePlugException):
    msg_fmt = _('The PowerVM driver cannot plug SR-IOV port %(port)s of '
                'instance %(instance)s: no SR-IOV physical port running in '
                'shared mode is labelled %(physnet)s (the port\'s physical '
                'network).')


class SriovCapacityUnavailable(nova_exc.VirtualInterfacePlugException):
    msg_fmt = _('The PowerVM driver cannot plug SR-IOV port %(port)s of '
                'instance %(instance)s: not enough free SR-IOV capacity on '
                'the physical ports labelled %(physnet)s: %(reason)s')


class VifPlugFailed(nova_exc.VirtualInterfacePlugException):
    msg_fmt = _('Plugging port %(port)s (%(vif_type)s) into instance '
                '%(instance)s failed: %(reason)s')


class VifUnplugFailed(nova_exc.VirtualInterfaceUnplugException):
    msg_fmt = _('Unplugging port %(port)s from instance %(instance)s '
                'failed: %(reason)s')


class VifReplugFailed(nova_exc.VirtualInterfacePlugException):
    msg_fmt = _('Re-plugging the network adapters of an instance failed: '
                'step %(task)s failed: %(reason)s')


def may_have_applied(error):
    """Whether a failed REST write may have been made all the same.

    Certainly not made only when the server refused it (an HTTP 4xx answer)
    or the input was refused before any request (nova ``Invalid``).  After
    a 5xx, a dropped connection or a timeout the server may have committed
    the change and lost the answer: the caller must look for it.  The
    causes (``__cause__``/``__context__``) of wrapped errors are followed.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, pvm_exc.HttpError):
            status = getattr(error.response, 'status', None)
            return status is None or status >= 500 or status == 408
        if isinstance(error, (pvm_exc.ConnectionError,
                              pvm_exc.TimeoutError)):
            return True
        if isinstance(error, nova_exc.Invalid):
            return False
        error = error.__cause__ or error.__context__
    return True


class InterfaceAttachTaskFailed(nova_exc.InterfaceAttachFailed):
    msg_fmt = _('Failed to attach a network interface to instance '
                '%(instance_uuid)s: step %(task)s failed: %(reason)s')


class InterfaceDetachTaskFailed(nova_exc.InterfaceDetachFailed):
    msg_fmt = _('Failed to detach a network interface from instance '
                '%(instance_uuid)s: step %(task)s failed: %(reason)s')


# -- consoles (console.py) ---------------------------------------------------

class VncConsoleFailed(nova_exc.ConsoleNotAvailable):
    msg_fmt = _('The VNC console of instance %(instance)s could not be '
                'opened: %(reason)s')


class VncX509Incomplete(nova_exc.InvalidConfiguration):
    msg_fmt = _('[powervm] vnc_use_x509_auth is set but %(options)s is '
                'not; VNC consoles cannot be opened.')


class PartitionIoNotModifiable(nova_exc.Invalid):
    msg_fmt = _('The adapters of instance %(instance)s cannot be changed '
                'now: %(reason)s')


class RescueTaskFailed(nova_exc.NovaException):
    msg_fmt = _('Rescue failed at step %(task)s: %(reason)s')


class UnrescueTaskFailed(nova_exc.InstanceUnRescueFailure):
    msg_fmt = _('Unrescue failed at step %(task)s: %(reason)s')


class NvramStoreNotConfigured(nova_exc.InvalidConfiguration):
    msg_fmt = _('[powervm] nvram_store = %(store)s needs [powervm] '
                '%(option)s.')
