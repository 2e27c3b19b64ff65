"""The HTML report and the runs index, built from synthetic run folders (no training).

``make_run`` writes a realistic run folder: run.json, trials.json with complete, pruned and
failed histories, evaluation.npz with random predictions, a real tiny Keras model and,
optionally, an Optuna study. The browser test reuses it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autodl.records import TrialRecord, TrialState
from autodl.reporting import summary, write_index, write_report

XSS_NAME = "<script>window.__xss = 1</script>"
XSS_CLASS = '<img src=x onerror="window.__xss = 2">'
XSS_PARAM = "<svg onload=window.__xss=3>"
CLASS_NAMES = ["cat & dog", XSS_CLASS, "bird", "plane"]
PLOTLY_MARKER = "/* plotly.js, packed"


def _history(rng: np.random.Generator, epochs: int, quality: float) -> dict[str, list[float]]:
    steps = np.arange(1, epochs + 1)
    acc = quality * (1 - np.exp(-steps / 2.0)) + rng.normal(0, 0.01, epochs)
    val = acc - 0.03 + rng.normal(0, 0.015, epochs)
    return {
        "loss": list(1.5 * np.exp(-steps / 3.0) + 0.1),
        "accuracy": list(acc),
        "val_loss": list(1.6 * np.exp(-steps / 3.0) + 0.2),
        "val_accuracy": list(val),
    }


def make_records(n_trials: int, seed: int = 0, epochs: int = 8) -> list[TrialRecord]:
    """Mostly complete trials, every 4th pruned and every 7th failed."""
    rng = np.random.default_rng(seed)
    records = []
    for number in range(n_trials):
        params = {
            "learning_rate": float(10 ** rng.uniform(-4, -2)),
            "filters": int(rng.choice([16, 32, 64])),
            "optimizer": str(rng.choice(["adam", "sgd", XSS_PARAM])),
            "dropout": round(float(rng.uniform(0, 0.5)), 3),
        }
        if number % 3 == 0:
            params["dense_units"] = int(rng.choice([64, 128]))  # a conditional parameter
        quality = float(rng.uniform(0.5, 0.95))
        if number % 7 == 6:
            history = _history(rng, 2, quality)
            history["val_loss"][-1] = None  # diverged: stored as null
            records.append(
                TrialRecord(
                    number,
                    TrialState.FAILED,
                    params,
                    None,
                    2,
                    3.5,
                    12345,
                    history,
                    error=f"NaN loss <b>{number}</b> & co",
                )
            )
        elif number % 4 == 3:
            records.append(
                TrialRecord(number, TrialState.PRUNED, params, None, 3, 5.0, 23456, _history(rng, 3, quality * 0.7))
            )
        else:
            history = _history(rng, epochs, quality)
            records.append(
                TrialRecord(
                    number,
                    TrialState.COMPLETE,
                    params,
                    float(max(history["val_accuracy"])),
                    epochs,
                    float(rng.uniform(8, 20)),
                    int(rng.integers(1e4, 1e6)),
                    history,
                )
            )
    return records


def _tiny_model(path: Path) -> None:
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(4, name="out"),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


def make_run(
    out_dir: Path,
    folder: str = "run-a",
    *,
    name: str | None = None,
    n_trials: int = 10,
    records: list[TrialRecord] | None = None,
    evaluation: bool = True,
    model: bool = True,
    study: bool = False,
    backend: str = "optuna",
    created: str = "2025-01-31T14:25:01",
    class_names: list[str] | None = None,
    n_test: int = 200,
) -> Path:
    """Write a run folder ``out_dir/folder`` and return its path."""
    run_dir = out_dir / folder
    run_dir.mkdir(parents=True)
    records = make_records(n_trials) if records is None else records
    class_names = CLASS_NAMES if class_names is None else class_names
    ranked = summary.rank_trials(records)
    best = ranked[0] if ranked and ranked[0].state == TrialState.COMPLETE else None
    if best is not None:
        best.model_path = f"models/trial_{best.number:04d}.keras"
        if model:
            _tiny_model(run_dir / best.model_path)
    counts = summary.count_states(records)
    run: dict[str, Any] = {
        "autodl_version": "0.1.0",
        "name": name or folder,
        "status": "finished",
        "created": created,
        "updated": created,
        "finished": created,
        "settings": {
            "dataset": "synthetic",
            "space": "cnn",
            "backend": backend,
            "sampler": "tpe",
            "pruner": "median",
            "tuner": "random",
            "trials": n_trials,
            "epochs": 8,
            "seed": 0,
            "precision": "float32",
        },
        "space": {"name": "cnn", "params": {"learning_rate": {"type": "float", "log": True}}, "note": XSS_PARAM},
        "dataset": {
            "name": "synthetic",
            "source": "test",
            "input_shape": [8, 8, 1],
            "num_classes": len(class_names),
            "class_names": class_names,
            "n_train": 1000,
            "n_val": 100,
            "n_test": n_test,
            "fingerprint": "abc123",
        },
        "objective": {"metric": "val_accuracy", "direction": "maximize"},
        "versions": {"python": "3.11", "keras": "3.15.1", "optuna": "5.0.0"},
        "hardware": {"platform": "Linux", "processor": "x86_64", "cpu_count": 2, "memory_gb": 8, "accelerators": []},
        "timings": {"total_seconds": 321.5, "data_seconds": 2.0, "trial_seconds": 300.0},
        "counts": {k: counts[k] for k in ("complete", "pruned", "failed", "interrupted")},
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "model_path": best.model_path,
            "architecture": {"blocks": [{"filters": 4}]},
        },
        "test_metrics": {"loss": 0.41, "accuracy": 0.87} if best else None,
    }
    if backend == "optuna":
        run["study"] = {"name": "study-x", "storage": f"sqlite:///{run_dir / 'study.db'}"}
        if study:
            _write_study(run_dir / "study.db", records)
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    (run_dir / "trials.json").write_text(json.dumps({"trials": [r.to_dict() for r in records]}), encoding="utf-8")
    if evaluation:
        _write_evaluation(run_dir / "evaluation.npz", len(class_names), n_test)
    return run_dir


def _write_study(path: Path, records: list[TrialRecord]) -> None:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    study = optuna.create_study(study_name="study-x", storage=storage, direction="maximize")
    dists = {
        "learning_rate": FloatDistribution(1e-5, 1e-1, log=True),
        "optimizer": CategoricalDistribution(["adam", "sgd", XSS_PARAM]),
    }
    for record in records:
        state = {
            TrialState.COMPLETE: optuna.trial.TrialState.COMPLETE,
            TrialState.PRUNED: optuna.trial.TrialState.PRUNED,
        }.get(record.state, optuna.trial.TrialState.FAIL)
        params = {k: record.params[k] for k in dists}
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                state=state,
                value=record.value if state == optuna.trial.TrialState.COMPLETE else None,
            )
        )
    storage.engine.dispose()


def _write_evaluation(path: Path, n_classes: int, n_test: int) -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, n_classes, n_test)
    proba = rng.dirichlet(np.ones(n_classes), n_test).astype(np.float32)
    wrong = np.flatnonzero(proba.argmax(1) != y_true)
    wrong = wrong[np.argsort(-proba[wrong].max(1))][:32]
    samples = np.repeat(np.arange(n_classes), 3)
    np.savez_compressed(
        path,
        y_true=y_true,
        proba=proba,
        mistake_index=wrong,
        mistake_images=rng.random((len(wrong), 8, 8, 1), dtype=np.float32),
        sample_images=rng.random((len(samples), 8, 8, 3), dtype=np.float32),
        sample_labels=samples,
        train_class_counts=rng.integers(100, 300, n_classes),
    )


def strip_scripts(page: str) -> str:
    """The page without the contents of <script> elements (plotly.js holds URL strings)."""
    return re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", page, flags=re.S | re.I)


def leaderboard_numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="trial-row[^"]*" data-trial="(\d+)"', page)]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports")
    run_dir = make_run(out, "xss-run", name=XSS_NAME, n_trials=14, study=False)
    path = write_report(run_dir)
    return path, path.read_text(encoding="utf-8")


def test_report_has_every_section(full_run: tuple[Path, str]) -> None:
    path, page = full_run
    assert path.name == "report.html" and path.is_file()
    for section in ("summary", "leaderboard", "curves", "analysis", "best-model", "errors", "dataset"):
        assert f'<section id="{section}">' in page
    for figure in (
        "fig-curves",
        "fig-overview",
        "fig-history",
        "fig-importances",
        "fig-parallel",
        "fig-size",
        "fig-confusion",
        "fig-class-counts",
    ):
        assert f'id="{figure}"' in page, figure
    assert 'id="layer-table"' in page and ">Conv2D<" in page and ">Dense<" in page
    assert "evaluation-missing" not in page
    assert "parameter budget" not in page  # shown only for a search held to one
    assert 'id="ensemble"' not in page  # run.json has no ensemble: no card


def test_leaderboard_ranks_every_trial(full_run: tuple[Path, str]) -> None:
    _, page = full_run
    records = make_records(14)
    assert leaderboard_numbers(page) == [r.number for r in summary.rank_trials(records)]
    complete = sorted((r for r in records if r.state == TrialState.COMPLETE), key=lambda r: -r.value)  # type: ignore[operator]
    numbers = leaderboard_numbers(page)
    assert numbers[: len(complete)] == [r.number for r in complete]
    states = [r.state for r in summary.rank_trials(records)]
    assert states.index(TrialState.PRUNED) < states.index(TrialState.FAILED)


def test_user_strings_are_escaped_everywhere(full_run: tuple[Path, str]) -> None:
    _, page = full_run
    for payload in (XSS_NAME, XSS_CLASS, XSS_PARAM, "<b>6</b>"):
        assert payload not in page
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page  # the run name, in HTML
    assert "&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;" in page  # a class name
    assert "cat &amp; dog" in page
    assert "onerror=" not in strip_scripts(page).replace("onerror=&#34;", "")
    # Inside the figure JSON the names are HTML-escaped too (plotly draws text as HTML).
    figure_json = "".join(re.findall(r"Plotly\.newPlot\((.*?)\)\s*};", page, re.S))
    assert '&lt;img src=x onerror=\\"window.__xss = 2\\"&gt;' in figure_json
    assert "&lt;svg onload=window.__xss=3&gt;" in figure_json
    for tag in ("<img", "<svg", "<script", "</script"):
        assert tag not in figure_json


def test_images_are_data_uris_and_counted(full_run: tuple[Path, str]) -> None:
    _, page = full_run
    assert page.count('<figure class="img mistake">') == min(32, _n_mistakes())
    assert page.count('<figure class="img sample">') == 3 * len(CLASS_NAMES)
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def _n_mistakes() -> int:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 200)
    proba = rng.dirichlet(np.ones(4), 200)
    return int((proba.argmax(1) != y_true).sum())


def test_self_contained_with_plotly_once(full_run: tuple[Path, str]) -> None:
    path, page = full_run
    assert page.count(PLOTLY_MARKER) == 1
    assert page.index(PLOTLY_MARKER) < page.index("Plotly.newPlot")
    outside_scripts = strip_scripts(page)
    for pattern in (
        r'src\s*=\s*["\']?(https?:)?//',
        r'href\s*=\s*["\']?(https?:)?//',
        r"url\(\s*['\"]?(https?:)?//",
        r"@import",
    ):
        assert not re.search(pattern, outside_scripts, re.I), pattern
    assert "<script src" not in page and "<link" not in page
    # plotly.js is packed (autodl/reporting/plotlyjs.py): the bound is 1.5 MB.
    assert 1_000_000 < path.stat().st_size < 1_500_000


def test_packed_plotly_round_trips() -> None:
    """Every byte value survives packing, and the text holds nothing an HTML script can't."""
    from autodl.reporting.plotlyjs import pack, unpack

    data = bytes(range(256)) * 40 + np.random.default_rng(0).bytes(5000)
    packed = pack(data)
    assert unpack(packed) == data
    assert not set(packed) & set('\x00\n\r"<\\')


def test_packed_plotly_runs_in_node(tmp_path: Path) -> None:
    """The inline decoder (JavaScript) gives back plotly.js byte for byte (needs node)."""
    import shutil
    import subprocess

    from plotly.offline import get_plotlyjs

    from autodl.reporting.plotlyjs import plotly_loader

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; the browser test runs the decoder in chromium")
    script = plotly_loader().removeprefix('<script type="text/javascript">').removesuffix("</script>")
    harness = tmp_path / "harness.js"
    harness.write_text(
        "var out = null; var document = {createElement: function () { return {}; }, "
        "head: {appendChild: function (s) { out = s.text; }}};\n"
        + script
        + f"\nrequire('fs').writeFileSync({json.dumps(str(tmp_path / 'out.js'))}, out);\n",
        encoding="utf-8",
    )
    subprocess.run([node, str(harness)], check=True, timeout=120)
    assert (tmp_path / "out.js").read_text(encoding="utf-8") == get_plotlyjs()


def test_index_lists_runs_newest_first(tmp_path: Path) -> None:
    make_run(tmp_path, "old", created="2024-05-01T10:00:00", n_trials=3, model=False, evaluation=False)
    make_run(tmp_path, "new", created="2025-06-01T10:00:00", n_trials=3, model=False, evaluation=False)
    weird = make_run(
        tmp_path,
        "<img src=x onerror=alert(3)>",
        n_trials=3,
        model=False,
        evaluation=False,
        created="2025-01-01T00:00:00",
    )
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "not-a-run").mkdir()
    write_report(weird)  # also refreshes the index
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    folders = re.findall(r'<tr class="run-row" data-folder="([^"]*)"', page)
    # A run.json that cannot be read is dated by its modification time (here: now).
    assert folders == ["broken", "new", "&lt;img src=x onerror=alert(3)&gt;", "old"]
    assert "run.json could not be read" in page
    assert 'href="%3Cimg%20src%3Dx%20onerror%3Dalert%283%29%3E/report.html"' in page
    assert "<img src=x" not in page and "http://" not in page and "https://" not in page
    assert write_index(tmp_path) == tmp_path / "index.html"


def test_no_complete_trial_and_no_evaluation(tmp_path: Path) -> None:
    records = [r for r in make_records(8) if r.state != TrialState.COMPLETE]
    run_dir = make_run(tmp_path, "empty", records=records, evaluation=False, model=False)
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert 'id="evaluation-missing"' in page and "evaluation.npz is missing" in page
    assert "there is no best model" in page
    assert "nothing to analyse" in page
    assert len(leaderboard_numbers(page)) == len(records)
    assert 'id="fig-overview"' in page  # pruned and failed curves still drawn


def test_training_time_says_when_it_sums_several_workers(tmp_path: Path) -> None:
    """With --workers the trials' seconds add up to more than the wall time: the label says so."""
    records = make_records(6)
    one = write_report(make_run(tmp_path, "one", records=records)).read_text(encoding="utf-8")
    for record in records:
        record.worker = f"host:{100 + record.number % 3}"
    three = write_report(make_run(tmp_path, "three", records=records)).read_text(encoding="utf-8")
    assert "<dt>training</dt>" in one and "summed" not in one
    assert "<dt>training (3 workers, summed)</dt>" in three


def test_zero_trials_no_figures(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "fresh", records=[], evaluation=False, model=False)
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert "No trial has been recorded yet" in page
    assert PLOTLY_MARKER not in page and "Plotly.newPlot" not in page


def test_optuna_study_figures(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "optuna", n_trials=10, study=True, evaluation=False, model=False)
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert "Drawn by optuna.visualization" in page
    assert 'id="fig-history"' in page and 'id="fig-parallel"' in page
    assert 'id="fig-importances"' in page
    assert XSS_PARAM not in page and page.count(PLOTLY_MARKER) == 1


def test_journal_study_and_broken_database(tmp_path: Path) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    run_dir = make_run(tmp_path, "journal", n_trials=6, evaluation=False, model=False)
    log = run_dir / "journal.log"
    study = optuna.create_study(
        study_name="study-x", direction="maximize", storage=optuna.storages.JournalStorage(JournalFileBackend(str(log)))
    )
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    run = json.loads((run_dir / "run.json").read_text())
    run["study"]["storage"] = f"journal://{log}"
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    assert "Drawn by optuna.visualization" in write_report(run_dir).read_text(encoding="utf-8")

    broken = make_run(tmp_path, "broken-db", n_trials=6, evaluation=False, model=False)
    (broken / "study.db").write_bytes(b"this is not a database")
    page = write_report(broken).read_text(encoding="utf-8")
    assert "could not be read" in page and "Drawn from the trial records" in page
    assert (broken / "study.db").read_bytes() == b"this is not a database"


def test_missing_study_and_kerastuner_fall_back(tmp_path: Path) -> None:
    for folder, backend in (("no-db", "optuna"), ("kt", "kerastuner")):
        run_dir = make_run(tmp_path, folder, n_trials=6, backend=backend, evaluation=False, model=False)
        page = write_report(run_dir).read_text(encoding="utf-8")
        assert "Drawn from the trial records" in page
        assert 'id="fig-history"' in page
        assert not (run_dir / "study.db").exists()  # never created by the report
    assert "study file is missing" in (tmp_path / "no-db" / "report.html").read_text()
    assert "Keras Tuner" in (tmp_path / "kt" / "report.html").read_text()


def test_few_trials_skip_importances(tmp_path: Path) -> None:
    records = [r for r in make_records(6) if r.state == TrialState.COMPLETE][:2]
    page = write_report(make_run(tmp_path, "two", records=records, evaluation=False, model=False)).read_text(
        encoding="utf-8"
    )
    assert "need at least 3 complete trials" in page and 'id="fig-importances"' not in page


def test_unloadable_model_shows_architecture(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "badmodel", n_trials=4, evaluation=False, model=False)
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / run["best"]["model_path"]).parent.mkdir()
    (run_dir / run["best"]["model_path"]).write_bytes(b"not a zip")
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert "could not be loaded" in page and 'id="architecture"' in page


def test_corrupt_inputs_degrade(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "corrupt", n_trials=4, model=False)
    (run_dir / "trials.json").write_text("[]", encoding="utf-8")
    (run_dir / "evaluation.npz").write_bytes(b"garbage")
    run = json.loads((run_dir / "run.json").read_text())
    run["status"] = "interrupted"
    run["dataset"] = None
    del run["versions"]
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    page = write_report(run_dir).read_text(encoding="utf-8")
    assert "not a valid trials file" in page and "could not be read" in page
    assert 'id="status-note"' in page


def test_summary_functions() -> None:
    cm = summary.confusion_matrix(np.array([0, 0, 1, 2, 9]), np.array([0, 1, 1, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    rows = summary.per_class_accuracy(cm)
    assert [r["accuracy"] for r in rows] == [0.5, 1.0, 1.0]
    records = make_records(8)
    assert summary.count_states(records) == {"complete": 5, "pruned": 2, "failed": 1, "interrupted": 0, "running": 0}
    minimized = summary.rank_trials(records, "minimize")
    values = [r.value for r in minimized if r.state == TrialState.COMPLETE]
    assert values == sorted(values)
    assert summary.format_seconds(3725) == "1 h 02 min"
    assert summary.format_number(None) == "—" and summary.format_number(1234) == "1,234"


def test_report_links_back_to_the_index(full_run: tuple[Path, str]) -> None:
    path, page = full_run
    assert '<a href="../index.html">all runs</a>' in page
    index = (path.parent.parent / "index.html").read_text(encoding="utf-8")
    assert 'href="xss-run/report.html"' in index


def test_learning_curves_add_a_log_scale_rate_panel_only_when_a_schedule_changed_the_rate() -> None:
    from autodl.reporting.figures import learning_curves_figure

    records = make_records(3)
    plain = learning_curves_figure(records)
    assert [a.text for a in plain.layout.annotations] == ["loss", "accuracy"]
    records[0].history["learning_rate"] = [1e-3 * 0.5**i for i in range(len(records[0].history["loss"]))]
    fig = learning_curves_figure(records)
    assert [a.text for a in fig.layout.annotations] == ["loss", "accuracy", "learning rate"]
    assert fig.layout.yaxis3.type == "log" and fig.layout.yaxis.type != "log"
    rate = [t for t in fig.data if t.xaxis == "x3"]
    assert len(rate) == 1 and rate[0].name == "trial 0 learning rate" and rate[0].line.dash == "dot"
    assert list(rate[0].y) == records[0].history["learning_rate"]


def _sized(number: int, n_params: int, value: float, state: TrialState = TrialState.COMPLETE) -> TrialRecord:
    return TrialRecord(number, state, {}, value if state == TrialState.COMPLETE else None, 3, 1.0, n_params, {})


def test_the_pareto_front_is_the_smallest_model_for_each_level_of_score() -> None:
    records = [
        _sized(0, 1000, 0.80),
        _sized(1, 500, 0.85),
        _sized(2, 2000, 0.90),
        _sized(3, 2000, 0.88),
        _sized(4, 3000, 0.89),
        _sized(5, 500, 0.85),
        _sized(6, 100, 0.0, TrialState.PRUNED),
        _sized(7, 4000, 0.95),
    ]
    assert [r.number for r in summary.pareto_front(records)] == [1, 2, 7]  # 5 ties 1 later; 0, 3, 4 beaten
    assert [r.number for r in summary.pareto_front(records, "minimize")] == [1, 0]  # a loss: lower is better
    assert summary.pareto_front([_sized(0, 0, 0.9)]) == []  # no size recorded: not placed


def test_the_report_draws_size_against_score_and_lists_the_front(tmp_path: Path) -> None:
    records = [_sized(0, 1000, 0.80), _sized(1, 500, 0.85), _sized(2, 2000, 0.90), _sized(3, 3000, 0.89)]
    page = write_report(make_run(tmp_path, records=records, n_trials=4)).read_text(encoding="utf-8")
    assert 'id="fig-size"' in page
    table = page[page.index('id="pareto-table"') :]
    table = table[: table.index("</table>")]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.split("<tr>")[2:]]
    assert cells == [["1", "3", "500", "0.85", "0.05"], ["2", "1", "2,000", "0.9", "best"]]  # trial, rank, ...
    lone = write_report(make_run(tmp_path, "one", records=[_sized(0, 1000, 0.8)], n_trials=1)).read_text()
    assert 'id="fig-size"' not in lone and 'id="pareto-table"' not in lone
