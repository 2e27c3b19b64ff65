"""Run one benchmark suite (or all), save its JSON, regenerate BENCHMARKS.md.

    python -m benchmarks.run overhead            # the full suite (minutes on 2 cores)
    python -m benchmarks.run all --quick         # every suite at smoke-test sizes (seconds each)
    python -m benchmarks.run report              # only regenerate BENCHMARKS.md

Full results go to ``benchmarks/results/<suite>.json``, quick ones to ``<suite>.quick.json``;
BENCHMARKS.md shows the full result of a suite when there is one. ``all`` runs each suite in
a fresh process, so no suite inherits another's memory, dtype policy or compiled functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import subprocess
import sys
import time
from typing import Any

SUITES = (
    "overhead",
    "precision",
    "batchnorm",
    "augmentation",
    "schedule",
    "pruning",
    "pruner_replay",
    "memory",
    "memory_cli",
    "quality",
    "workers",
    "gpu",
    "export",
)


def run_suite(name: str, quick: bool) -> dict[str, Any]:
    from benchmarks import report
    from benchmarks.common import RESULTS, machine, quiet

    quiet()
    module = importlib.import_module(f"benchmarks.{name}")
    started = dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    info = machine()
    start = time.perf_counter()
    result = module.run(quick)
    result.update(
        {
            "suite": name,
            "quick": quick,
            "started": started,
            "wall_seconds": round(time.perf_counter() - start, 1),
            "command": f"python -m benchmarks.run {name}" + (" --quick" if quick else ""),
            "machine": info,
        }
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}{'.quick' if quick else ''}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
    report.write()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("suite", choices=[*SUITES, "all", "report"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in seconds, not a measurement")
    args = parser.parse_args(argv)
    if args.suite == "report":
        from benchmarks import report

        print(report.write())
        return 0
    if args.suite == "all":
        from benchmarks.common import ROOT

        failed = []
        for name in SUITES:
            cmd = [sys.executable, "-m", "benchmarks.run", name] + (["--quick"] if args.quick else [])
            print(f"::: {' '.join(cmd[1:])}", flush=True)
            if subprocess.call(cmd, cwd=ROOT) != 0:
                failed.append(name)
        if failed:
            print(f"suites that crashed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0
    result = run_suite(args.suite, args.quick)
    verdict = {True: "pass", False: "FAIL", None: "no verdict"}[result.get("passed")]
    print(f"{result['suite']}: {result.get('summary', '')} [{verdict}] in {result['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
