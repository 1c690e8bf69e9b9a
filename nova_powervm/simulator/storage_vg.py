"""VolumeGroup updates: virtual disk and optical media changes.

A VolumeGroup update (``POST``) is how pypowervm creates, grows and deletes
virtual disks and optical media (see the ``storage`` module docstring).
Also the ``RescanVirtualDisk`` job.
"""
from nova_powervm.simulator import errors
from nova_powervm.simulator import registry as reg
from nova_powervm.simulator import storage as stg
from nova_powervm.simulator import xmlutil as xu


# ---- VolumeGroup create/update/delete ---------------------------------
@reg.on_create('VolumeGroup')
def _vg_create(sim, obj, ctx):
    raise errors.BadRequest('Creating volume groups is not modelled by the '
                            'simulator; use the seeded ones')


@reg.on_delete('VolumeGroup')
def _vg_delete(sim, obj, ctx):
    if ctx is None:   # cascade of a VIOS removal
        return
    if stg.vdisks(obj.element) or stg.media(obj.element):
        raise errors.SimError(409, 'Volume group %s still holds virtual '
                              'disks or media' % obj.text('GroupName'))


def _by(els, key):
    out = {}
    for e in els:
        k = xu.text(e, key)
        if k:
            out[k] = e
    return out


@reg.on_update('VolumeGroup')
def _vg_update(sim, obj, old, ctx):
    """Apply vdisk/stg.media creations, grows and deletions of a VG POST."""
    el = obj.element
    for path in ('GroupCapacity', 'GroupName', 'GroupSerialID',
                 'UniqueDeviceID'):
        val = xu.text(old, path)
        if val is not None:
            stg.ordered_set(el, path, val, stg.VG_ORDER)
    vios_key = obj.parent
    file_vg = xu.text(old, 'GroupName') == stg.QCOW_VG
    old_vds = _by(stg.vdisks(old), 'UniqueDeviceID')
    old_media = _by(stg.media(old), 'MediaName')
    new_udids = set()
    names = set()
    created = []
    for vd in stg.vdisks(el):
        udid = xu.text(vd, 'UniqueDeviceID')
        name = stg.base_name(xu.text(vd, 'DiskName'))
        if name in names:
            raise errors.BadRequest('Virtual disk name %s is used twice in '
                                    'volume group %s' % (name, obj.text(
                                        'GroupName')))
        names.add(name)
        if udid:
            prev = old_vds.get(udid)
            if prev is None:
                raise errors.BadRequest(
                    'Virtual disk %s (UDID %s) does not exist in volume '
                    'group %s' % (name, udid, obj.text('GroupName')))
            _apply_vdisk_change(prev, vd, file_vg, ctx)
            new_udids.add(udid)
        else:
            created.append(vd)
    for udid, prev in old_vds.items():
        if udid not in new_udids and stg.storage_in_use(sim, vios_key, udid):
            raise errors.SimError(409, 'Virtual disk %s is in use by a '
                                  'virtual SCSI mapping' % xu.text(
                                      prev, 'DiskName'))
    repos = xu.findall(el, 'MediaRepositories/VirtualMediaRepository')
    if len(repos) > 1:
        raise errors.BadRequest('A volume group holds at most one media '
                                'repository')
    new_media = {}
    for m in stg.media(el):
        mname = xu.text(m, 'MediaName')
        if not mname:
            raise errors.BadRequest('Virtual optical media without a name')
        if mname in new_media:
            raise errors.BadRequest('Media %s listed twice' % mname)
        new_media[mname] = m
    for mname, prev in old_media.items():
        if mname not in new_media and stg.storage_in_use(
                sim, vios_key, xu.text(prev, 'MediaUDID')):
            raise errors.SimError(409, 'Virtual optical media %s is in '
                                  'use by a virtual SCSI mapping' % mname)
    blobs_to_share = []
    for vd in created:
        blobs_to_share.append(_create_vdisk(sim, obj, vd, file_vg))
    for mname, m in new_media.items():
        prev = old_media.get(mname)
        if prev is not None:
            m.getparent().replace(m, stg.copy_el(prev))
        else:
            stg.ordered_set(m, 'MediaUDID', '0e' + mname, stg.VOPT_ORDER)
            stg.ordered_set(m, 'MountType', xu.text(m, 'MountType') or 'rw',
                        stg.VOPT_ORDER)
            stg.ordered_set(m, 'Size', stg.fmt(stg.num(xu.text(m, 'Size'))),
                            stg.VOPT_ORDER)
    for repo in repos:
        if xu.text(repo, 'RepositoryName') is None:
            raise errors.BadRequest('A media repository needs a name')
        stg.ordered_set(repo, 'RepositorySize', stg.fmt(stg.num(xu.text(
            repo, 'RepositorySize'), 1)), ('OpticalMedia', 'RepositoryName',
                                           'RepositorySize'))
    if not repos and stg.media(old):
        raise errors.SimError(409, 'The media repository still holds '
                              'media')
    if stg.num(xu.text(el, 'GroupCapacity')) - stg.used_gb(el) < -1e-6:
        raise errors.SimError(
            400, 'HSCL2935 Insufficient free space in volume group %s '
            '(%s GB free)' % (obj.text('GroupName'),
                              xu.text(old, 'AvailableSize')))
    stg.recompute(el)
    # Accepted: now the side effects (content files).
    for src, dst in blobs_to_share:
        if src:
            stg.share_content(sim, src, dst)
    for udid in set(old_vds) - new_udids:
        stg.drop_content(sim, udid)
    for mname, prev in old_media.items():
        if mname not in new_media:
            stg.drop_content(sim, xu.text(prev, 'MediaUDID'))
    vios = sim.store.get(*vios_key) if vios_key else None
    if vios is not None:
        stg.sync_vios_view(sim, vios)


def _apply_vdisk_change(prev, vd, file_vg, ctx):
    """An existing disk: only a capacity grow is accepted.

    The stored disk (its server fields) replaces the posted one: moved
    there when it stays as it is (``ctx['undo']`` puts it back), else a
    copy grown.
    """
    new_cap = stg.num(xu.text(vd, 'DiskCapacity'))
    old_cap = stg.num(xu.text(prev, 'DiskCapacity'))
    name = xu.text(prev, 'DiskName')
    if new_cap < old_cap - 1e-6:
        raise errors.BadRequest('Virtual disk %s cannot shrink from %s to '
                                '%s GB' % (name, stg.fmt(old_cap),
                                           stg.fmt(new_cap)))
    if new_cap > old_cap + 1e-6 and file_vg:
        raise errors.BadRequest('File-backed virtual disk %s cannot be '
                                'resized' % name)
    cap = stg.fmt(max(new_cap, old_cap))
    if cap == xu.text(prev, 'DiskCapacity'):
        # Copying hundreds of disks per POST costs more than the rest.
        par, idx = prev.getparent(), prev.getparent().index(prev)
        vd.getparent().replace(vd, prev)
        ctx.setdefault('undo', []).append(lambda: par.insert(idx, prev))
        return
    grown = stg.copy_el(prev)
    stg.ordered_set(grown, 'DiskCapacity', cap, stg.VDISK_ORDER)
    vd.getparent().replace(vd, grown)


def _create_vdisk(sim, vg, vd, file_vg):
    """Fill a new VirtualDisk; returns (source UDID or None, new UDID)."""
    name = xu.text(vd, 'DiskName')
    if not name or len(stg.base_name(name)) > stg.MAX_VDISK_NAME:
        raise errors.BadRequest('Virtual disk name %r is empty or longer '
                                'than %d characters'
                                % (name, stg.MAX_VDISK_NAME))
    cap = stg.num(xu.text(vd, 'DiskCapacity'), -1)
    if cap <= 0:
        raise errors.BadRequest('Virtual disk %s needs a positive '
                                'DiskCapacity (GB), got %r'
                                % (name, xu.text(vd, 'DiskCapacity')))
    src = xu.text(vd, 'BaseImage')
    if src:
        base = [d for d in stg.vdisks(vg.element)
                if xu.text(d, 'UniqueDeviceID') == src]
        if not base:
            raise errors.BadRequest('Base image %s of virtual disk %s is not '
                                    'a disk of volume group %s'
                                    % (src, name, vg.text('GroupName')))
        if cap < stg.num(xu.text(base[0], 'DiskCapacity')) - 1e-6:
            raise errors.BadRequest('Virtual disk %s is smaller than its '
                                    'base image' % name)
        stg.remove_child(vd, 'BaseImage')
    udid = '0300%s.%d' % (vg.text('GroupSerialID'), stg.next_udid_seq(sim))
    stg.ordered_set(vd, 'DiskCapacity', stg.fmt(cap), stg.VDISK_ORDER)
    stg.ordered_set(vd, 'DiskLabel', xu.text(vd, 'DiskLabel') or 'None',
                stg.VDISK_ORDER)
    stg.ordered_set(vd, 'UniqueDeviceID', udid, stg.VDISK_ORDER)
    if file_vg:
        stg.ordered_set(vd, 'VirtualDiskType', 'File', stg.VDISK_ORDER)
        stg.ordered_set(vd, 'BackStoreType', 'user:qcow', stg.VDISK_ORDER)
        stg.ordered_set(vd, 'FileFormat', xu.text(vd, 'FileFormat') or 'raw',
                    stg.VDISK_ORDER)
    else:
        stg.ordered_set(vd, 'VirtualDiskType', 'LogicalVolume',
                        stg.VDISK_ORDER)
    return src, udid


@reg.job('VirtualIOServer', 'RescanVirtualDisk')
def _rescan_vdisk(sim, vios, params, ctx):
    """pypowervm rescan_vstor: succeeds for a virtual disk of the VIOS."""
    udid = params.get('VirtualDiskUDID')
    if stg_find(sim, vios, udid) is None:
        raise errors.JobFailure('Virtual disk %s not found on %s'
                                % (udid, vios.text('PartitionName')))
    return {'RETURN_CODE': '0'}


def stg_find(sim, vios, udid):
    return stg.find_vdisk(sim, vios.key, udid=udid)[1] if udid else None
