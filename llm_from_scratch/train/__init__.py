"""Training: the objective, AdamW, the schedule, checkpoints and the loop.

The public entry is ``train(config)``; ``book_model()`` returns the book's
pretrained small model (training it on first use).
"""

from llm_from_scratch.train.budget import Budget, chinchilla
from llm_from_scratch.train.checkpoint import (
    Checkpoint,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from llm_from_scratch.train.clipping import clip_grad_norm
from llm_from_scratch.train.config import TrainConfig, load_config
from llm_from_scratch.train.distributed import DistInfo, dist_info_from_env
from llm_from_scratch.train.hardware import (
    PEAK_FLOPS,
    measure_matmul_flops,
    mfu,
    peak_flops,
)
from llm_from_scratch.train.loop import TrainResult, evaluate, step_generator, train
from llm_from_scratch.train.loss import bits_per_byte, cross_entropy, perplexity
from llm_from_scratch.train.muon import Muon, muon_param_groups, newton_schulz
from llm_from_scratch.train.memory import activation_memory
from llm_from_scratch.train.optim import (
    AdamW,
    adamw_update,
    adamw_update_foreach,
    param_groups,
)
from llm_from_scratch.train.pretrained import (
    BOOK_ANCHOR,
    book_checkpoint,
    book_config,
    book_model,
    is_book_default,
    load_model,
)
from llm_from_scratch.train.scaling import (
    LossFit,
    Run,
    bootstrap,
    fit_isoflop,
    fit_loss_surface,
)
from llm_from_scratch.train.schedule import lr_at
from llm_from_scratch.train.sources import TrainData, bytes_per_token, open_data

__all__ = [
    "BOOK_ANCHOR",
    "PEAK_FLOPS",
    "AdamW",
    "Budget",
    "Checkpoint",
    "LossFit",
    "Muon",
    "Run",
    "DistInfo",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "activation_memory",
    "adamw_update",
    "adamw_update_foreach",
    "bits_per_byte",
    "bootstrap",
    "book_checkpoint",
    "bytes_per_token",
    "book_config",
    "book_model",
    "chinchilla",
    "clip_grad_norm",
    "cross_entropy",
    "dist_info_from_env",
    "evaluate",
    "fit_isoflop",
    "fit_loss_surface",
    "is_book_default",
    "latest_checkpoint",
    "load_checkpoint",
    "load_config",
    "load_model",
    "lr_at",
    "measure_matmul_flops",
    "mfu",
    "muon_param_groups",
    "newton_schulz",
    "open_data",
    "param_groups",
    "peak_flops",
    "perplexity",
    "save_checkpoint",
    "step_generator",
    "train",
]
