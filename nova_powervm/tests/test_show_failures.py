"""tools/show_failures.py: CI's tail names the failed tests."""
import importlib.util
import io
import os

import fixtures
import subunit

from nova_powervm.tests import base as test_base


def _load():
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    path = os.path.join(root, 'tools', 'show_failures.py')
    spec = importlib.util.spec_from_file_location('show_failures', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class TestShowFailures(test_base.TestCase):

    def setUp(self):
        super().setUp()
        self.mod = _load()
        self.out = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.out))
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'run')
        buf = io.BytesIO()
        out = subunit.StreamResultToBytes(buf)
        for tid, status in (('t.ok', 'success'), ('t.bad', 'fail'),
                            ('t.hung', None)):
            out.status(test_id=tid, test_status='inprogress')
            if status == 'fail':
                out.status(test_id=tid, file_name='traceback',
                           file_bytes=b'AssertionError: 1 != 2',
                           mime_type='text/plain; charset=utf8', eof=True)
                out.status(test_id=tid, file_name='stderr',
                           file_bytes=b'x' * 5000 + b'END',
                           mime_type='text/plain; charset=utf8', eof=True)
            if status:
                out.status(test_id=tid, test_status=status)
        with open(self.path, 'wb') as f:
            f.write(buf.getvalue())

    def test_failed_and_unfinished_tests_listed_last(self):
        self.assertEqual(1, self.mod.main([self.path]))
        text = self.out.getvalue()
        self.assertIn('fail: t.bad\n', text)
        self.assertIn('AssertionError: 1 != 2', text)
        # Captured output is cut to its tail; the traceback comes after it.
        self.assertIn('...\n' + 'x' * 2997 + 'END', text)
        self.assertNotIn('x' * 3001, text)
        self.assertLess(text.index('END'), text.index('AssertionError'))
        self.assertNotIn('t.ok', text)
        self.assertTrue(text.endswith(
            '2 test(s) failed or did not finish:\n'
            '  t.bad (fail)\n  t.hung (inprogress)\n'), text)

    def test_stestr_repository_stream_v1(self):
        # stestr's repository (.stestr/N) keeps subunit v1.
        import unittest

        class Case(unittest.TestCase):
            def test_bad(self):
                self.fail('boom')
        buf = io.BytesIO()
        Case('test_bad').run(subunit.TestProtocolClient(buf))
        with open(self.path, 'wb') as f:
            f.write(buf.getvalue())
        self.assertEqual(1, self.mod.main([self.path]))
        text = self.out.getvalue()
        self.assertIn('AssertionError: boom', text)
        self.assertIn('1 test(s) failed or did not finish:\n  ', text)
        self.assertIn('Case.test_bad (fail)\n', text)

    def test_clean_run_exits_zero_silently(self):
        self.assertEqual(0, self.mod.main([]))
        self.assertEqual('', self.out.getvalue())
