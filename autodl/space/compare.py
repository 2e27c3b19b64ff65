"""Whether two spaces search the same thing, and where they differ first.

A resumed run and every worker of a shared study must search one space: trials drawn from
two spaces are not comparable, and a sampler's history does not fit other distributions.
"""

from __future__ import annotations

from typing import Any

from autodl.exceptions import brief
from autodl.space.space import SearchSpace


def searched(space: SearchSpace | dict[str, Any]) -> dict[str, Any]:
    """What a space (or its dict form) searches: all but name, description and start points.

    The start configurations only seed a new search, so a resume may drop or edit them.
    """
    data = space.to_dict() if isinstance(space, SearchSpace) else space
    return {k: v for k, v in data.items() if k not in ("name", "description", "start")}


def first_difference(saved: Any, other: Any, path: str = "", *, labels: tuple[str, str] = ("saved", "now")) -> str:
    """``dense.units.max: saved 512, now 1024``, for the first key where two space dicts differ."""
    if isinstance(saved, dict) and isinstance(other, dict):
        for key in [*saved, *(k for k in other if k not in saved)]:
            if saved.get(key) != other.get(key):
                return first_difference(saved.get(key), other.get(key), f"{path}.{key}" if path else key, labels=labels)
    return f"{path or 'the space'}: {labels[0]} {_short(saved)}, {labels[1]} {_short(other)}"


def _short(value: Any, limit: int = 60) -> str:
    return brief(value, limit)
