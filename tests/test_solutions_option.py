"""``--solutions mine.py`` (tests/conftest.py): a student's answers replace the
reference ones, missing answers fail with a clear message, and without the option
the reference solutions are tested as before.

Each case runs pytest in a subprocess on the small data-chapter solutions tests, so
the substitution cannot leak into this session.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

TESTS = Path(__file__).parent
TARGET = TESTS / "test_data_solutions.py"

MINE_PATH = "mine.py"  # relative, as a student types it: Run's cwd is the tmp folder
# One answer re-exported from the reference (mine.py may import it), one wrong,
# choose_bands_rows missing; the extra name must be ignored.
MINE = '''
from llm_from_scratch.data.solutions import top_ngram_char_fraction

def c4_terminal_lines(text, min_words=3):
    return text  # wrong: keeps every line

def my_helper():  # not a reference name: not counted, not used
    return None
'''


class Run:
    """One pytest run on TARGET from folder ``tmp`` (the slow-to-import plugins
    this check does not need left out), with its outcome per test from JUnit XML."""

    def __init__(self, tmp: Path, *args: str) -> None:
        off = ["-p", "no:nbval", "-p", "no:hypothesispytest", "-p", "no:cacheprovider"]
        xml = tmp / "report.xml"
        command = [sys.executable, "-m", "pytest", str(TARGET), f"--junitxml={xml}"]
        done = subprocess.run(
            command + off + list(args),
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.returncode, self.stdout = done.returncode, done.stdout
        self.stderr = done.stderr
        self.outcomes: dict[str, str] = {}  # name (parameters dropped) -> outcome
        for case in ElementTree.parse(xml).iter("testcase") if xml.exists() else []:
            failure = case.find("failure")
            outcome = "passed" if failure is None else failure.get("message", "")
            name = case.get("name", "").split("[")[0]
            self.outcomes[name] = self.outcomes.get(name, outcome)


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("student")
    (tmp / MINE_PATH).write_text(MINE)
    return Run(tmp, f"--solutions={MINE_PATH}")


def test_a_defined_answer_passes_and_missing_ones_say_so(student):
    got = student.outcomes
    assert got["test_top_ngram_fraction"] == "passed", student.stdout
    for name in (
        "test_bands_rows_put_the_s_curve_near_the_threshold",
        "test_recall_weight_moves_the_curve_left",
    ):
        want = f"NotImplementedError: choose_bands_rows is not defined in {MINE_PATH}"
        assert got[name].startswith(want), student.stdout
    assert "mine.py: 2 names defined" in student.stdout  # the report header
    assert "(data 2/3)" in student.stdout


def test_a_wrong_answer_fails_its_test(student):
    message = student.outcomes["test_c4_terminal_lines"]
    assert message.startswith("AssertionError"), student.stdout
    assert student.returncode == 1


def test_a_missing_file_is_a_usage_error_naming_it(tmp_path):
    missing = tmp_path / "no_such_mine.py"
    done = Run(tmp_path, f"--solutions={missing}")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"--solutions: {missing} does not exist" in done.stderr


def test_without_the_option_the_reference_solutions_pass(tmp_path):
    done = Run(tmp_path)
    assert done.returncode == 0, done.stdout
    assert len(done.outcomes) == 4, done.stdout
    assert set(done.outcomes.values()) == {"passed"}
    assert "checking solutions" not in done.stdout
