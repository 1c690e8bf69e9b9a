"""End-to-end demo (placeholder until the nova-in-the-loop demo lands).

For now it only loads the driver through nova's own loader, exactly as
nova-compute does for ``compute_driver = powervm.PowerVMDriver``, and prints
its declared capabilities.
"""
import sys

from nova.virt import driver


def main():
    drv = driver.load_compute_driver(None, 'powervm.PowerVMDriver')
    print('Loaded %s.%s through nova\'s loader' % (
        type(drv).__module__, type(drv).__name__))
    for name, value in sorted(drv.capabilities.items()):
        print('  %-45s %s' % (name, value))
    print('NOTE: the full demo (simulator + nova services) is not built yet.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
