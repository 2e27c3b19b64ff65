"""What a resumed run must keep: the space it started with.

A run's space is saved in its ``search.pkl`` and a resume always continues with that copy:
trials drawn from two spaces are not comparable, and the sampler's history would not fit
the new distributions. Asking for another space is refused; a space file edited since the
start is ignored, with a warning that says how to search the edited space (a new search).
The data are checked by fingerprint in ``search.load_data``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from autodl.exceptions import AutoDLError, RunError
from autodl.records import SearchSettings
from autodl.space import SearchSpace, load_space
from autodl.space.compare import first_difference, searched

logger = logging.getLogger(__name__)


def check_space(saved: SearchSpace, given: str | Path | None, *, saved_in: Path, settings: SearchSettings) -> None:
    """Refuse ``given`` (a space name or file) unless it searches what ``saved`` does.

    With ``given=None`` the space the run was started from (``settings.space``) is read
    again; if it changed since, a warning says the saved copy is used.

    Raises:
        RunError: ``given`` differs from the saved space.
        SpaceError: ``given`` cannot be loaded.
    """
    if given is not None:
        other = load_space(given)
        if searched(other) != searched(saved):
            raise RunError(
                f"--space {given} is not the space this run searches (the {saved.name!r} space saved in "
                f"{saved_in}; {first_difference(searched(saved), searched(other))}). A run keeps its space: "
                f"resume without --space to continue it with the saved one, or start a new search over the "
                f"other space: autodl search {settings.dataset} --space {given}"
            )
        return
    try:
        current = load_space(settings.space)
    except AutoDLError:  # moved or deleted since: the saved copy is what counts
        return
    if searched(current) != searched(saved):
        logger.warning(
            "the space %s changed since this run started (%s); the run continues with the space saved in its "
            "search.pkl. To search the edited space, start a new search: autodl search %s --space %s",
            settings.space,
            first_difference(searched(saved), searched(current)),
            settings.dataset,
            settings.space,
        )
