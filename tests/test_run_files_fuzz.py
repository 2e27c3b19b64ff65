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
    "final",
    "ensemble",
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


MEMBER = st.one_of(
    JSON,
    st.fixed_dictionaries({"trial": st.one_of(st.integers(-1, 3), JSON), "weight": st.one_of(st.floats(), JSON)}),
)


@settings(
    max_examples=EXAMPLES or 40,
    derandomize=not EXAMPLES,
    deadline=datetime.timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(members=st.one_of(JSON, st.lists(MEMBER, max_size=4)))
def test_an_edited_final_model_still_gives_predict_existing_files_whose_weights_sum_to_one(
    run, tmp_path_factory, members
):
    """``final.members`` says which trained-again models the final model averages, and how:
    predict and export use only the store's own files, with positive weights summing to 1."""
    import math

    import autodl
    from autodl.exceptions import AutoDLError

    folder = tmp_path_factory.mktemp("final") / "r"
    shutil.copytree(run, folder)
    info = json.loads((folder / "run.json").read_text())
    info["final"]["members"] = members
    (folder / "run.json").write_text(json.dumps(info))
    try:
        files = autodl.load(folder).model_files()
    except AutoDLError:
        return  # one message, as the CLI would print it
    assert files and all(f.path.is_file() and f.path.parent == folder / "models" for f in files)
    assert all(f.weight > 0 for f in files) and math.isclose(sum(f.weight for f in files), 1.0)
