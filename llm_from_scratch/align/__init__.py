"""Alignment: from a pretrained model to an assistant.

Chat template and loss masks (``chat``, ``batching``), every loss as a pure
function (``losses``), offline data (``data``), and one module per stage:
supervised fine-tuning (``sft``), a Bradley-Terry reward model (``reward``),
Direct Preference Optimization (``dpo``) and GRPO reinforcement learning
(``grpo``). A reusable toolkit for any causal LM sits beside them:
policy-gradient losses and their length normalisation (``pg``), micro-batch
train steps and response log-probs (``steps``), packed SFT data
(``packing``), and LoRA adapters (``lora``).
"""

from llm_from_scratch.align.batching import (
    IGNORE,
    PackedBatch,
    block_causal_mask,
    pack_examples,
    pad_batch,
)
from llm_from_scratch.align.chat import (
    ChatExample,
    Message,
    encode_chat,
    encode_prompt,
    parse,
    render,
    validate,
)
from llm_from_scratch.align.data import (
    PreferencePair,
    TASKS,
    addition_conversation,
    addition_pairs,
    addition_problems,
    addition_prompt,
    addition_reward,
    chatterbot_conversations,
    contaminate,
    preference_pairs,
    split_by_hash,
    task_conversation,
    task_pairs,
    task_problems,
    task_prompt,
    task_reward,
)
from llm_from_scratch.align.dpo import DPOConfig, dpo_loss, dpo_train, frozen_copy
from llm_from_scratch.align.grpo import GRPOConfig, grpo_train, sample_group
from llm_from_scratch.align.lora import (
    LoRALinear,
    apply_lora,
    merge_lora,
    train_token_rows,
    trainable_parameters,
    unmerge_lora,
)
from llm_from_scratch.align.losses import (
    bradley_terry_loss,
    entropy,
    group_advantages,
    kl_estimate,
    masked_mean,
    masked_normalize,
    sequence_logprob,
    sft_loss,
    token_logprobs,
)
from llm_from_scratch.align.packing import PackedSFTDataset, iterate_batches
from llm_from_scratch.align.pg import (
    aggregate_token_loss,
    clipped_surrogate,
    compute_group_normalized_rewards,
    compute_grpo_clip_loss,
    compute_naive_policy_gradient_loss,
    compute_policy_gradient_loss,
    group_normalize,
)
from llm_from_scratch.align.reward import (
    RewardConfig,
    RewardModel,
    reward_accuracy,
    train_reward_model,
)
from llm_from_scratch.align.sft import SFTConfig, sft_train
from llm_from_scratch.align.steps import (
    get_response_log_probs,
    grpo_microbatch_train_step,
    sft_microbatch_train_step,
    tokenize_prompt_and_output,
)
from llm_from_scratch.align.training import encode_dataset

__all__ = [
    "IGNORE",
    "ChatExample",
    "DPOConfig",
    "GRPOConfig",
    "LoRALinear",
    "Message",
    "PackedBatch",
    "PackedSFTDataset",
    "PreferencePair",
    "RewardConfig",
    "RewardModel",
    "SFTConfig",
    "TASKS",
    "addition_conversation",
    "addition_pairs",
    "addition_problems",
    "addition_prompt",
    "addition_reward",
    "aggregate_token_loss",
    "apply_lora",
    "block_causal_mask",
    "bradley_terry_loss",
    "chatterbot_conversations",
    "clipped_surrogate",
    "compute_group_normalized_rewards",
    "compute_grpo_clip_loss",
    "compute_naive_policy_gradient_loss",
    "compute_policy_gradient_loss",
    "contaminate",
    "dpo_loss",
    "dpo_train",
    "encode_chat",
    "encode_dataset",
    "encode_prompt",
    "entropy",
    "frozen_copy",
    "get_response_log_probs",
    "group_advantages",
    "group_normalize",
    "grpo_microbatch_train_step",
    "grpo_train",
    "iterate_batches",
    "kl_estimate",
    "masked_mean",
    "masked_normalize",
    "merge_lora",
    "pack_examples",
    "pad_batch",
    "parse",
    "preference_pairs",
    "render",
    "reward_accuracy",
    "sample_group",
    "sequence_logprob",
    "sft_loss",
    "sft_microbatch_train_step",
    "sft_train",
    "split_by_hash",
    "token_logprobs",
    "task_conversation",
    "task_pairs",
    "task_problems",
    "task_prompt",
    "task_reward",
    "tokenize_prompt_and_output",
    "train_reward_model",
    "train_token_rows",
    "trainable_parameters",
    "unmerge_lora",
    "validate",
]
