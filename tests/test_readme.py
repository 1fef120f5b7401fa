"""The README's two opening commands and .ci/run stay in sync."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_opens_with_the_two_one_line_commands():
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    main_job, tests = blocks[0], blocks[1]
    assert "\n" not in main_job and "reviewnlp classify" in main_job and "pip install" in main_job
    assert "\n" not in tests and "pytest" in tests and "pip install" in tests


def test_ci_runs_exactly_the_readme_test_command():
    tests = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci
