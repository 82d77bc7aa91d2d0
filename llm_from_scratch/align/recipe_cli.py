"""``llm-from-scratch align``: the Alignment chapter's recipe on any checkpoint.

    llm-from-scratch align --checkpoint runs/mine --out aligned
    llm-from-scratch align --checkpoint runs/mine --config recipe.yaml \\
        --stages sft,dpo --out aligned
    llm-from-scratch chat --checkpoint aligned/dpo --tokenizer my.tok

Runs SFT, then DPO, then GRPO on the verifiable task (``rl``), each stage
starting from the one before, through the same public stage functions as the
chapter (``pipeline.sft_stage``, ``dpo_stage``, ``rl_stage``), so each stage is
cached under the cache's ``align/`` folder keyed by its config, its data and
the weights it starts from. ``--config`` is a YAML or JSON ``RecipeConfig``
(nested ``sft:``, ``dpo:``, ``grpo:`` mappings); the default is the chapter's
``book_recipe()``. The tokenizer is the one the checkpoint's data records,
unless ``--tokenizer`` names one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from llm_from_scratch.utils.settings import read_settings

STAGES = ("sft", "dpo", "rl")


def recipe_from_dict(data: dict[str, Any], where: str = "recipe") -> Any:
    """A RecipeConfig from plain data, over ``book_recipe()``; unknown keys and
    bad values are errors naming the field."""
    from llm_from_scratch.align.pipeline import RecipeConfig, book_recipe

    base = book_recipe()
    names = {f.name for f in fields(RecipeConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; allowed: "
                         f"{sorted(names)}")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        current = getattr(base, key)
        if hasattr(current, "__dataclass_fields__"):  # a stage's config
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key} must be a mapping")
            allowed = set(current.__dataclass_fields__)
            bad = sorted(set(value) - allowed)
            if bad:
                raise ValueError(f"{where}.{key}: unknown setting(s) {bad}; allowed: "
                                 f"{sorted(allowed)}")
            value = replace(current, **value)
        changes[key] = value
    try:
        return replace(base, **changes)
    except TypeError as e:  # a wrongly typed value the checks compare
        raise ValueError(f"{where}: {e}") from None


def load_recipe(path: str | None) -> Any:
    """``--config`` (YAML or JSON, data only) or the chapter's recipe."""
    from llm_from_scratch.align.pipeline import book_recipe

    if path is None:
        return book_recipe()
    return recipe_from_dict(read_settings(path), str(path))


def parse_stages(text: str) -> list[str]:
    """``sft,dpo,rl`` or a part of it, in pipeline order."""
    stages = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad or not stages:
        raise ValueError(f"--stages {text!r}: each must be one of {list(STAGES)}")
    return [s for s in STAGES if s in stages]


def shorten_to_context(recipe: Any, positions: int) -> tuple[Any, list[str]]:
    """The recipe with each length setting cut to ``positions`` (the default
    recipe on a model with a shorter context), and what changed."""
    changed, top = [], {}
    if recipe.max_tokens > positions:
        top["max_tokens"] = positions
        changed.append(f"max_tokens {recipe.max_tokens} -> {positions}")
    for name in ("dpo", "reward"):
        stage = getattr(recipe, name)
        if stage.max_tokens > positions:
            top[name] = replace(stage, max_tokens=positions)
            changed.append(f"{name}.max_tokens {stage.max_tokens} -> {positions}")
    return replace(recipe, **top), changed


def check_fits(recipe: Any, positions: int, tok: Any) -> None:
    """Lengths against the model's context; the chat tokens in the tokenizer."""
    from llm_from_scratch.align.chat import END

    for name, value in (("max_tokens", recipe.max_tokens),
                        ("dpo.max_tokens", recipe.dpo.max_tokens),
                        ("reward.max_tokens", recipe.reward.max_tokens)):
        if value > positions:
            raise ValueError(f"recipe {name}={value} exceeds the model's {positions} "
                             f"positions; set it <= {positions} in --config")
    specials = getattr(tok, "special_tokens", {})
    if END not in specials:
        raise ValueError(f"the tokenizer has no chat tokens ({END!r} missing): train "
                         "it with `tokenizer train` and its default --special")


def cmd_align(args: argparse.Namespace) -> int:
    from llm_from_scratch.align import pipeline
    from llm_from_scratch.train.cli import sample_tokenizer
    from llm_from_scratch.train.pretrained import load_model

    stages = parse_stages(args.stages)  # every argument before any work
    recipe = load_recipe(args.config)
    out = Path(args.out) if args.out else None
    if out is not None:
        taken = [out / s for s in stages if (out / s).exists()]
        if taken and not args.overwrite:
            raise FileExistsError(f"{taken[0]} exists; pass --overwrite to replace it")
    base, base_config = load_model(args.checkpoint)
    tok = sample_tokenizer(base_config, args.tokenizer)
    if tok.vocab_size != base.config.vocab_size:
        raise ValueError(f"the tokenizer has {tok.vocab_size} tokens but the model "
                         f"{base.config.vocab_size}")
    if args.config is None:  # the default recipe fits itself to the model
        recipe, changed = shorten_to_context(recipe, base.config.max_positions)
        if changed:
            print(f"align: the model has {base.config.max_positions} positions: "
                  + ", ".join(changed), file=sys.stderr)
    check_fits(recipe, base.config.max_positions, tok)
    data = pipeline.alignment_data(tok, recipe)
    pad, train_config = tok.eot_id, base_config.to_dict()
    model, results = base, []
    for name in stages:
        if name == "sft":
            stage = pipeline.sft_stage(model, tok, data, recipe, train_config, pad)
        elif name == "dpo":
            stage = pipeline.dpo_stage(model, tok, data, recipe, train_config, pad)
        else:
            stage = pipeline.rl_stage(model, tok, data, recipe, train_config, pad)
        model = stage.model
        path = stage.path
        if out is not None:
            path = out / name
            tmp = out / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(stage.path, tmp)
            shutil.rmtree(path, ignore_errors=True)
            tmp.rename(path)
        row = {"stage": name, "checkpoint": str(path), "cached": stage.cached,
               "steps": len(stage.history), "cpu_seconds": round(stage.seconds, 1)}
        if stage.history and "loss" in stage.history[-1]:
            row["final_loss"] = stage.history[-1]["loss"]
        results.append(row)
        print(f"{name}: {len(stage.history)} steps"
              f"{' (cached)' if stage.cached else ''} -> {path}", file=sys.stderr)
    print(json.dumps(results))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "align", help="SFT, DPO and RL (GRPO) on a checkpoint",
        description="The Alignment chapter's recipe on any pretrained checkpoint. "
                    "Each stage starts from the one before and is cached.")
    p.add_argument("--checkpoint", required=True, help="checkpoint or run directory")
    p.add_argument("--config", help="YAML or JSON RecipeConfig settings (default: "
                                    "the chapter's recipe)")
    p.add_argument("--stages", default="sft,dpo,rl",
                   help="which stages, in order: sft,dpo,rl (default: all)")
    p.add_argument("--tokenizer", metavar="FILE",
                   help="a .tok file (default: the one the run's data records)")
    p.add_argument("--out", help="also copy each stage's checkpoint to OUT/<stage>")
    p.add_argument("--overwrite", action="store_true",
                   help="replace stage folders already in --out")
    p.set_defaults(func=cmd_align)
