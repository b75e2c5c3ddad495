"""The one teacher recipe every job and figure shares, cached by its settings and its code.

:func:`train_teacher` trains a teacher (or an ensemble of ``members``) with the MNIST-1D recipe
(Greydanus & Kobak 2024: Adam, learning rate 1e-2, batch 100; one compiled chunk per 1,000
steps) and returns a :class:`Teacher`: its log-probabilities on the train, test and transfer
inputs and its weights. The weights are stored by :func:`bayeskd.cache.cached_arrays` under a key
made of the training arrays, the model, the run length, the seed, the member count, the JAX
version and the source of every module that trains it (:data:`TEACHER_CODE`), so a teacher never
outlives the code that trained it, and ``--fresh`` retrains it; its predictions on any split (a
transfer set of any size) are computed from them.
"""

from __future__ import annotations

import dataclasses
import hashlib

import jax
import numpy as np
from flax import nnx

from bayeskd.cache import cached_arrays
from bayeskd.data import Dataset
from bayeskd.metrics import classification_metrics
from bayeskd.models import MODELS, ModelFactory, UserModel, check_user_model, is_user_model
from bayeskd.priors import ModelTeacher, NoPrior
from bayeskd.training import (
    TrainConfig,
    apply_members,
    fit,
    from_leaves,
    to_leaves,
    train_eval_graphdefs,
)
from bayeskd.validate import check_choice

__all__ = ["BATCH_SIZE", "LEARNING_RATE", "TEACHER_CODE", "TEACHER_SEED", "Teacher",
           "model_fn", "recipe", "train_teacher"]

LEARNING_RATE = 1e-2
BATCH_SIZE = 100
TEACHER_SEED = 1000  # every job's and figure's teacher seed, so all share one cached teacher
#: The modules whose code trains a teacher: their source is part of the cache key.
TEACHER_CODE = ("bayeskd.training", "bayeskd.models", "bayeskd.priors", "bayeskd.losses",
                "bayeskd.data", "bayeskd.distributed", __name__)


def model_fn(name: str, ds: Dataset, **kwargs) -> ModelFactory | UserModel:
    """``key -> module`` for model ``name`` on dataset ``ds`` (hashable: equal ones compile once).

    ``name`` is one of :data:`~bayeskd.models.MODELS`, or ``module.path:factory`` for your own
    architecture (:class:`~bayeskd.models.UserModel`, checked by
    :func:`~bayeskd.models.check_user_model`; it takes no ``kwargs``).
    """
    shape = tuple(ds.x_train.shape[1:])
    if is_user_model(name):
        if kwargs:
            raise ValueError(f"model: {name!r} is your own model and takes no options, got "
                             f"{', '.join(sorted(kwargs))}")
        check_user_model(name, shape, ds.num_classes, name="model")
        return UserModel(name, shape, ds.num_classes)
    check_choice(name, MODELS, name="model")
    return ModelFactory(name, shape, ds.num_classes, tuple(sorted(kwargs.items())))


def recipe(steps: int, *, chunk: int = 1000, batch_size: int = BATCH_SIZE,
           learning_rate: float = LEARNING_RATE) -> TrainConfig:
    """The MNIST-1D recipe with ``steps`` steps in compiled chunks of the largest divisor of
    ``steps`` not above ``chunk`` nor a quarter of the run (so every run checkpoints mid-way)."""
    every = next(c for c in range(max(1, min(chunk, steps // 4)), 0, -1) if steps % c == 0)
    return TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                       eval_every=every)


@dataclasses.dataclass(frozen=True)
class Teacher:
    """A trained teacher: log-probabilities ``[M, N, K]`` of its ``M`` members on each split and
    its weights (``params``: the leaves of its whole state, each ``[M, ...]``: its ``nnx.Param``
    state, and batch statistics and RNG streams for a model that has them, PRNG keys as their
    raw key data)."""

    model: str
    logp_train: np.ndarray
    logp_test: np.ndarray
    logp_transfer: np.ndarray
    params: tuple[np.ndarray, ...]
    factory: ModelFactory

    @property
    def param_count(self) -> int:
        return int(sum(np.prod(a.shape[1:]) for a in self.params))

    def probs_test(self, member: int = 0) -> np.ndarray:
        return np.exp(self.logp_test[member])

    def metrics(self, y_test: np.ndarray, member: int = 0) -> dict:
        """The test metrics of one member (accuracy, NLL, ECE, ...)."""
        return classification_metrics(self.probs_test(member), y_test)

    def network(self, member: int | None = 0) -> ModelTeacher:
        """Member ``member`` as a :class:`bayeskd.priors.ModelTeacher`, callable ``x -> logits``
        inside a compiled step (``None``: every member, stacked ``[M, ...]``)."""
        _, graphdef, abstract = train_eval_graphdefs(nnx.eval_shape(lambda: self.factory(jax.random.key(0))))
        leaves = [a if member is None else a[member] for a in self.params]
        return ModelTeacher(graphdef, from_leaves(abstract, leaves))


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


def train_teacher(ds: Dataset, *, steps: int, model: str = "cnn", members: int = 1,
                  seed: int = TEACHER_SEED, progress: bool | None = None, checkpoint=None,
                  cache: bool = True, log=None, **model_kwargs) -> Teacher:
    """The teacher ``model`` trained on ``ds`` by :func:`recipe` for ``steps`` steps, from the
    cache when the same settings and code trained it before.

    ``members > 1`` trains an ensemble in one vmapped run (member ``m`` from ``fold_in(seed,
    m)``). ``checkpoint`` (a trainer checkpoint) makes the training resumable after a kill;
    ``log`` hears how many steps were trained here (fewer than ``steps`` after a resume).
    """
    factory = model_fn(model, ds, **model_kwargs)
    config = recipe(steps)

    def compute() -> dict:
        res = fit(factory, {"x": ds.x_train, "y": ds.y_train}, prior=NoPrior(), config=config,
                  key=jax.random.key(seed), num_members=members, progress=progress,
                  desc=f"teacher {model}", checkpoint=checkpoint)
        if log is not None:
            log(f"teacher {model}: {res.steps_run} of {steps} steps trained here")
        return {f"param_{i}": a for i, a in enumerate(to_leaves(res.variables))}

    key = {"data": _digest(ds.x_train, ds.y_train), "model": model,
           "model_kwargs": sorted(model_kwargs.items()), "config": dataclasses.asdict(config),
           "seed": seed, "members": members, "jax": jax.__version__}
    if isinstance(factory, UserModel):  # an edited model file retrains the teacher
        key["model_code"] = factory.code_digest()
    arrays = cached_arrays("teachers", key, compute, code=TEACHER_CODE, use_cache=cache)
    params = tuple(arrays[f"param_{i}"] for i in range(len(arrays)))
    net = Teacher(model, *(np.zeros((members, 0, ds.num_classes), np.float32),) * 3, params,
                  factory).network(None)
    x_transfer = ds.x_transfer if ds.x_transfer is not None else ds.x_train[:0]
    logp = [np.asarray(jax.nn.log_softmax(apply_members(net.graphdef, net.params, x), axis=-1))
            if len(x) else np.zeros((members, 0, ds.num_classes), np.float32)
            for x in (ds.x_train, ds.x_test, x_transfer)]
    return Teacher(model, *logp, params, factory)
