"""The decline step's worker processes: a :class:`basinlab.workers.BatchPool` named for the step, and
how many (:func:`default_workers`)."""
from __future__ import annotations

from .. import config
from .. import workers as _workers
from ..workers import WorkerError

#: ``$BASINLAB_DECLINE_WORKERS``: worker processes of the decline step (``1``: none, all in the step's process)
ENV_WORKERS = "BASINLAB_DECLINE_WORKERS"


def default_workers() -> int:
    """``$BASINLAB_DECLINE_WORKERS``, else ``$BASINLAB_THREADS``, else the cores this process may use.

    Raises ``ValueError`` naming the variable when it is not a whole number >= 1.
    """
    return config.env_count(ENV_WORKERS) or config.threads_setting()


class BatchPool(_workers.BatchPool):
    """:class:`basinlab.workers.BatchPool` for the decline step: a dead worker's error names
    ``$BASINLAB_DECLINE_WORKERS``."""

    def __init__(self, workers: int):
        super().__init__(workers, what="decline", setting=ENV_WORKERS, preload=("basinlab.decline.step",))


__all__ = ["BatchPool", "ENV_WORKERS", "WorkerError", "default_workers"]
