"""Instance <-> partition UUID conversion, and that it lives in one place."""
import os
import re
import types

from nova import test

import nova_powervm
from nova_powervm.virt.powervm import ids

INST_UUID = '9ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11'
PVM_UUID = '1BA2C5E4-5E2C-4D18-A2E6-2D2B7F6D5A11'


class TestIds(test.NoDBTestCase):

    def test_pvm_uuid_clears_top_bit_upper_case(self):
        self.assertEqual(PVM_UUID,
                         ids.pvm_uuid(types.SimpleNamespace(uuid=INST_UUID)))

    def test_pvm_uuid_low_first_digit_unchanged(self):
        inst = types.SimpleNamespace(uuid=INST_UUID.replace('9', '3', 1))
        self.assertEqual('3' + PVM_UUID[1:], ids.pvm_uuid(inst))

    def test_candidates_include_instance_uuid(self):
        self.assertEqual(['1ba2c5e4-5e2c-4d18-a2e6-2d2b7f6d5a11', INST_UUID],
                         ids.instance_uuid_candidates(PVM_UUID))

    def test_conversion_only_in_ids(self):
        """No other product module converts UUIDs itself."""
        root = os.path.dirname(nova_powervm.__file__)
        pattern = re.compile(r'convert_uuid_to_pvm|pypowervm\.utils '
                             r'import uuid|def \w*pvm_uuid\w*\(')
        offenders = []
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != 'tests']
            for name in files:
                path = os.path.join(dirpath, name)
                if not name.endswith('.py') or path == ids.__file__:
                    continue
                with open(path) as f:
                    if pattern.search(f.read()):
                        offenders.append(os.path.relpath(path, root))
        self.assertEqual([], offenders)
