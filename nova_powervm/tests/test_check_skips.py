"""tools/check_skips.py: a functional run may skip only for missing tools."""
import importlib.util
import io
import os

import fixtures
import subunit

from nova_powervm.tests import base as test_base


def _load_checker():
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.dirname(os.path.dirname(here)), os.getcwd()):
        path = os.path.join(root, 'tools', 'check_skips.py')
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location('check_skips', path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    raise AssertionError('tools/check_skips.py not found')


def _stream(*tests):
    """Subunit v2 bytes for (test id, status, skip reason or None)."""
    buf = io.BytesIO()
    out = subunit.StreamResultToBytes(buf)
    for tid, status, reason in tests:
        out.status(test_id=tid, test_status='inprogress')
        if reason is not None:
            out.status(test_id=tid, file_name='reason',
                       file_bytes=reason.encode(),
                       mime_type='text/plain; charset=utf8', eof=True)
        out.status(test_id=tid, test_status=status)
    buf.seek(0)
    return buf


class TestCheckSkips(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.mod = _load_checker()
        self.out = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.out))

    def _write(self, data):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'run.subunit')
        with open(path, 'wb') as f:
            f.write(data.read())
        return path

    def _read(self, fn, path):
        with open(path, 'rb') as f:
            return fn(f)

    def test_bad_skip_fails_the_run(self):
        path = self._write(_stream(
            ('t.ok', 'success', None),
            ('t.tool', 'skip', 'missing external tool: genisoimage'),
            ('t.bad', 'skip', 'the simulator lacks FC')))
        self.assertEqual(1, self.mod.main([path]))
        self.assertIn('forbidden skip: t.bad: the simulator lacks FC',
                      self.out.getvalue())
        self.assertNotIn('t.tool', self.out.getvalue())
        self.assertEqual([('t.bad', 'the simulator lacks FC')],
                         self._read(self.mod.bad_skips, path))

    def test_only_tool_skips_pass(self):
        path = self._write(_stream(
            ('t.ok', 'success', None),
            ('t.tool', 'skip', 'missing external tool: genisoimage')))
        self.assertEqual(0, self.mod.main([path]))
        self.assertEqual(
            [('t.tool', 'missing external tool: genisoimage')],
            self._read(self.mod.skips, path))

    def test_skip_without_reason_fails(self):
        path = self._write(_stream(('t.bare', 'skip', None)))
        self.assertEqual([('t.bare', '')],
                         self._read(self.mod.bad_skips, path))
        self.assertEqual(1, self.mod.main([path]))

    def test_by_reason_groups_and_never_fails(self):
        path = self._write(_stream(
            ('t.ok', 'success', None),
            ('t.p1[id-1]', 'skip', 'Pause is not available.'),
            ('t.cinder', 'skip', 'Cinder is not available'),
            ('t.p2', 'skip', 'Pause is not available.')))
        self.assertEqual(0, self.mod.main(['--by-reason', path]))
        self.assertEqual(
            '3 skip(s), by reason:\n'
            '   2  Pause is not available.\n'
            '        t.p1\n'
            '        t.p2\n'
            '   1  Cinder is not available\n'
            '        t.cinder\n', self.out.getvalue())
