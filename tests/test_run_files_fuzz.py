"""Edited or damaged run folders: `autodl show` and `autodl runs` end in a result or exit 2.

trials.json and run.json are not signed: a hand edit, a copy from elsewhere or a damaged
disk may leave any JSON there. Hypothesis replaces a field of one trial (or of run.json), or
the whole file, with hostile JSON; the commands print a result or autodl's one message.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autodl.cli.main import cli

EXAMPLES = int(os.environ.get("AUTODL_FUZZ_EXAMPLES", "0"))
JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10**20),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.sampled_from(
            [
                "complete",
                "pruned",
                "failed",
                "interrupted",
                "running",
                "[/x]",
                "../../x.keras",
                "models/trial_0000.keras",
                "/etc/passwd",
            ]
        ),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
TRIAL_KEYS = [
    "number",
    "state",
    "params",
    "value",
    "epochs",
    "seconds",
    "n_params",
    "history",
    "error",
    "model_path",
    "worker",
    "start",
]
RUN_KEYS = [
    "settings",
    "space",
    "dataset",
    "best",
    "counts",
    "test_metrics",
    "status",
    "created",
    "timings",
    "versions",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import autodl

    out = tmp_path_factory.mktemp("runs")
    autodl.run_search(
        dataset="digits", space="mlp", trials=2, epochs=1, subset=200, pruner="none", out=str(out), name="r", top_k=2
    )
    return out / "r"


@settings(
    max_examples=EXAMPLES or 40,
    derandomize=not EXAMPLES,
    deadline=datetime.timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_edited_trials_and_run_json_end_in_a_result_or_one_message(run, tmp_path_factory, data):
    out = tmp_path_factory.mktemp("copy")
    folder = out / "r"
    shutil.copytree(run, folder)
    name = data.draw(st.sampled_from(["trials.json", "run.json"]))
    content = json.loads((folder / name).read_text())
    how = data.draw(st.sampled_from(["field", "field", "whole"]))
    if how == "whole":
        content = data.draw(JSON)
    elif name == "trials.json":
        trial = data.draw(st.sampled_from(content["trials"]))
        trial[data.draw(st.sampled_from(TRIAL_KEYS))] = data.draw(JSON)
    else:
        content[data.draw(st.sampled_from(RUN_KEYS))] = data.draw(JSON)
    (folder / name).write_text(json.dumps(content))
    for args in (["show", str(folder)], ["show", str(folder), "--trial", "1"], ["runs", "--out", str(out)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code in (0, 2), (args, name, content, result.output, result.exception)
        assert "Traceback" not in result.output
