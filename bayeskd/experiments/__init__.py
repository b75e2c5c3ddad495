"""The harness: one runner (:mod:`~bayeskd.experiments.runner`) and the experiment specs it runs
(:mod:`~bayeskd.experiments.specs`, listed in :mod:`~bayeskd.experiments.registry`), with the
pieces they share: :func:`train_teacher` (the one teacher recipe, cached by its settings and its
code), :func:`load_job_dataset` and :func:`evaluate_member`.

    >>> from bayeskd.experiments import run
    >>> results = run("hinton_kd", size="smoke", out="/tmp/hinton")      # doctest: +SKIP
"""

from bayeskd.experiments.common import evaluate_member, load_job_dataset
from bayeskd.experiments.runner import resolve, run
from bayeskd.experiments.teachers import Teacher, train_teacher

__all__ = ["Teacher", "evaluate_member", "load_job_dataset", "resolve", "run", "train_teacher"]
