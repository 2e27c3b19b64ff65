"""Several worker processes on one machine sharing a study: ``--workers N`` (and ``--gpus``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autodl.backends.optuna_storage import StudyReader
from autodl.exceptions import UsageError
from autodl.search.workers import GPU_MEMORY_SHARE, plan_workers, resume_flags

FLAGS = ["--trials", "6", "--epochs", "1", "--subset", "300", "--space", "mlp"]  # not --quiet: the display is tested


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AUTODL_CONFIG_DIR": str(tmp_path / "config"), "AUTODL_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


# ---------------------------------------------------------------- planning (no processes)
def test_resume_flags_start_the_same_workers_again():
    assert resume_flags(plan_workers(2, ["0", "1"], [0, 1])) == "--gpus 0,1 --workers 2"
    assert resume_flags(plan_workers(1, ["3"], [0, 1])) == "--gpus 3 --workers 1"
    assert resume_flags(plan_workers(2, [], [0, 1, 2])) == "--workers 2"
    assert resume_flags(plan_workers(1, [], [0, 1])) == ""


def test_the_first_workers_command_line_carries_every_setting():
    """The first worker starts as `autodl search DATASET <flags>`; a setting lost on the way
    (a flag the CLI lacks, a value it parses differently) would make it search something else."""
    import dataclasses

    from autodl.cli.main import search
    from autodl.records import SearchSettings
    from autodl.search.workers import _flags

    settings = SearchSettings(
        dataset="photos",
        space="mlp",
        backend="kerastuner",
        sampler="random",
        pruner="hyperband",
        tuner="bayesian",
        trials=7,
        timeout=12.5,
        epochs=3,
        max_params=50000,
        seed=4,
        name="n",
        out="o",
        storage="journal:///s.log",
        subset=50,
        val_fraction=0.25,
        top_k=2,
        data_dir="/d",
        image_size="8x6",
        precision="float32",
        refit=False,
        warm_start="reports/earlier",
    )
    fields = dataclasses.fields(SearchSettings)
    assert all(getattr(settings, f.name) != f.default for f in fields), "give every field a non-default value"
    params = search.make_context("search", [settings.dataset, *_flags(settings)]).params
    assert SearchSettings(**{f.name: params[f.name] for f in fields}) == settings


def test_cpu_workers_split_the_cores_without_overlap():
    slots = plan_workers(2, [], [0, 1, 2, 3, 4])
    assert [slot.cpus for slot in slots] == [(0, 1, 2), (3, 4)]
    assert [slot.label for slot in slots] == ["CPU 0-2", "CPU 3-4"]
    assert all(slot.gpu is None and "CUDA_VISIBLE_DEVICES" not in slot.env for slot in slots)
    assert plan_workers(3, [], [2, 5, 7])[1].cpus == (5,), "affinity keeps the machine's own core ids"


def test_one_worker_is_this_process_on_every_core():
    slots = plan_workers(1, [], [0, 1])
    assert len(slots) == 1 and slots[0].cpus == () and slots[0].env == {}


def test_gpu_workers_share_each_gpus_memory():
    slots = plan_workers(3, ["0", "1"], [0, 1])
    assert [slot.gpu for slot in slots] == ["0", "0", "0", "1", "1", "1"]
    assert all(slot.env["CUDA_VISIBLE_DEVICES"] == slot.gpu for slot in slots)
    shares = [float(slot.env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) for slot in slots]
    assert shares == [pytest.approx(GPU_MEMORY_SHARE / 3, abs=1e-3)] * 6
    assert all(slot.env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for slot in slots)
    alone = plan_workers(1, ["0", "1"], [0, 1])
    assert all("XLA_PYTHON_CLIENT_MEM_FRACTION" not in slot.env for slot in alone), (
        "one worker per GPU keeps JAX's own memory default"
    )


@pytest.mark.parametrize(
    "workers, message",
    [(0, "--workers must be at least 1, got 0"), (3, "--workers 3 on a machine with 2 usable CPU cores")],
)
def test_impossible_worker_counts_are_refused(workers, message):
    with pytest.raises(UsageError, match=message):
        plan_workers(workers, [], [0, 1])


def test_cli_refuses_too_many_cpu_workers_before_anything_starts(tmp_path):
    too_many = len(os.sched_getaffinity(0)) + 1
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--workers",
            str(too_many),
            "--out",
            str(tmp_path / "out"),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"--workers {too_many} on a machine with" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_unknown_dataset_or_taken_name_is_refused_before_any_worker_starts(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "autodl", "search", "nosuchdata", "--workers", "2", "--out", str(out)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Unknown dataset 'nosuchdata'" in proc.stdout + proc.stderr and not out.exists()
    (out / "taken").mkdir(parents=True)
    (out / "taken" / "run.json").write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "autodl", "search", "digits", "--workers", "2", "--out", str(out), "--name", "taken"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "already exists and is not empty" in proc.stdout + proc.stderr
    assert sorted(p.name for p in (out / "taken").iterdir()) == ["run.json"], "the old run is untouched"


def test_kerastuner_backend_is_refused_with_workers(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--workers",
            "2",
            "--backend",
            "kerastuner",
            "--out",
            str(tmp_path / "out"),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "chief/worker mode" in proc.stdout + proc.stderr and not (tmp_path / "out").exists()


def test_journal_trials_of_dead_processes_are_failed_and_their_start_requeued(tmp_path, monkeypatch):
    """A journal file has no heartbeats: a trial whose process on this host is gone is a dead worker's."""
    import socket

    import optuna

    from autodl.backends import optuna_storage as st

    study = optuna.create_study(
        study_name="s", storage=st.make_storage(f"journal://{tmp_path / 'j.log'}", shared=False)
    )
    study.set_user_attr(st.SPACE_ATTR, {"start": [{"lr": 0.1}]})
    dead_proc = subprocess.Popen(["true"])
    dead_proc.wait()
    host = socket.gethostname()
    owners = {
        "dead": {"host": host, "pid": dead_proc.pid, "started": 1},
        "reused pid": {"host": host, "pid": os.getpid(), "started": -1},  # same pid, another process
        "alive": None,  # named by name_owner, as the backend does
        "other host": {"host": host + "-elsewhere", "pid": dead_proc.pid, "started": 1},
        "no owner yet": "unset",
    }
    trials = {}
    for label, owner in owners.items():
        trial = study.ask()
        if label == "dead":
            study._storage.set_trial_user_attr(trial._trial_id, st.START_ATTR, 0)
        if owner is None:
            st.name_owner(study, trial)
        elif owner != "unset":
            study._storage.set_trial_user_attr(trial._trial_id, st.OWNER_ATTR, owner)
        trials[label] = trial.number

    def states() -> dict[str, str]:
        by_number = {t.number: t for t in study.get_trials()}
        return {
            label: by_number[n].state.name + ("*" if by_number[n].user_attrs.get(st.INTERRUPTED_ATTR) else "")
            for label, n in trials.items()
        }

    st.fail_stale(study)
    assert states() == {
        "dead": "FAIL*",
        "reused pid": "FAIL*",
        "alive": "RUNNING",
        "other host": "RUNNING",
        "no owner yet": "RUNNING",
    }
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.user_attrs.get(st.START_ATTR) for t in waiting] == [0], "the dead start trial is queued once"
    monkeypatch.setattr(st, "ORPHAN_SECONDS", 0.0)  # killed between asking and naming itself, long ago
    st.fail_stale(study)
    assert states()["no owner yet"] == "FAIL*" and states()["alive"] == "RUNNING"


def test_a_resume_changes_the_study_total_that_joining_workers_read(tmp_path):
    import optuna

    from autodl.backends.optuna_storage import SETTINGS_ATTR, save_study_settings

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}")
    save_study_settings(study, {"trials": 6, "timeout": None, "seed": 1}, {}, None)
    save_study_settings(study, {"trials": 9, "timeout": 60.0, "seed": 2}, {}, None)  # a joining worker
    assert study.user_attrs[SETTINGS_ATTR] == {"trials": 6, "timeout": None, "seed": 1}, "first writer wins"
    save_study_settings(study, {"trials": 9, "timeout": 60.0, "seed": 2}, {}, None, resumed=True)
    assert study.user_attrs[SETTINGS_ATTR] == {"trials": 9, "timeout": 60.0, "seed": 1}, "only the budget changes"


def test_study_reader_sees_finished_records_and_running_epochs(tmp_path):
    """What the parent's display reads from the shared study while the workers train."""
    import optuna

    from autodl.backends.optuna_storage import RECORD_ATTR, make_storage
    from autodl.records import TrialRecord, TrialState

    url = f"journal://{tmp_path / 'study.log'}"
    study = optuna.create_study(study_name="s", storage=make_storage(url, shared=False), direction="maximize")
    done = study.ask()
    done.set_user_attr(RECORD_ATTR, TrialRecord(number=0, state=TrialState.COMPLETE, params={}, value=0.9).to_dict())
    study.tell(done, 0.9)
    live, fresh = study.ask(), study.ask()
    live.report(0.5, 0)
    live.report(0.7, 1)
    reader = StudyReader(url, "s")
    records, running = reader.read()
    assert [(r.number, r.value) for r in records] == [(0, 0.9)]
    assert running == {1: (2, 0.7), 2: (0, None)}
    live.report(0.75, 2)  # the same reader sees what was written since
    fresh.set_user_attr(RECORD_ATTR, TrialRecord(number=2, state=TrialState.PRUNED, params={}).to_dict())
    study.tell(fresh, state=optuna.trial.TrialState.PRUNED)
    records, running = reader.read()
    assert [r.number for r in records] == [0, 2] and running == {1: (3, 0.75)}


# ---------------------------------------------------------------- real searches
@pytest.mark.slow
def test_two_cpu_workers_finish_one_search_with_one_summary(tmp_path):
    out, name = tmp_path / "out", "two"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--workers",
            "2",
            "--name",
            name,
            "--out",
            str(out),
            *FLAGS,
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "starting 2 workers sharing one study (on CPU cores 0, 1)" in proc.stdout
    assert proc.stdout.count("best model on the test split") == 1, "the parent alone finishes and summarises"
    shown = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("  trial ")]
    assert sorted(shown, key=int) == [str(n) for n in range(6)], "one progress display: every worker's trials, once"
    run = out / name
    trials = json.loads((run / "trials.json").read_text())["trials"]
    finished = [t for t in trials if t["state"] in ("complete", "pruned", "failed")]
    assert sorted(t["number"] for t in finished) == list(range(6)), "exactly the budget, every trial recorded"
    assert len({t["worker"] for t in finished}) == 2, "both workers trained"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and sum(info["counts"].values()) == 6
    best = max((t for t in finished if t["state"] == "complete"), key=lambda t: (t["value"], -t["number"]))
    assert info["best"]["number"] == best["number"], "the best of both workers' trials is the one evaluated"
    assert info["test_metrics"]["accuracy"] > 0.1
    assert (run / best["model_path"]).is_file() and (run / "report.html").is_file()
    assert info["settings"]["storage"] == f"journal://{(run / 'study.log').resolve()}"
    assert info["study"] == {"name": name, "storage": info["settings"]["storage"]}


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_resume_finishes(tmp_path):
    """SIGINT to the parent (as a terminal's Ctrl-C) reaches each worker once: each saves and stops."""
    out, name = tmp_path / "out", "stop"
    slow = tmp_path / "slow.yaml"  # no early stopping, no pruning: trials last long enough to be stopped
    slow.write_text("dense: {layers: 1, units: 32}\ntraining: {max_epochs: 200, patience: 0}\n")
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autodl",
            "search",
            "digits",
            "--workers",
            "2",
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
            "300",
            "--quiet",
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    trials_json = out / name / "trials.json"
    journal = f"journal://{(out / name / 'study.log').resolve()}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # both workers are in a trial
        try:
            if len(StudyReader(journal, name).read()[1]) >= 2:
                break
        except Exception:  # the study is not created yet
            pass
        time.sleep(0.3)
    parent.send_signal(signal.SIGINT)
    output = parent.communicate(timeout=300)[0]
    assert parent.returncode == 130, output
    assert f"Continue with: autodl resume {out / name} --workers 2" in output and "Traceback" not in output
    records = json.loads(trials_json.read_text())["trials"]
    assert not [r for r in records if r["state"] == "running"], "no trial is left running"
    assert sum(r["state"] == "interrupted" for r in records) >= 1, "a stopped trial is marked, not counted"
    assert not [r for r in records if r["state"] == "failed"], "a stop inside a trial's start is no failure"
    assert sum(r["state"] == "complete" for r in records) < 2
    elapsed = json.loads((out / name / "run.json").read_text())["timings"]["total_seconds"]
    slow.write_text("dense: {layers: 1, units: 48}\ntraining: {max_epochs: 200, patience: 0}\n")  # edited since
    resumed = subprocess.run(
        [sys.executable, "-m", "autodl", "resume", str(out / name), "--workers", "2"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "starting 2 workers sharing one study" in resumed.stdout
    assert (resumed.stdout + resumed.stderr).count("changed since this run started") == 1, "one warning per command"
    assert resumed.stdout.count("best model on the test split") == 1
    info = json.loads((out / name / "run.json").read_text())
    assert info["status"] == "finished" and info["counts"]["complete"] == 2
    assert info["timings"]["total_seconds"] > elapsed, "the resumed time adds to the first session's"
    counted = [r for r in json.loads(trials_json.read_text())["trials"] if r["state"] == "complete"]
    assert len({r["number"] for r in counted}) == 2
    assert {r["n_params"] for r in counted} == {64 * 32 + 32 + 32 * 10 + 10}, "every worker searched the saved space"


def test_a_trial_left_running_without_an_owner_is_settled_by_a_resume_at_once(tmp_path):
    """The race behind a flaky resume: a Ctrl-C between Optuna's ask() and the worker naming
    itself left a RUNNING trial nobody owns, which held a budget slot for a minute; a resume
    within that minute ran one trial too few. A resume settles it (no other worker of the
    stopped session runs), and leaves a live worker's trial and a just-asked one alone."""
    import optuna

    from autodl.backends.optuna_storage import INTERRUPTED_ATTR, OWNER_ATTR, counts, make_storage, name_owner
    from autodl.search.orphans import settle_orphans

    url = f"journal://{tmp_path / 'study.log'}"
    study = optuna.create_study(study_name="s", storage=make_storage(url, shared=True))
    orphan = study.ask()  # its worker was stopped before it named itself
    live = study.ask()
    name_owner(study, live)  # this process: alive
    dead = study.ask()
    study._storage.set_trial_user_attr(dead._trial_id, OWNER_ATTR, {"host": os.uname().nodename, "pid": 2**22 + 7})
    start = time.monotonic()
    assert settle_orphans(url, "s", grace=0.5) == [orphan.number, dead.number]
    assert time.monotonic() - start >= 0.4, "an unowned trial younger than the grace is looked at again"
    trials = {t.number: t for t in optuna.load_study(study_name="s", storage=make_storage(url, shared=True)).trials}
    assert trials[orphan.number].state.name == "FAIL" and trials[orphan.number].user_attrs[INTERRUPTED_ATTR]
    assert not counts(trials[orphan.number]) and not counts(trials[dead.number])
    assert trials[live.number].state.name == "RUNNING" and counts(trials[live.number])
    assert settle_orphans(None, "s") == [] and settle_orphans("sqlite:///x.db", "s") == []
