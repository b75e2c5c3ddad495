"""Resuming the other jobs: ``posterior-zoo`` and ``reproduce`` rerun on the same ``--out`` reload
every finished unit (no training at all), write the same ``results.json`` apart from
``"timing"``, and ``--fresh`` trains again."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments import posterior_zoo as pz
from bayeskd.experiments.figures import _base

ZOO = ["posterior-zoo", "--dataset", "digits", "--size", "smoke", "--methods", "map,laplace",
       "--no-progress"]
FIGURE = ["reproduce", "self_distillation", "--size", "smoke", "--seeds", "2", "--no-progress",
          "--no-compile-cache"]


class Trained(RuntimeError):
    """Raised by a patched training function: the job trained."""


def _trains(*args, **kwargs):
    raise Trained


def _results(out) -> str:
    r = json.loads((out / "results.json").read_text())
    assert r.pop("timing")
    return json.dumps(r, sort_keys=True)


@pytest.mark.parametrize(("argv", "patch", "units"), [
    (ZOO, [(pz, "fit_ensemble"), (pz, "distill"), (pz, "fit"), (pz, "run_nuts")],
     ["seed0-students", "seed0-teacher-ensemble", "seed0-teacher-laplace"]),
    (FIGURE, [(_base, "fit")], ["generation0", "generation1"]),
], ids=["posterior-zoo", "reproduce"])
def test_rerun_reloads_every_unit_and_fresh_retrains(tmp_path, capsys, monkeypatch, argv, patch,
                                                     units):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 0
    first = _results(out)
    assert "resuming from" not in capsys.readouterr().out
    done = sorted(p.stem for p in (out / ".checkpoints" / "units").glob("*.npz"))
    assert set(units) <= set(done)

    for module, name in patch:  # the rerun must not train anything
        monkeypatch.setattr(module, name, _trains)
    assert main([*argv, "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert f"{len(done)} units done" in log and "resuming from" in log
    assert "(checkpoint)" in log or "reloaded" in log
    assert _results(out) == first

    with pytest.raises(Trained):  # --fresh ignores the checkpoints: it trains again
        main([*argv, "--out", str(out), "--fresh"])
    assert "--fresh: ignoring the checkpoints" in capsys.readouterr().out
    assert _results(out) == first  # the interrupted fresh run left the outputs in place
