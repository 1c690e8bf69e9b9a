"""SimulatorFixture: a simulator on a free 127.0.0.1 port for a test."""
import fixtures

from nova_powervm.simulator import admin
from nova_powervm.simulator import control


class SimulatorFixture(fixtures.Fixture):
    """Start a Simulator for the test; stop it (socket closed) on cleanup.

    Keyword arguments go to control.Simulator (e.g. power_delay_s,
    event_hold_s (default 1.0 here), latency_ms, state_file, vios_boot_s,
    mc_type).  The admin API (/sim/admin/) needs ``admin_headers()``.
    """

    def __init__(self, **kwargs):
        super(SimulatorFixture, self).__init__()
        kwargs.setdefault('host', '127.0.0.1')
        kwargs.setdefault('port', 0)
        # Short event holds keep listener threads' teardown quick.
        kwargs.setdefault('event_hold_s', 1.0)
        self._kwargs = kwargs
        self.sim = None

    def _setUp(self):
        self.sim = control.Simulator(**self._kwargs)
        self.sim.start()
        self.addCleanup(self.sim.close)

    @property
    def host(self):
        return self.sim.host

    @property
    def port(self):
        return self.sim.port

    @property
    def username(self):
        return self.sim.username

    @property
    def password(self):
        return self.sim.password

    @property
    def admin_url(self):
        return self.sim.base_url + '/sim/admin/'

    def admin_headers(self):
        """Headers the admin API requires (its token)."""
        return {admin.TOKEN_HEADER: self.sim.admin_token}

    def flags_for_conf(self):
        """[powervm] options that point the driver at this simulator."""
        return {'host': self.host, 'port': self.port, 'protocol': 'http',
                'username': self.username, 'password': self.password}

    def set_conf(self, conf):
        """Apply flags_for_conf() to an oslo.config CONF (group powervm)."""
        for name, value in self.flags_for_conf().items():
            conf.set_override(name, value, group='powervm')
        self.addCleanup(self._clear_conf, conf)

    def _clear_conf(self, conf):
        for name in self.flags_for_conf():
            conf.clear_override(name, group='powervm')
