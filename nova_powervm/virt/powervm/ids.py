"""nova instance UUID <-> PowerVM partition UUID.

The one place for the conversion: every module (``vm``, ``vif``, ``media``,
``disk/``, ``volume/``) imports this module, which imports nothing of the
driver, so ``disk/`` and ``volume/`` need not import each other or ``vm``.
Also: a partition's child objects (adapters) by instance.
"""
from pypowervm import exceptions as pvm_exc
from pypowervm.utils import uuid as pvm_uuid_util
from pypowervm.wrappers import logical_partition as pvm_lpar


def pvm_uuid(instance):
    """The PowerVM partition UUID of a nova instance (upper case).

    pypowervm's ``convert_uuid_to_pvm`` clears the top bit of the first hex
    digit (the REST API's UUIDs must not have it set).
    """
    return pvm_uuid_util.convert_uuid_to_pvm(instance.uuid).upper()


def instance_uuid_candidates(pvm_uuid_str):
    """The two nova instance UUIDs that map to a partition UUID.

    :func:`pvm_uuid` loses the top bit of the first hex digit, so the
    instance UUID is one of these two (lower case).
    """
    low = pvm_uuid_str.lower()
    first = int(low[0], 16) & 7
    return ['%x%s' % (first, low[1:]), '%x%s' % (first | 8, low[1:])]


def partition_children(wrapper_cls, adapter, instance):
    """The partition's ``wrapper_cls`` children ([] if the partition is gone).
    """
    try:
        return wrapper_cls.get(adapter, parent_type=pvm_lpar.LPAR,
                               parent_uuid=pvm_uuid(instance))
    except pvm_exc.HttpNotFound:
        return []


def create_on_partition(wrapper, instance, lpar_wrap=None):
    """PUT a built child wrapper under the instance's partition.

    :param lpar_wrap: the partition's wrapper if at hand (spares pypowervm a
        GET of it).
    """
    if lpar_wrap is not None:
        return wrapper.create(parent=lpar_wrap)
    return wrapper.create(parent_type=pvm_lpar.LPAR,
                          parent_uuid=pvm_uuid(instance))
