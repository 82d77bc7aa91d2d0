"""Shared helpers of the evaluation tests: lm-eval's HF backend on a book model.

lm-eval's ``HFLM`` imports ``accelerate`` at module level but uses it only when
it loads a model by name; given a model object it never calls it. Where
``accelerate`` is not installed, a stub module with the imported names lets
``HFLM`` import (each stub raises if it is ever called).
"""

import sys
import types


def ensure_accelerate() -> None:
    try:
        import accelerate  # noqa: F401
        return
    except ImportError:
        pass
    import transformers  # noqa: F401  (checks for accelerate before the stub)
    from transformers import LlamaForCausalLM  # noqa: F401

    def unavailable(*args, **kwargs):
        raise RuntimeError("accelerate is not installed (stub for lm-eval's HFLM)")

    stub = types.ModuleType("accelerate")
    stub.Accelerator = stub.InitProcessGroupKwargs = unavailable
    stub.find_executable_batch_size = unavailable
    utils = types.ModuleType("accelerate.utils")
    utils.get_max_memory = unavailable
    stub.utils = utils
    sys.modules["accelerate"] = stub
    sys.modules["accelerate.utils"] = utils


def stub_hf_tokenizer(vocab_size: int, eot: int):
    """A transformers tokenizer with the right vocabulary size and end token,
    for requests given as token ids (it never encodes text)."""
    from tokenizers import Tokenizer as HFTok
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(vocab_size)}
    core = HFTok(WordLevel(vocab, unk_token="t0"))
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token=f"t{eot}")


def hflm_for(model, tok, batch_size: int = 4):
    """lm-eval's HFLM over transformers' Llama holding ``model``'s weights."""
    ensure_accelerate()
    from lm_eval.models.huggingface import HFLM
    from transformers import LlamaForCausalLM

    from llm_from_scratch.model import to_hf_llama

    config, state = to_hf_llama(model)
    hf = LlamaForCausalLM(config)
    hf.load_state_dict(state, strict=True)
    hf.eval()
    return HFLM(pretrained=hf, tokenizer=stub_hf_tokenizer(tok.vocab_size, tok.eot_id),
                batch_size=batch_size, max_length=model.config.max_positions)
