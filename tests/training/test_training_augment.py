"""fit(augment=...): fresh views inside the step; the online teacher reads the student's view (or
an independent one); with identical views it trains exactly like the table of its outputs."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.data import ShiftScaleNoise, load_gmm
from bayeskd.models import make_model
from bayeskd.priors import ModelTeacher, NoPrior, TeacherPrior
from bayeskd.training import TrainConfig, fit

CFG = TrainConfig(steps=60, batch_size=32, learning_rate=1e-2, eval_every=30)


@pytest.fixture(scope="module")
def gmm():
    return load_gmm(num_train=200, num_test=50, dim=2, num_classes=3, seed=0)


def _student(k):
    return make_model("mlp-small", (2,), 3, key=k)


@pytest.fixture(scope="module")
def teacher():
    return ModelTeacher.from_module(make_model("mlp-small", (2,), 3, key=jax.random.key(9)))


@dataclasses.dataclass(frozen=True)
class AddOffset:
    """A deterministic 'augmentation': x + offset (hashable, shape-preserving)."""

    offset: float = 1.0

    def __call__(self, key, x):
        return x + self.offset


def _losses(res):
    return np.asarray(res.history["loss"])


def test_online_teacher_trains_like_its_table_when_views_are_identical(gmm, teacher):
    """Identity views: the callable teacher inside the step (either view) gives the table's run."""
    data = {"x": gmm.x_train, "y": gmm.y_train}
    table = np.asarray(jax.nn.log_softmax(teacher(jnp.asarray(gmm.x_train)), -1))
    kw = {"config": CFG, "key": jax.random.key(1), "num_members": 2, "progress": False}
    ref = fit(_student, data, prior=TeacherPrior(alpha=0.7, temperature=2.0, table=table), **kw)
    identity = ShiftScaleNoise(max_shift=0, scale=0.0, noise=0.0)
    for view in ("same", "independent"):
        online = fit(_student, data, augment=identity, **kw,
                     prior=TeacherPrior(alpha=0.7, temperature=2.0, teacher=teacher, view=view))
        np.testing.assert_allclose(_losses(online), _losses(ref), rtol=2e-5)
        for a, b in zip(jax.tree.leaves(online.params), jax.tree.leaves(ref.params), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_student_trains_on_the_augmented_view(gmm):
    """fit(augment=x+1) on x is exactly fit on x+1: the step replaces the inputs."""
    kw = {"prior": NoPrior(), "config": CFG, "key": jax.random.key(2), "progress": False}
    aug = fit(_student, {"x": gmm.x_train, "y": gmm.y_train}, augment=AddOffset(1.0), **kw)
    moved = fit(_student, {"x": gmm.x_train + 1.0, "y": gmm.y_train}, **kw)
    plain = fit(_student, {"x": gmm.x_train, "y": gmm.y_train}, **kw)
    np.testing.assert_allclose(_losses(aug), _losses(moved), rtol=1e-6)
    assert not np.allclose(_losses(aug), _losses(plain))


def test_without_augment_the_run_is_unchanged(gmm):
    """augment=None draws the same minibatches as before the hook existed: an identity
    augmentation changes nothing either (its keys come from a fold of the batch key)."""
    kw = {"prior": NoPrior(), "config": CFG, "key": jax.random.key(4), "progress": False}
    data = {"x": gmm.x_train, "y": gmm.y_train}
    a = fit(_student, data, **kw)
    b = fit(_student, data, augment=AddOffset(0.0), **kw)
    np.testing.assert_array_equal(_losses(a), _losses(b))


def test_views_are_fresh_per_step_and_fixed_by_the_key(gmm):
    kw = {"prior": NoPrior(), "config": CFG, "progress": False, "augment": ShiftScaleNoise(
        max_shift=0, scale=0.5, noise=0.3)}
    data = {"x": gmm.x_train, "y": gmm.y_train}
    a = fit(_student, data, key=jax.random.key(5), **kw)
    b = fit(_student, data, key=jax.random.key(5), **kw)
    np.testing.assert_array_equal(_losses(a), _losses(b))
    plain = fit(_student, data, key=jax.random.key(5), prior=NoPrior(), config=CFG,
                progress=False)
    assert not np.allclose(_losses(a), _losses(plain))


def test_teacher_view_reads_x_or_x_alt(teacher):
    """view='same' evaluates the teacher on batch['x'], 'independent' on batch['x_alt']."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(5, 2)), jnp.float32)
    x_alt = jnp.asarray(rng.normal(size=(5, 2)), jnp.float32)
    logits = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    batch = {"x": x, "x_alt": x_alt, "index": jnp.arange(5)}

    def term(view, on):
        table = TeacherPrior(alpha=1.0, temperature=1.0, table=jax.nn.log_softmax(teacher(on)))
        online = TeacherPrior(alpha=1.0, temperature=1.0, teacher=teacher, view=view)
        return float(online(None, logits, batch)), float(table(None, logits, batch))

    same, want_same = term("same", x)
    ind, want_ind = term("independent", x_alt)
    assert same == pytest.approx(want_same, rel=1e-6)
    assert ind == pytest.approx(want_ind, rel=1e-6)
    assert same != pytest.approx(ind, rel=1e-3)


def test_consistent_and_inconsistent_runs_differ_under_a_real_augmentation(gmm, teacher):
    kw = {"config": CFG, "key": jax.random.key(6), "progress": False,
          "augment": ShiftScaleNoise(max_shift=0, scale=0.5, noise=0.5)}
    data = {"x": gmm.x_train, "y": gmm.y_train}
    same = fit(_student, data, prior=TeacherPrior(alpha=1.0, temperature=1.0, teacher=teacher),
               **kw)
    ind = fit(_student, data, prior=TeacherPrior(alpha=1.0, temperature=1.0, teacher=teacher,
                                                 view="independent"), **kw)
    assert not np.allclose(_losses(same), _losses(ind))


def _never(*args):  # on_chunk: fails the test if any training happened
    raise AssertionError("trained before refusing the input")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"prior": "independent_without_augment"}, "view: 'independent' shows the teacher"),
    ({"prior": "wrong_classes"}, r"teacher: must return logits \[B, 3\]"),
    ({"augment": lambda k, x: x}, None),  # a plain function is hashable: accepted
    ({"augment": [1]}, "augment: must be a callable"),
    ({"augment": "shape"}, "augment: must return views of the batch's shape"),
])
def test_bad_input_is_refused_before_training(gmm, teacher, kwargs, match):
    data = {"x": gmm.x_train, "y": gmm.y_train}
    prior = NoPrior()
    if kwargs.get("prior") == "independent_without_augment":
        prior = TeacherPrior(alpha=1.0, teacher=teacher, view="independent")
    elif kwargs.get("prior") == "wrong_classes":
        wrong = ModelTeacher.from_module(make_model("mlp-small", (2,), 4, key=jax.random.key(0)))
        prior = TeacherPrior(alpha=1.0, teacher=wrong)
    augment = kwargs.get("augment")
    if augment == "shape":
        augment = AddShape()
    if match is None:
        fit(_student, data, prior=prior, config=TrainConfig(steps=1, eval_every=1),
            key=jax.random.key(0), progress=False, augment=augment)
        return
    with pytest.raises(ValueError, match=match):
        fit(_student, data, prior=prior, config=CFG, key=jax.random.key(0), progress=False,
            augment=augment, on_chunk=_never)


@dataclasses.dataclass(frozen=True)
class AddShape:
    def __call__(self, key, x):
        return jnp.concatenate([x, x], axis=-1)


def test_unhashable_augment_is_refused(gmm):
    class Unhashable:
        __hash__ = None

        def __call__(self, key, x):
            return x

    with pytest.raises(ValueError, match="augment: must be hashable"):
        fit(_student, {"x": gmm.x_train, "y": gmm.y_train}, prior=NoPrior(), config=CFG,
            key=jax.random.key(0), progress=False, augment=Unhashable())


def test_a_table_teacher_has_only_the_same_view():
    with pytest.raises(ValueError, match="view: a teacher table is read by row"):
        TeacherPrior(table=np.zeros((2, 3)), view="independent")
    with pytest.raises(ValueError, match="view: unknown 'other'"):
        TeacherPrior(teacher=lambda x: x, view="other")
