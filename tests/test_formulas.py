"""Every formula in the course notebooks' markdown renders in MathJax, as JupyterLab shows it.

JupyterLab hides the math of a markdown cell from the Markdown parser first
(`removeMath` in @jupyterlab/rendermime's latex.ts, ported below: `$…$`,
`$$…$$`, `\\begin{…}…\\end{…}` and `\\\\(…\\\\)`, with balanced braces, never
across a blank line, never inside code spans or fenced code, never from an
escaped `\\$`), then MathJax 3 typesets what it hid. `tests/mathjax/render_check.mjs`
typesets each formula with node's `mathjax-full`, configured as JupyterLab
configures it but with the error-hiding packages left out, and reports the
ones that fail. A formula that fails shows in JupyterLab as raw LaTeX.

`make test` installs `mathjax-full` (`npm ci` in tests/mathjax/, pinned by its
package-lock.json); the check is skipped only where node itself is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MATHJAX_DIR = ROOT / "tests" / "mathjax"
RENDER_CHECK = MATHJAX_DIR / "render_check.mjs"
NOTEBOOK_DIRS = ("solutions", "notebooks")

# ---------------------------------------------------------------- removeMath, ported
# The math delimiters and the symbols that matter inside math (JupyterLab's MATHSPLIT).
MATHSPLIT = re.compile(
    r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\(?:\(|\)|\[|\]))", re.I)
FENCED = re.compile(r"^(?P<fence>`{3,}|(?:~T){3,})[^`\n]*\n([\s\S]*?)^(?P=fence)`*$", re.M)
CODE_SPAN = re.compile(r"(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)", re.M)


def remove_math(text: str, unclosed: list | None = None) -> list[str]:
    """The math blocks of a markdown text, delimiters included, as JupyterLab finds them.

    A port of `removeMath` (@jupyterlab/rendermime, src/latex.ts): the text is
    split at MATHSPLIT; a block opens at `$`, `$$`, `\\\\(`, `\\\\[` or `\\begin{env}`
    and closes at the same delimiter (or `\\end{env}`) once its braces balance;
    a blank line ends the search (keeping what closed last). `$` in code spans
    and fenced code is hidden first, and an escaped `\\$` is not a delimiter.

    Args:
        text: the markdown source of a cell.
        unclosed: if given, a list that receives, for each delimiter that opens
            math but never closes (JupyterLab leaves it as text: the reader sees
            raw LaTeX), the text from that delimiter to the blank line or the end.

    Returns:
        The blocks in order, e.g. `["$x$", "$$\\\\sum_t y$$"]`.
    """
    if "`" in text or "~~~" in text:
        text = text.replace("~", "~T")
        text = FENCED.sub(lambda m: m.group(0).replace("$", "~D"), text)
        text = CODE_SPAN.sub(lambda m: m.group(0).replace("$", "~D"), text)

        def de_tilde(s: str) -> str:
            return re.sub(r"~([TD])", lambda m: "~" if m.group(1) == "T" else "$", s)
    else:
        def de_tilde(s: str) -> str:
            return s

    blocks = MATHSPLIT.split(re.sub(r"\r\n?", "\n", text))
    math: list[str] = []
    start = end = last = None
    braces = 0

    def process(i: int, j: int) -> None:
        math.append(de_tilde("".join(blocks[i:j + 1])))
        for k in range(i + 1, j + 1):
            blocks[k] = ""
        blocks[i] = f"@@{len(math) - 1}@@"

    i = 1
    while i < len(blocks):
        block = blocks[i]
        if block.startswith("@"):
            pass  # a look-alike of JupyterLab's own @@n@@ placeholders: put back as text, not math
        elif start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    process(start, i)
                    start = end = last = None
            elif re.search(r"\n.*\n", block):
                if last is not None:
                    i = last
                    process(start, i)
                elif unclosed is not None:
                    unclosed.append(de_tilde("".join(blocks[start:i])))
                start = end = last = None
                braces = 0
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
        elif block in ("\\\\(", "\\\\["):
            start, end, braces = i, "\\\\)" if block.endswith("(") else "\\\\]", 0
        elif block[1:6] == "begin":
            start, end, braces = i, "\\end" + block[6:], 0
        i += 2
    if start is not None and last is not None:
        process(start, last)
    elif start is not None and unclosed is not None:
        unclosed.append(de_tilde("".join(blocks[start:])))
    return math


def formula_of(block: str) -> dict:
    """What MathJax typesets for a math block: `{"tex", "display"}` without the `$`/`$$`/`\\\\(` delimiters.

    A `\\begin{env}…\\end{env}` block is typeset whole, in display mode (MathJax's
    `processEnvironments`).
    """
    for opening, closing, display in (("$$", "$$", True), ("$", "$", False),
                                       ("\\\\(", "\\\\)", False), ("\\\\[", "\\\\]", True)):
        if block.startswith(opening) and block.endswith(closing) and len(block) >= len(opening) + len(closing):
            return {"tex": block[len(opening):len(block) - len(closing)], "display": display}
    return {"tex": block, "display": True}  # \begin{env} ... \end{env}


def notebook_formulas(path: Path) -> tuple[list[dict], list[dict]]:
    """Every formula of every markdown cell of a notebook, with where it is (`id`).

    Returns:
        `(formulas, unclosed)`: `[{"id", "tex", "display"}]` to typeset, and
        `[{"id", "tex", "error"}]` for each delimiter that opens math and never closes.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    found, unclosed = [], []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        where = f"{path.relative_to(ROOT)} cell {index}"
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        opened = []
        for k, block in enumerate(remove_math(source, opened)):
            found.append({"id": f"{where} formula {k + 1}", **formula_of(block)})
        unclosed += [{"id": where, "tex": text, "error": "math opens here and never closes (write \\$ for a "
                      "dollar sign)"} for text in opened]
    return found, unclosed


# ---------------------------------------------------------------- the renderer
def render_failures(formulas: list[dict]) -> list[dict]:
    """The formulas that MathJax does not render: `[{"id", "tex", "error"}]` (render_check.mjs)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the formula check typesets with node's mathjax-full "
                    "(install Node.js >= 18; `make test` then installs mathjax-full itself)")
    if not (MATHJAX_DIR / "node_modules" / "mathjax-full" / "package.json").exists():
        pytest.fail("mathjax-full is not installed in tests/mathjax/node_modules. Run `make test`, "
                    "or `npm ci --no-audit --no-fund --prefix tests/mathjax`.", pytrace=False)
    done = subprocess.run([node, str(RENDER_CHECK)], input=json.dumps(formulas), capture_output=True,
                          text=True, timeout=120, cwd=MATHJAX_DIR)
    if done.returncode not in (0, 1):
        pytest.fail(f"render_check.mjs exited with {done.returncode}: {done.stderr.strip()}", pytrace=False)
    failures = json.loads(done.stdout)
    assert (done.returncode == 1) == bool(failures), done.stdout
    return failures


# ---------------------------------------------------------------- tests
def test_remove_math_finds_formulas_as_jupyterlab_does():
    text = (
        "Inline $x_t$ and display $$\\hat{y}^{(t)} = \\operatorname{softmax}(U h^{(t)})$$.\n"
        "A price of \\$5 and another \\$6 is not math; nor is `$HOME` or ``a `$` b``.\n"
        "```bash\necho $PATH $$\n```\n"
        "\\begin{align} a &= b \\end{align} and $\\{1, 2\\}$ and $\\text{a } {b}$.\n\n"
        "A lone $ opens nothing across a blank line\n\n$y$ closes here.\n"
        "$$a {b $$ is not closed by an unbalanced brace $$\n\n"
        "Escaped in markdown: \\\\(z\\\\)."
    )
    assert remove_math(text) == [
        "$x_t$",
        "$$\\hat{y}^{(t)} = \\operatorname{softmax}(U h^{(t)})$$",
        "\\begin{align} a &= b \\end{align}",
        "$\\{1, 2\\}$",
        "$\\text{a } {b}$",
        "$y$",
        "$$a {b $$ is not closed by an unbalanced brace $$",  # kept up to the last closing delimiter
        "\\\\(z\\\\)",
    ]
    unclosed = []
    assert remove_math("costs $5 or more\n\nand \\begin{align} a", unclosed) == []
    assert unclosed == ["$5 or more", "\\begin{align} a"]
    assert formula_of("$x_t$") == {"tex": "x_t", "display": False}
    assert formula_of("$$\\sum_t$$") == {"tex": "\\sum_t", "display": True}
    assert formula_of("\\\\(z\\\\)") == {"tex": "z", "display": False}
    assert formula_of("\\begin{align} a \\end{align}") == {"tex": "\\begin{align} a \\end{align}", "display": True}


def test_render_check_reports_what_mathjax_cannot_render():
    formulas = [
        {"id": "fine", "tex": "J(\\theta) = \\frac{1}{T} \\sum_{t=1}^{T} -\\log \\hat{y}^{(t)}_{x_{t+1}}", "display": True},
        {"id": "align", "tex": "\\begin{align} a &= b \\\\ c &= d \\end{align}", "display": True},
        {"id": "open", "tex": "\\exp\\Big(\\frac{1}{T} \\sum_t {x\\Big)", "display": True},
        {"id": "close", "tex": "a}", "display": False},
        {"id": "macro", "tex": "\\softmax(z)", "display": False},
        {"id": "amp", "tex": "a & b", "display": False},
    ]
    failures = {f["id"]: f["error"] for f in render_failures(formulas)}
    assert failures == {
        "open": "Extra open brace or missing close brace",
        "close": "Extra close brace or missing open brace",
        "macro": "Undefined control sequence \\softmax",
        "amp": "Misplaced &",
    }


@pytest.mark.parametrize("folder", NOTEBOOK_DIRS)
def test_every_formula_of_every_notebook_renders(folder):
    paths = sorted((ROOT / folder).glob("*.ipynb"))
    assert paths, f"no notebooks in {folder}/"
    formulas, failures = [], []
    for path in paths:
        found, unclosed = notebook_formulas(path)
        formulas += found
        failures += unclosed
    assert len(formulas) > 20, f"expected the course's formulas; found {len(formulas)} in {folder}/"
    failures += render_failures(formulas)
    assert not failures, "formulas that MathJax cannot render (JupyterLab shows them as raw LaTeX):\n" + "\n".join(
        f"  {f['id']}: {f['error']}\n    {f['tex']!r}" for f in failures)
