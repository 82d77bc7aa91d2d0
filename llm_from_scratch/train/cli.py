"""``llm-from-scratch train`` and ``llm-from-scratch sample``.

    llm-from-scratch train --config run.yaml --set lr=1e-3 --set steps=2000
    torchrun --nproc_per_node=2 -m llm_from_scratch train --config run.yaml
    torchrun --nproc_per_node=8 -m llm_from_scratch train --parallel fsdp
    llm-from-scratch sample --checkpoint runs/demo --prompt "ROMEO:"

Both call the same public functions as the notebook (``train``,
``load_model``), so the command line cannot drift from the book.
"""

from __future__ import annotations

import argparse
import json

import torch


def cmd_train(args: argparse.Namespace) -> int:
    from llm_from_scratch.train.config import TrainConfig, load_config
    from llm_from_scratch.train.distributed import dist_info_from_env
    from llm_from_scratch.train.loop import train

    config = load_config(args.config) if args.config else TrainConfig()
    flags = {"out_dir": args.out_dir, "steps": args.steps, "device": args.device,
             "parallel": args.parallel}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.resume:
        overrides.append("resume=true")
    if args.no_progress:
        overrides.append("progress=false")
    config = config.with_overrides(overrides + list(args.set or []))
    result = train(config)
    import torch.distributed as dist

    if dist.is_initialized():  # the command owns the process group: close it
        dist.destroy_process_group()
    if dist_info_from_env().is_main:
        summary = {"steps": len(result.history), "seconds": round(result.seconds, 1)}
        summary["final_loss"] = result.losses[-1] if result.losses else None
        if result.evals:
            last = result.evals[-1]
            summary.update({k: last[k] for k in ("val_loss", "val_bpb") if k in last})
        if result.checkpoint:
            summary["checkpoint"] = str(result.checkpoint)
        print(json.dumps(summary))
    return 0


def sample_tokenizer(config) -> object:
    """The tokenizer a checkpoint's data was made with (book BPE or bytes)."""
    from llm_from_scratch.train.sources import ByteTokenizer

    if config.data == "book":
        from llm_from_scratch.tokenizer import book_tokenizer

        return book_tokenizer()
    if config.data == "bytes":
        return ByteTokenizer()
    manifest = json.loads(open(config.val_manifest).read())
    if manifest.get("metadata", {}).get("tokenizer") == "bytes":
        return ByteTokenizer()
    raise SystemExit(
        f"cannot tell which tokenizer made {config.val_manifest}; sampling text "
        "needs data='book', data='bytes' or byte-level manifests"
    )


def cmd_sample(args: argparse.Namespace) -> int:
    from llm_from_scratch.train.pretrained import load_model

    model, config = load_model(args.checkpoint)
    tok = sample_tokenizer(config)
    ids = torch.tensor([tok.encode(args.prompt)], dtype=torch.long)
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        out = model.generate(ids, args.max_new_tokens, temperature=args.temperature,
                             top_k=args.top_k, top_p=args.top_p, generator=g)
    print(args.prompt + tok.decode(out[0, ids.shape[1]:].tolist()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from llm_from_scratch.train.config import PARALLEL

    p = subparsers.add_parser("train", help="pretrain a model (also under torchrun)")
    p.add_argument("--config", help="a .json or .yaml TrainConfig file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config field (repeatable)")
    p.add_argument("--out-dir", help="where checkpoints and metrics go")
    p.add_argument("--steps", type=int, help="number of optimizer steps")
    p.add_argument("--device", help="auto, cpu, cuda[:N] or mps")
    p.add_argument("--parallel", choices=PARALLEL,
                   help="under torchrun: replicate (ddp, the default) or shard (fsdp) "
                        "the model; tensor and pipeline parallelism: parallel-train")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --out-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    s = subparsers.add_parser("sample", help="generate text from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="checkpoint or run directory")
    s.add_argument("--prompt", default="\n")
    s.add_argument("--max-new-tokens", type=int, default=100)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample)
