"""The README's Python example runs (with fewer steps), so it cannot drift from the API."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_readme_python_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    section = text.split("## In Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "steps=6000" in code
    exec(compile(code.replace("steps=6000", "steps=20"), "README.md", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    assert "'accuracy':" in out and "'nll':" in out
