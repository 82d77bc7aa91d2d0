"""Serving the model: batched generation, continuous batching, quantization,
speculative decoding (engine) and an OpenAI-compatible server plus export.

The engine half lives in ``batch``, ``batcher``, ``quant`` and ``speculative``;
the server half in ``server``, ``export_hf``, ``export_gguf`` and ``cli``.
"""

# --- engine exports (batch, batcher, quant, speculative) ---
from llm_from_scratch.serve.batcher import ContinuousBatcher, Request, SamplingParams

__all__ = ["ContinuousBatcher", "Request", "SamplingParams"]
# --- end engine exports ---

# --- server exports (server, export_hf, export_gguf, loadtest) ---
from llm_from_scratch.serve.export_gguf import export_gguf, load_gguf, save_gguf
from llm_from_scratch.serve.export_hf import export_hf, save_hf
from llm_from_scratch.serve.loadtest import LoadReport, load_test, running_server
from llm_from_scratch.serve.server import create_app

__all__ += [
    "LoadReport",
    "create_app",
    "export_gguf",
    "export_hf",
    "load_gguf",
    "load_test",
    "running_server",
    "save_gguf",
    "save_hf",
]
# --- end server exports ---
