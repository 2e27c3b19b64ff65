"""Search orchestration: run, load and resume searches over a run folder."""

from autodl.search._budget import parse_duration
from autodl.search._data import load_data
from autodl.search.api import (
    check_settings,
    join_search,
    load,
    resume_search,
    run_search,
)
from autodl.search.callbacks import CallbackList, SearchCallback
from autodl.search.in_workers import resume_in_workers, run_in_workers
from autodl.search.search import Search, SearchInterrupted
from autodl.search.workers import WorkerSlot, plan_workers

__all__ = [
    "CallbackList",
    "Search",
    "SearchCallback",
    "SearchInterrupted",
    "WorkerSlot",
    "check_settings",
    "join_search",
    "load",
    "load_data",
    "parse_duration",
    "plan_workers",
    "resume_in_workers",
    "resume_search",
    "run_in_workers",
    "run_search",
]
