"""Shared setup: a simulator and a pypowervm session logged on to it."""
import warnings

from pypowervm import adapter as pvm_adpt
from pypowervm.wrappers import managed_system as pvm_ms

from nova_powervm.simulator import fixture
from nova_powervm.tests import base as test_base
from nova_powervm.tests import event_threads


def session(fix, **kwargs):
    kwargs.setdefault('username', fix.username)
    kwargs.setdefault('password', fix.password)
    kwargs.setdefault('timeout', 10)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return pvm_adpt.Session(host=fix.host, port=fix.port,
                                protocol='http', **kwargs)


class SimTestCase(test_base.TestCase):
    """A fresh simulator per test and an Adapter logged on to it."""

    sim_kwargs = {'event_hold_s': 0.5, 'power_delay_s': 0.05}

    def setUp(self):
        super(SimTestCase, self).setUp()
        self.useFixture(event_threads.EventPollThreadsFixture())
        self.fix = self.useFixture(fixture.SimulatorFixture(
            **self.sim_kwargs))
        self.sim = self.fix.sim
        self.sess = session(self.fix)
        # Log off before the fixture stops the server (cleanups run LIFO).
        self.addCleanup(self.sess._logoff)
        self.adpt = pvm_adpt.Adapter(self.sess)

    def host(self):
        return pvm_ms.System.get(self.adpt)[0]
