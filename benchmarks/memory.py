"""Memory: this process's resident memory after every trial of a 200-trial search.

The search runs in this one Python process, as for a Python caller, whose process autodl never
replaces; the command line continues a long search in a fresh process (``memory_cli``).

One ``run_search`` (default ``cnn`` space, 1 epoch per trial, no pruning) with a
``SearchCallback`` that reads the resident set size (psutil, else ``/proc/self/status``) in
``on_trial_end``, after the trial's model is saved and Keras' state cleared. Trials differ in
size, so memory may rise to the largest model's footprint; the target is about leaks: after
trial 5, memory stays within 10% of its value then.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import fmt, rss_mb, scratch

MAX_GROWTH, BASE_TRIAL = 0.10, 5
TRIALS = 200
DURATION = "about 13 minutes on 2 quiet cores"
TITLE = f"Memory: resident memory over {TRIALS} trials"
TARGET_TEXT = f"no growth beyond {MAX_GROWTH:.0%} after trial {BASE_TRIAL} (resident memory, {TRIALS} trials)"
MARKS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 125, 150, 175, 200)


def analyse(rss: list[float | None], n_params: list[int]) -> dict[str, Any]:
    """The verdict, summary and table of resident memory after each trial (MiB; None: not read)."""
    base = next(v for v in rss[BASE_TRIAL - 1 :] if v is not None)
    after = [v for v in rss[BASE_TRIAL:] if v is not None]
    peak = max(after) if after else base
    growth = peak / base - 1
    n = len(after)
    slope = 0.0
    if n >= 2:  # least-squares MB per trial after the base trial
        xs = range(n)
        mx, my = (n - 1) / 2, sum(after) / n
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, after)) / sum((x - mx) ** 2 for x in xs)
    marks = [t for t in MARKS if t <= len(rss)]
    rows = [
        [t, fmt(rss[t - 1], 0), f"{rss[t - 1] / base - 1:+.1%}", f"{n_params[t - 1]:,}"]
        for t in marks
        if rss[t - 1] is not None
    ]
    return {
        "passed": growth <= MAX_GROWTH,
        "summary": f"{growth:+.1%} peak after trial {BASE_TRIAL} ({base:.0f} -> {peak:.0f} MiB), "
        f"trend {slope:+.1f} MiB/trial",
        "columns": ["after trial", "resident MiB", f"vs trial {BASE_TRIAL}", "that trial's parameters"],
        "rows": rows,
        "rss_mb": [None if v is None else round(v, 1) for v in rss],
    }


def run(quick: bool) -> dict[str, Any]:
    import autodl

    if quick:
        settings = {"dataset": "digits", "subset": 200, "trials": 7}
    else:
        settings = {"dataset": "fashion_mnist", "subset": 3000, "trials": TRIALS}
    rss: list[float] = []
    start: list[float] = []

    class Meter(autodl.SearchCallback):
        def on_search_start(self, search: Any) -> None:
            start.append(rss_mb())

        def on_trial_end(self, record: Any) -> None:
            rss.append(rss_mb())

    with scratch("memory") as tmp:
        search = autodl.run_search(epochs=1, pruner="none", out=tmp, seed=0, callbacks=[Meter()], **settings)
        n_params = [r.n_params or 0 for r in search.records]
    return {
        "title": TITLE,
        "target": TARGET_TEXT,
        **analyse(rss, n_params),
        "rss_at_search_start_mb": round(start[0], 1) if start else None,
        "params": {**settings, "epochs": 1},
        "notes": [
            f"{settings['trials']} trials of the default `cnn` space, 1 epoch each, on {settings['dataset']} "
            f"(subset {settings['subset']}); memory read after each trial (models saved, Keras state cleared).",
            f"Resident memory when the search started (data loaded, TensorFlow imported): "
            f"{start[0] if start else float('nan'):.0f} MiB; every trial's value is in the JSON (`rss_mb`).",
            "The trend is a least-squares slope over the trials after the base trial; a leak shows as a "
            "steady positive slope, a bigger model as a step.",
        ],
    }
