"""``llm-from-scratch parallel-train``: one training run under any scheme.

    torchrun --nproc_per_node=2 -m llm_from_scratch parallel-train --parallel fsdp
    torchrun --nproc_per_node=2 -m llm_from_scratch parallel-train --parallel pp \
        --n-layers 4 --schedule 1f1b --micro-batches 4

Without torchrun it runs as a single process (world size 1). On CUDA the
nccl backend is chosen, on CPU gloo.
"""

from __future__ import annotations

import argparse

from llm_from_scratch.model import ModelConfig


def _book_loop(args: argparse.Namespace) -> int:
    """The book's ``train()`` loop on its shards: the data-parallel schemes
    only, since it gives every rank its own batches (torch's DDP, FSDP2 via
    ``parallel="fsdp"``, or our ``DataParallel`` as ``wrap_model``)."""
    from llm_from_scratch.parallel.data_parallel import DataParallel
    from llm_from_scratch.parallel.production import ddp
    from llm_from_scratch.train import TrainConfig, train

    wraps = {"ddp": ddp, "ddp-scratch": lambda model, device: DataParallel(model),
             "fsdp": None, "none": None}
    if args.parallel not in wraps:
        raise SystemExit(f"--loop book supports --parallel {sorted(wraps)}")
    config = TrainConfig(
        d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads,
        n_kv_heads=args.n_kv_heads, tie_embeddings=args.tie_embeddings,
        fast=args.fast, batch_size=args.batch_size, seq_len=args.seq_len,
        steps=args.steps, lr=args.lr, seed=args.seed, eval_every=0, log_every=1,
        progress=False, dtype=args.dtype,
        parallel="fsdp" if args.parallel == "fsdp" else "ddp",
    )
    result = train(config, wrap_model=wraps[args.parallel])
    if result.history and _rank() == 0:
        for record in result.history:
            print(f"step {record['step']:4d}  loss {record['loss']:.4f}  "
                  f"tokens/s {record.get('tokens_per_s', 0):.0f}")
    return 0


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_initialized() else 0


def cmd_parallel_train(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    if args.loop == "book":
        return _book_loop(args)

    from llm_from_scratch.parallel.trainer import ParallelRun, parallel_train

    model = ModelConfig(
        vocab_size=args.vocab_size, d_model=args.d_model, n_layers=args.n_layers,
        n_heads=args.n_heads, n_kv_heads=args.n_kv_heads, max_seq_len=args.seq_len,
        tie_embeddings=args.tie_embeddings, fast=args.fast,
    )
    run = ParallelRun(
        model=model, parallel=args.parallel, steps=args.steps,
        batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr, seed=args.seed,
        dtype=args.dtype, micro_batches=args.micro_batches, schedule=args.schedule,
    )
    data = None
    if args.data == "book":
        from llm_from_scratch.data import TokenShards, book_shards

        data = TokenShards(book_shards().train)
        if data.vocab_size != args.vocab_size:
            raise SystemExit(f"--vocab-size must be {data.vocab_size} (book data)")
    try:
        history = parallel_train(run, data)
        if dist.get_rank() == 0:
            for record in history:
                print(f"step {record['step']:4d}  loss {record['loss']:.4f}  "
                      f"tokens/s {record['tokens_per_s']:.0f}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from llm_from_scratch.parallel.pipeline import SCHEDULES
    from llm_from_scratch.parallel.trainer import PARALLEL

    p = subparsers.add_parser(
        "parallel-train",
        help="train under DDP, FSDP, TP or a pipeline (torchrun or alone)",
    )
    p.add_argument("--parallel", choices=PARALLEL, default="ddp")
    p.add_argument("--data", choices=("random", "book"), default="random",
                   help="random token ids (smoke test) or the book's shards")
    p.add_argument("--loop", choices=("own", "book"), default="own",
                   help="this chapter's loop (every scheme) or the book's train() "
                        "(data-parallel schemes, book data)")
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--n-kv-heads", type=int, default=2)
    p.add_argument("--tie-embeddings", action="store_true")
    p.add_argument("--fast", action="store_true",
                   help="fused attention (F.scaled_dot_product_attention)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8, help="per data-parallel rank")
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="bfloat16 autocasts the forward pass (GPUs)")
    p.add_argument("--micro-batches", type=int, default=4,
                   help="pp: micro-batches per step (must divide --batch-size)")
    p.add_argument("--schedule", choices=SCHEDULES, default="1f1b",
                   help="pp: the pipeline schedule")
    p.set_defaults(func=cmd_parallel_train)
