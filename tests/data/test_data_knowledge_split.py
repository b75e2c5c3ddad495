"""Splitting a knowledge base: exactly the asked share of facts labelled, each fact's phrasings
divided without overlap, test queries only on unlabelled facts in held-out phrasings, and the
closed-book student's data masked on the unlabelled facts."""

import numpy as np
import pytest

from bayeskd.data.knowledge import (
    KnowledgeConfig,
    SplitConfig,
    check_split,
    closed_book_dataset,
    make_knowledge_base,
    query_sets,
    split_facts,
)

CFG = KnowledgeConfig(num_entities=6, num_relations=2, num_values=5, num_templates=4)
SPLIT = SplitConfig(labelled_fraction=0.25, train_templates=3)


def test_split_labels_the_share_and_partitions_the_phrasings():
    s = split_facts(CFG, SPLIT, seed=0)
    assert s["labelled"].shape == (6, 2) and s["labelled"].sum() == 3  # round(0.25 * 12)
    both = np.concatenate([s["train_t"], s["test_t"]], axis=-1)
    assert (np.sort(both, axis=-1) == np.arange(4)).all()  # each fact: a permutation of T
    again = split_facts(CFG, SPLIT, seed=0)
    assert all((again[k] == s[k]).all() for k in s)


def test_query_sets_train_on_every_fact_and_test_the_unlabelled_ones():
    kb = make_knowledge_base(CFG, seed=1)
    s = split_facts(CFG, SPLIT, seed=0)
    q = query_sets(kb, s)
    tr, te = q["train"], q["test"]
    assert len(tr["t"]) == 12 * 3 and len(te["t"]) == 9 * 1
    assert (tr["y"] == kb.values[tr["e"], tr["r"]]).all()
    assert not te["labelled"].any() and tr["labelled"].sum() == 3 * 3
    for t, e, r in zip(te["t"], te["e"], te["r"], strict=True):
        assert t in s["test_t"][e, r] and t not in s["train_t"][e, r]
    ds, data = closed_book_dataset(kb, q)
    assert ds.x_train.shape == (36, 4 + 6 + 2) and ds.num_classes == 5
    assert (ds.x_train.sum(1) == 3).all()  # one-hot template, entity and relation
    assert (ds.y_train[~tr["labelled"]] == 0).all()  # the unlabelled answers are never given
    assert (ds.y_train[tr["labelled"]] == tr["y"][tr["labelled"]]).all()
    assert (data["label_mask"] == tr["labelled"]).all() and (ds.y_test == te["y"]).all()


@pytest.mark.parametrize(("split", "match"), [
    (SplitConfig(0.25, 4), "train_templates: must be smaller than num_templates = 4"),
    (SplitConfig(1.0, 2), "labelled_fraction: must lie in the open interval"),
    (SplitConfig(0.01, 2), "labelled_fraction: must leave at least one labelled and one"),
    (SplitConfig(0.5, 0), "train_templates: must be an integer >= 1"),
])
def test_bad_splits_are_refused(split, match):
    with pytest.raises(ValueError, match=match):
        check_split(CFG, split)
