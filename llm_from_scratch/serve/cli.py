"""``llm-from-scratch serve`` and ``llm-from-scratch export``.

``serve`` loads a checkpoint and answers OpenAI-style requests (and shows the
chat page at ``/``) until interrupted. ``export`` writes the checkpoint for other
runtimes: a Hugging Face folder (``transformers``, vLLM, TGI) or one GGUF file
(llama.cpp, Ollama). Both decode with the tokenizer the checkpoint's data
records (the book's BPE, or the file a ``curate --tokenizer`` run names) unless
``--tokenizer`` names another, as ``sample`` and ``chat`` do.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FORMATS = ("hf", "gguf")


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    from llm_from_scratch.train import load_model
    from llm_from_scratch.train.cli import sample_tokenizer

    model, config = load_model(Path(args.checkpoint))
    tok = sample_tokenizer(config, args.tokenizer)
    if tok.vocab_size != model.config.vocab_size:
        raise SystemExit(
            f"tokenizer has {tok.vocab_size} tokens but the model "
            f"{model.config.vocab_size}"
        )
    return model, tok


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from llm_from_scratch.serve.server import create_app

    model, tok = _load(args)
    name = args.model_name or Path(args.checkpoint).resolve().name
    app = create_app(model, tok, model_name=name, max_batch_size=args.max_batch_size)
    print(f"serving {name!r} on http://{args.host}:{args.port} (chat page at /, "
          "API under /v1)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from llm_from_scratch.serve.export_gguf import save_gguf
    from llm_from_scratch.serve.export_hf import save_hf

    model, tok = _load(args)
    if args.format == "hf":
        if args.dtype != "f32":
            raise SystemExit("--dtype applies to --format gguf only")
        out = save_hf(model, tok, args.out)
    else:
        out = save_gguf(model, tok, args.out, dtype=args.dtype)
    print(out)
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint directory (training run or aligned stage)")
    p.add_argument("--tokenizer", help="tokenizer file (default: the one the "
                   "checkpoint's data records)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="OpenAI-compatible HTTP server and chat page",
        description="Serve a checkpoint: /v1/models, /v1/completions, "
                    "/v1/chat/completions (streaming with stream=true) and a chat "
                    "page at /. Concurrent requests share the model through a "
                    "continuous batcher.",
    )
    _common(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model-name", help="model id in the API (default: the "
                                        "checkpoint folder's name)")
    p.add_argument("--max-batch-size", type=int, default=8,
                   help="requests decoded together in one forward pass")
    p.set_defaults(func=cmd_serve)

    e = subparsers.add_parser(
        "export", help="write a checkpoint as a Hugging Face folder or a GGUF file",
        description="hf: config.json, model.safetensors, tokenizer.json and the "
                    "chat template (transformers' from_pretrained loads it); gguf: "
                    "one llama.cpp file.",
    )
    _common(e)
    e.add_argument("--format", choices=FORMATS, required=True)
    e.add_argument("--out", required=True,
                   help="output folder (hf) or file (gguf)")
    e.add_argument("--dtype", choices=("f32", "f16"), default="f32",
                   help="GGUF matrix precision (norms stay f32)")
    e.set_defaults(func=cmd_export)
