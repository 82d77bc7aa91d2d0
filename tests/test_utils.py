"""Shared helpers: seeding, cache paths, device choice, the CLI front door."""

import subprocess
import sys

import pytest
import torch

import llm_from_scratch
from llm_from_scratch.cli import main
from llm_from_scratch.utils import cache_dir, detect_device, full_size, seed_everything, source


def test_seed_everything_is_reproducible():
    g1 = seed_everything(123)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = seed_everything(123)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_seed_rejects_negative():
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_cache_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path))
    path = cache_dir("a", "b")
    assert path == tmp_path / "a" / "b" and path.is_dir()


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False), ("", False), ("true", True)])
def test_full_size_switch(monkeypatch, value, expected):
    monkeypatch.setenv("LLMFS_FULL", value)
    assert full_size() is expected


def test_full_size_rejects_garbage(monkeypatch):
    monkeypatch.setenv("LLMFS_FULL", "maybe")
    with pytest.raises(ValueError, match="LLMFS_FULL"):
        full_size()


def test_detect_device_refuses_unavailable_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(RuntimeError, match="CUDA"):
        detect_device("cuda")
    assert detect_device("cpu").type == "cpu"


def test_source_returns_the_code():
    assert "def seed_everything" in source(seed_everything)


def test_cli_version_and_info(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert llm_from_scratch.__version__ in capsys.readouterr().out
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "llm_from_scratch", "--help"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: llm-from-scratch" in result.stdout


# --- book helpers: tables, show(), figure formats ---------------------------------

def test_markdown_table_is_a_pipe_table_that_myst_parses_as_a_table():
    from docutils.core import publish_doctree
    from IPython.display import Markdown
    from myst_parser.docutils_ import Parser

    from llm_from_scratch.utils import markdown_table

    out = markdown_table([["a|b", 1.5], ["c", 2]], ["name", "value"], align=[None, "right"])
    assert isinstance(out, Markdown)
    assert out.data.splitlines() == [
        "| name | value |", "|---|---:|", "| a\\|b | 1.5 |", "| c | 2 |",
    ]
    tree = publish_doctree(out.data, parser=Parser())
    tables = list(tree.findall(lambda n: n.tagname == "table"))
    assert len(tables) == 1
    cells = [e.astext() for e in tables[0].findall(lambda n: n.tagname == "entry")]
    assert cells == ["name", "value", "a|b", "1.5", "c", "2"]


def test_markdown_table_widths_fix_the_pdf_columns():
    from llm_from_scratch.utils import markdown_table

    out = markdown_table([["a", 1]], ["name", "value"], widths=[3, 1])
    directive, table = out.data.split("\n\n")
    assert directive == ("```{tabularcolumns} >{\\raggedright\\arraybackslash}\\X{3}{4}"
                         ">{\\raggedright\\arraybackslash}\\X{1}{4}\n```")
    assert table.splitlines()[0] == "| name | value |"
    with pytest.raises(ValueError, match="widths has 1 entries for 2 columns"):
        markdown_table([["a", 1]], ["name", "value"], widths=[1])
    with pytest.raises(ValueError, match="positive"):
        markdown_table([["a", 1]], ["name", "value"], widths=[1, 0])


@pytest.mark.parametrize(
    "rows,headers,align,message",
    [
        ([[1, 2]], ["a"], None, "row 0 has 2 cells for 1 columns"),
        ([], [], None, "at least one column"),
        ([[1]], ["a"], ["middle"], "align entry 'middle'"),
        ([[1]], ["a"], [None, None], "align has 2 entries"),
        ([["x\ny"]], ["a"], None, "newline"),
    ],
)
def test_markdown_table_rejects_bad_shapes(rows, headers, align, message):
    from llm_from_scratch.utils import markdown_table

    with pytest.raises(ValueError, match=message):
        markdown_table(rows, headers, align)


CHECKED = '''def f(x, n):
    """Doc."""
    # region checks
    if n < 0:
        raise ValueError("n")
    # endregion
    for _ in range(n):
        # region checks
        assert x
        # endregion
        x = x + 1
    return x
'''


def test_hide_checks_replaces_each_region_by_one_line_at_its_indent():
    from llm_from_scratch.utils import hide_checks

    shown = hide_checks(CHECKED)
    assert "raise ValueError" not in shown and "assert x" not in shown
    lines = shown.splitlines()
    assert lines[2] == "    ...  # argument checks (see the package source)"
    assert lines[4] == "        ...  # argument checks (see the package source)"
    assert "return x" in shown
    namespace: dict = {}
    exec(compile(shown, "<shown>", "exec"), namespace)  # the elided code still parses
    assert namespace["f"](1, 2) == 3


@pytest.mark.parametrize(
    "code,message",
    [
        ("# region checks\nx = 1\n", "never closed"),
        ("x = 1\n# endregion\n", "without"),
        ("# region checks\n# region checks\n# endregion\n", "nested"),
    ],
)
def test_hide_checks_rejects_unbalanced_markers(code, message):
    from llm_from_scratch.utils import hide_checks

    with pytest.raises(ValueError, match=message):
        hide_checks(code)


def test_show_hides_checks_and_optionally_the_docstring(tmp_path, monkeypatch):
    import importlib

    from llm_from_scratch.utils import show

    (tmp_path / "checked_mod.py").write_text(CHECKED)
    monkeypatch.syspath_prepend(str(tmp_path))
    f = importlib.import_module("checked_mod").f
    default = show(f).data
    assert default.startswith("```python\ndef f(x, n):") and default.endswith("```")
    assert '"""Doc."""' in default and "raise ValueError" not in default
    bare = show(f, docstring=False).data
    assert '"""Doc."""' not in bare and "for _ in range(n):" in bare
    assert "raise ValueError" in show(f, checks=True).data


def test_use_book_style_asks_ipython_for_png_and_pdf(monkeypatch):
    import matplotlib as mpl
    from IPython.core.interactiveshell import InteractiveShell

    from llm_from_scratch.utils import use_book_style

    shell = InteractiveShell.instance()
    try:
        use_book_style()
        formatters = shell.display_formatter.formatters
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        png = formatters["image/png"](fig)
        pdf = formatters["application/pdf"](fig)
        plt.close(fig)
        assert png is not None and pdf is not None
        assert (pdf if isinstance(pdf, bytes) else pdf.encode())[:4] in (b"%PDF", b"JVBE")
        assert mpl.rcParams["savefig.dpi"] >= 200
        assert mpl.rcParams["figure.dpi"] * 2 >= 200  # retina PNG: twice figure.dpi
    finally:
        InteractiveShell.clear_instance()


def test_cached_json_reuses_a_result_only_for_the_same_key(tmp_path, monkeypatch):
    from llm_from_scratch.utils import cached_json, file_digest

    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"curve": [(0, 1.5), (10, 0.5)]}

    key = {"config": {"lr": 0.01, "seed": 0}, "data": "abc"}
    first = cached_json("exp", key, compute)
    again = cached_json("exp", dict(reversed(list(key.items()))), compute)
    assert first == again == {"curve": [[0, 1.5], [10, 0.5]]} and len(calls) == 1
    cached_json("exp", {**key, "data": "abd"}, compute)
    assert len(calls) == 2
    (tmp_path / "f.bin").write_bytes(b"x")
    assert file_digest(tmp_path / "f.bin") == (
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881")
    with pytest.raises(ValueError, match="namespace"):
        cached_json("../up", key, compute)


def _build_under_lock(directory, log, results):
    """A slow 'build': without the lock, two of them interleave their lines."""
    import time

    from llm_from_scratch.utils import cache_lock

    with cache_lock(directory):
        built = (directory / "artefact").is_file()
        with open(log, "a") as f:
            f.write("start\n")
            f.flush()
            time.sleep(0.3)
            f.write("end\n")
        if not built:
            (directory / "artefact").write_text("x")
    results.put(built)


def test_cache_lock_lets_one_process_build_and_the_other_find_it(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    log = tmp_path / "log"
    procs = [ctx.Process(target=_build_under_lock, args=(tmp_path, log, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert log.read_text().split() == ["start", "end", "start", "end"]
    assert sorted(results.get(timeout=5) for _ in procs) == [False, True]
