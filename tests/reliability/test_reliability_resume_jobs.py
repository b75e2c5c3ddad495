"""Resuming the other jobs: ``posterior-zoo`` and ``reproduce`` rerun on the same ``--out`` reload
every finished unit (no training at all), write the same ``results.json`` apart from
``"timing"``, and ``--fresh`` trains again."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments import posterior_zoo as pz
from bayeskd.experiments.figures import _base

ZOO = pz.PosteriorZooConfig(dataset="digits", size="smoke", methods=("map", "laplace"))
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


def _zoo(out, *, fresh=False, trains=True):
    """The posterior zoo; ``trains=False`` gives it fitters and a distiller that raise."""
    kw = {} if trains else {"fitters": {name: _trains for name in pz.FITTERS},
                            "reference_fn": _trains, "distill_fn": _trains}
    pz.run(ZOO, out=out, progress=False, fresh=fresh, **kw)


def _figure(out, *, fresh=False, trains=True, monkeypatch=None):
    if not trains:
        monkeypatch.setattr(_base, "fit", _trains)
    assert main([*FIGURE, "--out", str(out), *(["--fresh"] if fresh else [])]) == 0


@pytest.mark.parametrize(("job", "units"), [
    (_zoo, ["seed0-students", "seed0-teacher-map", "seed0-teacher-laplace"]),
    (_figure, ["generation0", "generation1"]),
], ids=["posterior-zoo", "reproduce"])
def test_rerun_reloads_every_unit_and_fresh_retrains(tmp_path, capsys, monkeypatch, job, units):
    out = tmp_path / "out"
    extra = {"monkeypatch": monkeypatch} if job is _figure else {}
    job(out)
    first = _results(out)
    assert "resuming from" not in capsys.readouterr().out
    done = sorted(p.stem for p in (out / ".checkpoints" / "units").glob("*.npz"))
    assert set(units) <= set(done)

    job(out, trains=False, **extra)  # the rerun must not train anything
    log = capsys.readouterr().out
    assert f"{len(done)} units done" in log and "resuming from" in log
    assert "(checkpoint)" in log or "reloaded" in log
    assert _results(out) == first

    with pytest.raises(Trained):  # --fresh ignores the checkpoints: it trains again
        job(out, fresh=True, trains=False, **extra)
    assert "--fresh: ignoring the checkpoints" in capsys.readouterr().out
    assert _results(out) == first  # the interrupted fresh run left the outputs in place
