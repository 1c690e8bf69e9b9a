"""Benchmarks of the PowerVM driver against the PowerVM REST simulator.

``python -m benchmarks.run`` (``tox -e bench``) measures REST round trips
per operation, concurrent spawn scaling under injected latency, peak memory
growth while streaming a 2 GiB image in and out, and event latency; it
prints a table and writes ``benchmarks/results.json``.  See
``doc/source/performance.rst``.

Modules: ``harness`` (simulator, configuration, image service stand-in,
driver loaded through nova's loader), ``run`` (the measurements), ``rss``
(the memory measurement, run in a child process so that only the driver's
memory is counted).
"""
