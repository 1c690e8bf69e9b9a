"""Unit tests: an idempotent clean-up tried again (retry.call)."""
import sys
from unittest import mock

from nova import test

from nova_powervm.virt.powervm import retry


class TestCall(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.failures = []

        def on_failure(err, left):
            # Called inside the except block: a traceback to log.
            self.failures.append((str(err), left, sys.exc_info()[1] is err))
        self.on_failure = on_failure

    def test_first_success_returned(self):
        func = mock.Mock(return_value='done')
        self.assertEqual('done', retry.call(func, 2, ValueError,
                                            self.on_failure))
        func.assert_called_once_with()
        self.assertEqual([], self.failures)

    def test_failure_tried_again(self):
        func = mock.Mock(side_effect=[ValueError('busy'), 'done'])
        self.assertEqual('done', retry.call(func, 2, ValueError,
                                            self.on_failure))
        self.assertEqual(2, func.call_count)
        self.assertEqual([('busy', 1, True)], self.failures)

    def test_default_after_the_last_failure(self):
        func = mock.Mock(side_effect=ValueError('down'))
        self.assertIs(False, retry.call(func, 3, ValueError,
                                        self.on_failure, default=False))
        self.assertEqual(3, func.call_count)
        self.assertEqual([('down', 2, True), ('down', 1, True),
                          ('down', 0, True)], self.failures)

    def test_once(self):
        func = mock.Mock(side_effect=ValueError('down'))
        self.assertIsNone(retry.call(func, 1, ValueError, self.on_failure))
        func.assert_called_once_with()
        self.assertEqual([('down', 0, True)], self.failures)

    def test_what_is_not_caught_propagates_at_once(self):
        func = mock.Mock(side_effect=KeyError('bug'))
        self.assertRaises(KeyError, retry.call, func, 2, ValueError,
                          self.on_failure)
        func.assert_called_once_with()
        self.assertEqual([], self.failures)
