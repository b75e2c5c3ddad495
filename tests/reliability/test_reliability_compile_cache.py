"""The persistent compilation cache: on by default for every command, one switch turns it off."""

import jax
import pytest
from jax._src import compilation_cache

import bayeskd
from bayeskd.cache import enable_compile_cache
from bayeskd.cli import build_parser, main


@pytest.fixture(autouse=True)
def no_cache_before_or_after(monkeypatch, tmp_path):
    """Each test starts without a cache folder, with ``$BAYESKD_CACHE`` in ``tmp_path``."""
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    saved = {k: getattr(jax.config, k) for k in keys}
    jax.config.update("jax_compilation_cache_dir", None)
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BAYESKD_COMPILE_CACHE", raising=False)
    yield
    for k, v in saved.items():
        jax.config.update(k, v)
    compilation_cache.reset_cache()


# A command that reaches its own validation (after the cache is set up) and stops there.
BAD_RUN = ["compare-priors", "--dataset", "nope"]


def test_every_command_turns_the_cache_on_by_default(tmp_path):
    assert main(BAD_RUN) == 2
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache" / "xla")
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    assert not (tmp_path / "cache").exists()  # a refused command leaves nothing behind
    compilation_cache.reset_cache()  # this process may have opened another folder before
    jax.jit(lambda x: x * 3.0 + 1.0)(2.0)  # the first compilation writes the folder
    assert [p for p in (tmp_path / "cache" / "xla").iterdir() if not p.name.startswith(".")]


def test_the_flag_turns_it_off():
    assert main([*BAD_RUN, "--no-compile-cache"]) == 2
    assert jax.config.jax_compilation_cache_dir is None


@pytest.mark.parametrize("value", ["0", "off", "False"])
def test_the_environment_variable_turns_it_off(monkeypatch, value):
    monkeypatch.setenv("BAYESKD_COMPILE_CACHE", value)
    assert main(BAD_RUN) == 2
    assert jax.config.jax_compilation_cache_dir is None
    assert bayeskd.enable_compile_cache() is None


def test_a_bad_environment_value_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("BAYESKD_COMPILE_CACHE", "maybe")
    assert main(BAD_RUN) == 2
    assert "BAYESKD_COMPILE_CACHE" in capsys.readouterr().err


def test_every_command_has_the_switch():
    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
    for name, command in sub.choices.items():
        assert "--no-compile-cache" in command._option_string_actions, name


def test_bench_keeps_its_process_cold():
    """bench times cold compilation: the command leaves the cache to the benchmark's own child."""
    assert main(["bench", "--only", "nope"]) == 2
    assert jax.config.jax_compilation_cache_dir is None


def test_python_call_uses_a_given_folder_or_keeps_jax_s(tmp_path):
    assert enable_compile_cache(tmp_path / "mine") == tmp_path / "mine"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
    assert enable_compile_cache() == tmp_path / "mine"  # a folder JAX already has is kept
