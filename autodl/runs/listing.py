"""Find the runs under an output folder and summarise each from its run.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def list_runs(out_dir: str | Path) -> list[dict[str, Any]]:
    """One summary per run folder under ``out_dir``, newest first; unreadable folders skipped."""
    rows = []
    out = Path(out_dir)
    if not out.is_dir():
        return []
    for run_json in out.glob("*/run.json"):
        try:
            info = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        settings, best, counts = info.get("settings") or {}, info.get("best") or {}, info.get("counts") or {}
        rows.append({
            "run": run_json.parent.name, "path": str(run_json.parent), "status": info.get("status"),
            "dataset": (info.get("dataset") or {}).get("name") or settings.get("dataset"),
            "space": (info.get("space") or {}).get("name"), "backend": settings.get("backend"),
            "trials": sum(counts.get(k, 0) for k in ("complete", "pruned", "failed")),
            "best": best.get("value"), "test": (info.get("test_metrics") or {}).get("accuracy"),
            "created": info.get("created"),
        })
    return sorted(rows, key=lambda r: r.get("created") or "", reverse=True)
