"""Per-trial TensorBoard logs with the HParams plugin: ``tensorboard --logdir RUN/tensorboard``
shows the trials side by side (scalars per epoch; the HParams tab's table and parallel plot).

Written with TensorBoard's own event writer and protos, so it needs neither TensorFlow nor
Keras' TensorBoard callback (which fails under JAX).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from autodl.records import TrialRecord
from autodl.search.callbacks import SearchCallback

__all__ = ["TensorBoardCallback"]

logger = logging.getLogger(__name__)


class TensorBoardCallback(SearchCallback):
    """One log folder per trial (``trial_0003``) under ``logdir`` (default: the run's ``tensorboard/``)."""

    def __init__(self, logdir: str | Path | None = None) -> None:
        self.logdir = Path(logdir) if logdir is not None else None
        self.writers: dict[int, Any] = {}
        self.metric = "val_accuracy"

    def on_search_start(self, search: Any) -> None:
        from tensorboard.plugins.hparams import summary_v2

        self.logdir = self.logdir or search.path / "tensorboard"
        self.metric = search.space.objective[0]
        self._write(self.logdir, summary_v2.hparams_config_pb(hparams=[], metrics=[summary_v2.Metric(self.metric)]))

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        from tensorboard.plugins.hparams import summary_v2

        if self.logdir is None:
            return
        hparams = {
            key: value if isinstance(value, (bool, int, float, str)) else str(value) for key, value in params.items()
        }
        self._write(
            self._folder(number),
            summary_v2.hparams_pb(hparams, trial_id=f"trial {number}", start_time_secs=time.time()),
            number,
        )

    def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        from tensorboard.compat.proto import summary_pb2

        if self.logdir is None:
            return
        values = [
            summary_pb2.Summary.Value(tag=key, simple_value=float(value))
            for key, value in logs.items()
            if isinstance(value, (int, float))
        ]
        self._write(self._folder(number), summary_pb2.Summary(value=values), number, step=epoch)

    def on_trial_end(self, record: TrialRecord) -> None:
        writer = self.writers.pop(record.number, None)
        if writer is not None:
            writer.close()

    def on_search_end(self, search: Any) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def _folder(self, number: int) -> Path:
        return Path(str(self.logdir)) / f"trial_{number:04d}"

    def _write(self, folder: Path, summary: Any, number: int | None = None, step: int = 0) -> None:
        """Append one summary; a write that fails is logged, never raised (tracking never stops a search)."""
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        try:
            writer = self.writers.get(number) if number is not None else None
            if writer is None:
                folder.mkdir(parents=True, exist_ok=True)
                writer = EventFileWriter(str(folder))
                if number is not None:
                    self.writers[number] = writer
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
            writer.flush()
            if number is None:
                writer.close()
        except Exception:  # noqa: BLE001
            logger.warning("TensorBoard: writing to %s failed", folder, exc_info=True)
