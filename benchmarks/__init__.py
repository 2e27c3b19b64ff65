"""autodl's benchmark suites: ``python -m benchmarks.run SUITE [--quick]``.

Each suite is one small module with ``run(quick) -> dict`` (columns, rows, verdict); ``run``
adds the machine and versions, writes ``benchmarks/results/<suite>[.quick].json`` and
regenerates ``BENCHMARKS.md`` from every result present (``benchmarks/report.py``). Suites
use autodl's library API (``run_search``, ``load_splits``, ``build_model``, ``fit_model``),
so what they time is what users run.
"""
