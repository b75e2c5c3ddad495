"""Out-of-fold teachers: no teacher ever trains on the fold it labels."""

import jax
import numpy as np
import pytest

import bayeskd.training.crossfit as crossfit
from bayeskd.models import make_model
from bayeskd.training import TrainConfig, fold_assignment, fold_splits, out_of_fold_logits


@pytest.mark.parametrize(("n", "folds"), [(10, 2), (11, 3), (7, 7), (100, 4)])
def test_folds_partition_the_rows(n, folds):
    splits = fold_splits(n, folds, seed=0)
    assert len(splits) == folds
    held = np.concatenate([h for _, h in splits])
    assert sorted(held.tolist()) == list(range(n))
    for train, h in splits:
        assert set(train.tolist()).isdisjoint(h.tolist())
        assert len(train) + len(h) == n
    sizes = np.bincount(fold_assignment(n, folds, seed=0))
    assert sizes.max() - sizes.min() <= 1


def test_no_teacher_sees_the_fold_it_labels(monkeypatch):
    """Record what each teacher trains on and which rows it labels (inputs are row numbers)."""
    n, folds = 23, 4
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    y = np.arange(n) % 3
    trained_on, labelled = [], []
    real_fit, real_predict = crossfit.fit, crossfit.predict_logits

    def recording_fit(model_fn, data, **kw):
        trained_on.append(set(np.asarray(data["x"])[:, 0].astype(int).tolist()))
        return real_fit(model_fn, data, **kw)

    def recording_predict(graphdef, params, xs, **kw):
        labelled.append(set(np.asarray(xs)[:, 0].astype(int).tolist()))
        return real_predict(graphdef, params, xs, **kw)

    monkeypatch.setattr(crossfit, "fit", recording_fit)
    monkeypatch.setattr(crossfit, "predict_logits", recording_predict)
    logits, fold = out_of_fold_logits(lambda k: make_model("mlp-small", (2,), 3, key=k),
                                      {"x": x, "y": y}, folds=folds, seed=1,
                                      config=TrainConfig(steps=2, batch_size=4, eval_every=2),
                                      key=jax.random.key(0), progress=False)
    assert logits.shape == (n, 3) and fold.shape == (n,)
    assert len(trained_on) == folds == len(labelled)
    for f in range(folds):
        assert trained_on[f].isdisjoint(labelled[f])
        assert trained_on[f] | labelled[f] == set(range(n))
        assert labelled[f] == set(np.flatnonzero(fold == f).tolist())


@pytest.mark.parametrize(("folds", "match"), [
    (1, r"folds: must lie in \[2, 10\]"),
    (11, r"folds: must lie in \[2, 10\] \(the number of training examples\), got 11"),
    (0, "folds: must be an integer >= 1"),
    (2.5, "folds: must be an integer >= 1"),
])
def test_bad_folds_name_the_argument(folds, match):
    with pytest.raises(ValueError, match=match):
        fold_assignment(10, folds, seed=0)
