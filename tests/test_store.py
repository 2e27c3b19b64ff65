"""Tests for autodl.runs: atomic writes, the run folder, top-k models and signed pickles."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autodl.exceptions import RunError, SignatureError
from autodl.records import TrialRecord, TrialState
from autodl.runs import (
    RunStore,
    atomic_save_model,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    dump_signed,
    load_signed,
    signing,
)
from autodl.runs import store as store_module

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    """Keep the signing key out of the real home folder."""
    monkeypatch.setenv("AUTODL_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("AUTODL_SIGNING_KEY", raising=False)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def _record(number, state=TrialState.COMPLETE, value=None, **params):
    return TrialRecord(number=number, state=state, params=params, value=value)


# ---------------------------------------------------------------------------- atomic


def test_atomic_writes_round_trip_without_leftovers(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "a.txt", "héllo\n")
    atomic_write_json(tmp_path / "a.json", {"x": [1.5, float("nan"), float("inf")], "p": tmp_path})

    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    written = json.loads((tmp_path / "a.json").read_text())
    assert written == {"x": [1.5, None, None], "p": str(tmp_path)}
    assert _leftovers(tmp_path) == []


def test_atomic_json_keeps_old_file_when_serialisation_fails(tmp_path):
    target = tmp_path / "run.json"
    atomic_write_json(target, {"status": "running"})
    before = target.read_bytes()

    with pytest.raises(TypeError):
        atomic_write_json(target, {"status": "finished", "bad": object()})

    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_atomic_write_keeps_old_file_when_interrupted_midway(tmp_path, monkeypatch):
    target = tmp_path / "trials.json"
    atomic_write_text(target, "old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new")
    monkeypatch.undo()

    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_atomic_write_file_mode_follows_umask(tmp_path):
    atomic_write_text(tmp_path / "f.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask


def test_atomic_write_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    atomic_write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1, 2], "b": ["x", None]}))
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,x\n2,\n"


def test_atomic_save_model_round_trip(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    target = tmp_path / "trial_0001.keras"

    atomic_save_model(target, model)
    atomic_save_model(target, model)  # overwriting works too

    loaded = keras.models.load_model(target)
    assert [w.shape for w in loaded.get_weights()] == [(4, 2), (2,)]
    assert all((a == b).all() for a, b in zip(loaded.get_weights(), model.get_weights()))
    assert _leftovers(tmp_path) == []

    class Broken:
        def save(self, path, overwrite=True):
            Path(path).write_bytes(b"half a zip")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_save_model(target, Broken())
    assert keras.models.load_model(target) is not None
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------- RunStore


def test_create_and_open(tmp_path):
    run = RunStore.create(tmp_path / "reports", "first")
    assert run.root == tmp_path / "reports" / "first" and run.root.is_dir()
    assert list(run.root.iterdir()) == []  # the write probe is gone

    with pytest.raises(RunError, match="run.json"):
        RunStore.open(run.root)
    run.write_run({"status": "running", "best": float("nan")})
    assert RunStore.open(run.root).read_run() == {"status": "running", "best": None}
    assert RunStore.open(run.search_pkl).root == run.root  # the pkl need not exist yet
    with pytest.raises(RunError, match="does not exist"):
        RunStore.open(tmp_path / "nope")


def test_create_default_name_is_a_timestamp(tmp_path):
    first = RunStore.create(tmp_path, None)
    (first.root / "run.json").write_text("{}")
    second = RunStore.create(tmp_path, None)
    assert len(first.root.name) == len("20250131-142501") and first.root.name[8] == "-"
    assert second.root != first.root


def test_create_refuses_an_existing_run(tmp_path):
    run = RunStore.create(tmp_path, "r")
    run.write_run({"status": "finished"})
    with pytest.raises(RunError, match="autodl resume"):
        RunStore.create(tmp_path, "r")
    (tmp_path / "empty").mkdir()
    assert RunStore.create(tmp_path, "empty").root == tmp_path / "empty"


@pytest.mark.parametrize("name", ["", "..", "a/b", ".", "/tmp/abs", "../victim", "x" * 256, "a\\b"])
def test_create_refuses_bad_names(tmp_path, name):
    with pytest.raises(RunError, match="run name"):
        RunStore.create(tmp_path, name)


def test_create_refuses_a_folder_under_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(RunError, match="--out") as info:
        RunStore.create(tmp_path / "file.txt" / "sub", "run")
    assert "file.txt" in str(info.value)


def test_create_refuses_an_unwritable_folder(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        try:
            (out / "probe").write_text("x")
        except PermissionError:
            pass
        else:
            pytest.skip("running as root: permission bits do not stop writes")
        with pytest.raises(RunError, match=str(out)):
            RunStore.create(out, "run")
    finally:
        out.chmod(0o700)


def test_create_refuses_a_full_disk(tmp_path, monkeypatch):
    class Usage:
        total, used, free = 10**9, 10**9 - 10**6, 10**6

    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(RunError, match="100 MB"):
        RunStore.create(tmp_path, "run")
    assert not (tmp_path / "run").exists()  # the folder it made is removed again


def test_trials_json_and_csv(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records = [
        TrialRecord(
            0,
            TrialState.COMPLETE,
            {"lr": 0.01, "blocks": 2},
            value=0.8,
            epochs=3,
            seconds=1.5,
            n_params=100,
            history={"loss": [1.0, float("nan")]},
        ),
        TrialRecord(1, TrialState.FAILED, {"lr": 0.1, "epochs": 5}, error="NaN loss, epoch 1"),
        TrialRecord(2, TrialState.PRUNED, {"lr": 0.2, "units": [8, 16]}, value=float("nan")),
    ]
    run.write_trials(records)

    data = json.loads(run.trials_json.read_text())
    assert [t["number"] for t in data["trials"]] == [0, 1, 2]
    assert data["trials"][0]["history"]["loss"] == [1.0, None]
    back = run.read_trials()
    assert back[1].state is TrialState.FAILED and back[1].error == "NaN loss, epoch 1"
    assert back[0].params == {"lr": 0.01, "blocks": 2}

    with run.trials_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "number",
        "state",
        "value",
        "epochs",
        "seconds",
        "n_params",
        "error",
        "model_path",
        "start",
        "origin",
        "flops",
        "lr",
        "blocks",
        "param_epochs",
        "units",
    ]
    assert rows[0]["state"] == "complete" and float(rows[0]["value"]) == 0.8
    assert rows[1]["blocks"] == "" and rows[1]["param_epochs"] == "5"
    assert rows[2]["value"] == "" and json.loads(rows[2]["units"]) == [8, 16]
    assert _leftovers(run.root) == []


def test_read_trials_before_the_first_trial_and_when_corrupt(tmp_path):
    run = RunStore.create(tmp_path, "r")
    assert run.read_trials() == []
    run.trials_json.write_text("{not json")
    with pytest.raises(RunError, match="not valid JSON"):
        run.read_trials()


def test_model_paths_from_trials_json_stay_in_the_models_folder(tmp_path, caplog):
    """trials.json is not signed: a path edited to lead out of the run is dropped, never followed."""
    outside = tmp_path / "secret.keras"
    outside.write_text("not yours")
    run = RunStore.create(tmp_path, "r")
    run.models_dir.mkdir()
    (run.models_dir / "trial_0000.keras").write_text("model")
    (run.models_dir / "trial_0001.keras").symlink_to(outside)
    paths = [
        "models/trial_0000.keras",
        "models/trial_0001.keras",
        "../secret.keras",
        str(outside),
        "models/../../secret.keras",
        "run.json",
        7,
        ["models/trial_0000.keras"],
    ]
    run.write_trials([TrialRecord(i, TrialState.COMPLETE, {}, value=0.5, model_path=p) for i, p in enumerate(paths)])
    back = run.read_trials()
    assert [r.model_path for r in back] == ["models/trial_0000.keras"] + [None] * (len(paths) - 1)
    assert "is not in the run's models/ folder" in caplog.text
    assert outside.read_text() == "not yours"


def test_a_name_that_leads_out_of_out_is_refused_with_a_storage_too(tmp_path):
    """With --storage, an existing folder was joined without checking the name: ../victim
    wrote run.json, search.pkl and the report into a folder outside --out."""
    from click.testing import CliRunner

    from autodl.cli.main import cli

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (tmp_path / "out").mkdir()
    for name in ("../victim", "..", str(victim), "."):
        result = CliRunner().invoke(
            cli,
            [
                "search",
                "digits",
                "--storage",
                f"sqlite:///{tmp_path}/s.db",
                "--name",
                name,
                "--out",
                str(tmp_path / "out"),
                "--trials",
                "1",
            ],
        )
        assert result.exit_code == 2, result.output
        assert "Invalid run name" in result.output
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim"]


# ---------------------------------------------------------------------------- top-k


def _finish(run, records, number, k=2, direction="maximize"):
    def save(path):
        path.write_bytes(f"model {number}".encode())

    return run.update_top_models(records, k, direction, save, number)


def _kept(run):
    return sorted(p.name for p in run.models_dir.glob("*.keras"))


def test_top_k_models_are_saved_and_dropped(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records: list[TrialRecord] = []
    for number, value in enumerate([0.5, 0.7, 0.6, 0.9]):
        records = [*records, _record(number, value=value)]
        records = _finish(run, records, number)
        paths = {r.number: r.model_path for r in records}
        if number == 2:
            assert _kept(run) == ["trial_0001.keras", "trial_0002.keras"]
            assert paths == {0: None, 1: "models/trial_0001.keras", 2: "models/trial_0002.keras"}
    assert _kept(run) == ["trial_0001.keras", "trial_0003.keras"]
    assert [r.model_path for r in records] == [None, "models/trial_0001.keras", None, "models/trial_0003.keras"]
    assert run.model_path(3).read_bytes() == b"model 3"


def test_top_k_does_not_modify_its_input(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records = [_record(0, value=1.0)]
    updated = _finish(run, records, 0)
    assert records[0].model_path is None and updated[0].model_path == "models/trial_0000.keras"


def test_top_k_ties_go_to_the_earlier_trial(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records = _finish(run, [_record(0, value=0.5)], 0, k=1)
    saved = []
    records = run.update_top_models([*records, _record(1, value=0.5)], 1, "maximize", saved.append, 1)
    assert saved == [] and _kept(run) == ["trial_0000.keras"]
    assert records[0].model_path == "models/trial_0000.keras" and records[1].model_path is None


def test_top_k_minimize(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records: list[TrialRecord] = []
    for number, loss in enumerate([0.3, 0.1, 0.2]):
        records = _finish(run, [*records, _record(number, value=loss)], number, k=1, direction="minimize")
    assert _kept(run) == ["trial_0001.keras"]


def test_top_k_ignores_failed_pruned_and_nan_trials(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records = _finish(run, [_record(0, value=0.1)], 0)
    calls = []
    for number, state, value in [
        (1, TrialState.PRUNED, 0.99),
        (2, TrialState.FAILED, None),
        (3, TrialState.COMPLETE, float("nan")),
        (4, TrialState.COMPLETE, float("inf")),
    ]:
        records = run.update_top_models(
            [*records, _record(number, state, value)],
            2,
            "minimize" if number == 4 else "maximize",
            calls.append,
            number,
        )
    assert calls == [] and _kept(run) == ["trial_0000.keras"]
    assert [r.model_path for r in records] == ["models/trial_0000.keras"] + [None] * 4


def test_top_k_zero_keeps_nothing_and_bad_direction_raises(tmp_path):
    run = RunStore.create(tmp_path, "r")
    records = _finish(run, [_record(0, value=0.1)], 0)
    records = _finish(run, records, 0, k=0)
    assert _kept(run) == [] and records[0].model_path is None
    with pytest.raises(ValueError, match="direction"):
        run.update_top_models(records, 1, "max", None, 0)


# ---------------------------------------------------------------------------- signing


def test_signed_round_trip_and_key_file(tmp_path):
    state = {"trials": [1, 2, 3], "name": "run"}
    dump_signed(state, tmp_path / "search.pkl")
    assert load_signed(tmp_path / "search.pkl") == state

    key_file = tmp_path / "config" / "signing.key"
    assert signing.key_path() == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(signing.get_key()) == 32
    assert (tmp_path / "search.pkl").read_bytes().startswith(b"AUTODL-PKL1\n")


def test_key_path_falls_back_to_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTODL_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert signing.key_path() == tmp_path / "xdg" / "autodl" / "signing.key"


def test_tampered_payload_is_refused(tmp_path):
    path = tmp_path / "search.pkl"
    dump_signed({"a": "x" * 100}, path)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01  # a character inside the string
    path.write_bytes(bytes(data))
    with pytest.raises(SignatureError, match="search.pkl"):
        load_signed(path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "search.pkl"
    dump_signed(list(range(1000)), path)
    full = path.read_bytes()
    for cut in (len(full) - 10, 40, 5):
        path.write_bytes(full[:cut])
        with pytest.raises(SignatureError, match="truncated"):
            load_signed(path)
    path.write_bytes(full[:-10])
    with pytest.raises(SignatureError, match="truncated"):
        load_signed(path, trust=True)


def test_foreign_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "search.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(SignatureError, match="not an autodl search state"):
        load_signed(path)
    with pytest.raises(SignatureError, match="not an autodl search state"):
        load_signed(path, trust=True)
    with pytest.raises(SignatureError, match="does not exist"):
        load_signed(tmp_path / "missing.pkl")


def test_other_key_is_refused_unless_trusted(tmp_path, monkeypatch, caplog):
    path = tmp_path / "search.pkl"
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "11" * 32)
    dump_signed({"from": "elsewhere"}, path)
    assert load_signed(path) == {"from": "elsewhere"}

    monkeypatch.delenv("AUTODL_SIGNING_KEY")
    with pytest.raises(SignatureError, match="different key") as info:
        load_signed(path)
    assert "AUTODL_SIGNING_KEY" in str(info.value) and "--trust" in str(info.value)

    with caplog.at_level("WARNING", logger="autodl.runs.signing"):
        assert load_signed(path, trust=True) == {"from": "elsewhere"}
    assert "--trust" in caplog.text


def test_env_key_wins_over_the_key_file(tmp_path, monkeypatch):
    file_key = signing.get_key()
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "ab" * 32)
    assert signing.get_key() == bytes.fromhex("ab" * 32)
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "not hex: a passphrase")
    assert signing.get_key() == b"not hex: a passphrase"
    monkeypatch.delenv("AUTODL_SIGNING_KEY")
    assert signing.get_key() == file_key


@pytest.mark.parametrize(
    "value, words",
    [
        ("   ", "is empty"),
        ("x", "is 1 bytes long"),
        ("abcd" * 7, "is 14 bytes long"),
        ("ab" * 15, "is 15 bytes long"),
    ],
)
def test_a_blank_or_short_env_key_is_refused(monkeypatch, value, words):
    monkeypatch.setenv("AUTODL_SIGNING_KEY", value)
    with pytest.raises(RunError, match="at least 16 bytes") as info:
        signing.get_key()
    assert words in str(info.value) and "AUTODL_SIGNING_KEY" in str(info.value)
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "ab" * 16)  # 16 bytes: accepted
    assert len(signing.get_key()) == 16
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "")  # an empty value is unset: the key file
    assert len(signing.get_key()) == 32


def test_a_file_forged_with_an_empty_key_does_not_load(tmp_path, monkeypatch):
    path = tmp_path / "search.pkl"
    payload = pickle.dumps({"forged": True})
    path.write_bytes(signing.MAGIC + hmac.new(b"", payload, hashlib.sha256).hexdigest().encode() + b"\n" + payload)
    monkeypatch.setenv("AUTODL_SIGNING_KEY", "   ")
    with pytest.raises(RunError, match="is empty"):
        load_signed(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_unsafe_empty_or_short_key_file_is_refused_at_once(tmp_path):
    key_file = signing.key_path()
    signing.get_key()
    key_file.chmod(0o644)
    with pytest.raises(RunError, match="chmod 600") as info:
        signing.get_key()
    assert "mode 644" in str(info.value)
    key_file.chmod(0o600)
    key_file.write_text("ab\n")
    with pytest.raises(RunError, match="1 bytes long"):
        signing.get_key()
    key_file.write_text("")
    old = time.time() - 60
    os.utime(key_file, (old, old))
    start = time.monotonic()
    with pytest.raises(RunError, match="is empty"):
        signing.get_key()
    assert time.monotonic() - start < 0.3  # no seconds of retries for a file nobody is writing


def test_a_search_with_an_unsafe_key_is_refused_before_anything_starts(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from autodl.cli.main import cli

    monkeypatch.setenv("AUTODL_SIGNING_KEY", "short")
    result = CliRunner().invoke(cli, ["search", "digits", "--out", str(tmp_path / "out"), "--trials", "1"])
    assert result.exit_code == 2 and "at least 16 bytes" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_concurrent_processes_agree_on_one_key(tmp_path):
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import os, time
        from autodl.runs.signing import get_key
        while not os.path.exists({str(go)!r}):
            time.sleep(0.005)
        print(get_key().hex())
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "AUTODL_CONFIG_DIR": str(tmp_path / "config")}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    time.sleep(1.0)  # let every process import and wait on the start line
    go.touch()
    keys = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert [p.name for p in (tmp_path / "config").iterdir()] == ["signing.key"]


def test_valid_signature_but_unloadable_pickle_is_a_run_error(tmp_path):
    path = tmp_path / "search.pkl"
    # A pickle of a class that no longer exists (e.g. written by another autodl version).
    payload = pickle.dumps(None).replace(b"N", b"cnot_a_module\nThing\n", 1)
    mac = hmac.new(signing.get_key(), payload, hashlib.sha256).hexdigest().encode()
    path.write_bytes(signing.MAGIC + mac + b"\n" + payload)
    with pytest.raises(RunError, match="versions") as info:
        load_signed(path)
    assert not isinstance(info.value, SignatureError)
