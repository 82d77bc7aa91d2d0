"""``llm-from-scratch train`` and ``llm-from-scratch sample``.

    llm-from-scratch train --config run.yaml --set lr=1e-3 --set steps=2000
    llm-from-scratch train --data curated --out-dir runs/mine --steps 300
    llm-from-scratch train --set data=bytes --budget-seconds 90
    torchrun --nproc_per_node=2 -m llm_from_scratch train --config run.yaml
    torchrun --nproc_per_node=8 -m llm_from_scratch train --parallel fsdp
    llm-from-scratch sample --checkpoint runs/demo --prompt "ROMEO:"

Both call the same public functions as the notebook (``train``,
``load_model``), so the command line cannot drift from the book. ``--data
DIR`` takes a ``curate --shards`` folder; its manifests name the tokenizer,
so ``sample`` (and ``chat``) decode with it without being told.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

# What a run writes into its out_dir besides checkpoints/ (removed by --overwrite).
RUN_FILES = ("config.json", "metrics.jsonl", "metrics.csv")


def data_overrides(folder: str) -> list[str]:
    """``--data DIR``: the train/val manifests of a ``curate --shards`` folder."""
    root = Path(folder)
    manifests = [root / split / "shard_manifest.json" for split in ("train", "val")]
    for path in manifests:
        if not path.is_file():
            raise FileNotFoundError(f"--data {folder}: {path} is missing (make it "
                                    "with `curate --shards --out DIR`)")
    return ["data=manifests", f"train_manifest={manifests[0].resolve()}",
            f"val_manifest={manifests[1].resolve()}"]


def build_config(args: argparse.Namespace) -> Any:
    """The validated TrainConfig of the file, the flags and ``--set``."""
    from llm_from_scratch.train.config import TrainConfig, load_config

    config = load_config(args.config) if args.config else TrainConfig()
    flags = {"out_dir": args.out_dir, "steps": args.steps, "device": args.device,
             "parallel": args.parallel, "budget_seconds": args.budget_seconds}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.data:
        overrides += data_overrides(args.data)
    if args.resume:
        overrides.append("resume=true")
    if args.no_progress or not sys.stderr.isatty():
        overrides.append("progress=false")  # a log gets plain lines instead
    config = config.with_overrides(overrides + list(args.set or []))
    if config.data == "manifests":
        for name in ("train_manifest", "val_manifest"):
            if not Path(getattr(config, name)).is_file():
                raise FileNotFoundError(
                    f"{name} {getattr(config, name)} does not exist")
    return config


def prepare_out_dir(config: Any, overwrite: bool, is_main: bool) -> None:
    """Refuse to train over checkpoints unless ``--resume`` or ``--overwrite``;
    say what a resume starts from; clean up after a save that was killed."""
    from llm_from_scratch.train.checkpoint import latest_checkpoint, remove_temporaries

    if not config.out_dir:
        return
    out = Path(config.out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out-dir {out} exists and is not a folder")
    if config.resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other")
    if is_main:
        for path in remove_temporaries(out):
            print(f"removed {path} (left by a save that was killed)", file=sys.stderr)
    latest = latest_checkpoint(out)
    checkpoints = out / "checkpoints"
    if config.resume:
        if is_main:
            print(f"resuming from {latest}" if latest else
                  f"no checkpoint in {out}: starting from step 0", file=sys.stderr)
        return
    if latest is None and not (checkpoints.is_dir() and any(checkpoints.iterdir())):
        return
    if not overwrite:
        raise FileExistsError(f"--out-dir {out} already holds checkpoints; pass "
                              "--resume to continue it or --overwrite to replace it")
    if is_main:
        shutil.rmtree(checkpoints)
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)


def log_lines(record: dict[str, Any], model: Any) -> None:
    """Training callback off a terminal: one plain line per logged step."""
    if "tokens_per_s" in record or "val_loss" in record:
        parts = [f"step {record['step']}", f"loss {record['loss']:.4f}",
                 f"lr {record['lr']:.2e}"]
        parts += [f"{k} {record[k]:.4f}" for k in ("val_loss", "val_bpb")
                  if k in record]
        if "tokens_per_s" in record:
            parts.append(f"{record['tokens_per_s']:,.0f} tok/s")
        print("train: " + ", ".join(parts), file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from llm_from_scratch.train.distributed import dist_info_from_env
    from llm_from_scratch.train.loop import train

    config = build_config(args)  # every argument is checked before any work
    info = dist_info_from_env()
    prepare_out_dir(config, args.overwrite, info.is_main)
    if args.verify_data and config.data == "manifests":
        from llm_from_scratch.data import TokenShards

        for name in ("train_manifest", "val_manifest"):
            TokenShards(getattr(config, name)).verify()  # SHA-256 of every shard
    callbacks = [log_lines] if info.is_main and not sys.stderr.isatty() else []
    result = train(config, callbacks=callbacks)
    import torch.distributed as dist

    if dist.is_initialized():  # the command owns the process group: close it
        dist.destroy_process_group()
    if info.is_main:
        summary = {"steps": len(result.history), "seconds": round(result.seconds, 1)}
        summary["final_loss"] = result.losses[-1] if result.losses else None
        if result.evals:
            last = result.evals[-1]
            summary.update({k: last[k] for k in ("val_loss", "val_bpb") if k in last})
        if result.checkpoint:
            summary["checkpoint"] = str(result.checkpoint)
        print(json.dumps(summary))
    return 0


def sample_tokenizer(config: Any, tokenizer: str | None = None) -> Any:
    """The tokenizer a checkpoint's data was made with: ``tokenizer`` (a file)
    when given, else the one its data records (book BPE, bytes, or a file)."""
    from llm_from_scratch.train.sources import run_tokenizer

    if tokenizer:
        from llm_from_scratch.tokenizer import Tokenizer

        if not Path(tokenizer).is_file():
            raise FileNotFoundError(f"--tokenizer {tokenizer} does not exist")
        return Tokenizer.load(tokenizer)
    return run_tokenizer(config)


def fit_new_tokens(positions: int, prompt_len: int, max_new_tokens: int) -> int:
    """How many tokens can follow a ``prompt_len`` prompt in a context of
    ``positions`` (the last sampled token is never fed back): ``max_new_tokens``
    or fewer. A chat with no prompt yet passes ``prompt_len=positions // 2``,
    leaving half the context to the conversation."""
    return max(0, min(max_new_tokens, positions - prompt_len + 1))


def chat_new_tokens(positions: int, max_new_tokens: int) -> int:
    """A chat's reply length: ``max_new_tokens``, or less so that half of a
    ``positions`` context stays for the conversation (a seq_len-64 model asked
    for 64 new tokens would otherwise have no room for any prompt)."""
    return max(1, fit_new_tokens(positions, positions // 2 + 1, max_new_tokens))


def cmd_sample(args: argparse.Namespace) -> int:
    from llm_from_scratch.train.pretrained import load_model

    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    model, config = load_model(args.checkpoint)
    tok = sample_tokenizer(config, args.tokenizer)
    if tok.vocab_size != model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tok.vocab_size} tokens but the model "
                         f"{model.config.vocab_size}")
    ids = tok.encode(args.prompt)
    positions = model.config.max_positions
    if len(ids) >= positions:
        if not args.truncate:
            raise ValueError(f"--prompt is {len(ids)} tokens, the model has "
                             f"{positions} positions; --truncate keeps its end")
        ids = ids[-(positions // 2):]
    new = fit_new_tokens(positions, len(ids), args.max_new_tokens)
    if new < args.max_new_tokens:
        print(f"(--max-new-tokens {args.max_new_tokens} cut to {new}: the model has "
              f"{positions} positions)", file=sys.stderr)
    g = torch.Generator().manual_seed(args.seed)
    prompt = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(prompt, new, temperature=args.temperature,
                             top_k=args.top_k, top_p=args.top_p, generator=g)
    print(args.prompt + tok.decode(out[0, prompt.shape[1]:].tolist()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from llm_from_scratch.train.config import PARALLEL

    p = subparsers.add_parser("train", help="pretrain a model (also under torchrun)")
    p.add_argument("--config", help="a .json or .yaml TrainConfig file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config field (repeatable)")
    p.add_argument("--data", metavar="DIR",
                   help="a `curate --shards` folder (its train/ and val/ manifests)")
    p.add_argument("--out-dir", help="where checkpoints and metrics go")
    p.add_argument("--steps", type=int, help="number of optimizer steps")
    p.add_argument("--budget-seconds", type=float,
                   help="wall-clock budget: the run's length and its learning-rate "
                        "decay are fitted to it after timing the first steps")
    p.add_argument("--device", help="auto, cpu, cuda[:N] or mps")
    p.add_argument("--parallel", choices=PARALLEL,
                   help="under torchrun: replicate (ddp, the default) or shard (fsdp) "
                        "the model; tensor and pipeline parallelism: parallel-train")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out-dir")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the checkpoints already in --out-dir")
    p.add_argument("--verify-data", action="store_true",
                   help="check every shard's SHA-256 before training (sizes are "
                        "always checked)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (off a terminal: plain log lines)")
    p.set_defaults(func=cmd_train)

    s = subparsers.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="checkpoint or run directory")
    s.add_argument("--tokenizer", metavar="FILE",
                   help="a .tok file (default: the one the run's data records)")
    s.add_argument("--prompt", default="\n")
    s.add_argument("--max-new-tokens", type=int, default=100,
                   help="at most this many (fewer when the context is full)")
    s.add_argument("--truncate", action="store_true",
                   help="keep the end of a prompt longer than the context")
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample)
