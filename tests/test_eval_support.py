"""Shared helpers of the evaluation tests: lm-eval's HF backend on a book model."""


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
    from lm_eval.models.huggingface import HFLM
    from transformers import LlamaForCausalLM

    from llm_from_scratch.model import to_hf_llama

    config, state = to_hf_llama(model)
    hf = LlamaForCausalLM(config)
    hf.load_state_dict(state, strict=True)
    hf.eval()
    return HFLM(pretrained=hf, tokenizer=stub_hf_tokenizer(tok.vocab_size, tok.eot_id),
                batch_size=batch_size, max_length=model.config.max_positions)
