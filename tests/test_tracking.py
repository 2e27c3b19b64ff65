"""``--mlflow`` and ``--tensorboard``: a search's trials read back with MLflow's own client and
TensorBoard's own event reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from autodl.cli.main import cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(
        cli,
        [
            "search",
            "digits",
            "--trials",
            "2",
            "--epochs",
            "2",
            "--subset",
            "200",
            "--top-k",
            "1",
            "--precision",
            "float32",
            "--out",
            str(out),
            "--name",
            "tracked",
            "--quiet",
            "--tensorboard",
            "--mlflow",
            f"sqlite:///{out / 'mlflow.db'}",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out / "tracked"


def test_mlflow_has_one_parent_run_and_a_child_run_per_trial(run: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    import autodl

    search = autodl.load(run)
    client = MlflowClient(tracking_uri=f"sqlite:///{run.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("autodl")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = sorted((r for r in runs if "mlflow.parentRunId" in r.data.tags), key=lambda r: int(r.data.tags["trial"]))
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.run_name == "tracked" and parent.info.status == "FINISHED"
    assert parent.data.params["dataset"] == "digits"
    assert parent.data.metrics["test_accuracy"] == pytest.approx(search.test_metrics["accuracy"])
    assert "report.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    for child, record in zip(children, search.records):
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["state"] == record.state.value
        assert child.data.params == {k: str(v) for k, v in record.params.items()}
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(record.history["val_accuracy"])
        saved = [a.path for a in client.list_artifacts(child.info.run_id, "model")]
        assert bool(saved) == bool(record.model_path)


def test_tensorboard_logs_each_trial_with_its_hyperparameters(run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    import autodl

    search = autodl.load(run)
    folders = sorted(p for p in (run / "tensorboard").iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["trial_0000", "trial_0001"]
    for folder, record in zip(folders, search.records):
        events = EventAccumulator(str(folder))
        events.Reload()
        scalars = [e.value for e in events.Scalars("val_accuracy")]
        assert scalars == pytest.approx(record.history["val_accuracy"])
        content = events.PluginTagToContent("hparams")
        data = plugin_data_pb2.HParamsPluginData.FromString(next(iter(content.values())))
        assert set(data.session_start_info.hparams) == set(record.params)
    top = EventAccumulator(str(run / "tensorboard"))
    top.Reload()
    assert top.PluginTagToContent("hparams")  # the experiment: the metric the HParams tab shows
