"""nova_powervm_alias: a process that never loads the driver (as
nova-conductor) still knows PowerVMLiveMigrateData once nova's own live
migration objects are imported.
"""
import os
import subprocess
import sys

from nova import test

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

_SCRIPT = '''
import sys
sys.path.insert(0, %r)
import nova_powervm_alias
assert 'nova_powervm.objects.migrate_data' not in sys.modules
from nova.objects import base
from nova.objects import migrate_data  # noqa (what nova-conductor loads)
prim = {'nova_object.name': 'PowerVMLiveMigrateData',
        'nova_object.namespace': 'nova', 'nova_object.version': '1.0',
        'nova_object.data': {'dest_sys_name': 'sys2'}}
print(base.NovaObject.obj_from_primitive(prim).dest_sys_name)
'''


class TestConductorKnowsOurObject(test.NoDBTestCase):

    def test_registered_after_nova_objects(self):
        out = subprocess.run([sys.executable, '-c', _SCRIPT % ROOT],
                             capture_output=True, text=True, timeout=120,
                             cwd='/')
        self.assertEqual(0, out.returncode, out.stderr)
        self.assertEqual('sys2', out.stdout.strip().splitlines()[-1])
