"""Keras Tuner's own distributed mode: a chief serving the oracle over gRPC, workers training.

The processes are real ``autodl search`` commands on 127.0.0.1, told their role by KT's
environment variables; each writes its own run folder (docs/distributed.md).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("keras_tuner")
pytest.importorskip("grpc")

from autodl.backends import kerastuner_distributed as distributed  # noqa: E402
from autodl.backends.kerastuner import INTERRUPTED_MESSAGE  # noqa: E402
from autodl.exceptions import RunError, UsageError  # noqa: E402

LIMIT = 150  # seconds any process may take; a run takes ~20-40 s on two shared cores
FLAGS = ["--backend", "kerastuner", "--tuner", "random", "--subset", "300", "--quiet"]
KT_VARS = (distributed.ENV_IP, distributed.ENV_PORT, distributed.ENV_ID)


@pytest.fixture(autouse=True)
def _no_kt_env(monkeypatch):
    for name in KT_VARS:
        monkeypatch.delenv(name, raising=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path, port: int, tuner_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KT_VARS}
    return {
        **env,
        "AUTODL_CONFIG_DIR": str(tmp_path / "config"),
        "AUTODL_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        distributed.ENV_IP: "127.0.0.1",
        distributed.ENV_PORT: str(port),
        distributed.ENV_ID: tuner_id,
    }


def _autodl(tmp_path: Path, port: int, tuner_id: str, name: str, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            *FLAGS,
            *flags,
            "--out",
            str(tmp_path / "out"),
            "--name",
            name,
        ],
        env=_env(tmp_path, port, tuner_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_chief(chief: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        assert chief.poll() is None, chief.communicate()[0]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the chief never listened")


def _finish(procs: dict[str, subprocess.Popen]) -> dict[str, str]:
    """Every process's output; each must end within LIMIT seconds of now."""
    outputs, deadline = {}, time.monotonic() + LIMIT
    try:
        for name, proc in procs.items():
            outputs[name] = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    except subprocess.TimeoutExpired as exc:
        for proc in procs.values():
            proc.kill()
        raise AssertionError(
            f"not finished within {LIMIT} s: {[n for n, p in procs.items() if p.poll() is None]}"
        ) from exc
    return outputs


def _trials(run: Path) -> list[dict]:
    return json.loads((run / "trials.json").read_text())["trials"] if (run / "trials.json").is_file() else []


def _kt_trials(project: Path) -> dict[int, dict]:
    return {int(p.parent.name[len("trial_") :]): json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")}


def _start(tmp_path: Path, *flags: str) -> tuple[int, dict[str, subprocess.Popen]]:
    """The chief first (so both workers find it at once), then two workers together."""
    port = _free_port()
    chief = _autodl(tmp_path, port, "chief", "kt-chief", *flags)
    _wait_for_chief(chief, port)
    workers = {f"kt-w{i}": _autodl(tmp_path, port, f"tuner{i}", f"kt-w{i}", *flags) for i in range(2)}
    return port, {"kt-chief": chief, **workers}


# ---------------------------------------------------------------------------- processes
@pytest.mark.slow
def test_one_chief_two_workers_share_the_budget(tmp_path):
    start = time.monotonic()
    port, procs = _start(tmp_path, "--trials", "4", "--epochs", "1", "--space", "mlp")
    outputs = _finish(procs)
    assert all(p.returncode == 0 for p in procs.values()), outputs
    out = tmp_path / "out"

    finished = [r for name in ("kt-w0", "kt-w1") for r in _trials(out / name)]
    assert len(finished) == 4 and {r["state"] for r in finished} == {"complete"}, outputs
    numbers = [r["number"] for r in finished]
    assert sorted(numbers) == [0, 1, 2, 3], "the chief numbers the trials; no duplicates"
    assert len({r["worker"] for r in finished}) == 2, "both workers contribute"
    assert all(_trials(out / name) for name in ("kt-w0", "kt-w1"))
    for name in ("kt-w0", "kt-w1"):  # each worker's own run: its models and its report
        run = json.loads((out / name / "run.json").read_text())
        assert run["status"] == "finished" and run["study"]["distributed"]["role"] == "worker"
        assert (out / name / "report.html").is_file() and any((out / name / "models").iterdir())

    # The chief trained nothing and holds KT's view of every trial.
    chief_run = json.loads((out / "kt-chief" / "run.json").read_text())
    assert chief_run["status"] == "finished" and _trials(out / "kt-chief") == []
    assert chief_run["study"]["distributed"] == {"role": "chief", "tuner_id": "chief", "oracle": f"127.0.0.1:{port}"}
    assert chief_run["study"]["trials"] == 4
    kt_trials = _kt_trials(out / "kt-chief" / "kerastuner")
    assert sorted(kt_trials) == [0, 1, 2, 3] and {t["status"] for t in kt_trials.values()} == {"COMPLETED"}
    scores = {r["number"]: r["value"] for r in finished}
    assert all(kt_trials[n]["score"] == pytest.approx(scores[n]) for n in scores)
    assert "Traceback" not in "".join(outputs.values())
    assert time.monotonic() - start < 120


@pytest.mark.slow
def test_an_interrupted_worker_gives_its_slot_back(tmp_path):
    """Ctrl-C one worker mid-trial: its trial is not counted, the other runs the slot again."""
    slow = tmp_path / "slow.yaml"  # no early stopping: a trial lasts long enough to be stopped
    slow.write_text(
        "dense: {layers: 1, units: {type: int, min: 16, max: 64, step: 16}}\ntraining: {max_epochs: 30, patience: 0}\n"
    )
    _, procs = _start(tmp_path, "--trials", "3", "--space", str(slow))
    victim, out = procs["kt-w1"], tmp_path / "out"
    deadline = time.monotonic() + LIMIT
    while not any(r["state"] == "running" for r in _trials(out / "kt-w1")):
        assert time.monotonic() < deadline and victim.poll() is None, "kt-w1 never started a trial"
        time.sleep(0.2)
    time.sleep(1.0)
    victim.send_signal(signal.SIGINT)
    outputs = _finish(procs)
    assert victim.returncode == 130, outputs["kt-w1"]
    assert procs["kt-chief"].returncode == 0 and procs["kt-w0"].returncode == 0, outputs

    stopped = _trials(out / "kt-w1")
    assert [r["state"] for r in stopped] == ["interrupted"]
    kt_trials = _kt_trials(out / "kt-chief" / "kerastuner")
    lost = [n for n, t in kt_trials.items() if t["status"] == "FAILED"]
    assert lost == [stopped[0]["number"]] and kt_trials[lost[0]]["message"] == INTERRUPTED_MESSAGE
    done = [n for n, t in kt_trials.items() if t["status"] == "COMPLETED"]
    assert len(done) == 3, "the slot was run again"
    assert sorted(r["number"] for r in _trials(out / "kt-w0") if r["state"] == "complete") == sorted(done)


@pytest.mark.slow
def test_a_worker_without_chief_stops_at_its_timeout(tmp_path):
    port = _free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            *FLAGS,
            "--space",
            "mlp",
            "--timeout",
            "3",
            "--out",
            str(tmp_path / "out"),
            "--name",
            "lonely",
        ],
        env=_env(tmp_path, port, "tuner0"),
        capture_output=True,
        text=True,
        timeout=LIMIT,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"no answer from the Keras Tuner chief at 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- in process
def test_role_follows_keras_tuners_environment(monkeypatch):
    assert distributed.role() is None
    monkeypatch.setenv(distributed.ENV_IP, "127.0.0.1")
    with pytest.raises(UsageError, match="KERASTUNER_ORACLE_PORT, KERASTUNER_TUNER_ID are empty or missing"):
        distributed.role()
    monkeypatch.setenv(distributed.ENV_PORT, "not-a-port")
    monkeypatch.setenv(distributed.ENV_ID, "chief")
    with pytest.raises(UsageError, match="must be a port number"):
        distributed.role()
    monkeypatch.setenv(distributed.ENV_PORT, "8000")
    assert distributed.role() == "chief" and distributed.address() == "127.0.0.1:8000"
    monkeypatch.setenv(distributed.ENV_ID, "tuner3")
    assert distributed.role() == "worker"


def test_a_run_folder_belongs_to_one_process(tmp_path):
    project = tmp_path / "run" / "kerastuner"
    distributed.claim_project(project, None)  # one process: nothing to claim
    assert not project.exists()
    distributed.claim_project(project, "tuner0")
    distributed.claim_project(project, "tuner0")  # the same worker, resumed
    with pytest.raises(RunError, match="not tuner1: every process of a distributed search needs its own run folder"):
        distributed.claim_project(project, "tuner1")
    with pytest.raises(RunError, match="resume it with the same KERASTUNER_ORACLE_IP"):
        distributed.claim_project(project, None)
