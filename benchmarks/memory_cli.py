"""Memory of the command line: resident memory after every trial of a 200-trial `autodl search`.

The same search as the ``memory`` suite (default ``cnn`` space, 1 epoch per trial, no
pruning, Fashion-MNIST subset 3000, seed 0), run as ``python -m autodl search`` in a child
process. Its resident memory (``/proc/PID/status``) is read each time trials.json gains a
finished trial. The command line continues a search in a fresh process once its memory is 8%
above its value after trial 5 (``autodl.search.recycle``: ``os.execv``, so the process id
stays); the target is the issue's: after trial 5, memory stays within 10% of its value then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, scratch
from benchmarks.memory import BASE_TRIAL, MAX_GROWTH, TRIALS, analyse

DURATION = "about 14 minutes on 2 quiet cores"
TITLE = f"Memory: the command line over {TRIALS} trials"
TARGET_TEXT = (
    f"no growth beyond {MAX_GROWTH:.0%} after trial {BASE_TRIAL} (resident memory of `autodl search`, {TRIALS} trials)"
)


MIN_PLAUSIBLE_MB = 300  # a process with TensorFlow imported and the data loaded holds more


def _resident_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None


def _finished(trials_json: Path) -> list[dict[str, Any]]:
    try:
        trials = json.loads(trials_json.read_text())["trials"]
    except (OSError, ValueError, KeyError):
        return []
    return [t for t in trials if t["state"] in ("complete", "pruned", "failed")]


def run(quick: bool) -> dict[str, Any]:
    dataset, subset, trials = ("digits", 200, 12) if quick else ("fashion_mnist", 3000, TRIALS)
    rss: list[float | None] = []
    n_params: list[int] = []
    with scratch("memory-cli") as tmp:
        trials_json = Path(tmp) / "m" / "trials.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if quick:  # a smoke run: recycle after every 3 trials whatever the memory
            env.update(AUTODL_MEMORY_BASE_MB="1", AUTODL_RECYCLE_MIN_TRIALS="3")
        cmd = [
            sys.executable,
            "-m",
            "autodl",
            "search",
            dataset,
            "--subset",
            str(subset),
            "--trials",
            str(trials),
            "--epochs",
            "1",
            "--pruner",
            "none",
            "--seed",
            "0",
            "--name",
            "m",
            "--out",
            tmp,
        ]
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        with child.stdout:
            lines: list[str] = []
            reader = _drain(child, lines)
            while child.poll() is None:
                finished = _finished(trials_json)
                while len(rss) < len(finished):  # read right after the trial's end was written
                    value = _resident_mb(child.pid)
                    # None, or a process image that has not loaded TensorFlow: it is being replaced, and the
                    # process that ran this trial is gone (not read: the table skips it)
                    rss.append(value if value is not None and value >= MIN_PLAUSIBLE_MB else None)
                    n_params.append(finished[len(rss) - 1].get("n_params") or 0)
                time.sleep(0.1)
            reader.join()
        output = "".join(lines)
        if child.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed ({child.returncode}):\n{output[-3000:]}")
        recycled = output.count("the search goes on in a fresh process")
        counts = json.loads((Path(tmp) / "m" / "run.json").read_text())["counts"]
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        **analyse(rss, n_params),
        "recycled": recycled,
        "counts": counts,
        "params": {"dataset": dataset, "subset": subset, "trials": trials, "epochs": 1},
        "notes": [
            f"`{' '.join(cmd[1:4])} {' '.join(cmd[4:-2])}` in a child process; its memory read each time "
            "trials.json gained a finished trial (the process id stays the same across a recycling).",
            f"The search went on in a fresh process {recycled} times (`autodl.search.recycle`: after a trial, "
            "once memory is 8% above its value after trial 5, at most every 10 trials); the counts stayed exact: "
            f"{counts.get('complete', 0)} complete, {counts.get('pruned', 0)} pruned, {counts.get('failed', 0)} failed.",
            f"Trials whose process was being replaced when read (no reading): {sum(v is None for v in rss)}.",
            "The `memory` suite runs the same search in one Python process, which is not recycled: a Python "
            "caller's process is its own.",
        ],
    }


def _drain(child: subprocess.Popen, lines: list[str]) -> Any:
    """Read the child's output on a thread, so that a full pipe never blocks it."""
    import threading

    def read() -> None:
        lines.extend(child.stdout)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread
