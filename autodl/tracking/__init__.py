"""Send a search to where teams already watch experiments: MLflow and TensorBoard.

Both are ``SearchCallback`` implementations that the CLI adds for ``--mlflow [URI]`` and
``--tensorboard``; from Python, pass them to ``run_search(callbacks=[...])``. Each needs its
extra (``pip install 'autodl[mlflow]'``; TensorBoard comes with autodl). Neither may stop a
search: a failed write is logged and tracking goes on with the next event.
"""

from autodl.tracking.mlflow import MLflowCallback
from autodl.tracking.tensorboard import TensorBoardCallback

__all__ = ["MLflowCallback", "TensorBoardCallback"]
