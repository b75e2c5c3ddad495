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


def test_readme_tables_are_rendered_from_the_committed_results():
    """Every number in the READMEs' result blocks comes from paper_figures/*/results.json: the
    blocks equal what ``bayeskd render`` writes from them, and so does every summary.md."""
    from bayeskd.experiments.render import _BLOCK, render_readme, rendered_summaries

    for name in ("README.md", "README.ja.md"):
        text = (ROOT / name).read_text()
        blocks = [m.group(2) for m in _BLOCK.finditer(text)]
        assert {"compare_priors", "figures", "lm_distill", "posterior_zoo"} <= set(blocks), name
        assert render_readme(text, ROOT / "paper_figures") == text, (
            f"{name}: a result table differs from the committed results; run `bayeskd render`")
    summaries = rendered_summaries(ROOT / "paper_figures")
    assert len(summaries) >= 20
    for path, rendered in summaries.items():
        assert path.read_text() == rendered, f"{path}: differs from its results.json"


def test_no_result_number_outside_the_rendered_blocks():
    """Outside the rendered blocks the READMEs quote no measured result (no percentages and no
    'x.xxx' figures in the results and language-model sections)."""
    from bayeskd.experiments.render import _BLOCK

    for name in ("README.md", "README.ja.md"):
        text = _BLOCK.sub("", (ROOT / name).read_text())
        results = text[text.index("## Results" if name == "README.md" else "## 結果"):]
        results = results[:results.index("## Scaling out" if name == "README.md" else "## スケールアウト")]
        found = re.findall(r"\d+\.\d+ ?%|\b\d\.\d{3}\b", results)
        assert not found, f"{name}: typed numbers in the results: {found}"
