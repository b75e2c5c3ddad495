"""bench/whole_process.py: what it reads from ``/usr/bin/time -v`` and from the scripts."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("whole_process", ROOT / "bench" / "whole_process.py")
whole_process = importlib.util.module_from_spec(spec)
spec.loader.exec_module(whole_process)

TIME_V = """\tCommand being timed: "python bench/train_kd_torch.py /tmp/kd_problem.npz"
\tUser time (seconds): 6.21
\tSystem time (seconds): 0.33
\tPercent of CPU this job got: 99%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50
\tMaximum resident set size (kbytes): 314368
\tExit status: 0
"""


def test_parse_time_reads_wall_cpu_rss_and_the_scripts_line():
    row = whole_process.parse_time(TIME_V, "torch: test accuracy 0.6520; 5.93 s from start to "
                                   "trained weights\n")
    assert row == {"wall_s": 62.5, "cpu_s": pytest.approx(6.54), "rss_mib": 307.0,
                   "accuracy": 0.652, "to_weights_s": 5.93}


def test_clock_reads_hours_minutes_and_seconds():
    assert whole_process._clock("0:05.52") == pytest.approx(5.52)
    assert whole_process._clock("1:00:01") == 3601.0


def test_a_run_without_the_scripts_line_is_an_error():
    with pytest.raises(RuntimeError, match="no accuracy line"):
        whole_process.parse_time(TIME_V, "Traceback ...")
    with pytest.raises(RuntimeError, match="wall_s"):
        whole_process.parse_time("", "")


def test_bad_arguments_are_refused_before_any_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        whole_process.main([str(tmp_path / "missing.npz")])
    assert e.value.code == 2 and "problem: no file" in capsys.readouterr().err
    (tmp_path / "p.npz").write_bytes(b"")
    with pytest.raises(SystemExit):
        whole_process.main([str(tmp_path / "p.npz"), "--pairs", "0"])
    assert "--pairs: must be an integer >= 1" in capsys.readouterr().err
