"""Search orchestration: run, load and resume searches over a run folder."""

from autodl.search.api import check_settings, join_search, load, resume_search, run_search
from autodl.search.callbacks import CallbackList, SearchCallback
from autodl.search.search import Search, SearchInterrupted

__all__ = ["CallbackList", "Search", "SearchCallback", "SearchInterrupted", "check_settings", "join_search", "load",
           "resume_search", "run_search"]
