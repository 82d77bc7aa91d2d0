"""The pieces of an SFT or RL loop for any causal LM, one function each.

``tokenize_prompt_and_output`` turns (prompt, reply) strings into ``input_ids``,
``labels`` and a ``response_mask``; ``get_response_log_probs`` runs a model to
get ``log p(label_t)`` (and the entropy) per position; the two micro-batch steps
turn those into a loss, scale it for gradient accumulation and call
``backward()``. The optimizer step stays with the caller, after
``gradient_accumulation_steps`` such calls.

They work with the book's ``Transformer`` (whose forward returns the logits
tensor) and with a ``transformers`` model (which returns an object with
``.logits``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from llm_from_scratch.align.losses import (
    entropy,
    kl_estimate,
    masked_mean,
    masked_normalize,
    token_logprobs,
)
from llm_from_scratch.align.pg import (
    aggregate_token_loss,
    compute_policy_gradient_loss,
)


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text``; special-token text (a chat template) becomes its id.

    The book's ``Tokenizer.encode`` does that itself; a ``ChatTokenizer`` with
    only ``encode_ordinary`` and ``special_tokens`` is split on them here. A
    ``transformers`` tokenizer is told to add no BOS/EOS of its own (a BOS in
    front of the reply would split it from its prompt).
    """
    if hasattr(tokenizer, "encode_ordinary"):  # the book's tokenizers
        if hasattr(tokenizer, "encode"):
            return list(tokenizer.encode(text))
        specials: dict[str, int] = getattr(tokenizer, "special_tokens", {})
        if not specials:
            return list(tokenizer.encode_ordinary(text))
        longest_first = sorted(specials, key=len, reverse=True)
        pieces = re.split("(" + "|".join(map(re.escape, longest_first)) + ")", text)
        ids: list[int] = []
        for piece in pieces:
            if piece in specials:
                ids.append(specials[piece])
            elif piece:
                ids.extend(tokenizer.encode_ordinary(piece))
        return ids
    try:
        return list(tokenizer.encode(text, add_special_tokens=False))
    except TypeError:  # a minimal tokenizer with encode(text) only
        return list(tokenizer.encode(text))


def _pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id", "eot_id"):
        try:
            value = getattr(tokenizer, name, None)
        except (ValueError, KeyError):  # the book's eot_id without such a token
            value = None
        if value is not None:
            return int(value)
    raise ValueError(
        "tokenizer has no pad_token_id, eos_token_id or eot_id: pass pad_id"
    )


def tokenize_prompt_and_output(
    prompt_strs: Sequence[str],
    output_strs: Sequence[str],
    tokenizer: Any,
    pad_id: int | None = None,
) -> dict[str, torch.Tensor]:
    """Prompt and reply, tokenized separately, concatenated and right-padded.

    With ``L`` the longest ``len(prompt) + len(reply)`` in tokens, returns int64
    ``input_ids`` ``(B, L - 1)`` (the sequence minus its last token), int64
    ``labels`` ``(B, L - 1)`` (minus its first: label t is the token after
    input t) and bool ``response_mask`` ``(B, L - 1)``, True where the label is
    a reply token. Padding is ``pad_id`` (default: the tokenizer's pad, eos or
    end-of-text token) in both tensors and False in the mask. Prompts must
    already contain any chat template or BOS: none is added.
    """
    # region checks
    if len(prompt_strs) != len(output_strs):
        raise ValueError(
            f"prompt_strs ({len(prompt_strs)}) and output_strs "
            f"({len(output_strs)}) must pair up"
        )
    if not prompt_strs:
        raise ValueError("tokenize_prompt_and_output needs at least one pair")
    # endregion
    pad = _pad_id(tokenizer) if pad_id is None else pad_id
    prompts = [_encode(tokenizer, p) for p in prompt_strs]
    outputs = [_encode(tokenizer, o) for o in output_strs]
    width = max(len(p) + len(o) for p, o in zip(prompts, outputs))
    if width < 2:
        raise ValueError("every prompt + output is under two tokens: none to predict")
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    is_reply = torch.zeros(len(prompts), width, dtype=torch.bool)
    for row, (p, o) in enumerate(zip(prompts, outputs)):
        ids[row, : len(p) + len(o)] = torch.tensor(p + o, dtype=torch.long)
        is_reply[row, len(p) : len(p) + len(o)] = True
    return {
        "input_ids": ids[:, :-1],
        "labels": ids[:, 1:],
        "response_mask": is_reply[:, 1:],
    }


def get_response_log_probs(
    model: nn.Module,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    return_token_entropy: bool = False,
) -> dict[str, torch.Tensor]:
    """``log p(labels[b, t] | input_ids[b, :t + 1])`` under ``model``.

    ``input_ids`` and ``labels`` are int64 ``(B, T)``. Returns ``log_probs``,
    float32 ``(B, T)`` (0 where a label is ``IGNORE``), and with
    ``return_token_entropy`` also ``token_entropy``, float32 ``(B, T)``: the
    entropy in nats of the model's next-token distribution, detached (it is
    for logging). Gradients flow into ``log_probs`` unless the caller runs
    this under ``torch.no_grad()``.
    """
    # region checks
    if input_ids.dim() != 2 or labels.shape != input_ids.shape:
        raise ValueError(
            f"input_ids must be (B, T) and labels the same shape, got "
            f"{tuple(input_ids.shape)} and {tuple(labels.shape)}"
        )
    # endregion
    out = model(input_ids)
    logits = out if isinstance(out, torch.Tensor) else out.logits  # (B, T, V)
    if logits.shape[:2] != labels.shape:
        raise ValueError(
            f"model returned logits {tuple(logits.shape)} for labels "
            f"{tuple(labels.shape)}"
        )
    result = {"log_probs": token_logprobs(logits, labels)}
    if return_token_entropy:
        with torch.no_grad():
            result["token_entropy"] = entropy(logits)
    return result


def _check_step(policy_log_probs: torch.Tensor, response_mask: torch.Tensor,
                gradient_accumulation_steps: int) -> None:
    if policy_log_probs.dim() != 2 or response_mask.shape != policy_log_probs.shape:
        raise ValueError(
            f"policy_log_probs must be (B, T) and response_mask the same shape, "
            f"got {tuple(policy_log_probs.shape)} and {tuple(response_mask.shape)}"
        )
    if gradient_accumulation_steps < 1:
        raise ValueError(
            f"gradient_accumulation_steps must be >= 1, "
            f"got {gradient_accumulation_steps}"
        )


def sft_microbatch_train_step(
    policy_log_probs: torch.Tensor,
    response_mask: torch.Tensor,
    gradient_accumulation_steps: int,
    normalize_constant: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One micro-batch of SFT: backprop the scaled negative log-likelihood.

    The loss is each sequence's masked sum of ``-log p`` divided by
    ``normalize_constant``, averaged over the ``B`` sequences, then divided by
    ``gradient_accumulation_steps`` so that the accumulated gradient of that
    many equal micro-batches is the gradient of their union. Calls
    ``backward()`` and returns that 0-dim loss (detached) with metadata:
    ``unscaled_loss`` and ``response_tokens``.
    """
    _check_step(policy_log_probs, response_mask, gradient_accumulation_steps)
    per_sequence = masked_normalize(
        -policy_log_probs, response_mask, normalize_constant, dim=-1
    )  # (B,)
    unscaled = per_sequence.mean()
    loss = unscaled / gradient_accumulation_steps
    loss.backward()
    return loss.detach(), {
        "unscaled_loss": unscaled.detach(),
        "response_tokens": response_mask.sum(),
    }


def grpo_microbatch_train_step(
    policy_log_probs: torch.Tensor,
    response_mask: torch.Tensor,
    gradient_accumulation_steps: int,
    loss_type: str,
    raw_rewards: torch.Tensor | None = None,
    advantages: torch.Tensor | None = None,
    old_log_probs: torch.Tensor | None = None,
    cliprange: float | None = None,
    length_normalization: str = "sequence",
    normalize_constant: float | None = None,
    ref_log_probs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """One micro-batch of policy-gradient training.

    The per-token loss of ``compute_policy_gradient_loss``, plus ``kl_coef``
    times the k3 estimate of KL(pi || pi_ref) when ``ref_log_probs`` (B, T) is
    given (GRPO's penalty, inside the same sum), is reduced over
    ``response_mask`` by ``aggregate_token_loss(length_normalization,
    normalize_constant)``, divided by ``gradient_accumulation_steps`` and
    backpropagated. Returns that 0-dim loss (detached) and the loss's
    metadata, plus ``clip_fraction`` over the response tokens for
    ``grpo_clip`` and ``kl``, the masked mean of the estimate, with a reference.
    """
    _check_step(policy_log_probs, response_mask, gradient_accumulation_steps)
    per_token, metadata = compute_policy_gradient_loss(
        policy_log_probs, loss_type, raw_rewards, advantages, old_log_probs,
        cliprange,
    )
    if ref_log_probs is not None:
        if ref_log_probs.shape != policy_log_probs.shape:
            raise ValueError(
                f"ref_log_probs must match policy_log_probs "
                f"{tuple(policy_log_probs.shape)}, got {tuple(ref_log_probs.shape)}"
            )
        kl = kl_estimate(policy_log_probs, ref_log_probs)  # (B, T)
        per_token = per_token + kl_coef * kl
        metadata["kl"] = masked_mean(kl.detach(), response_mask, empty="nan")
    loss = aggregate_token_loss(
        per_token, response_mask, length_normalization, normalize_constant
    ) / gradient_accumulation_steps
    loss.backward()
    if "clipped" in metadata:
        metadata["clip_fraction"] = masked_mean(
            metadata["clipped"].float(), response_mask, empty="nan"
        )
    return loss.detach(), metadata
