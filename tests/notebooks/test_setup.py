"""``bayeskd.notebook.setup``: the first cell every notebook runs."""

from __future__ import annotations

import jax
import matplotlib
import pytest

from bayeskd.notebook import FIGURE_STYLE, setup


@pytest.fixture
def clean_kernel(monkeypatch, tmp_path):
    """No compilation cache configured, a private bayeskd cache, 100 dpi figures; the jax
    and matplotlib settings are restored afterwards (they are process-wide)."""
    saved_dir = jax.config.jax_compilation_cache_dir
    saved_min = jax.config.jax_persistent_cache_min_compile_time_secs
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BAYESKD_SIZE", raising=False)
    jax.config.update("jax_compilation_cache_dir", None)
    with matplotlib.rc_context({"figure.dpi": 100.0, "font.size": 10.0, "axes.titlesize": "large"}):
        yield tmp_path / "cache"
    jax.config.update("jax_compilation_cache_dir", saved_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", saved_min)


def test_size_defaults_to_quick_and_is_read_from_the_environment(clean_kernel, monkeypatch, capsys):
    assert setup() == "quick"
    monkeypatch.setenv("BAYESKD_SIZE", "smoke")
    assert setup() == "smoke"
    assert setup("quick") == "quick"  # an explicit size wins over the environment
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(";")[0] for line in lines] == ["size: quick", "size: smoke", "size: quick"]
    assert lines[0].endswith(f"; jax {jax.__version__} on {jax.devices()[0].platform}")


def test_unknown_size_is_refused_before_anything_changes(clean_kernel, monkeypatch):
    monkeypatch.setenv("BAYESKD_SIZE", "full")
    with pytest.raises(ValueError, match=r"^BAYESKD_SIZE: unknown 'full'; choose one of: smoke, quick$"):
        setup()
    assert jax.config.jax_compilation_cache_dir is None
    assert matplotlib.rcParams["figure.dpi"] != FIGURE_STYLE["figure.dpi"]


def test_compiled_programs_are_kept_in_the_bayeskd_cache(clean_kernel):
    setup(verbose=False)
    assert jax.config.jax_compilation_cache_dir == str(clean_kernel / "xla")
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0


def test_a_compilation_cache_the_kernel_already_has_is_kept(clean_kernel, tmp_path):
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    setup(verbose=False)
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")


def test_figures_are_small(clean_kernel):
    setup(verbose=False)
    assert {k: matplotlib.rcParams[k] for k in FIGURE_STYLE} == {
        "figure.dpi": 72, "font.size": 8, "axes.titlesize": 9}
