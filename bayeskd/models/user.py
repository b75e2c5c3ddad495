"""Your own architecture: ``module.path:factory`` (or ``path/to/file.py:factory``) as a model.

A factory is a function ``rngs -> nnx.Module`` (an ``nnx.Rngs`` in) whose module maps inputs
``x [B, ...]`` to logits ``[B, K]`` with ``__call__(x)``. :class:`UserModel` is the ``key ->
module`` function the trainer takes (hashable by value, like
:class:`~bayeskd.models.ModelFactory`); :func:`check_user_model` checks a factory before any
work, with an abstract forward pass (:func:`nnx.eval_shape`) and one small real one.

A module path is imported like ``python -m`` would: the current folder is searched first. The
module's source is part of a trained teacher's cache key (:meth:`UserModel.code_digest`), so an
edited file retrains it.

Example:
  >>> m = UserModel("bayeskd.models.user:example_mlp", (40,), 10)
  >>> m == UserModel("bayeskd.models.user:example_mlp", (40,), 10)
  True
  >>> check_user_model(m.spec, (40,), 10, name="teacher")
  >>> m(jax.random.key(0))(jax.numpy.zeros((3, 40))).shape
  (3, 10)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import pathlib
import sys
from collections.abc import Callable
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["NotAModule", "UserModel", "check_user_model", "is_user_model", "parse_spec"]


class NotAModule(TypeError):
    """A factory returned something other than an ``nnx.Module``."""


def is_user_model(name: str) -> bool:
    """Whether model ``name`` is a ``module:factory`` spec rather than a built-in name."""
    return isinstance(name, str) and ":" in name


def parse_spec(spec: str, *, name: str = "model") -> tuple[str, str]:
    """``(module, attribute)`` of ``spec`` = ``module.path:factory`` or ``file.py:factory``.

    Raises:
      ValueError: ``spec`` is not of that form (the message starts with ``name``).
    """
    module, sep, attr = str(spec).rpartition(":")
    if not sep or not module.strip() or not all(p.isidentifier() for p in attr.split(".")):
        raise ValueError(f"{name}: must be a model name or module.path:factory (or "
                         f"path/to/file.py:factory), got {spec!r}")
    return module.strip(), attr


def _import(module: str) -> ModuleType:
    """The module ``module`` (a dotted path, or a ``.py`` file imported under a name derived
    from its absolute path), searching the current folder first like ``python -m``."""
    if module.endswith(".py"):
        path = pathlib.Path(module).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file {str(path)!r}")
        key = "bayeskd_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if key not in sys.modules:
            spec = importlib.util.spec_from_file_location(key, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[key] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                del sys.modules[key]
                raise
        return sys.modules[key]
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    finally:
        if added:
            sys.path.remove(cwd)


def _factory(spec: str) -> Callable:
    module, attr = parse_spec(spec)
    return functools.reduce(getattr, attr.split("."), _import(module))


@dataclasses.dataclass(frozen=True)
class UserModel:
    """``key -> module`` for a user's ``module.path:factory``: hashable and equal by value.

    Calling it imports the factory and returns ``factory(nnx.Rngs(key))``; the trainer calls
    it as ``module(x)`` (:func:`bayeskd.training.call_model`). ``input_shape`` (without the batch axis)
    and ``num_classes`` are the data's, for the checks and the cache key.

    Raises (on call):
      NotAModule: the factory returned something other than an ``nnx.Module``.
    """

    spec: str
    input_shape: tuple[int, ...]
    num_classes: int

    def __post_init__(self):
        parse_spec(self.spec)
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "num_classes", int(self.num_classes))

    def __call__(self, key: jax.Array) -> nnx.Module:
        net = _factory(self.spec)(nnx.Rngs(key))
        if not isinstance(net, nnx.Module):
            raise NotAModule(f"returned {type(net).__name__}, not an nnx.Module")
        return net

    def code_digest(self) -> str:
        """sha256 of the source file of the factory's module (part of cache keys)."""
        module, _ = parse_spec(self.spec)
        mod = _import(module)
        path = getattr(mod, "__file__", None)
        data = pathlib.Path(path).read_bytes() if path else inspect.getsource(mod).encode()
        return hashlib.sha256(data).hexdigest()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


@functools.lru_cache(maxsize=64)
def _problem(spec: str, input_shape: tuple[int, ...], num_classes: int) -> str | None:
    """What is wrong with ``spec`` on inputs ``input_shape`` and ``num_classes`` (``None``: all
    well); the text follows the argument's name in the error."""
    module, attr = parse_spec(spec)
    try:
        mod = _import(module)
    except Exception as e:  # any failure of the user's code is reported
        return f"cannot import module {module!r} ({_one_line(e)})"
    try:
        factory = functools.reduce(getattr, attr.split("."), mod)
    except AttributeError:
        return f"module {module!r} has no attribute {attr!r}"
    if not callable(factory):
        return f"{spec!r} is not callable (a {type(factory).__name__}); give a function rngs -> " \
               "nnx.Module"
    model = UserModel(spec, input_shape, num_classes)
    try:
        abstract = nnx.eval_shape(lambda: model(jax.random.key(0)))
    except NotAModule as e:
        return f"{spec!r} {e} (a function rngs -> nnx.Module)"
    except Exception as e:
        return f"{spec!r} failed to build the model ({_one_line(e)})"
    x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
    graphdef, state = nnx.split(abstract)
    try:
        out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, x)
    except Exception as e:
        return f"{spec!r} fails on inputs of shape {list(x.shape)} ({_one_line(e)})"
    want = (2, num_classes)
    if getattr(out, "shape", None) != want:
        got = list(out.shape) if hasattr(out, "shape") else type(out).__name__
        return f"{spec!r} must return logits [B, {num_classes}] on inputs [B, " \
               f"{', '.join(map(str, input_shape))}], got {got} for B = 2"
    net = model(jax.random.key(0))
    if hasattr(net, "eval"):
        net.eval()
    x = jnp.stack([jnp.zeros(input_shape, jnp.float32), jnp.ones(input_shape, jnp.float32)])
    if not bool(np.all(np.isfinite(np.asarray(net(x))))):
        return f"{spec!r} returns non-finite logits (nan or inf) on a batch of zeros and ones"
    return None


def check_user_model(spec: str, input_shape: tuple[int, ...], num_classes: int, *,
                     name: str = "model") -> None:
    """Check the factory ``spec`` on the data's input shape before any work.

    Checks, in order: the form ``module:attr``; the import; that the attribute exists and is
    callable; that it returns an ``nnx.Module``; that the module's output on a batch
    ``[B, *input_shape]`` is ``[B, num_classes]`` (abstract: :func:`nnx.eval_shape`, nothing
    computed); that its logits on a batch of zeros and ones are finite (one real forward pass, in
    ``eval()`` mode). Results are remembered per ``(spec, input_shape, num_classes)``.

    Args:
      spec: ``module.path:factory`` or ``path/to/file.py:factory``.
      input_shape: one input's shape, without the batch axis.
      num_classes: ``K``.
      name: the argument's name, which every message starts with (``teacher``, ``student``).

    Raises:
      ValueError: ``"<name>: <what is wrong>"``, one line.
    """
    parse_spec(spec, name=name)
    problem = _problem(str(spec), tuple(int(d) for d in input_shape), int(num_classes))
    if problem is not None:
        raise ValueError(f"{name}: {problem}")


class _ExampleMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(40, 32, rngs=rngs)
        self.out = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.relu(self.hidden(x.reshape(x.shape[0], -1))))


def example_mlp(rngs: nnx.Rngs) -> nnx.Module:
    """A factory for MNIST-1D (inputs ``[B, 40]``, 10 classes), for the docstring's example."""
    return _ExampleMLP(rngs)
