"""One partition's SCSI mappings on a VIOS, without a scan of all of them.

A VIOS holds a SCSI mapping per disk of every partition of the host.
pypowervm's ``scsi_mapper.find_maps`` (and ``add_map``/``remove_maps``,
which use it) builds a wrapper and parses the client partition's href of
every mapping: about 17 ms of CPU per scan of 500 mappings.  These helpers
first pick, in the VIOS's XML, the mappings whose client partition link
names the partition (a string test per mapping, a few ms), and leave the
exact match to ``find_maps`` on those: same results, same wrappers (the
mappings stay elements of the VIOS wrapper, so removing one removes it
from the VIOS).  :func:`build_mapping` is ``scsi_mapper.build_vscsi_mapping``
on those candidates (pypowervm's scans every mapping: about 60 ms with 500),
:func:`map_storage` both with one look.  :func:`storage_maps` finds the
mappings of some storage (any partition's) by its name or UDID alike.
"""
import copy

from lxml import etree
from pypowervm import entities as pvm_ent
from pypowervm.tasks import scsi_mapper as tsk_map
from pypowervm import util as pvm_util
from pypowervm.wrappers import entry_wrapper as ewrap
from pypowervm.wrappers import virtual_io_server as pvm_vios

_MAPPINGS = 'VirtualSCSIMappings'
_CLIENT_LPAR = 'AssociatedLogicalPartition'
# namespace -> compiled XPath of the client links' hrefs
_HREFS = {}


def _client_hrefs(container, ns):
    """The client links' hrefs of the mappings in ``container`` (XPath).

    Each a "smart" string (``getparent()``: its AssociatedLogicalPartition).
    """
    xpath = _HREFS.get(ns)
    if xpath is None:
        path = '%s/%s/@href' % (pvm_vios.VSCSIMapping.schema_type,
                                _CLIENT_LPAR)
        if ns:
            path = '/'.join('u:' + part if part[0] != '@' else part
                            for part in path.split('/'))
        xpath = _HREFS[ns] = etree.XPath(path, namespaces={'u': ns} if ns
                                         else None)
    return xpath(container)


def _candidates(vios_w, lpar_uuid):
    """The VIOS's mapping wrappers whose client link mentions lpar_uuid.

    A superset of find_maps's by UUID (case ignored); same order.
    """
    maps = vios_w.scsi_mappings
    if not isinstance(maps, ewrap.WrapperElemList):
        # Not backed by the VIOS's XML (a list set on the wrapper).
        return list(maps)
    container = vios_w.element.find(_MAPPINGS)
    if container is None:
        return []
    raw = container.element
    # One C-level pass collects the client links (document order, the
    # order of scsi_mappings), one substring search a line each finds the
    # UUID in them (a UUID holds no line break).
    hrefs = _client_hrefs(raw, etree.QName(raw).namespace)
    text = '\n'.join(hrefs).lower()
    key = lpar_uuid.lower()
    hits = []
    line, start = 0, 0
    pos = text.find(key)
    while pos >= 0:
        line += text.count('\n', start, pos)
        smap = hrefs[line].getparent().getparent()
        if not hits or hits[-1] is not smap:
            hits.append(smap)
        start = text.find('\n', pos)
        if start < 0:
            break
        pos = text.find(key, start + 1)
    # Wrapped as scsi_mappings[idx] would (that wraps all of them first).
    return [maps.child_class.wrap(pvm_ent.Element.wrapelement(
        smap, container.adapter), **maps.injects) for smap in hits]


def find_maps(vios_w, lpar_uuid, **kwargs):
    """``scsi_mapper.find_maps(vios_w.scsi_mappings, lpar_uuid, ...)``.

    :param lpar_uuid: the client partition's UUID (not its short ID).
    :param kwargs: find_maps's match_func, stg_elem, include_orphans.
    """
    return tsk_map.find_maps(_candidates(vios_w, lpar_uuid),
                             client_lpar_id=lpar_uuid, **kwargs)


def remove_maps(vios_w, lpar_uuid, match_func=None, include_orphans=True):
    """``scsi_mapper.remove_maps`` by the client's UUID: the removed ones."""
    gone = find_maps(vios_w, lpar_uuid, match_func=match_func,
                     include_orphans=include_orphans)
    for smap in gone:
        vios_w.scsi_mappings.remove(smap)
    return gone


def add_map(vios_w, mapping):
    """``scsi_mapper.add_map``: add ``mapping`` unless the VIOS has it.

    :return: the mapping, or None if the VIOS already maps its storage to
        its client partition.
    """
    lpar_uuid = pvm_util.get_req_path_uuid(mapping.client_lpar_href,
                                           preserve_case=True)
    if find_maps(vios_w, lpar_uuid, stg_elem=mapping.backing_storage):
        return None
    vios_w.scsi_mappings.append(mapping)
    return mapping


def build_mapping(vios_w, lpar_uuid, stg_ref, fuse_limit=32,
                  lpar_slot_num=None, lua=None, target_name=None):
    """``scsi_mapper.build_vscsi_mapping`` without a scan of every mapping.

    As pypowervm's: the new mapping reuses the client/server adapter pair of
    the partition's first bus (mappings grouped by server adapter) holding
    fewer than ``fuse_limit`` devices, else asks for a new pair.  The VIOS
    wrapper is not changed: a ``stg_ref`` that belongs to a tree (another
    mapping's storage) is copied, not moved out of it.
    """
    return _build(_candidates(vios_w, lpar_uuid), lpar_uuid, stg_ref,
                  fuse_limit, lpar_slot_num, lua, target_name)


def map_storage(vios_w, lpar_uuid, stg_ref, **kwargs):
    """``add_map(vios_w, build_mapping(...))`` with one look at the mappings.

    :param kwargs: build_mapping's fuse_limit, lpar_slot_num, lua,
        target_name.
    :return: the new mapping (appended), or None if the VIOS already maps
        the storage to the partition.
    """
    found = _candidates(vios_w, lpar_uuid)
    mapping = _build(found, lpar_uuid, stg_ref, **kwargs)
    # add_map's test, on the same candidates (its client is this partition).
    client = pvm_util.get_req_path_uuid(mapping.client_lpar_href,
                                        preserve_case=True)
    if tsk_map.find_maps(found, client_lpar_id=client,
                         stg_elem=mapping.backing_storage):
        return None
    vios_w.scsi_mappings.append(mapping)
    return mapping


def _build(candidates, lpar_uuid, stg_ref, fuse_limit=32,
           lpar_slot_num=None, lua=None, target_name=None):
    if stg_ref.element.element.getparent() is not None:
        # Part of a tree (another mapping's storage): pypowervm's bld would
        # move it out of there (lxml), so the POST would drop it.
        stg_ref = copy.deepcopy(stg_ref)
    key = lpar_uuid.lower()
    buses = {}
    for smap in candidates:
        if smap.client_adapter is None or (pvm_util.get_req_path_uuid(
                smap.client_lpar_href or '') != key):
            continue
        buses.setdefault(smap.server_adapter.udid, []).append(smap)
    for bus in buses.values():
        if len(bus) < fuse_limit:
            return pvm_vios.VSCSIMapping.bld_from_existing(
                bus[0], stg_ref, lpar_slot_num=lpar_slot_num, lua=lua,
                target_name=target_name)
    return pvm_vios.VSCSIMapping.bld(
        stg_ref.adapter, None, lpar_uuid, stg_ref,
        lpar_slot_num=lpar_slot_num, lua=lua, target_name=target_name)


# (namespace, number of keys) -> compiled XPath of the mappings whose
# storage element has a field containing one of the keys
_BY_STORAGE = {}


def storage_maps(vios_w, keys, match_func):
    """The mappings, of any partition and orphans too, of some storage.

    ``scsi_mapper.find_maps(vios_w.scsi_mappings, None, match_func=...,
    include_orphans=True)`` on only the mappings whose storage element has
    a field (a child: name, UDID...) containing one of ``keys`` (XPath):
    those are all ``match_func`` can accept when it tests those fields.

    :param keys: strings; empty ones are ignored (none left: every mapping
        is looked at).
    """
    keys = [key for key in keys if key]
    maps = vios_w.scsi_mappings
    if not keys or not isinstance(maps, ewrap.WrapperElemList):
        return tsk_map.find_maps(maps, None, match_func=match_func,
                                 include_orphans=True)
    container = vios_w.element.find(_MAPPINGS)
    if container is None:
        return []
    raw = container.element
    ns = etree.QName(raw).namespace
    xpath = _BY_STORAGE.get((ns, len(keys)))
    if xpath is None:
        pfx = 'u:' if ns else ''
        test = ' or '.join('contains(., $k%d)' % i for i in range(len(keys)))
        xpath = _BY_STORAGE[ns, len(keys)] = etree.XPath(
            '%s%s[%sStorage/*/*[%s]]' % (
                pfx, pvm_vios.VSCSIMapping.schema_type, pfx, test),
            namespaces={'u': ns} if ns else None)
    found = xpath(raw, **{'k%d' % i: key for i, key in enumerate(keys)})
    return tsk_map.find_maps(
        [maps.child_class.wrap(pvm_ent.Element.wrapelement(
            smap, container.adapter), **maps.injects) for smap in found],
        None, match_func=match_func, include_orphans=True)
