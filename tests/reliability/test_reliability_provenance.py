"""Provenance: what a results.json records, and the check that it came from the current code."""

import json
import subprocess

import pytest

from bayeskd import provenance as pv
from bayeskd.cli import main


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "bayeskd").mkdir(parents=True)
    (root / "bayeskd" / "a.py").write_text("x = 1\n")
    (root / "pyproject.toml").write_text("[project]\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "code")
    return root


def _results(path, commit, dirty=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"provenance": {"git_commit": commit, "git_dirty": dirty}}))


def test_check_results_tells_current_from_stale(repo):
    commit, dirty = pv.git_state(repo)
    assert commit and dirty is False
    figs = repo / "paper_figures"
    _results(figs / "a" / "results.json", commit)
    (figs / "b").mkdir(parents=True)
    (figs / "b" / "results.json").write_text("{}")
    _results(figs / "c" / "results.json", commit, dirty=True)
    # results written after the commit do not make the code dirty
    assert pv.git_state(repo) == (commit, False)
    got = {v["file"].split("/")[-2]: v["verdict"] for v in pv.check_results([figs], root=repo)}
    assert got == {"a": "current", "b": "unknown", "c": "stale"}
    # a change to the code makes the earlier result stale, and the code dirty
    (repo / "bayeskd" / "a.py").write_text("x = 2\n")
    assert pv.git_state(repo) == (commit, True)
    v = pv.check_results([figs / "a" / "results.json"], root=repo)[0]
    assert v["verdict"] == "stale" and "bayeskd/a.py" in v["why"]


def test_provenance_names_code_command_software_and_machine():
    p = pv.provenance(["bayeskd", "compare-priors", "--size", "smoke"])
    assert p["command"] == "bayeskd compare-priors --size smoke"
    for k in ("bayeskd", "git_commit", "git_dirty", "jax", "jaxlib", "python"):
        assert k in p
    assert p["machine"]["cores"] >= 1 and p["machine"]["backend"] == "cpu"
    json.dumps(p)  # plain JSON


def test_check_results_cli_bad_path(tmp_path, capsys):
    assert main(["check-results", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paths" in err[0]


def test_module_digests_decide_what_is_current(repo):
    """A result is current while the modules it ran are unchanged; other modules may change."""
    commit, _ = pv.git_state(repo)
    (repo / "bayeskd" / "b.py").write_text("y = 1\n")
    f = repo / "paper_figures" / "a" / "results.json"
    f.parent.mkdir(parents=True)
    digest = pv._file_digest(repo / "bayeskd" / "a.py")
    f.write_text(json.dumps({"provenance": {"git_commit": commit, "git_dirty": True,
                                            "modules": {"bayeskd/a.py": digest}}}))
    assert pv.check_results([f], root=repo)[0]["verdict"] == "current"
    (repo / "bayeskd" / "b.py").write_text("y = 2\n")  # a module the job never loaded
    assert pv.check_results([f], root=repo)[0]["verdict"] == "current"
    (repo / "bayeskd" / "a.py").write_text("x = 3\n")  # a module it ran
    v = pv.check_results([f], root=repo)[0]
    assert v["verdict"] == "stale" and "bayeskd/a.py" in v["why"]


def test_this_process_records_the_modules_it_loaded():
    import bayeskd.training  # noqa: F401

    mods = pv.module_digests()
    assert "bayeskd/training/trainer.py" in mods and "bayeskd/provenance.py" in mods
    assert all(len(d) == 16 for d in mods.values())
