"""Many workers, one study: PostgreSQL (Optuna's RDB storage) and a journal file on one host.

The PostgreSQL server is Debian's, started here on 127.0.0.1 in a temporary folder and
stopped after the tests (CI installs the package; see .ci/run).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WORKER_FLAGS = ["--trials", "6", "--epochs", "1", "--subset", "300", "--space", "mlp", "--quiet"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        if os.environ.get("AUTODL_SKIP_POSTGRES") == "1":
            pytest.skip("AUTODL_SKIP_POSTGRES=1: PostgreSQL tests skipped on purpose")
        pytest.fail("PostgreSQL is not installed: `apt-get install postgresql` (CI's .ci/run does)")
    pytest.importorskip("psycopg2", reason="pip install psycopg2-binary (the [postgres] extra)")
    bindir = Path(bins[-1]).parent
    datadir = Path(tempfile.mkdtemp(prefix="autodl-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(datadir, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def pg(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(datadir / "data"), "-U", "autodl", "--auth=trust")
    pg(
        str(bindir / "pg_ctl"),
        "-D",
        str(datadir / "data"),
        "-l",
        str(datadir / "log"),
        "-w",
        "-o",
        f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1",
        "start",
    )
    try:
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "autodl", "autodl")
        yield f"postgresql://autodl@127.0.0.1:{port}/autodl"
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir / "data"), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(datadir, ignore_errors=True)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AUTODL_CONFIG_DIR": str(tmp_path / "config"), "AUTODL_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _autodl(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "autodl", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _study(url: str, name: str):
    import optuna

    from autodl.backends.optuna_storage import make_storage

    return optuna.load_study(study_name=name, storage=make_storage(url, shared=False))


def _wait_for_study(url: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _study(url, name)
            return
        except KeyError:
            time.sleep(0.5)
    raise AssertionError(f"study {name} never appeared in {url}")


def _counted(url: str, name: str) -> list:
    from autodl.backends.optuna_storage import counts

    return [t for t in _study(url, name).get_trials() if t.state.is_finished() and counts(t)]


def _check_two_workers(url: str, name: str, out: Path, outputs: list[str]) -> None:
    trials = _counted(url, name)
    assert len(trials) == 6, outputs
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == 6
    workers = {t.user_attrs["autodl_record"]["worker"] for t in trials}
    assert len(workers) == 2, f"both workers should contribute: {workers}"
    run = out / name
    records = json.loads((run / "trials.json").read_text())["trials"]
    finished = [r for r in records if r["state"] in ("complete", "pruned", "failed")]
    assert sorted(r["number"] for r in finished) == sorted(numbers)


def test_two_workers_share_one_postgres_study(tmp_path, postgres_url):
    env, out, name = _env(tmp_path), tmp_path / "out", "pgstudy"
    first = _autodl(
        "search", "digits", "--storage", postgres_url, "--name", name, "--out", str(out), *WORKER_FLAGS, env=env
    )
    _wait_for_study(postgres_url, name)
    second = _autodl("worker", "--storage", postgres_url, "--name", name, "--out", str(out), "--quiet", env=env)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    _check_two_workers(postgres_url, name, out, outputs)
    # One report, built from the storage.
    report = subprocess.run(
        [sys.executable, "-m", "autodl", "report", "--storage", postgres_url, "--name", name, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    assert (out / name / "report.html").is_file()
    assert len(list(out.glob("*/report.html"))) == 1


def test_two_workers_on_one_journal_file(tmp_path):
    env, out, name = _env(tmp_path), tmp_path / "out", "journal"
    url = f"journal://{tmp_path / 'study.log'}"
    workers = [
        _autodl("search", "digits", "--storage", url, "--name", name, "--out", str(out), *WORKER_FLAGS, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in workers]
    assert all(p.returncode == 0 for p in workers), outputs
    _check_two_workers(url, name, out, outputs)


def test_worker_without_study_is_a_clear_error(tmp_path):
    url = f"journal://{tmp_path / 'empty.log'}"
    proc = subprocess.run(
        [sys.executable, "-m", "autodl", "worker", "--storage", url, "--name", "nope"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no study named 'nope'" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_dead_workers_trial_is_failed_and_rerun_never_counted(tmp_path, storage):
    """kill -9 a worker mid-trial; a later worker fails its stale trial and re-runs the slot.

    RDB storages find it by its stopped heartbeat; a journal file by its process, gone from this host.
    """
    import signal

    env = {**_env(tmp_path), "AUTODL_HEARTBEAT_SECONDS": "1"}
    out, name = tmp_path / "out", "stale"
    url = f"sqlite:///{tmp_path / 'shared.db'}" if storage == "sqlite" else f"journal://{tmp_path / 'study.log'}"
    slow = tmp_path / "slow.yaml"  # no early stopping, no pruning: a trial lasts long enough to be killed
    slow.write_text("dense: {layers: 1, units: 32}\ntraining: {max_epochs: 100, patience: 0}\n")
    flags = [
        "--storage",
        url,
        "--name",
        name,
        "--out",
        str(out),
        "--trials",
        "2",
        "--space",
        str(slow),
        "--pruner",
        "none",
        "--subset",
        "400",
        "--quiet",
    ]
    doomed = _autodl("search", "digits", *flags, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until its first trial is running
        try:
            if any(t.state.name == "RUNNING" for t in _study(url, name).get_trials()):
                break
        except Exception:  # the study may not exist yet
            pass
        time.sleep(0.3)
    time.sleep(1.5)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    if storage == "sqlite":
        time.sleep(4)  # > grace period (3 heartbeats)
    survivor = _autodl("worker", "--storage", url, "--name", name, "--out", str(out), "--quiet", env=env)
    output = survivor.communicate(timeout=600)[0]
    assert survivor.returncode == 0, output
    trials = _study(url, name).get_trials()
    stale = [t for t in trials if "autodl_record" not in t.user_attrs]
    assert len(stale) == 1 and stale[0].state.name == "FAIL", "the dead worker's trial is failed"
    assert len(trials) == 3, "its slot was run again"
    assert len(_counted(url, name)) == 2
    records = json.loads((out / name / "trials.json").read_text())["trials"]
    assert sum(r["state"] in ("complete", "pruned", "failed") for r in records) == 2


def test_gpus_flag_starts_one_worker_per_gpu(tmp_path):
    """--gpus all with two GPUs listed: two workers, each seeing one device, one shared study.

    A stand-in nvidia-smi lists two GPUs, so the orchestration runs for real on the CPU.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: Fake H100 (UUID: GPU-0)'\necho 'GPU 1: Fake H100 (UUID: GPU-1)'\n")
    fake.chmod(0o755)
    env = {**_env(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out, name = tmp_path / "out", "gpus"
    flags = [f for f in WORKER_FLAGS if f != "--quiet"]  # the layout line is progress output, which --quiet hides
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--gpus",
            "all",
            "--name",
            name,
            "--out",
            str(out),
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "starting 2 workers sharing one study (1 per GPU on GPU 0, 1)" in proc.stdout
    url = f"journal://{(out / name / 'study.log').resolve()}"
    trials = _counted(url, name)
    assert len(trials) == 6
    gpus = {t.user_attrs["autodl_record"]["worker"].rsplit(":", 1)[-1] for t in trials}
    assert gpus == {"gpu0", "gpu1"}


def test_gpus_flag_without_gpus_runs_on_cpu(tmp_path):
    env = {**_env(tmp_path), "PATH": "/usr/bin:/bin"}  # no nvidia-smi
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--gpus",
            "all",
            "--trials",
            "1",
            "--epochs",
            "1",
            "--subset",
            "200",
            "--space",
            "mlp",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no GPU found" in proc.stdout and "running on the CPU" in proc.stdout


def test_worker_waits_for_a_study_created_later(tmp_path):
    env, out, name = _env(tmp_path), tmp_path / "out", "late"
    url = f"journal://{tmp_path / 'late.log'}"
    waiting = _autodl(
        "worker", "--storage", url, "--name", name, "--out", str(out), "--wait", "120", "--quiet", env=env
    )
    time.sleep(4)
    assert waiting.poll() is None, "the worker waits instead of failing"
    first = _autodl("search", "digits", "--storage", url, "--name", name, "--out", str(out), *WORKER_FLAGS, env=env)
    outputs = [p.communicate(timeout=600)[0] for p in (first, waiting)]
    assert first.returncode == 0 and waiting.returncode == 0, outputs
    assert len(_counted(url, name)) == 6


def _npz(path: Path, seed: int) -> Path:
    import numpy as np

    rng = np.random.default_rng(seed)
    images = lambda n: rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)  # noqa: E731
    labels = lambda n: np.arange(n) % 4  # noqa: E731
    np.savez(path, x_train=images(80), y_train=labels(80), x_test=images(20), y_test=labels(20))
    return path


def _space(path: Path, units: int) -> Path:
    path.write_text(f"dense: {{layers: 1, units: {units}}}\ntraining: {{max_epochs: 1}}\n")
    return path


def test_a_shared_study_refuses_another_space_or_other_data(tmp_path, monkeypatch):
    """A process that names an existing study must search its space on its data, or mix trials."""
    import optuna

    import autodl
    from autodl.exceptions import RunError

    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    url, out = f"journal://{tmp_path / 'study.log'}", str(tmp_path / "out")
    common = dict(storage=url, name="shared", out=out, trials=1, finish=False)
    data = str(_npz(tmp_path / "a.npz", 0))
    autodl.run_search(dataset=data, space=str(_space(tmp_path / "a.yaml", 32)), **common)
    with pytest.raises(
        RunError, match=r"searches another space .*dense.units: study 32, here 64.*`autodl worker --storage"
    ):
        autodl.run_search(dataset=data, space=str(_space(tmp_path / "b.yaml", 64)), **{**common, "trials": 2})
    with pytest.raises(RunError, match=r"started on other data .*--data-dir"):
        autodl.run_search(
            dataset=str(_npz(tmp_path / "b.npz", 1)), space=str(tmp_path / "a.yaml"), **{**common, "trials": 2}
        )
    study = optuna.load_study(
        study_name="shared",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))),
    )
    assert len(study.trials) == 1, "a refused process adds no trial"
    assert autodl.load(tmp_path / "out" / "shared").space.to_dict()["dense"]["units"] == 32, "nor touches the run"


def test_a_joining_worker_searches_the_studys_space_not_the_edited_file(tmp_path, monkeypatch):
    """The space file may change (or be missing on another machine) after the study started."""
    import autodl
    from autodl.backends.optuna_storage import SETTINGS_ATTR
    from autodl.search import join_search

    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    url, out = f"journal://{tmp_path / 'study.log'}", str(tmp_path / "out")
    space = _space(tmp_path / "s.yaml", 32)
    first = autodl.run_search(
        dataset="digits", space=str(space), storage=url, name="j", out=out, trials=1, subset=100, finish=False
    )
    _space(space, 64)  # edited after the study started
    study = _study(url, "j")
    study.set_user_attr(SETTINGS_ATTR, {**study.user_attrs[SETTINGS_ATTR], "trials": 2})  # as `resume --trials 2`
    joined = join_search(url, "j", out=out, finish=False)
    counted = [r for r in joined.records if r.state.value == "complete"]
    assert len(counted) == 2
    assert {r.n_params for r in counted} == {first.records[0].n_params}, "both trials searched the study's space"


def test_the_study_space_check_fills_in_defaults_and_names_the_difference():
    """A space stored by a version that wrote fewer defaults is still the same space."""
    import optuna

    from autodl.backends.optuna_storage import SPACE_ATTR, check_same_search
    from autodl.exceptions import RunError
    from autodl.space import parse_space

    space = parse_space("dense: {layers: 1, units: 32}\n", source="s.yaml").to_dict()
    sparse = {**space, "dense": {k: v for k, v in space["dense"].items() if k != "dropout"}}
    study = optuna.create_study()
    study.set_user_attr(SPACE_ATTR, sparse)
    check_same_search(study, space, None, "sqlite:///x.db")
    other = {**space, "dense": {**space["dense"], "units": 64}}
    with pytest.raises(RunError, match=r"dense.units: study 32, here 64"):
        check_same_search(study, other, None, "sqlite:///x.db")


def test_a_python_caller_of_a_heartbeat_study_sees_no_optuna_heartbeat_warning(tmp_path, monkeypatch):
    """Optuna warns at each ask outside study.optimize; autodl sends its own heartbeats, so the
    warning is noise in a notebook (the CLI routes warnings away anyway)."""
    import warnings

    import autodl

    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = autodl.run_search(
            dataset="digits",
            space=str(_space(tmp_path / "s.yaml", 16)),
            trials=2,
            storage=f"sqlite:///{tmp_path / 'hb.db'}",
            name="hb",
            out=str(tmp_path / "out"),
            subset=100,
            finish=False,
        )
    assert search._backend.study._storage.get_heartbeat_interval(), "the study has heartbeats"
    assert [str(w.message) for w in caught if "Heartbeat" in str(w.message)] == []
