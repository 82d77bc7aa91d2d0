"""What a run trains: the model its config describes, and the optimizer.

``model_config`` maps a ``TrainConfig`` onto the model's ``ModelConfig``;
``build_optimizer`` picks AdamW or Muon and applies muP's learning-rate
scales. The training loop, the memory model and the scaling sweeps share them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from llm_from_scratch.train.config import TrainConfig
from llm_from_scratch.train.optim import AdamW, param_groups


def build_model(config: TrainConfig, vocab_size: int) -> nn.Module:
    """The book's Transformer with the config's shape."""
    from llm_from_scratch.model import Transformer

    return Transformer(model_config(config, vocab_size))


def model_config(config: TrainConfig, vocab_size: int) -> Any:
    from llm_from_scratch.model import ModelConfig

    return ModelConfig(
        vocab_size=vocab_size,
        d_model=config.d_model,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        n_kv_heads=config.n_kv_heads,
        max_seq_len=config.seq_len,
        ffn_hidden=config.ffn_hidden,
        rope_theta=config.rope_theta,
        tie_embeddings=config.tie_embeddings,
        fast=config.fast,
        moe_experts=config.moe_experts,
        moe_top_k=config.moe_top_k,
        moe_capacity_factor=config.moe_capacity_factor,
        mup_base_width=config.mup_base_width,
    )


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over ``param_groups`` (the default), or Muon for the hidden matrices
    with AdamW for the rest; with muP, hidden matrices get ``lr_scale = 1/m``."""
    betas = (config.beta1, config.beta2)
    if config.optimizer == "muon":
        from llm_from_scratch.train.muon import Muon, muon_param_groups

        groups = muon_param_groups(model, config.weight_decay)
    else:
        groups = param_groups(model, config.weight_decay)
    if config.mup_base_width is not None:
        from llm_from_scratch.model.mup import mup_param_groups

        groups = mup_param_groups(model, groups)
    if config.optimizer == "muon":
        return Muon(groups, lr=config.lr, betas=betas, eps=config.eps,
                    weight_decay=config.weight_decay)
    return AdamW(groups, lr=config.lr, betas=betas, eps=config.eps)
