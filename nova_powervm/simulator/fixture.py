"""SimulatorFixture: a simulator on a free 127.0.0.1 port for a test."""
import os

import fixtures

from nova_powervm.simulator import admin
from nova_powervm.simulator import control
from nova_powervm.simulator import san as sim_san
from nova_powervm.simulator import vterm_cmd


class SimulatorFixture(fixtures.Fixture):
    """Start a Simulator for the test; stop it (socket closed) on cleanup.

    Keyword arguments go to control.Simulator (e.g. power_delay_s,
    event_hold_s (default 1.0 here), latency_ms, state_file, vios_boot_s,
    mc_type).  The admin API (/sim/admin/) needs ``admin_headers()``.

    ``hosts=N`` (N > 1) starts N simulated managed systems, each on its own
    port, whose VIOSes share one SSP cluster (``san.San``): ``self.sims``
    lists them, ``self.sim`` is the first, ``self.san`` their SAN.
    """

    def __init__(self, hosts=1, **kwargs):
        super(SimulatorFixture, self).__init__()
        kwargs.setdefault('host', '127.0.0.1')
        kwargs.setdefault('port', 0)
        # Short event holds keep listener threads' teardown quick.
        kwargs.setdefault('event_hold_s', 1.0)
        self._kwargs = kwargs
        self._hosts = hosts
        self.sim = None
        self.sims = []
        self.san = None

    def _setUp(self):
        if self._hosts > 1:
            self.san = sim_san.San()
            self.addCleanup(self.san.close)
        for _ in range(self._hosts):
            sim = control.Simulator(san=self.san, **self._kwargs)
            sim.start()
            self.addCleanup(sim.close)
            self.sims.append(sim)
        self.sim = self.sims[0]

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

    def flags_for_conf(self, index=0):
        """[powervm] options that point the driver at a simulated host."""
        sim = self.sims[index] if self.sims else self.sim
        return {'host': sim.host, 'port': sim.port, 'protocol': 'http',
                'username': sim.username, 'password': sim.password}

    def set_conf(self, conf):
        """Apply flags_for_conf() to an oslo.config CONF (group powervm)."""
        for name, value in self.flags_for_conf().items():
            conf.set_override(name, value, group='powervm')
        self.addCleanup(self._clear_conf, conf)

    def _clear_conf(self, conf):
        for name in self.flags_for_conf():
            conf.clear_override(name, group='powervm')


class VtermCommandsFixture(fixtures.Fixture):
    """``mkvterm``/``rmvterm`` for ``sim`` first on ``PATH`` (see vterm_cmd).

    What pypowervm runs to open and close a console on NovaLink (local
    logon), answered by the simulator.
    """

    def __init__(self, sim):
        super(VtermCommandsFixture, self).__init__()
        self.sim = sim

    def _setUp(self):
        bin_dir = self.useFixture(fixtures.TempDir()).path
        vterm_cmd.install(bin_dir, self.sim)
        self.useFixture(fixtures.EnvironmentVariable(
            'PATH', bin_dir + os.pathsep + os.environ.get('PATH', '')))
