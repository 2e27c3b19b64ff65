"""One worker process per GPU, all sharing one study: ``--gpus all|0,1,...``.

Each child sees a single device through ``CUDA_VISIBLE_DEVICES``; the study (a shared
Optuna storage) splits the trial budget between them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from autodl.exceptions import UsageError
from autodl.records import SearchSettings


def detect_gpus() -> list[str]:
    """Indices of the NVIDIA GPUs ``nvidia-smi`` lists (empty without a driver)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


def parse_gpus(spec: str, available: list[str]) -> list[str]:
    """``all`` or a comma list of indices, checked against what the machine has."""
    if spec.strip().lower() == "all":
        return list(available)
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    bad = [g for g in wanted if not g.isdigit()]
    if bad or not wanted:
        raise UsageError(f"--gpus takes `all` or GPU indices such as 0,1; got {spec!r}")
    if available:
        missing = [g for g in wanted if g not in available]
        if missing:
            raise UsageError(f"--gpus {spec}: no GPU {', '.join(missing)} on this machine "
                             f"(nvidia-smi lists {', '.join(available)})")
    return wanted if available else []


def shared_settings(settings: SearchSettings) -> SearchSettings:
    """Settings every GPU worker can join: a name and a shared storage (a journal file by default)."""
    name = settings.name or time.strftime("%Y%m%d-%H%M%S")
    storage = settings.storage or f"journal://{(Path(settings.out) / name / 'study.log').resolve()}"
    return dataclasses.replace(settings, name=name, storage=storage)


def run_on_gpus(settings: SearchSettings, gpus: list[str], *, quiet: bool = False) -> int:
    """Start the search on the first GPU, join one worker per other GPU; return the worst exit code."""
    settings = shared_settings(settings)
    (Path(settings.out) / settings.name).mkdir(parents=True, exist_ok=True)
    procs = [_spawn(["search", settings.dataset, *_flags(settings)] + (["--quiet"] if quiet else []), gpus[0])]
    run_json = Path(settings.out) / settings.name / "run.json"
    while not run_json.exists() and procs[0].poll() is None:  # the first creates the study and folder
        time.sleep(0.5)
    if procs[0].poll() is None or procs[0].returncode == 0:
        for gpu in gpus[1:]:
            procs.append(_spawn(["worker", "--storage", settings.storage, "--name", settings.name,
                                 "--out", settings.out, "--quiet"], gpu))
    return max(proc.wait() for proc in procs)


def _spawn(args: list[str], gpu: str) -> subprocess.Popen:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
    return subprocess.Popen([sys.executable, "-m", "autodl", *args], env=env)


def _flags(settings: SearchSettings) -> list[str]:
    """The CLI flags that recreate ``settings`` (the dataset is positional)."""
    flags = []
    for field in dataclasses.fields(SearchSettings):
        value = getattr(settings, field.name)
        if field.name == "dataset" or value is None:
            continue
        flags += [f"--{field.name.replace('_', '-')}", str(value)]
    return flags
