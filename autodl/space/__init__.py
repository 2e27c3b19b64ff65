"""Declarative search spaces: YAML files -> ``SearchSpace`` -> one architecture per trial."""

from autodl.space.loader import bundled_spaces, bundled_text, load_space, parse_space, space_from_dict
from autodl.space.params import BaseParam, BoolParam, ChoiceParam, FixedParam, FloatParam, IntParam
from autodl.space.space import Architecture, SearchSpace
from autodl.space.suggest import BaseSuggester, FixedSuggester, RandomSuggester, WidestSuggester

__all__ = [
    "Architecture",
    "BaseParam",
    "BaseSuggester",
    "BoolParam",
    "ChoiceParam",
    "FixedParam",
    "FixedSuggester",
    "FloatParam",
    "IntParam",
    "RandomSuggester",
    "SearchSpace",
    "WidestSuggester",
    "bundled_spaces",
    "bundled_text",
    "load_space",
    "parse_space",
    "space_from_dict",
]
