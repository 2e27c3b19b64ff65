"""Several worker processes on one machine, all sharing one study: ``--workers N`` and ``--gpus``.

A small CNN leaves most of a GPU idle: its trial time goes to Python's per-step dispatch and
to compiling each new model, both on the CPU. Several processes per GPU overlap that work
(the study, a journal file in the run folder by default, splits the trial budget between
them). On a CPU-only machine each worker gets its own share of the cores (CPU affinity, which
TensorFlow and XLA size their thread pools from), which beats one process on all cores for
models too small to keep many threads busy.

The children skip the end of the search; the calling process then evaluates the best trial
and writes the report once, from every worker's trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from autodl.exceptions import RunError, UsageError
from autodl.records import SearchSettings
from autodl.runs import RunStore

# Of a GPU's memory, the share JAX may take in all when several workers share it (each gets
# an equal part instead of JAX's default of 75% for the first process and none for the rest).
GPU_MEMORY_SHARE = 0.9


@dataclasses.dataclass(frozen=True)
class WorkerSlot:
    """Where one worker process runs: its GPU (or none) and, on CPUs, the cores it may use."""

    gpu: str | None = None
    cpus: tuple[int, ...] = ()
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.gpu is not None:
            return f"GPU {self.gpu}"
        return f"CPU {_ranges(self.cpus)}" if self.cpus else "CPU"


def describe(slots: list[WorkerSlot]) -> str:
    """``"4 workers sharing one study (2 per GPU on GPU 0, 1)"``, or the cores each CPU worker has."""
    gpus = _gpus(slots)
    where = (
        f"{len(slots) // len(gpus)} per GPU on GPU {', '.join(gpus)}"
        if gpus
        else "on CPU cores " + ", ".join(slot.label.removeprefix("CPU ") for slot in slots)
    )
    return f"{len(slots)} workers sharing one study ({where})"


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
            raise UsageError(
                f"--gpus {spec}: no GPU {', '.join(missing)} on this machine (nvidia-smi lists {', '.join(available)})"
            )
    return wanted if available else []


def usable_cpus() -> list[int]:
    """The cores this process may run on (its affinity), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity control
        return list(range(os.cpu_count() or 1))


def plan_workers(workers: int, gpus: list[str], cpus: list[int]) -> list[WorkerSlot]:
    """``workers`` processes on each GPU in ``gpus``, or, without GPUs, ``workers`` on ``cpus``.

    Raises:
        UsageError: ``workers`` is below 1, or more CPU workers than cores are asked for.
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if gpus:
        env = {}
        if workers > 1:  # share each GPU's memory instead of letting the first process take it
            env = {
                "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{GPU_MEMORY_SHARE / workers:.3f}",
                "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            }
        return [WorkerSlot(gpu=gpu, env={**env, "CUDA_VISIBLE_DEVICES": gpu}) for gpu in gpus for _ in range(workers)]
    if workers > len(cpus):
        raise UsageError(
            f"--workers {workers} on a machine with {len(cpus)} usable CPU cores: each CPU worker "
            f"needs a core of its own; use --workers {len(cpus)} or fewer"
        )
    if workers == 1:
        return [WorkerSlot()]
    share, extra = divmod(len(cpus), workers)
    slots, first = [], 0
    for i in range(workers):
        size = share + (i < extra)
        slots.append(WorkerSlot(cpus=tuple(cpus[first : first + size])))
        first += size
    return slots


def shared_settings(settings: SearchSettings) -> SearchSettings:
    """Settings every worker can join: a name and a shared storage (a journal file by default)."""
    name = settings.name or time.strftime("%Y%m%d-%H%M%S")
    storage = settings.storage or f"journal://{RunStore(Path(settings.out) / name).study_log.resolve()}"
    return dataclasses.replace(settings, name=name, storage=storage)


def run_workers(
    settings: SearchSettings,
    slots: list[WorkerSlot],
    *,
    poll: Callable[[SearchSettings], None] | None = None,
    first: list[str] | None = None,
) -> SearchSettings:
    """Run the search's trials in one child process per slot; return the settings they shared.

    The first child starts the study (``first``: its command-line arguments, by default a new
    ``search``; ``autodl resume`` passes a ``resume`` of the run) and writes the run folder's
    run.json; the others join the study once it has. None of them prints progress, evaluates
    the best model or writes the report: the caller shows progress (``poll`` is called about
    once a second with the shared settings while the children run) and finishes the search
    once they are done. Ctrl-C and SIGTERM are passed on to the children, which stop as a
    single search does (the first stops the running trial and saves, a second exits at once).

    Raises:
        SearchInterrupted: a worker was stopped; what the workers finished is saved.
        RunError: a worker failed.
    """
    from autodl.search.search import SearchInterrupted

    settings = shared_settings(settings)
    folder = Path(settings.out) / str(settings.name)
    folder.mkdir(parents=True, exist_ok=True)  # the study's journal file goes in it
    first = first or ["search", settings.dataset, *_flags(settings)]
    before = _signature(folder / "run.json")
    procs: list[subprocess.Popen] = []
    with _forward_signals(procs) as stopped:
        procs.append(_spawn([*first, "--no-finish", "--quiet"], slots[0]))
        # The others join once the first has (re)written run.json: the study and its settings
        # (a resume's new trial total among them) are in the storage by then.
        while _signature(folder / "run.json") == before and procs[0].poll() is None:
            time.sleep(0.2)
        if procs[0].poll() in (None, 0) and not stopped:
            for slot in slots[1:]:
                procs.append(
                    _spawn(
                        [
                            "worker",
                            "--storage",
                            str(settings.storage),
                            "--name",
                            str(settings.name),
                            "--out",
                            settings.out,
                            "--quiet",
                            "--no-finish",
                        ],
                        slot,
                    )
                )
        while any(proc.poll() is None for proc in procs):
            if poll is not None:
                poll(settings)
            time.sleep(1.0)
        codes = [proc.wait() for proc in procs]
    if len(codes) == 1 and len(slots) > 1 and codes[0] and not stopped:  # bad input: the study never started
        error = RunError("the search did not start (the first worker's error is above); nothing was trained")
        error.exit_code = codes[0]
        raise error
    again = f"autodl resume {folder} {resume_flags(slots)}".rstrip()
    if stopped or 130 in codes:
        raise SearchInterrupted(
            f"search interrupted; the trials finished so far are saved in {folder}. Continue with: {again}"
        )
    if any(codes):
        raise RunError(
            f"{sum(1 for c in codes if c)} of {len(codes)} worker processes failed (exit codes "
            f"{', '.join(str(c) for c in codes)}); their messages are above. The trials they finished "
            f"are saved in {folder}: `{again}` continues the search"
        )
    return settings


def resume_flags(slots: list[WorkerSlot]) -> str:
    """The ``--gpus``/``--workers`` flags that start these slots again (empty for one process)."""
    gpus = _gpus(slots)
    if gpus:
        return f"--gpus {','.join(gpus)} --workers {len(slots) // len(gpus)}"
    return f"--workers {len(slots)}" if len(slots) > 1 else ""


def _gpus(slots: list[WorkerSlot]) -> list[str]:
    return list(dict.fromkeys(slot.gpu for slot in slots if slot.gpu is not None))


def _signature(path: Path) -> tuple[int, int] | None:
    """Changes whenever the file is replaced (atomic writes rename a new file over it)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


@contextlib.contextmanager
def _forward_signals(procs: list[subprocess.Popen]) -> Iterator[list[int]]:
    """While the workers run, pass SIGINT/SIGTERM on to them; yields the signals received.

    The children run in sessions of their own, so a terminal's Ctrl-C reaches them only
    through here, once per press (each child counts presses as a single search does).
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread may handle signals
        yield received
        return

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spawn(args: list[str], slot: WorkerSlot) -> subprocess.Popen:
    env = {**slot.env}
    for key in ("XLA_PYTHON_CLIENT_MEM_FRACTION", "TF_FORCE_GPU_ALLOW_GROWTH"):
        if key in os.environ:  # the user's own setting wins
            env.pop(key, None)
    cpus = slot.cpus
    preexec: Any = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    return subprocess.Popen(
        [sys.executable, "-m", "autodl", *args], env={**os.environ, **env}, preexec_fn=preexec, start_new_session=True
    )


def _flags(settings: SearchSettings) -> list[str]:
    """The CLI flags that recreate ``settings`` (the dataset is positional)."""
    flags = []
    for field in dataclasses.fields(SearchSettings):
        value = getattr(settings, field.name)
        flag = field.name.replace("_", "-")
        if field.name == "dataset" or value is None:
            continue
        if isinstance(value, bool):  # an on/off flag pair: --refit / --no-refit
            flags.append(f"--{flag}" if value else f"--no-{flag}")
            continue
        flags += [f"--{flag}", str(value)]
    return flags


def _ranges(cpus: tuple[int, ...]) -> str:
    """``(0, 1, 2, 5)`` -> ``"0-2,5"``."""
    parts, run = [], [cpus[0]]
    for cpu in cpus[1:]:
        if cpu == run[-1] + 1:
            run.append(cpu)
            continue
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [cpu]
    parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)
