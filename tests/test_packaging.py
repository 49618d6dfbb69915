"""pyproject.toml and environment.yml must describe the same installation."""

import fnmatch
import re
import tomllib

import yaml


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).replace('"', "'").lower()


def test_environment_yml_lists_exactly_the_pyproject_requirements(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_norm(r) for r in extra}
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1
    listed = {_norm(r) for r in pip_lists[0] if not r.startswith("-e")}
    assert listed == wanted, {"only in pyproject": wanted - listed, "only in environment.yml": listed - wanted}
    assert "-e ." in pip_lists[0]
    assert any(str(d).startswith("python=") for d in env["dependencies"])


def test_bundled_data_is_declared_as_package_data(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["rnn_course"]
    data = repo_root / "rnn_course" / "data"
    shipped = {p.relative_to(data.parent).as_posix() for p in data.rglob("*") if p.is_file()}
    uncovered = {s for s in shipped if not any(fnmatch.fnmatch(s, pat) for pat in patterns)}
    assert shipped and not uncovered, uncovered


def test_ci_runs_the_readme_test_command(repo_root):
    ci = (repo_root / ".ci" / "run").read_text()
    readme = (repo_root / "README.md").read_text()
    assert "make test" in ci and "set -euo pipefail" in ci
    assert "make test" in readme and "make lab" in readme
