"""Enforce batch.SHARE's contract: a shared answer is never changed.

A caller of ``batch.update(answer=SHARE)`` gets the POST's answer itself,
the wrapper the slot keeps and other sharers read; a later batch changes a
copy of it (``batch._unshared``).  :class:`SharedAnswersFixture` records
the XML of every answer handed out to sharers and checks it is still
byte-identical when a later batch takes it (before the copy) and at the
end of the test.  A change is collected, not raised where it is found (a
batch would turn the error into a retry), and fails the test at cleanup.
"""
import difflib

import fixtures
from lxml import etree

from nova_powervm.virt.powervm import batch

_MAX_DIFF_LINES = 40


def _xml(wrapper):
    return etree.tostring(wrapper.entry.element.element)


def _lines(xml):
    """One element a line (for a readable diff)."""
    return [line.strip() for line in
            xml.decode().replace('><', '>\n<').splitlines() if line.strip()]


class SharedAnswersFixture(fixtures.Fixture):
    """Fail the test if a wrapper handed out with SHARE was changed.

    ``shared``: how many answers were handed out to sharers (a test can
    check that the flow it runs shares some).
    """

    def _setUp(self):
        # id -> (wrapper (kept alive: the id stays its own), XML at hand-out)
        self._answers = {}
        self.shared = 0
        self.violations = []
        hand_out, unshared = batch._hand_out, batch._unshared

        def recording_hand_out(slot, result, changes):
            # Before any caller's change is done: no caller has it yet.
            hand_out(slot, result, changes)
            if any(c.answer == batch.SHARE for c in changes):
                self._answers[id(result)] = (result, _xml(result))
                self.shared += 1

        def checking_unshared(wrapper):
            self._verify(wrapper, 'when a later batch took it')
            return unshared(wrapper)

        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.batch._hand_out', recording_hand_out))
        self.useFixture(fixtures.MonkeyPatch(
            'nova_powervm.virt.powervm.batch._unshared', checking_unshared))
        self.addCleanup(self._check)

    def _verify(self, wrapper, when):
        entry = self._answers.get(id(wrapper))
        if entry is None or entry[0] is not wrapper:
            return
        now = _xml(wrapper)
        if now == entry[1]:
            return
        diff = list(difflib.unified_diff(
            _lines(entry[1]), _lines(now),
            'handed out', when, lineterm='', n=1))
        self.violations.append('%s %s shared answer changed (%s):\n%s' % (
            wrapper.schema_type, wrapper.uuid, when,
            '\n'.join(diff[:_MAX_DIFF_LINES])))
        # Reported once.
        self._answers[id(wrapper)] = (wrapper, now)

    def _check(self):
        for wrapper, _xml_then in list(self._answers.values()):
            self._verify(wrapper, 'at the end of the test')
        self._answers.clear()
        if self.violations:
            raise AssertionError('batch.SHARE callers changed their '
                                 'answer:\n' + '\n'.join(self.violations))
