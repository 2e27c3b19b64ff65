"""Resuming searches: seeded equivalence, ``autodl.load``, Ctrl-C, kill -9 and bad input.

The subprocess tests drive the real CLI (``python -m autodl``) and stop it the way a user or
the system would: SIGINT, SIGKILL at random moments, SIGKILL at chosen points of a trial.
Every one ends with a resume and checks that nothing was lost or counted twice.

Parameters are compared with an uninterrupted reference run of the random sampler, whose
seeded draws do not depend on the scores, so runs with the same seed and space propose the
same trials even when their epochs differ (TPE's model and exploitation read the scores,
which training does not reproduce exactly from one process to another).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import autodl
from autodl.cli.main import cli
from autodl.exceptions import RunError
from autodl.records import SearchSettings
from autodl.search import SearchCallback, run_search

REPO = Path(__file__).resolve().parents[1]
SEED = 7
FINISHED = {"complete", "pruned", "failed"}
MLP_PARAMS = {"normalization", "dense.layers", "dense.0.units", "optimizer.name", "training.batch_size"}


@pytest.fixture(scope="module", autouse=True)
def _isolated(tmp_path_factory):
    """One signing key for the whole module (runs made by module fixtures are reused)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTODL_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
        patch.setenv("AUTODL_OFFLINE", "1")
        patch.delenv("AUTODL_SIGNING_KEY", raising=False)
        yield


def settings(out: Path, name: str, **overrides) -> SearchSettings:
    base = SearchSettings(
        dataset="digits",
        space="mlp",
        trials=5,
        epochs=1,
        subset=300,
        seed=SEED,
        out=str(out),
        name=name,
        sampler="random",
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted seeded run of 5 trials; copy it before changing anything."""
    return run_search(settings(tmp_path_factory.mktemp("reference"), "ref")).path


@pytest.fixture(scope="module")
def reference_params(reference) -> list[dict]:
    return [r.params for r in autodl.load(reference).records]


@pytest.fixture
def run_copy(reference, tmp_path) -> Path:
    return Path(shutil.copytree(reference, tmp_path / "ref"))


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def autodl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "autodl", *map(str, args)]


def start(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        autodl_cmd(*args), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
    )


def records(run: Path) -> list[dict]:
    path = run / "trials.json"
    return json.loads(path.read_text())["trials"] if path.is_file() else []


def wait_for_running_trial(
    proc: subprocess.Popen, run: Path, *, finished_before: int = 1, limit: float = 120.0
) -> dict:
    """Poll trials.json until a trial runs after ``finished_before`` have finished."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the search ended (rc {proc.returncode}) before a trial ran:\n{proc.stdout.read()}")
        trials = records(run)
        running = [r for r in trials if r["state"] == "running"]
        if running and sum(r["state"] in FINISHED for r in trials) >= finished_before:
            return running[0]
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no trial started in time")


def snapshot(run: Path) -> dict[str, str]:
    """Every file's hash: refused commands must leave the run folder exactly as it was."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def counted_params(run: Path) -> list[dict]:
    return [r["params"] for r in records(run) if r["state"] in FINISHED]


def check_consistent(run: Path, total: int) -> list[dict]:
    """A finished run folder after any number of stops: exactly ``total`` trials count,
    everywhere, and every kept model loads."""
    trials = records(run)
    numbers = [r["number"] for r in trials]
    assert numbers == sorted(set(numbers)), f"duplicate or unordered trial numbers: {numbers}"
    assert {r["state"] for r in trials} <= FINISHED | {"interrupted"}
    assert sum(r["state"] in FINISHED for r in trials) == total

    frame = pd.read_csv(run / "trials.csv")
    assert list(frame["number"]) == numbers and list(frame["state"]) == [r["state"] for r in trials]

    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished"
    assert sum(info["counts"][s] for s in FINISHED) == total
    assert info["counts"]["interrupted"] == sum(r["state"] == "interrupted" for r in trials)

    import keras

    kept = {r["model_path"] for r in trials if r["model_path"]}
    files = {p.relative_to(run).as_posix() for p in (run / "models").iterdir() if not p.name.startswith("final")}
    assert files == kept, "no orphan model or temporary file, and no missing model"
    assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]
    by_number = {r["number"]: r for r in trials}
    for path in kept:
        model = keras.saving.load_model(run / path)
        number = int(Path(path).stem.split("_")[1])
        assert by_number[number]["state"] == "complete" and model.count_params() == by_number[number]["n_params"]
    assert info["best"]["model_path"] in kept

    import optuna

    study = optuna.load_study(study_name=info["study"]["name"], storage=f"sqlite:///{run / 'study.db'}")
    counted = [
        t
        for t in study.get_trials(deepcopy=False)
        if "autodl_record" in t.user_attrs and not t.user_attrs.get("autodl_interrupted")
    ]
    assert len(counted) == total, "the study counts what the run folder counts"
    for t in counted:
        assert by_number[t.number]["state"] == t.user_attrs["autodl_record"]["state"]
        assert by_number[t.number]["params"] == t.params
    uncounted = {t.number for t in study.get_trials(deepcopy=False)} - {t.number for t in counted}
    assert uncounted == {r["number"] for r in trials if r["state"] == "interrupted"}
    assert not [t for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
    return trials


# ---------------------------------------------------------------------------- (a) seeded equivalence


def test_resumed_seeded_run_proposes_the_same_trials(reference, reference_params, tmp_path):
    assert len(reference_params) == 5 and all(MLP_PARAMS <= set(p) for p in reference_params)
    assert len({json.dumps(p, sort_keys=True) for p in reference_params}) == 5

    split = run_search(settings(tmp_path, "b", trials=2)).path
    assert counted_params(split) == reference_params[:2]
    resumed = autodl.load(split).resume(trials=3)  # the Python API ...
    assert [r.params for r in resumed.records] == reference_params[:3]
    result = invoke("resume", split, "--trials", "5", "--quiet")  # ... then the CLI
    assert result.exit_code == 0, result.output
    assert counted_params(split) == reference_params
    check_consistent(split, 5)


def test_resume_in_the_same_process_continues_the_sampler(reference_params, tmp_path):
    search = run_search(settings(tmp_path, "c", trials=2, pruner="none"))
    search.resume(trials=4)
    assert [r.params for r in search.records] == reference_params[:4]


# ---------------------------------------------------------------------------- (b) autodl.load


def test_load_gives_trials_best_params_and_ranked_models(reference):
    search = autodl.load(reference)
    frame = search.trials
    assert isinstance(frame, pd.DataFrame) and len(frame) == 5
    assert list(frame["number"]) == [0, 1, 2, 3, 4] and set(frame["state"]) <= FINISHED
    assert {"value", "epochs", "seconds", "n_params", "model_path"} | MLP_PARAMS <= set(frame.columns)

    best_row = frame.loc[frame["value"].astype(float).idxmax()]
    assert search.best_trial.number == best_row["number"]
    assert search.best_value == pytest.approx(best_row["value"])
    for key, value in search.best_params.items():
        assert best_row[key] == value

    models = search.best_models(2)
    ranked = search.ranked()
    assert len(models) == 2
    assert [m.count_params() for m in models] == [ranked[0].n_params, ranked[1].n_params]
    x = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    assert models[0].predict(x, verbose=0).shape == (3, 10)
    assert len(search.best_models(10)) == 3, "top-k (3) models are kept"


def test_resume_of_a_finished_run_runs_nothing_and_breaks_nothing(run_copy):
    before = autodl.load(run_copy)
    seen = []

    class Count(SearchCallback):
        def on_search_start(self, search):
            seen.append(len(search.finished))

        def on_trial_start(self, number, params):
            seen.append(number)

        def on_status(self, message):
            seen.append(message)

    after = autodl.load(run_copy).resume(callbacks=[Count()], space="mlp")  # its own space is accepted
    assert seen[:2] == ["loading digits", 5], "the data loads (said first), and no trial ran"
    assert all(isinstance(event, str) for event in seen[2:])
    assert [r.to_dict() for r in after.records] == [r.to_dict() for r in before.records]
    check_consistent(run_copy, 5)


def test_a_moved_or_copied_workers_run_goes_on_with_the_study_it_carries(tmp_path):
    """--workers keeps the study in the run folder (study.log); the saved URL names the old place."""
    first = tmp_path / "first"
    journal = f"journal://{(first / 'w' / 'study.log').resolve()}"
    run_search(settings(first, "w", trials=1, storage=journal))
    moved = Path(shutil.move(str(first / "w"), str(tmp_path / "moved")))
    copy = Path(shutil.copytree(moved, tmp_path / "copy"))
    search = autodl.load(moved)
    assert search.settings.storage == f"journal://{(moved / 'study.log').resolve()}"
    resumed = autodl.resume(copy, trials=2)
    assert len(resumed.finished) == 2 and not (first / "w").exists(), "nothing written at the old place"
    assert resumed.settings.storage == f"journal://{(copy / 'study.log').resolve()}"
    assert len(autodl.load(moved).finished) == 1, "the copy's trial went into the copy's own study"
    result = invoke("resume", moved, "--workers", "2")  # joining workers find the study by the folder's name
    assert (
        result.exit_code == 2 and "holds the study 'w'" in result.output and "Rename the folder back" in result.output
    )


# ---------------------------------------------------------------------------- (c) kill -9


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(reference_params, tmp_path):
    rng = random.Random(20250131)
    run = tmp_path / "killed"
    kills = []

    proc = start(
        "search",
        "digits",
        "--space",
        "mlp",
        "--trials",
        "5",
        "--epochs",
        "2",
        "--subset",
        "300",
        "--seed",
        SEED,
        "--sampler",
        "random",
        "--out",
        tmp_path,
        "--name",
        "killed",
        "--quiet",
    )
    running = wait_for_running_trial(proc, run)
    time.sleep(rng.uniform(0.0, 0.3))  # mid-trial: the trial takes over a second
    proc.kill()
    proc.wait()
    assert {r["number"]: r["state"] for r in records(run)}[running["number"]] == "running", "killed mid-trial"
    kills.append(("mid-trial", running["number"]))

    proc = start("resume", run, "--quiet")
    delay = rng.uniform(3.0, 12.0)  # anywhere: start-up, a trial, saving, the report
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        kills.append(("random", delay))

    for _ in range(3):
        done = subprocess.run(
            autodl_cmd("resume", run, "--quiet"),
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=300,
            check=False,
        )
        if done.returncode == 0:
            break
    assert done.returncode == 0, done.stdout + done.stderr
    assert "top 10 of" in done.stdout

    trials = check_consistent(run, 5)
    by_number = {r["number"]: r for r in trials}
    assert by_number[kills[0][1]]["state"] == "interrupted", "the trial killed mid-way is not counted"
    assert counted_params(run) == reference_params, "each killed slot re-ran the same draws"


@pytest.mark.slow
@pytest.mark.parametrize("window", ["asked", "model-saving", "model-saved", "told"])
def test_kill_9_at_each_step_of_a_trial(reference_params, tmp_path, window):
    """SIGKILL exactly where a trial's files and the study could disagree, then resume."""
    run = tmp_path / "w"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import autodl.backends.optuna as backend
        import autodl.runs.atomic as atomic
        import autodl.search._ledger as ledger

        def die(*_):
            os.kill(os.getpid(), signal.SIGKILL)

        window, seen = {window!r}, []
        def second(event):  # the second trial: one is finished before it
            seen.append(event)
            return seen.count(event) == 2

        if window == "asked":  # sampled, nothing written yet
            put = ledger.Ledger.put
            ledger.Ledger.put = lambda self, r: die() if r.state.value == "running" and second("put") else put(self, r)
        elif window == "model-saving":  # the model's temporary file is written, not yet renamed
            fsync = atomic._fsync_file
            atomic._fsync_file = lambda p: die() if str(p).endswith(".keras") and second("save") else fsync(p)
        elif window == "model-saved":  # models/trial_N.keras in place, the study not told
            save = ledger.atomic_save_model
            def saved(path, model):
                save(path, model)
                if second("save"):
                    die()
            ledger.atomic_save_model = saved
        elif window == "told":  # the study counts the trial, trials.json not rewritten yet
            tell = backend.OptunaBackend._tell
            def told(self, trial, record):
                tell(self, trial, record)
                if second("tell"):
                    die()
            backend.OptunaBackend._tell = told

        from autodl.cli.main import main
        sys.argv = ["autodl", "search", "digits", "--space", "mlp", "--trials", "3", "--epochs", "1",
                    "--subset", "300", "--seed", "{SEED}", "--sampler", "random", "--top-k", "3", "--out", {str(tmp_path)!r},
                    "--name", "w", "--quiet"]
        main()
        """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    if window == "model-saving":
        assert [p for p in (run / "models").iterdir() if ".tmp-" in p.name], "a half-saved model is left"
    if window == "model-saved":
        assert (run / "models" / "trial_0001.keras").is_file()

    search = autodl.load(run).resume()
    trials = check_consistent(run, 3)
    assert counted_params(run) == reference_params[:3]
    states = {r["number"]: r["state"] for r in trials}
    if window == "told":  # the study counted it: the run folder adopts the study's record
        assert states[1] == "complete" and "interrupted" not in states.values()
        assert trials[1]["model_path"] == "models/trial_0001.keras"
    else:
        assert states[1] == "interrupted" and sorted(states) == [0, 1, 2, 3]
    assert search.best_trial is not None and search.test_metrics


# ---------------------------------------------------------------------------- (d) Ctrl-C


def test_ctrl_c_message_and_progress_start_at_the_finished_count(tmp_path, monkeypatch):
    """In process: KeyboardInterrupt inside a trial (what the first Ctrl-C raises)."""
    import autodl.training as training
    from autodl.cli import main as cli_main
    from autodl.cli.console import RichProgress

    fit = training.fit_model
    calls = []

    def fit_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fit(*args, **kwargs)

    monkeypatch.setattr(training, "fit_model", fit_then_stop)
    monkeypatch.setattr(cli_main, "_OWN_PROCESS", True)  # as the console script runs it
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = invoke(
            "search",
            "digits",
            "--space",
            "mlp",
            "--trials",
            "4",
            "--epochs",
            "1",
            "--subset",
            "300",
            "--seed",
            SEED,
            "--sampler",
            "random",
            "--out",
            tmp_path,
            "--name",
            "c",
            "--quiet",
        )
        # until the process ends, a second Ctrl-C exits 130 at once, even after click got the exit (not "Aborted!", 1)
        assert signal.getsignal(signal.SIGINT) is cli_main._exit_130
        assert signal.getsignal(signal.SIGTERM) is cli_main._exit_130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert result.exit_code == 130, result.output
    run = tmp_path / "c"
    assert f"autodl resume {run}" in result.output and "2 of 4 trials" in result.output
    assert [r["state"] for r in records(run)] == ["complete", "complete", "interrupted"]
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"

    progress = RichProgress(quiet=False)
    search = autodl.load(run)
    progress.on_search_start(search)
    try:
        assert progress.progress.tasks[0].completed == 2 and progress.progress.tasks[0].total == 4
    finally:
        progress.close()


@pytest.mark.slow
def test_ctrl_c_stops_the_trial_saves_and_resume_finishes(reference_params, tmp_path):
    run = tmp_path / "c"
    proc = start(
        "search",
        "digits",
        "--space",
        "mlp",
        "--trials",
        "4",
        "--epochs",
        "3",
        "--subset",
        "300",
        "--seed",
        SEED,
        "--sampler",
        "random",
        "--out",
        tmp_path,
        "--name",
        "c",
        "--quiet",
    )
    running = wait_for_running_trial(proc, run)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert f"autodl resume {run}" in output and "Traceback" not in output
    trials = records(run)
    assert {r["number"]: r["state"] for r in trials}[running["number"]] == "interrupted"
    assert "Ctrl-C" in trials[-1]["error"]
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"

    result = invoke("resume", run, "--quiet")
    assert result.exit_code == 0, result.output
    check_consistent(run, 4)
    assert counted_params(run) == reference_params[:4], "the stopped slot re-ran the same draws"


@pytest.mark.slow
def test_second_ctrl_c_exits_at_once(tmp_path):
    run = tmp_path / "c2"
    proc = start(
        "search",
        "digits",
        "--space",
        "mlp",
        "--trials",
        "3",
        "--epochs",
        "3",
        "--subset",
        "300",
        "--seed",
        SEED,
        "--sampler",
        "random",
        "--out",
        tmp_path,
        "--name",
        "c2",
        "--quiet",
    )
    wait_for_running_trial(proc, run)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    second = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    # 130 from autodl's handler; -SIGINT when the second one lands in interpreter shutdown, after
    # Python put the default handlers back. Shells report both as exit status 130.
    assert proc.returncode in (130, -signal.SIGINT) and time.monotonic() - second < 5

    result = invoke("resume", run, "--quiet")  # wherever the second one landed, nothing is lost
    assert result.exit_code == 0, result.output
    check_consistent(run, 3)


def test_second_signal_calls_os_exit_130(monkeypatch):
    from autodl.cli import main as cli_main

    exits = []

    class Exited(BaseException):
        pass

    def fake_exit(code):
        exits.append(code)
        raise Exited

    monkeypatch.setattr(cli_main.os, "_exit", fake_exit)
    before = signal.getsignal(signal.SIGINT)
    restore = cli_main._stop_twice_to_quit()
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(Exited):
            signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    assert exits == [130] and signal.getsignal(signal.SIGINT) is before


def test_a_stop_that_surfaces_as_another_exception_still_interrupts_the_trial(tmp_path, monkeypatch):
    """A trial that fails otherwise after a Ctrl-C (a KeyboardInterrupt that C code turned into a
    SystemError was seen in a worker) is interrupted, not failed and counted, and no other
    trial starts."""
    import autodl.training
    from autodl.cli import main as cli_main
    from autodl.search import SearchInterrupted

    real, calls = autodl.training.fit_model, []

    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second trial: the signal lands in Keras, which then fails
            signal.raise_signal(signal.SIGINT)  # recorded; raised only at the next batch
            raise SystemError("Objects/listobject.c:338: bad argument to internal function")
        return real(*args, **kwargs)

    monkeypatch.setattr(autodl.training, "fit_model", fit)
    restore = cli_main._stop_twice_to_quit()
    try:
        with pytest.raises(SearchInterrupted):
            run_search(settings(tmp_path, "lost", trials=4, pruner="none"))
    finally:
        restore()
    run = tmp_path / "lost"
    assert [r["state"] for r in json.loads((run / "trials.json").read_text())["trials"]] == ["complete", "interrupted"]
    assert len(calls) == 2, "no trial starts after the stop"
    monkeypatch.setattr(autodl.training, "fit_model", real)
    resumed = autodl.load(run).resume()
    assert [r.state.value for r in resumed.records].count("complete") == 4


def test_a_ctrl_c_inside_keras_code_is_raised_at_the_first_batch_not_where_it_lands(tmp_path, monkeypatch):
    """Raised inside TensorFlow's C++ callbacks, a KeyboardInterrupt crashed the process (SIGSEGV,
    "free(): invalid pointer") before it saved anything. While a trial builds and trains, the
    signal is recorded; it is raised by the check before the first batch, and the trial is
    interrupted as before."""
    import autodl.model
    import autodl.search._trial as search_module
    import autodl.training
    from autodl.cli import main as cli_main
    from autodl.search import SearchInterrupted

    real_build, real_fit, real_check = autodl.model.build_model, autodl.training.fit_model, search_module.check_stop
    events: list[str] = []

    def build(*args, **kwargs):
        if events.count("fit") == 1 and "signal" not in events:  # the second trial
            signal.raise_signal(signal.SIGINT)  # lands while Keras builds the model
            events.append("signal")
        return real_build(*args, **kwargs)

    def fit(*args, **kwargs):
        events.append("fit")
        return real_fit(*args, **kwargs)

    def check():
        events.append("check")
        real_check()

    monkeypatch.setattr(autodl.model, "build_model", build)
    monkeypatch.setattr(autodl.training, "fit_model", fit)
    monkeypatch.setattr(search_module, "check_stop", check)
    restore = cli_main._stop_twice_to_quit()
    try:
        with pytest.raises(SearchInterrupted) as info:
            run_search(settings(tmp_path, "deferred", trials=3, pruner="none"))
    finally:
        restore()
    after = events[events.index("signal") :]
    assert after == ["signal", "fit", "check"], "the model was built, and the first check raised"
    assert isinstance(info.value.__context__, KeyboardInterrupt)
    run = tmp_path / "deferred"
    trials = json.loads((run / "trials.json").read_text())["trials"]
    assert [r["state"] for r in trials] == ["complete", "interrupted"]
    assert trials[1]["epochs"] == 0 and "Ctrl-C" in trials[1]["error"]


def test_a_python_caller_gets_its_ctrl_c_deferred_and_a_second_one_at_once():
    """Without the command line's handler (a script, a notebook), Python's own SIGINT handler is
    swapped for the block only: the first Ctrl-C waits for the block's end, a second one raises."""
    from autodl.search import stop

    # Python's own handler, as a script gets it: a shell that starts a job in the background
    # (CI started with `&`, nohup) hands it SIGINT ignored, which the block leaves alone.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    ran = []
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            with stop.interrupts_deferred():
                with stop.interrupts_deferred():  # nested: still deferred until the outer end
                    signal.raise_signal(signal.SIGINT)
                    ran.append("inner")
                ran.append("outer")
        assert ran == ["inner", "outer"] and info.traceback[-1].name == "check_stop"
        assert stop.stop_requested()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        stop.clear_stop()
        with pytest.raises(KeyboardInterrupt) as info:
            with stop.interrupts_deferred():
                signal.raise_signal(signal.SIGINT)
                ran.append("after the first")
                signal.raise_signal(signal.SIGINT)
                ran.append("after the second")
        assert ran[-1] == "after the first" and info.traceback[-1].name == "handler"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        stop.clear_stop()
        with stop.interrupts_deferred():  # no signal: nothing raised, nothing recorded
            ran.append("quiet")
        assert not stop.stop_requested()
    finally:
        stop.clear_stop()
        signal.signal(signal.SIGINT, inherited)


# ---------------------------------------------------------------------------- (e) signatures


def test_tampered_search_pkl_is_refused(run_copy):
    pkl = run_copy / "search.pkl"
    data = bytearray(pkl.read_bytes())
    data[len(data) // 2] ^= 0x01
    pkl.write_bytes(bytes(data))
    before = snapshot(run_copy)
    result = invoke("resume", run_copy)
    assert result.exit_code == 2
    assert "signature" in result.output and "--trust" in result.output and "Traceback" not in result.output
    assert snapshot(run_copy) == before


def test_truncated_search_pkl_is_refused(run_copy):
    pkl = run_copy / "search.pkl"
    for size in (len(pkl.read_bytes()) // 2, 20):
        pkl.write_bytes(pkl.read_bytes()[:size])
        result = invoke("resume", run_copy)
        assert result.exit_code == 2 and "truncated" in result.output, result.output


def test_search_pkl_signed_by_another_key_needs_trust(run_copy, monkeypatch):
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "ab" * 32)  # another user's key
    before = snapshot(run_copy)
    refused = invoke("resume", run_copy)
    assert refused.exit_code == 2
    assert "different key" in refused.output and "--trust" in refused.output and "AUTODL_SIGNING_KEY" in refused.output
    assert snapshot(run_copy) == before
    assert invoke("show", run_copy).exit_code == 2

    trusted = invoke("resume", run_copy, "--trust", "--quiet")
    assert trusted.exit_code == 0, trusted.output
    assert invoke("resume", run_copy, "--quiet").exit_code == 0, "re-signed with this user's key"
    check_consistent(run_copy, 5)


# ---------------------------------------------------------------------------- (f) other data or space


def write_npz(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.arange(90) % 3
    images = (rng.random((90, 8, 8)) * 80 + labels[:, None, None] * 60).astype(np.uint8)
    np.savez(path, x_train=images[:60], y_train=labels[:60], x_test=images[60:], y_test=labels[60:])


def test_resume_refuses_other_data_and_keeps_the_saved_space(tmp_path, caplog):
    data, space = tmp_path / "tiny.npz", tmp_path / "my-space.yaml"
    write_npz(data, 0)
    shutil.copy(REPO / "searchspaces" / "mlp.yaml", space)
    run = run_search(settings(tmp_path, "f", dataset=str(data), space=str(space), trials=1)).path

    # The space file is edited after the start: the run keeps its saved space, and says so.
    space.write_text(space.read_text().replace("max: 512", "max: 1024"))
    with caplog.at_level(logging.WARNING):
        search = autodl.load(run).resume(trials=2)
    assert "changed since this run started" in caplog.text and "dense.units" in caplog.text
    assert "autodl search" in caplog.text
    assert search.space.to_dict()["dense"]["units"]["max"] == 512
    assert json.loads((run / "run.json").read_text())["space"]["dense"]["units"]["max"] == 512
    assert sum(r["state"] in FINISHED for r in records(run)) == 2

    # Another space on the command line is refused.
    before = snapshot(run)
    other = invoke("resume", run, "--space", "cnn")
    assert other.exit_code == 2
    assert "is not the space this run searches" in other.output and "autodl search" in other.output
    assert "conv_blocks: saved None, now {" in other.output and len(other.output) < 800
    assert snapshot(run) == before

    # The data file now holds other data: refused before training, nothing changed.
    write_npz(data, 1)
    result = invoke("resume", run, "--trials", "3")
    assert result.exit_code == 2
    assert "not the one this run was started with" in result.output and "fingerprint" in result.output
    assert snapshot(run) == before
    with pytest.raises(RunError, match="start a new search"):
        autodl.load(run).resume(trials=3)


# ---------------------------------------------------------------------------- (g) unwritable, full


def _tiny_disk(monkeypatch):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr("autodl.runs.store.shutil.disk_usage", lambda path: usage(2**30, 2**30 - 2**20, 2**20))


def test_full_disk_is_refused_before_training(tmp_path, run_copy, monkeypatch):
    _tiny_disk(monkeypatch)
    result = invoke("search", "digits", "--space", "mlp", "--out", tmp_path / "out", "--name", "full")
    assert result.exit_code == 2 and "MB are free" in result.output and "--out" in result.output
    assert not (tmp_path / "out" / "full").exists()

    before = snapshot(run_copy)
    resumed = invoke("resume", run_copy, "--trials", "6")
    assert resumed.exit_code == 2 and "MB are free" in resumed.output
    assert snapshot(run_copy) == before


def _as_plain_user() -> list[str]:
    """A command prefix under which root obeys file modes: without CAP_DAC_OVERRIDE."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")  # util-linux
    if setpriv is None:
        pytest.skip(
            "running as root, and setpriv (util-linux) is missing to drop CAP_DAC_OVERRIDE: "
            "root would write into a read-only folder anyway"
        )
    return [setpriv, "--bounding-set", "-dac_override"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drops a Linux capability so root obeys chmod")
def test_read_only_run_folder_is_refused_before_training(run_copy):
    prefix = _as_plain_user()
    locked = run_copy.parent / "locked"
    locked.mkdir(mode=0o555)
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", f"open({str(locked / 'x')!r}, 'w')"],
        check=False,
        capture_output=True,
        text=True,
    )
    if "PermissionError" not in probe.stderr:
        pytest.skip(
            f"this user can still write to a folder with mode 555 (capabilities cannot be dropped here): "
            f"{probe.stderr[-200:]!r}"
        )
    before = snapshot(run_copy)
    folders = [run_copy, run_copy / "models"]
    for folder in folders:
        folder.chmod(0o555)
    try:
        proc = subprocess.run(
            [*prefix, *autodl_cmd("resume", run_copy, "--trials", "6", "--quiet")],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=300,
            check=False,
        )
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Cannot write to the run folder" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------------------- (h) study.db


def test_corrupt_study_db_is_refused_and_nothing_is_touched(run_copy):
    (run_copy / "study.db").write_bytes(random.Random(0).randbytes(8192))
    before = snapshot(run_copy)
    result = invoke("resume", run_copy)
    assert result.exit_code == 2
    assert "study.db" in result.output and "damaged" in result.output and "autodl search" in result.output
    assert "Traceback" not in result.output and "sqlalche.me" not in result.output
    assert snapshot(run_copy) == before
    assert invoke("show", run_copy).exit_code == 0, "the finished trials still read"


@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_missing_or_replaced_study_db_is_refused(run_copy, damage):
    db = run_copy / "study.db"
    if damage == "missing":
        db.unlink()
    else:
        db.write_bytes(b"")  # a valid, empty SQLite database: not this run's study
    trials_before = (run_copy / "trials.csv").read_bytes()
    result = invoke("resume", run_copy, "--trials", "6")
    assert result.exit_code == 2
    assert ("is missing" if damage == "missing" else "does not match") in result.output
    assert (run_copy / "trials.csv").read_bytes() == trials_before
    assert db.exists() == (damage == "empty")


# ---------------------------------------------------------------------------- bad resume input


@pytest.mark.parametrize(
    "args, words",
    [
        (["--trials", "0"], ["--trials must be at least 1"]),
        (["--timeout", "0"], ["--timeout must be positive"]),
        (["--trials", "many"], ["'many' is not a valid integer"]),
    ],
    ids=["trials-0", "timeout-0", "trials-not-a-number"],
)
def test_bad_resume_flags(run_copy, args, words):
    before = snapshot(run_copy)
    result = invoke("resume", run_copy, *args)
    assert result.exit_code == 2, result.output
    assert all(word in result.output for word in words)
    assert snapshot(run_copy) == before


def test_resume_of_what_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("resume", tmp_path / "empty")
    assert result.exit_code == 2 and "not an autodl run folder" in result.output
    (tmp_path / "empty" / "run.json").write_text("{}")
    result = invoke("resume", tmp_path / "empty" / "search.pkl")
    assert result.exit_code == 2 and "has no search.pkl" in result.output


def test_resume_with_workers_refuses_a_single_process_run(run_copy):
    before = snapshot(run_copy)
    result = invoke("resume", run_copy, "--workers", "2", "--trials", "7")
    assert result.exit_code == 2, result.output
    assert "searched in one process" in result.output and "without --workers" in result.output
    assert "starting" not in result.output and "Traceback" not in result.output
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------------------- bad search flags
# Rows of docs/bad-input.md that no other test covers; each fails before a run folder exists.


@pytest.mark.parametrize(
    "args, words",
    [
        (["--epochs", "0"], ["--epochs must be at least 1, got 0"]),
        (["--top-k", "0"], ["--top-k must be at least 1, got 0"]),
        (["--timeout", "-1"], ["--timeout must be positive", "15m"]),
        (["--val-fraction", "1.5"], ["validation fraction must be in (0, 1), got 1.5"]),
        (["--subset", "19"], ["subset=19 is too small", "10 classes"]),
        (["--sampler", "nope"], ["Invalid value for '--sampler'", "'tpe'"]),
    ],
    ids=["epochs-0", "top-k-0", "timeout-negative", "val-fraction", "subset-too-small", "unknown-sampler"],
)
def test_bad_search_flags(tmp_path, args, words):
    result = invoke("search", "digits", "--space", "mlp", "--out", tmp_path, "--name", "x", *args)
    assert result.exit_code == 2, result.output
    assert all(word in result.output for word in words), result.output
    assert not (tmp_path / "x").exists()
