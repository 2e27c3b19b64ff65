"""Find the runs under an output folder and summarise each from its run.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def list_runs(out_dir: str | Path) -> list[dict[str, Any]]:
    """One summary per run folder under ``out_dir``, newest first.

    A run.json that cannot be read, or that is not autodl's (a list, fields of other types),
    is skipped with a warning: one broken folder never hides the others.
    """
    rows = []
    out = Path(out_dir)
    if not out.is_dir():
        return []
    for run_json in out.glob("*/run.json"):
        try:
            info = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            info = None
        if not isinstance(info, dict):
            logger.warning("%s is not an autodl run.json (not a JSON object); that folder is left out", run_json)
            continue
        settings, best, counts = (
            _mapping(info.get("settings")),
            _mapping(info.get("best")),
            _mapping(info.get("counts")),
        )
        rows.append(
            {
                "run": run_json.parent.name,
                "path": str(run_json.parent),
                "status": _scalar(info.get("status")),
                "dataset": _scalar(_mapping(info.get("dataset")).get("name") or settings.get("dataset")),
                "space": _scalar(_mapping(info.get("space")).get("name")),
                "backend": _scalar(settings.get("backend")),
                "trials": sum(
                    n
                    for k in ("complete", "pruned", "failed")
                    if isinstance(n := counts.get(k, 0), int) and not isinstance(n, bool)
                ),
                "best": _number(best.get("value")),
                "test": _number(_mapping(info.get("test_metrics")).get("accuracy")),
                "created": _scalar(info.get("created")),
            }
        )
    return sorted(rows, key=lambda r: str(r.get("created") or ""), reverse=True)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scalar(value: Any) -> str | None:
    """A text cell: what run.json holds, if it is short text (a hand-edited file may hold anything)."""
    return value[:200] if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
