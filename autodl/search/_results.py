"""Read-only views of a finished or running search: its ranking, trials, models and predictions.

``Search`` inherits them; nothing here writes to the run folder or changes the search.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autodl.exceptions import RunError
from autodl.records import SearchSettings, TrialRecord, best_first
from autodl.search._ledger import FINISHED

if TYPE_CHECKING:
    import pandas as pd

    from autodl.runs import RunStore
    from autodl.space import SearchSpace


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """One saved model that ``predict`` (and ``export``) use, with its weight in the mix."""

    path: Path
    weight: float
    record: TrialRecord
    final: bool = False  # the trial trained again on train + validation (models/final.keras)


class SearchResults:
    """What a search found so far, as the run folder's records and models hold it."""

    settings: SearchSettings
    space: SearchSpace
    store: RunStore
    dataset: dict[str, Any] | None
    records: list[TrialRecord]
    ensemble: dict[str, Any] | None
    final: dict[str, Any] | None

    @property
    def path(self) -> Path:
        return self.store.root

    @property
    def direction(self) -> str:
        return self.space.objective[1]

    @property
    def finished(self) -> list[TrialRecord]:
        """Trials that count towards the budget (complete, pruned, failed)."""
        return [r for r in self.records if r.state in FINISHED]

    def ranked(self) -> list[TrialRecord]:
        """Complete trials, best first (ties: the earlier trial)."""
        return best_first(self.records, self.direction)

    @property
    def best_trial(self) -> TrialRecord | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def pareto_front(self) -> list[TrialRecord]:
        """Complete trials that no smaller model matches, smallest first: the candidates when a
        model must be small (each scores better than every trial with as few parameters)."""
        from autodl.reporting.summary import pareto_front

        return pareto_front(self.records, self.direction)

    @property
    def best_params(self) -> dict[str, Any]:
        best = self.best_trial
        return dict(best.params) if best else {}

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return best.value if best else None

    def trial(self, number: int) -> TrialRecord:
        """Trial ``number``'s record, for ``autodl show RUN --trial N``.

        Raises:
            RunError: the run has no such trial.
        """
        found = [r for r in self.records if r.number == number]
        if found:
            return found[-1]
        numbers = sorted({r.number for r in self.records})
        have = f"trials {numbers[0]}-{numbers[-1]}" if numbers else "no trials yet"
        raise RunError(
            f"{self.path} has no trial {number} (it has {have}); `autodl show {self.path}` lists "
            "the best ones, and trials.csv every one"
        )

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial as a pandas DataFrame, one row per trial, parameters as columns."""
        from autodl.runs.store import trials_frame

        return trials_frame(self.records)

    def best_models(self, k: int = 1) -> list[Any]:
        """The ``k`` best saved models, loaded, best first."""
        import keras

        return [keras.saving.load_model(self.path / str(record.model_path)) for record in self.saved()[:k]]

    def predict(
        self,
        images: list[str | Path],
        *,
        top: int = 1,
        trial: int | None = None,
        ensemble: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """Classify image files (or folders of them) with the final model (the best trial trained
        again on train + validation; the best saved model when there is none), or ``trial``'s,
        or with ``ensemble`` the kept models' probabilities averaged with the weights greedy
        selection gave them on validation (see ``self.ensemble``).

        Each image is prepared as the training data was: resized to the model's input,
        gray or RGB as the data was, pixels from 0..255 to [0, 1]. Returns a pandas
        DataFrame, one row per file: ``file``, ``class``, ``probability``, and for
        ``top`` > 1 the runners-up as ``class_2``, ``probability_2``, ... ``progress`` gets
        (files read, files) as the images are read.

        Raises:
            RunError: no saved model (or none for ``trial``; fewer than 2 for ``ensemble``).
            DatasetError: a file is missing or not an image.
        """
        import keras
        import numpy as np
        import pandas as pd

        from autodl.data.files import image_files, read_image_files

        models = [(keras.saving.load_model(f.path), f.weight) for f in self.model_files(trial, ensemble=ensemble)]
        paths = image_files(images)
        x = read_image_files(
            paths,
            tuple((self.dataset or {}).get("input_shape") or models[0][0].input_shape[1:]),
            progress,
            upright=bool((self.dataset or {}).get("exif_orientation")),
        )
        proba = np.sum([weight * model.predict(x, batch_size=256, verbose=0) for model, weight in models], axis=0)
        names = list((self.dataset or {}).get("class_names") or range(proba.shape[1]))
        order = np.argsort(-proba, axis=1, kind="stable")[:, : max(1, min(top, proba.shape[1]))]
        rows = []
        for path, p, ranked in zip(paths, proba, order):
            row: dict[str, Any] = {"file": str(path)}
            for rank, index in enumerate(ranked, 1):
                suffix = "" if rank == 1 else f"_{rank}"
                row[f"class{suffix}"], row[f"probability{suffix}"] = names[index], float(p[index])
            rows.append(row)
        return pd.DataFrame(rows)

    def model_files(self, trial: int | None = None, *, ensemble: bool = False) -> list[ModelFile]:
        """The saved models ``predict`` and ``export`` use, with their weights (summing to 1):
        the final model, else the best saved one; ``trial``'s; or the ensemble's members with
        the weights greedy selection gave them on validation.

        Raises:
            RunError: no saved model (or none for ``trial``; fewer than 2 for ``ensemble``).
        """
        if ensemble:
            kept = self._ensemble_models(trial)
            weights = (self.ensemble or {}).get("weights") or {}
            chosen = [(r, float(weights.get(str(r.number), 0.0)) if weights else 1.0 / len(kept)) for r in kept]
            return [ModelFile(self.path / str(r.model_path), w, r) for r, w in chosen if w > 0]
        number = (self.final or {}).get("trial")  # the file is always the store's: run.json is not signed
        if (
            trial is None
            and type(number) is int
            and not (self.final or {}).get("skipped")
            and self.store.final_model.is_file()
        ):
            return self._final_files(number)
        record = self._saved_model(trial)
        return [ModelFile(self.path / str(record.model_path), 1.0, record)]

    def _final_files(self, number: int) -> list[ModelFile]:
        """The final model's members: the first is ``models/final.keras``, the others the store's
        ``final_NNNN.keras`` (paths from run.json are not used: it is not signed), weighted as
        run.json says; a member whose file is gone, or whose entry is not a trial number and a
        positive weight, is left out."""
        members = (self.final or {}).get("members")
        entries = [m for m in members if isinstance(m, dict)] if isinstance(members, list) else []
        first = _weight(entries[0].get("weight")) if entries else None
        files = [ModelFile(self.store.final_model, first or 1.0, self.trial(number), final=True)]
        for member in entries[1:] if first else []:
            n, weight = member.get("trial"), _weight(member.get("weight"))
            if type(n) is int and weight and self.store.final_member(n).is_file():
                files.append(ModelFile(self.store.final_member(n), weight, self.trial(n), final=True))
        total = sum(f.weight for f in files)
        return [dataclasses.replace(f, weight=f.weight / total) for f in files]

    def saved(self) -> list[TrialRecord]:
        """The trials whose model is on disk, best first."""
        return [r for r in self.ranked() if r.model_path and (self.path / r.model_path).is_file()]

    def _ensemble_models(self, trial: int | None) -> list[TrialRecord]:
        kept = self.saved()[: self.settings.top_k]
        if trial is not None or len(kept) < 2:
            why = (
                "an ensemble averages the kept models, so it takes no --trial"
                if trial is not None
                else f"an ensemble needs 2 or more, and {self.path} keeps {len(kept)} (a search with --top-k 3 "
                "keeps its 3 best); use its best model without --ensemble"
            )
            raise RunError(f"Cannot predict with an ensemble: {why}")
        return kept

    def _saved_model(self, trial: int | None) -> TrialRecord:
        saved = self.saved()
        chosen = [r for r in saved if trial is None or r.number == trial]
        if chosen:
            return chosen[0]
        kept = ", ".join(str(r.number) for r in sorted(saved, key=lambda r: r.number)) or "none"
        raise RunError(
            f"{self.path} has no saved model{'' if trial is None else f' for trial {trial}'} (trials with "
            f"a model in {self.path / 'models'}: {kept}). Only the top-{self.settings.top_k} trials keep "
            f"their models; {'pick one of those' if saved else 'let the search finish a trial first'}"
        )


def _weight(value: Any) -> float | None:
    """A member's weight from run.json: a finite positive number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None
