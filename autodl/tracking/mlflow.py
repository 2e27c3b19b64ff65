"""Each trial as an MLflow run, under one parent run per search."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from autodl.exceptions import UsageError
from autodl.records import TrialRecord, TrialState
from autodl.search.callbacks import SearchCallback

__all__ = ["MLflowCallback"]

logger = logging.getLogger(__name__)
_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAILED: "FAILED",
    TrialState.INTERRUPTED: "KILLED",
}


def _safely(method: Callable[..., None]) -> Callable[..., None]:
    """Tracking never stops a search: a failed write is logged, and the next event tried."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:  # noqa: BLE001
            logger.warning("MLflow: %s failed", method.__name__, exc_info=True)

    return wrapper


class MLflowCallback(SearchCallback):
    """Logs the search as a parent run (settings, test metrics, the report) and each trial as
    a child run: its parameters, per-epoch metrics, state and objective; at the end, the
    models the search kept (its top-k) go to their trials' runs.

    Args:
        tracking_uri: an MLflow tracking URI (``file:/path/mlruns``, ``sqlite:///mlflow.db``,
            ``http://host:5000``); None: MLflow's own default (``MLFLOW_TRACKING_URI``, else ./mlruns).
        experiment: the experiment's name.

    Raises:
        UsageError: MLflow is not installed.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str = "autodl") -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise UsageError(
                "--mlflow needs MLflow, which is not installed: `pip install 'autodl[mlflow]'` "
                "(or `pip install mlflow`), or leave out --mlflow"
            ) from None
        try:
            self.client = MlflowClient(tracking_uri=tracking_uri)
            self.client.search_experiments(max_results=1)  # a store MLflow refuses fails now, not mid-search
        except Exception as exc:  # noqa: BLE001 - MLflow's own errors, told as one paragraph
            raise UsageError(
                f"--mlflow cannot use the tracking store {tracking_uri or '(MLflow default)'}: "
                f"{str(exc).splitlines()[0][:300]} Give --mlflow a store that works, such as "
                "sqlite:///mlflow.db or http://host:5000"
            ) from exc
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.experiment_id: str | None = None
        self.parent: str | None = None
        self.runs: dict[int, str] = {}
        self.search: Any = None

    @_safely
    def on_search_start(self, search: Any) -> None:
        self.search = search
        found = self.client.get_experiment_by_name(self.experiment)
        if found is None:
            artifacts = None
            if (self.tracking_uri or "").startswith("sqlite:///"):  # artifacts beside the database, not in the cwd
                from pathlib import Path

                artifacts = (
                    Path(str(self.tracking_uri)[len("sqlite:///") :]).resolve().parent / "mlartifacts"
                ).as_uri()
            self.experiment_id = self.client.create_experiment(self.experiment, artifact_location=artifacts)
        else:
            self.experiment_id = found.experiment_id
        run = self.client.create_run(
            self.experiment_id, run_name=search.path.name, tags={"autodl.run_folder": str(search.path)}
        )
        self.parent = run.info.run_id
        for key, value in search.settings.to_dict().items():
            if value is not None:
                self.client.log_param(self.parent, key, value)

    @_safely
    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._child(number, params)

    @_safely
    def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        run = self.runs.get(number)
        for key, value in logs.items():
            if run is not None and isinstance(value, (int, float)):
                self.client.log_metric(run, key, float(value), step=epoch)

    @_safely
    def on_trial_end(self, record: TrialRecord) -> None:
        if self.parent is None:
            return
        run = self.runs.get(record.number) or self._child(record.number, record.params)
        self.client.set_tag(run, "state", record.state.value)
        if record.error:
            self.client.set_tag(run, "error", record.error[:500])
        if record.value is not None:
            self.client.log_metric(run, "objective", float(record.value))
        if record.n_params is not None:
            self.client.log_metric(run, "parameters", float(record.n_params))
        self.client.log_metric(run, "seconds", float(record.seconds))
        self.client.set_terminated(run, _STATUS.get(record.state, "FINISHED"))

    @_safely
    def on_search_end(self, search: Any) -> None:
        if self.parent is None:
            return
        for key, value in (search.test_metrics or {}).items():
            self.client.log_metric(self.parent, f"test_{key}", float(value))
        if search.best_trial is not None:
            self.client.set_tag(self.parent, "best_trial", str(search.best_trial.number))
        for record in search.records:  # the models the search kept in the end (its top-k)
            if record.model_path and record.number in self.runs and (search.path / record.model_path).is_file():
                self.client.log_artifact(self.runs[record.number], str(search.path / record.model_path), "model")
        if (search.path / "report.html").is_file():
            self.client.log_artifact(self.parent, str(search.path / "report.html"))
        self.client.set_terminated(self.parent, "FINISHED")

    def _child(self, number: int, params: dict[str, Any]) -> str:
        run = self.client.create_run(
            str(self.experiment_id),
            run_name=f"trial {number}",
            tags={"mlflow.parentRunId": str(self.parent), "trial": str(number)},
        )
        self.runs[number] = run.info.run_id
        for key, value in params.items():
            self.client.log_param(run.info.run_id, key, value)
        return run.info.run_id
