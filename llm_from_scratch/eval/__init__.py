"""Evaluation: how good a model is, with error bars.

Read in this order: ``loglik`` (scoring continuations, batched), ``tasks`` (the
item format), ``evaluate`` (a task's scores), ``parsing`` (answers from
generated text), ``passk``, ``stats`` (standard errors, bootstrap, detectable
differences), ``benchmarks`` (the book's offline benchmarks),
``contamination``, ``cache`` (scores kept on disk) and
``harness`` (the book's models inside
lm-evaluation-harness; imported on demand, since it loads the harness).
"""

from llm_from_scratch.eval.benchmarks import (
    BENCHMARKS,
    benchmark,
    build_cloze,
    build_parity,
    build_quotes,
    held_out_documents,
    mmlu_prompt,
    task_fingerprint,
)
from llm_from_scratch.eval.cache import cached_evaluate, weights_key
from llm_from_scratch.eval.contamination import (
    Contamination,
    clean_score,
    contamination,
    training_documents,
)
from llm_from_scratch.eval.evaluate import (
    MC_METRICS,
    TaskResult,
    choice_picks,
    evaluate_task,
    generate_text,
    grade,
    load_for_eval,
    mc_logprobs,
)
from llm_from_scratch.eval.loglik import (
    Score,
    bits_per_byte,
    encode_pair,
    loglikelihood,
    rolling_loglikelihood,
    rolling_windows,
    score_one,
    score_tokens,
)
from llm_from_scratch.eval.parsing import (
    gsm8k_correct,
    normalize_number,
    parse_choice,
    parse_gsm8k,
)
from llm_from_scratch.eval.passk import mean_pass_at_k, pass_at_k
from llm_from_scratch.eval.stats import (
    Interval,
    bits_per_byte_ci,
    bootstrap_ci,
    mean_ci,
    minimum_detectable_difference,
    paired_bootstrap,
    standard_error,
)
from llm_from_scratch.eval.tasks import (
    Item,
    Task,
    item_from_json,
    load_jsonl,
    save_jsonl,
)

__all__ = [
    "BENCHMARKS",
    "MC_METRICS",
    "Contamination",
    "Interval",
    "Item",
    "Score",
    "Task",
    "TaskResult",
    "benchmark",
    "bits_per_byte",
    "bits_per_byte_ci",
    "bootstrap_ci",
    "build_cloze",
    "build_parity",
    "build_quotes",
    "cached_evaluate",
    "choice_picks",
    "clean_score",
    "contamination",
    "encode_pair",
    "evaluate_task",
    "generate_text",
    "grade",
    "gsm8k_correct",
    "held_out_documents",
    "item_from_json",
    "load_for_eval",
    "load_jsonl",
    "loglikelihood",
    "mc_logprobs",
    "mean_ci",
    "mean_pass_at_k",
    "minimum_detectable_difference",
    "mmlu_prompt",
    "normalize_number",
    "paired_bootstrap",
    "parse_choice",
    "parse_gsm8k",
    "pass_at_k",
    "rolling_loglikelihood",
    "rolling_windows",
    "save_jsonl",
    "score_one",
    "score_tokens",
    "standard_error",
    "task_fingerprint",
    "training_documents",
    "weights_key",
]
