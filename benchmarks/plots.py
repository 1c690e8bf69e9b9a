"""PNG plots of the benchmark results (``doc/source/performance.rst``).

``python -m benchmarks.plots [results.json]`` redraws them from a results
file; ``benchmarks.run`` draws them after measuring.  Needs matplotlib (in
``tox -e bench``); without it nothing is drawn and a note says so.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(ROOT, 'doc', 'source', '_static')
RESULTS = os.path.join(ROOT, 'benchmarks', 'results.json')


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use('Agg')
    from matplotlib import pyplot
    return pyplot


def _scale(plt, scale, path):
    sizes = sorted(scale, key=int)
    ns = [int(n) for n in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.plot(ns, [scale[n]['periodic_requests'] for n in sizes], 'o-')
    left.axhline(5, color='grey', linestyle='--', label='target (N=500)')
    left.set_title('REST requests per periodic cycle')
    right.plot(ns, [scale[n]['periodic_cpu_s'] for n in sizes], 'o-',
               color='tab:orange')
    right.axhline(1.0, color='grey', linestyle='--', label='target (N=500)')
    right.set_title('driver CPU seconds per periodic cycle')
    for ax in (left, right):
        ax.set_xscale('log')
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.set_xlabel('partitions on the host (N)')
        ax.set_ylim(bottom=0)
        ax.legend(loc='upper left')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _concurrency(plt, res, path):
    rows = [(n, res[key]) for n, key in ((8, 'concurrency'),
                                         (32, 'concurrency32'))
            if key in res]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    labels, values, colors = [], [], []
    for n, r in rows:
        many = r.get('n_s', r.get('eight_s'))
        labels += ['1 spawn\n(with %d)' % n, '%d concurrent' % n]
        values += [r['single_s'], many]
        colors += ['tab:blue', 'tab:orange']
    bars = ax.bar(range(len(values)), values, color=colors)
    for (n, r), idx in zip(rows, range(1, len(values), 2)):
        ax.annotate('%.2fx' % r['ratio'], (idx, values[idx]),
                    ha='center', va='bottom')
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels)
    ax.set_ylabel('wall seconds (20 ms latency)')
    ax.set_title('Concurrent spawns (targets 1.5x for 8, 2x for 32)')
    ax.set_ylim(0, max(values or [1]) * 1.2)
    del bars
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _soak(plt, soak, path):
    step = soak.get('rss_mib_step', 1)
    rss = soak['rss_mib']
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot([step * (i + 1) for i in range(len(rss))], rss)
    ax.axvline(soak['warmup_cycles'], color='grey', linestyle=':',
               label='end of warm-up')
    ax.set_xlabel('spawn/destroy cycle')
    ax.set_ylabel('driver process RSS (MiB)')
    ax.set_title('Soak: RSS growth after warm-up %.1f MiB'
                 % soak['rss_growth_mib'])
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(results, directory=DEFAULT_DIR, out=None):
    """Draw what ``results`` has; the paths written."""
    plt = _pyplot()
    if plt is None:
        if out is not None:
            out.write('matplotlib is not installed: no plots drawn.\n')
        return []
    os.makedirs(directory, exist_ok=True)
    written = []
    for key, name, draw in (
            ('scale', 'bench_scale.png', _scale),
            ('concurrency', 'bench_concurrency.png', _concurrency),
            ('soak', 'bench_soak.png', _soak)):
        if key not in results:
            continue
        path = os.path.join(directory, name)
        draw(plt, results if key == 'concurrency' else results[key], path)
        written.append(path)
    return written


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0] if argv else RESULTS) as f:
        results = json.load(f)
    for path in write(results, out=sys.stdout):
        sys.stdout.write('Wrote %s\n' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
