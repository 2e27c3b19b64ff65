"""Train one trial: fit with early stopping and pruning reports, evaluate, free memory."""

from autodl.training.callbacks import EpochReporter, make_trial_callback
from autodl.training.trainer import FitResult, evaluate, fit_model, free_memory, predict_proba, refit_model

__all__ = [
    "EpochReporter",
    "FitResult",
    "evaluate",
    "fit_model",
    "free_memory",
    "make_trial_callback",
    "predict_proba",
    "refit_model",
]
