"""A circuitlab model's tokenizer on its TransformerLens twin, so both read and write the same text.

circuitlab's BPE tokenizer is a Hugging Face ``tokenizers`` model with one special token,
``<|endoftext|>``; TransformerLens takes it as a ``PreTrainedTokenizerFast`` whose BOS, EOS and pad
are that token (GPT-2's convention, and circuitlab's: ``transformer.strings``). The twin also gets
the model's ``default_prepend_bos`` and ``padding_side``, so ``to_tokens`` gives the same ids on
both sides. A character tokenizer has no Hugging Face counterpart: its twin gets no tokenizer.
"""

from __future__ import annotations

from typing import Any

from circuitlab.data.tokenizer import EOT


def attach_tokenizer(hooked: Any, model: Any) -> None:
    """Give ``hooked`` (a HookedTransformer) ``model``'s BPE tokenizer and text defaults, if it has one."""
    tok = getattr(model, "tokenizer", None)
    if tok is None or getattr(tok, "kind", None) != "bpe" or tok.eot_id is None:
        return
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer.from_str(tok.to_str()),  # a copy: HF sets padding on it
        bos_token=EOT,
        eos_token=EOT,
        pad_token=EOT,
        add_bos_token=True,  # TransformerLens would otherwise reload the tokenizer by name
    )
    hf.init_kwargs["name_or_path"] = "circuitlab"
    hooked.set_tokenizer(hf, default_padding_side=model.padding_side)
    hooked.cfg.default_prepend_bos = model.default_prepend_bos


__all__ = ["attach_tokenizer"]
