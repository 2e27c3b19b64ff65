"""The HTML report of a run (``reports/<run>/report.html``) and the index of all runs.

Reads only the run folder (``run.json``, ``trials.json``, ``evaluation.npz``, the best
model, Optuna's ``study.db``), so a report can be rebuilt at any time, also for a run that
was interrupted or is still going.
"""

from __future__ import annotations

from autodl.reporting.html import write_index, write_report

__all__ = ["write_index", "write_report"]
