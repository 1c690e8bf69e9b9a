"""Where the driver's CPU goes in one spawn and one destroy.

``python -m benchmarks.profile_ops --partitions 500 --rounds 3`` runs a
simulator seeded with N partitions in a child process (as
``benchmarks.scale``), spawns and destroys a warm-up instance (image cached,
caches filled), then profiles ``--rounds`` spawns and destroys of the
driver process with yappi (CPU clock, every thread: the event listener's
poll thread too) and prints, per operation and per round:

* CPU seconds by area: pypowervm wrappers, pypowervm adapter/session,
  lxml/XML, TaskFlow, oslo.log/logging, requests/urllib3/http, nova,
  nova_powervm, other;
* the functions with the most own time, and with ``--callers NAME`` who
  calls the functions whose name contains NAME.

Not part of ``benchmarks.run``: a tool for finding what to cut.
"""
import argparse
import collections
import sys

from benchmarks import harness

from nova import objects  # noqa: I100

from nova_powervm.tests.functional import test_scale

AREAS = (
    ('pypowervm.wrappers', 'pypowervm wrappers'),
    ('pypowervm/wrappers', 'pypowervm wrappers'),
    ('pypowervm/adapter', 'pypowervm adapter'),
    ('pypowervm/util', 'pypowervm util'),
    ('pypowervm/tasks', 'pypowervm tasks'),
    ('pypowervm/utils', 'pypowervm utils'),
    ('pypowervm', 'pypowervm other'),
    ('lxml', 'lxml'),
    ('/xml/', 'xml'),
    ('taskflow', 'taskflow'),
    ('oslo_log', 'logging'),
    ('/logging/', 'logging'),
    ('requests', 'http'),
    ('urllib3', 'http'),
    ('/http/', 'http'),
    ('/ssl', 'http'),
    ('socket', 'http'),
    ('oslo_concurrency', 'oslo_concurrency'),
    ('futurist', 'futurist'),
    ('/copy.py', 'copy'),
    ('nova_powervm', 'nova_powervm'),
    ('/nova/', 'nova'),
)


def area(module):
    for key, name in AREAS:
        if key in module:
            return name
    return 'other'


def _profile(fn, *args):
    import yappi
    yappi.clear_stats()
    yappi.set_clock_type('cpu')
    yappi.start(builtins=True)
    try:
        fn(*args)
    finally:
        yappi.stop()
    return yappi.get_func_stats()


def report(name, stats, out, top=30, callers=(), children=()):
    by_area = collections.Counter()
    total = 0.0
    for st in stats:
        by_area[area(st.module)] += st.tsub
        total += st.tsub
    out.write('\n== %s: %.1f ms CPU (all threads)\n' % (name, total * 1e3))
    for key, secs in by_area.most_common():
        out.write('  %-22s %7.1f ms %5.1f%%\n' % (key, secs * 1e3,
                                                  100 * secs / total))
    out.write('  -- top own time\n')
    for st in sorted(stats, key=lambda s: -s.tsub)[:top]:
        out.write('  %7.2f ms %7.2f ms cum %6d calls  %s:%s %s\n' % (
            st.tsub * 1e3, st.ttot * 1e3, st.ncall,
            st.module.rsplit('site-packages/', 1)[-1], st.lineno,
            st.name))
    out.write('  -- top cumulative time\n')
    for st in sorted(stats, key=lambda s: -s.ttot)[:top]:
        out.write('  %7.2f ms cum %6d calls  %s:%s %s\n' % (
            st.ttot * 1e3, st.ncall,
            st.module.rsplit('site-packages/', 1)[-1], st.lineno,
            st.name))
    for pattern in children:
        for st in stats:
            if pattern in st.full_name and st.ttot > 0.001:
                out.write('  -- callees of %s (%.1f ms cum)\n' % (
                    st.full_name.rsplit('site-packages/', 1)[-1],
                    st.ttot * 1e3))
                for ch in sorted(st.children, key=lambda c: -c.ttot)[:12]:
                    out.write('     %7.2f ms %5d x  %s\n' % (
                        ch.ttot * 1e3, ch.ncall,
                        ch.full_name.rsplit('site-packages/', 1)[-1]))
    for pattern in callers:
        for st in stats:
            if pattern in st.full_name and st.ttot > 0.001:
                out.write('  -- callers of %s (%.1f ms cum, %d calls)\n' % (
                    st.full_name.rsplit('site-packages/', 1)[-1],
                    st.ttot * 1e3, st.ncall))
                for parent in stats:
                    for ch in parent.children:
                        if ch.full_name == st.full_name:
                            out.write('     %7.2f ms %5d x  %s\n' % (
                                ch.ttot * 1e3, ch.ncall,
                                parent.full_name.rsplit(
                                    'site-packages/', 1)[-1]))


def requests_table(log, out):
    for r in log:
        out.write('  %-6s %-90s %9d B %6.1f ms\n' % (
            r['method'], r['path'][:90], r.get('bytes', 0),
            r['duration_ms']))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.profile_ops')
    parser.add_argument('--partitions', type=int, default=10)
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--top', type=int, default=30)
    parser.add_argument('--callers', action='append', default=[])
    parser.add_argument('--children', action='append', default=[])
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import logging
    logging.getLogger().setLevel(logging.ERROR)
    out = sys.stdout
    with harness.Env(sim_args=('--partitions', str(args.partitions))) as env:
        env.set_volume_group(env.data_vg())
        drv = env.load_driver()
        img = env.add_image(1024 * 1024 + 17, name='bench-profile')
        meta = objects.ImageMeta.from_dict(img)
        insts = test_scale.owners(args.partitions, img['id'])
        with test_scale.database(insts):
            warm = harness.instance(90, image_ref=img['id'])
            env.spawn(drv, warm, meta)
            drv.destroy(env.context, warm, harness.network_info())
            for rnd in range(args.rounds):
                inst = harness.instance(91 + rnd, image_ref=img['id'])
                for name, call in (
                        ('spawn', lambda: env.spawn(drv, inst, meta)),
                        ('destroy', lambda: drv.destroy(
                            env.context, inst, harness.network_info()))):
                    env.sim.clear_request_log()
                    stats = _profile(call)
                    log = harness.non_event(env.sim.request_log())
                    report('%s N=%d round %d, %d requests, %d bytes' % (
                        name, args.partitions, rnd, len(log),
                        sum(r.get('bytes', 0) for r in log)), stats, out,
                        args.top, args.callers, args.children)
                    requests_table(log, out)
        drv.manage_image_cache(env.context, [])
    return 0


if __name__ == '__main__':
    sys.exit(main())
