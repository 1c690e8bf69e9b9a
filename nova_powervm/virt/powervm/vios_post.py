"""POST a VIOS and build its answer from the tree it was POSTed from.

A VIOS with a SCSI mapping per partition of the host is POSTed whole to add
or remove one mapping, and pypowervm parses the whole answer (2.2 MB, about
30 ms of CPU with 500 mappings).  The answer is the POSTed VIOS with the
server's changes: when its bytes are the POSTed bytes with whole mappings
left out or added (and the Atom entry around the VIOS), the answer is built
from the POSTed tree itself: the mappings left out are removed from it,
the added ones (parsed alone, with the entry, in the answer's context)
inserted.  The result is the tree a parse of the answer gives (same
elements, same serialization); any other answer is parsed as pypowervm
does.  The POSTed wrapper's tree becomes the answer's: :func:`update` is
only for a wrapper nobody uses after its POST.
"""
import collections
import contextlib
import functools
import re

from lxml import etree
from pypowervm import entities as pvm_ent
from pypowervm import util as pvm_util
from pypowervm.wrappers import virtual_io_server as pvm_vios

from nova_powervm.virt.powervm import pvm_private

_MAPPINGS = 'VirtualSCSIMappings'
_NAME = b'VirtualSCSIMapping'
# A mapping's start tag (not an empty element): its prefix and name.
_START = re.compile(rb'<((?:[A-Za-z_][\w.-]*:)?)VirtualSCSIMapping[\s>]')


@contextlib.contextmanager
def donated(wrapper):
    """In the block, ``wrapper.update()`` is :func:`update` (a VIOS's).

    For a wrapper nobody uses after the block (its tree may become the
    answer's), e.g. a WrapperTask's own one.
    """
    if type(wrapper) is not pvm_vios.VIOS:   # pypowervm's wrapper only
        yield wrapper
        return
    wrapper.update = functools.partial(update, wrapper)
    try:
        yield wrapper
    finally:
        del wrapper.update


def update(wrapper, timeout=-1, **kwargs):
    """``wrapper.update(timeout=timeout)``; its tree becomes the answer's.

    :param wrapper: a VIOS EntryWrapper read with the SCSI mappings, which
        nobody uses after this call.
    :param kwargs: EntryWrapper.update's others (given: its own update).
    :return: the wrapper of the server's answer.
    """
    if kwargs:
        return type(wrapper).update(wrapper, timeout=timeout, **kwargs)
    if timeout == -1:
        # EntryWrapper.update's default: an hour, or the session's if longer.
        timeout = max(60 * 60, wrapper.adapter.session.timeout)
    adapter = wrapper.adapter
    path = pvm_util.dice_href(wrapper.href, include_fragment=False)
    helper = pvm_private.answer_helper(
        lambda resp: adopt(wrapper.element.element, resp))
    return wrapper.wrap(adapter.update_by_path(
        wrapper, wrapper.etag, path, timeout=timeout,
        helpers=adapter.helpers + [helper]))


def _spans(data, lo, hi):
    """(start, end) of each mapping in data[lo:hi], or None.

    None unless there is at least one, and they follow one another with
    nothing between them.
    """
    pos = data.find(_NAME, lo, hi)
    while pos >= 0 and data[pos + len(_NAME):pos + len(_NAME) + 1] == b's':
        pos = data.find(_NAME, pos + len(_NAME), hi)   # VirtualSCSIMappings
    if pos < 0:
        return None
    pos = data.rfind(b'<', lo, pos)
    spans = []
    while True:
        match = _START.match(data, pos, hi)
        if match is None:
            break
        end_tag = b'</' + match.group(1) + _NAME + b'>'
        end = data.find(end_tag, match.end(), hi)
        # No other mapping inside (its name: only in the end tag).
        if end < 0 or data.count(_NAME, match.end(),
                                 end + len(end_tag)) != 1:
            return None
        end += len(end_tag)
        spans.append((pos, end))
        pos = end
    return spans or None


def _align(answer, posted):
    """Which posted mappings stay, which answer mappings are new, or None.

    :param answer: the answer's mappings' bytes, in order.
    :param posted: the POSTed ones'.
    :return: ([index of each posted mapping left out], [(index of a new
        answer mapping, index of the posted mapping it comes before, or
        None: at the end)]), or None when the kept ones changed order.
    """
    # The same first and last ones (all but a few): compared, not hashed.
    head = 0
    while (head < len(answer) and head < len(posted) and
           answer[head] == posted[head]):
        head += 1
    tail = 0
    while (tail < len(answer) - head and tail < len(posted) - head and
           answer[-1 - tail] == posted[-1 - tail]):
        tail += 1
    a_end, p_end = len(answer) - tail, len(posted) - tail
    a_left = collections.Counter(answer[head:a_end])
    p_left = collections.Counter(posted[head:p_end])
    dropped, added = [], []
    i = j = head
    while i < a_end or j < p_end:
        if i < a_end and j < p_end and answer[i] == posted[j]:
            a_left[answer[i]] -= 1
            p_left[posted[j]] -= 1
            i += 1
            j += 1
        elif j < p_end and a_left[posted[j]] <= 0:
            dropped.append(j)
            p_left[posted[j]] -= 1
            j += 1
        elif i < a_end and p_left[answer[i]] <= 0:
            added.append((i, j if j < len(posted) else None))
            a_left[answer[i]] -= 1
            i += 1
        else:
            return None
    return dropped, added


def adopt(vios, resp):
    """The answer's Entry, with ``vios`` (the POSTed tree) made the answer.

    :param vios: the lxml element of the POSTed VIOS.
    :param resp: the POST's pypowervm Response (body: the answer).
    :return: a pypowervm Entry, or None (then nothing was changed: parse).
    """
    posted = resp.reqbody
    answer = resp.body
    if not isinstance(posted, bytes) or not isinstance(answer, str):
        return None
    answer = answer.encode('utf-8')
    container = vios.find('{%s}%s' % (etree.QName(vios).namespace,
                                      _MAPPINGS))
    if container is None:
        return None
    map_tag = container.tag[:-1]
    mine = list(container.iterchildren(map_tag))
    # The VIOS element's bytes in the answer: its start tag as POSTed.
    first = posted[:posted.find(b'>') + 1]
    lo = answer.find(first)
    last = posted[posted.rfind(b'</'):]
    hi = answer.rfind(last) + len(last)
    if lo < 0 or hi < lo + len(first) or not mine:
        return None
    p_spans = _spans(posted, 0, len(posted))
    a_spans = _spans(answer, lo, hi)
    if (p_spans is None or a_spans is None or len(p_spans) != len(mine) or
            # The rest of the VIOS, as POSTed.
            answer[lo:a_spans[0][0]] != posted[:p_spans[0][0]] or
            answer[a_spans[-1][1]:hi] != posted[p_spans[-1][1]:]):
        return None
    a_maps = [answer[s:e] for s, e in a_spans]
    plan = _align(a_maps, [posted[s:e] for s, e in p_spans])
    if plan is None:
        return None
    dropped, added = plan
    # The entry and the VIOS's own elements with only the new mappings:
    # their elements as a parse of the whole answer makes them.
    skeleton = etree.fromstring(
        answer[:a_spans[0][0]] + b''.join(a_maps[i] for i, _j in added) +
        answer[a_spans[-1][1]:])
    entry = pvm_ent.Entry.unmarshal_atom_entry(skeleton, resp)
    if entry.element is None or entry.element.element.tag != vios.tag:
        return None
    new = list(entry.element.element.find(container.tag).iterchildren(
        map_tag))
    for el, (_i, before) in zip(new, added):
        if before is None:
            container.append(el)
        else:
            mine[before].addprevious(el)
    for j in dropped:
        container.remove(mine[j])
    return pvm_ent.Entry(entry.properties, vios, resp.adapter)
