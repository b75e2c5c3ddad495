r"""Input augmentations with explicit keys: invariance priors the trainer applies inside its step.

An augmentation is a pure function ``(key, x [B, ...]) -> x' [B, ...]`` (same shape and dtype; the
same key gives the same views). Training on fresh augmented views of the training inputs with
their own labels is maximum likelihood under a prior that says the class does not change under
the transformations (an *invariance prior*); training on views labelled by a teacher evaluated on
the same view is function matching (Beyer et al. 2022, "Knowledge distillation: a good teacher is
patient and consistent").

The augmentations are frozen dataclasses, so they are hashable and equal when their settings are
equal: :func:`bayeskd.training.fit` takes one as a static argument (``fit(..., augment=...)``) and
equal augmentations share one compiled program.

==================  ======================  =====================================================
name                data                    transformation
==================  ======================  =====================================================
``mnist1d``         signals ``[B, L]``      circular shift, amplitude scale, i.i.d. noise (the
                                            generator's own transformations, :class:`ShiftScaleNoise`)
``crop_flip``       images ``[B, H, W, C]`` random crop of the zero-padded image, horizontal flip
``mixup``           any ``[B, ...]``        convex combination with another example of the batch,
                                            the example itself dominant (:class:`Mixup`)
==================  ======================  =====================================================

Function matching from Python, with any teacher (an NNX module, a
:class:`bayeskd.priors.ModelTeacher` or any callable ``x -> logits``)::

    import jax
    from bayeskd import ModelFactory, TeacherPrior, TrainConfig, fit, load_dataset
    from bayeskd.data import ShiftScaleNoise

    ds = load_dataset("mnist1d")
    res = fit(ModelFactory("mlp", (40,), 10), {"x": ds.x_train, "y": ds.y_train},
              prior=TeacherPrior(alpha=1.0, temperature=1.0, teacher=my_teacher),
              augment=ShiftScaleNoise(), key=jax.random.key(0),
              config=TrainConfig(steps=6000, learning_rate=1e-2))

``TeacherPrior(..., view="independent")`` shows the teacher a second, independent view instead
(inconsistent teaching); ``prior=NoPrior()`` with the same ``augment`` is the teacher-free control.

:func:`make_augmentation` builds one by name (the registry :data:`AUGMENTATIONS`;
:func:`parse_augmentation` reads the CLI's ``NAME:SETTING=VALUE`` form);
:func:`default_augmentation` picks the one that fits a dataset.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.validate import check_choice, check_positive_float

__all__ = ["AUGMENTATIONS", "CropFlip", "Mixup", "ShiftScaleNoise", "augmented_copies",
           "default_augmentation", "make_augmentation", "parse_augmentation"]


def _check_nonnegative(value, *, name: str) -> None:
    if value != 0:
        check_positive_float(value, name=name)


@dataclasses.dataclass(frozen=True)
class ShiftScaleNoise:
    r"""MNIST-1D's own nuisance transformations, applied to standardised signals ``[B, L]``.

    .. math::
        x'_{b,i} = (1 + s\,(u_b - \tfrac12))\; x_{b,(i - k_b) \bmod L} + \sigma\,\varepsilon_{b,i},
        \qquad k_b \sim \mathrm U\{-K..K\},\ u_b \sim \mathrm U(0,1),\ \varepsilon \sim \mathcal N(0,1)

    The MNIST-1D generator (Greydanus & Kobak 2024; ``mnist1d.transform.transform``) makes every
    example from one of ten templates by padding, dilating, scaling by
    :math:`1 + 0.4\,(u - \tfrac12)` (``scale_coeff = 0.4``), translating *circularly* by up to 48
    of its 72 padded positions (``max_translation``), adding correlated noise (0.25) and i.i.d.
    noise (``iid_noise_scale = 0.02``), shearing and subsampling to 40 points. The class is
    invariant to each of these, so their re-application is an invariance prior that the data
    itself supports. In the standardised units of :func:`bayeskd.data.load_mnist1d` (raw std
    ≈ 0.154), the generator's i.i.d. noise is ≈ 0.13.

    Attributes:
      max_shift: ``K``, the largest circular shift in output positions (``>= 0``; the generator's
        translation spans up to ≈ 27 of the 40 final positions; the default shifts by at most 5).
      scale: ``s``, the amplitude-scale range (``>= 0``; the generator's ``scale_coeff``).
      noise: ``σ``, i.i.d. Gaussian noise in standardised units (``>= 0``).
    """

    max_shift: int = 5
    scale: float = 0.4
    noise: float = 0.13

    def __post_init__(self):
        if not isinstance(self.max_shift, int | np.integer) or isinstance(self.max_shift, bool) \
                or self.max_shift < 0:
            raise ValueError(f"max_shift: must be an integer >= 0, got {self.max_shift!r}")
        _check_nonnegative(self.scale, name="scale")
        _check_nonnegative(self.noise, name="noise")

    def __call__(self, key: jax.Array, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        b, length = x.shape[0], x.shape[-1]
        k_shift, k_scale, k_noise = jax.random.split(key, 3)
        shift = jax.random.randint(k_shift, (b,), -self.max_shift, self.max_shift + 1)
        cols = (jnp.arange(length)[None, :] - shift[:, None]) % length  # x'_i = x_{i-k}
        flat = x.reshape(b, -1, length)
        rolled = jnp.take_along_axis(flat, cols[:, None, :], axis=-1).reshape(x.shape)
        u = jax.random.uniform(k_scale, (b,) + (1,) * (x.ndim - 1), x.dtype)
        out = (1.0 + self.scale * (u - 0.5)) * rolled
        return (out + self.noise * jax.random.normal(k_noise, x.shape, x.dtype)).astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class CropFlip:
    r"""Random crops of the zero-padded image and horizontal flips, for images ``[B, H, W, C]``.

    .. math::
        x'_b = \mathrm{flip}^{f_b}\big(\mathrm{pad}_p(x_b)[i_b : i_b + H,\ j_b : j_b + W]\big),
        \qquad i_b, j_b \sim \mathrm U\{0..2p\},\ f_b \sim \mathrm{Bernoulli}(\tfrac12)

    The standard CIFAR recipe (He et al. 2016: pad 4, crop 32, flip).

    Attributes:
      pad: ``p``, zero padding on each side (``>= 0``).
      flip: flip horizontally with probability 1/2 (digits are not flip-invariant: set ``False``).
    """

    pad: int = 4
    flip: bool = True

    def __post_init__(self):
        if not isinstance(self.pad, int | np.integer) or isinstance(self.pad, bool) or self.pad < 0:
            raise ValueError(f"pad: must be an integer >= 0, got {self.pad!r}")

    def __call__(self, key: jax.Array, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"x: crop_flip needs images [B, H, W, C], got shape {x.shape}")
        b, h, w, _ = x.shape
        p = self.pad
        k_i, k_j, k_f = jax.random.split(key, 3)
        padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        i = jax.random.randint(k_i, (b,), 0, 2 * p + 1)
        j = jax.random.randint(k_j, (b,), 0, 2 * p + 1)

        def crop(img, i, j):
            return jax.lax.dynamic_slice(img, (i, j, 0), (h, w, img.shape[-1]))

        out = jax.vmap(crop)(padded, i, j)
        if self.flip:
            f = jax.random.bernoulli(k_f, 0.5, (b, 1, 1, 1))
            out = jnp.where(f, out[:, :, ::-1, :], out)
        return out.astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class Mixup:
    r"""Mixup of each example with another example of the same batch, the example dominant.

    .. math::
        x'_b = \lambda_b x_b + (1-\lambda_b)\, x_{\pi(b)}, \qquad
        \lambda_b = \max(\mu_b, 1-\mu_b),\ \mu_b \sim \mathrm{Beta}(\alpha, \alpha),

    with :math:`\pi` a random permutation of the batch (Zhang et al. 2018). Folding
    :math:`\lambda \ge \tfrac12` keeps every view closest to its own example, so its own label
    stays the most plausible one (the ``augment`` prior reads hard labels); a teacher evaluated on
    the view (``kd_augment``) labels the mixture itself.

    Attributes:
      alpha: the Beta concentration (``> 0``; small values keep views close to real inputs).
    """

    alpha: float = 0.4

    def __post_init__(self):
        v = self.alpha
        if not isinstance(v, int | float | np.integer | np.floating) or not (math.isfinite(v)
                                                                              and v > 0):
            raise ValueError(f"alpha: mixup needs a Beta concentration > 0, got {v!r}")

    def __call__(self, key: jax.Array, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        b = x.shape[0]
        k_perm, k_lam = jax.random.split(key)
        perm = jax.random.permutation(k_perm, b)
        mu = jax.random.beta(k_lam, self.alpha, self.alpha, (b,) + (1,) * (x.ndim - 1))
        lam = jnp.maximum(mu, 1.0 - mu).astype(x.dtype)
        return (lam * x + (1.0 - lam) * x[perm]).astype(x.dtype)


#: The augmentations by name (``--augment`` of the CLI), each a class built with keyword settings.
AUGMENTATIONS = {"mnist1d": ShiftScaleNoise, "crop_flip": CropFlip, "mixup": Mixup}


def make_augmentation(name: str, **settings):
    """The augmentation ``name`` of :data:`AUGMENTATIONS` with its settings (checked here).

    Example:
      >>> make_augmentation("mixup", alpha=0.2)
      Mixup(alpha=0.2)
    """
    check_choice(name, tuple(AUGMENTATIONS), name="augment")
    cls = AUGMENTATIONS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ValueError(f"augment: {name} has no setting {unknown[0]!r}; its settings: "
                         f"{', '.join(sorted(fields))}")
    return cls(**settings)


def parse_augmentation(spec: str):
    """An augmentation from the CLI's ``NAME[:SETTING=VALUE,...]``, e.g. ``mnist1d:max_shift=3``
    or ``mixup:alpha=0.2`` (values are numbers, or ``true``/``false``).

    Example:
      >>> parse_augmentation("crop_flip:pad=2,flip=false")
      CropFlip(pad=2, flip=False)
    """
    name, _, rest = str(spec).partition(":")
    settings = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"augment: settings are SETTING=VALUE, got {item!r} in {spec!r}")
        settings[key.strip()] = _parse_value(value.strip(), key=key.strip())
    return make_augmentation(name.strip(), **settings)


def _parse_value(value: str, *, key: str):
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{key}: must be a number, got {value!r}") from None


def default_augmentation(dataset: str, input_shape: tuple[int, ...]):
    """The augmentation that fits a dataset: MNIST-1D's own transformations for ``mnist1d``,
    crops (and flips for CIFAR-10 only; digits and clothes are not mirror-symmetric) for images
    ``[H, W, C]``, mixup for any other vector data."""
    if dataset == "mnist1d":
        return ShiftScaleNoise()
    if len(input_shape) == 3:
        return CropFlip(pad=4 if input_shape[0] >= 28 else 1, flip=dataset == "cifar10")
    return Mixup()


def augmented_copies(augment, x: np.ndarray, *, copies: int, key: jax.Array,
                     batch_size: int = 4000) -> np.ndarray:
    """``copies`` augmented views of every input, a fixed set ``[copies * N, ...]``.

    Copy ``c`` of input ``n`` is row ``c * N + n``; copy ``c`` is ``augment(fold_in(key, c), x)``
    (in batches of ``batch_size`` rows, batch ``i`` of a copy with ``fold_in(., i)``). The
    precomputed set is what a fixed teacher table is computed on (the offline counterpart of
    augmenting inside the training step).
    """
    x = np.asarray(x, np.float32)
    out = []
    for c in range(copies):
        kc = jax.random.fold_in(key, c)
        out.extend(np.asarray(augment(jax.random.fold_in(kc, i), x[s:s + batch_size]))
                   for i, s in enumerate(range(0, len(x), batch_size)))
    return np.concatenate(out) if out else np.zeros((0, *x.shape[1:]), np.float32)
