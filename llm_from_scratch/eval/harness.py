"""A bridge to lm-evaluation-harness: the book's models as an ``lm_eval`` model.

``BookLM`` implements the harness's three requests with this package's own
scorer and generator, so a score from the harness and one from
``evaluate_task`` on the same items must agree exactly (the tests and the
chapter check it). The class is registered as ``llm-from-scratch``. The
``lm_eval`` command only knows the models it imports itself, so run it through
this module, which registers the model first and then hands the command line
to the harness unchanged:

    python -m llm_from_scratch.eval.harness --model llm-from-scratch \\
        --model_args checkpoint=DIR --tasks TASK --include_path TASKS_DIR

``model_args``: ``checkpoint`` (a checkpoint or run directory), optional
``tokenizer`` (a tokenizer file; default the one the checkpoint's data
records), ``batch_size``, ``max_gen_toks`` (default 64).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from llm_from_scratch.eval.evaluate import generate_text, load_for_eval
from llm_from_scratch.eval.loglik import loglikelihood, rolling_loglikelihood


@register_model("llm-from-scratch")
class BookLM(LM):
    """lm-evaluation-harness model backed by a book ``Transformer``."""

    def __init__(
        self, checkpoint: str | None = None, tokenizer: str | None = None,
        batch_size: int | str = 32, max_gen_toks: int = 64,
        model: Any = None, tok: Any = None, device: str | None = None,
        **unused: Any,
    ) -> None:
        super().__init__()
        if model is None:
            if checkpoint is None:
                raise ValueError("llm-from-scratch needs model_args checkpoint=DIR")
            model, tok = load_for_eval(checkpoint, tokenizer)
        elif tok is None:
            raise ValueError("pass tok= together with model=")
        self.model, self.tok = model.eval(), tok
        if device and device.startswith("cuda") and not torch.cuda.is_available():
            device = "cpu"  # lm_eval's CLI asks for cuda by default
        if device:
            self.model.to(device)
        self.batch_size = 32 if str(batch_size).startswith("auto") else int(batch_size)
        self.max_gen_toks = int(max_gen_toks)

    def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
        """(sum of continuation log-probs, is greedy) per (context, continuation)."""
        scores = loglikelihood(self.model, self.tok, [r.args for r in requests],
                               self.batch_size)
        return [(s.logprob, s.is_greedy) for s in scores]

    def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
        """Total log-likelihood of each whole string, over context windows."""
        texts = [r.args[0] for r in requests]
        return rolling_loglikelihood(self.model, self.tok, texts, self.batch_size)

    def generate_until(self, requests: list[Any]) -> list[str]:
        """Greedy (or sampled, with ``do_sample``) text up to the first ``until``."""
        out = []
        for r in requests:
            context, kwargs = r.args
            kwargs = dict(kwargs or {})
            until = kwargs.get("until") or []
            until = (until,) if isinstance(until, str) else tuple(until)
            n_new = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            temperature = float(kwargs.get("temperature", 0.0))
            if not kwargs.get("do_sample", False):
                temperature = 0.0
            prompt = self.tok.encode_ordinary(context) or [self.tok.eot_id]
            limit = self.model.config.max_positions
            prompt = prompt[-(limit - n_new + 1):] if n_new <= limit else prompt[-1:]
            n_new = min(n_new, limit - len(prompt) + 1)
            g = torch.Generator().manual_seed(int(kwargs.get("seed", 0)))
            out.append(generate_text(self.model, self.tok, prompt, n_new, until,
                                     temperature, g))
        return out


def main(argv: list[str] | None = None) -> None:
    """``lm_eval``'s command line with ``llm-from-scratch`` registered."""
    from lm_eval.__main__ import cli_evaluate

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    cli_evaluate()


if __name__ == "__main__":
    main()
