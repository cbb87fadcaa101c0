"""PyTorch T5 names -> our parameter tree (jaxnlp.nn.t5 names)."""

from __future__ import annotations

_BLOCK = r"(block\.\d+)"
RULES = [
    (r"^(encoder|decoder)\.embed_tokens\.weight$", None),                    # copies of `shared`
    (r"^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.", None),   # never used
    (r"^(encoder|decoder)\.block\.0\.layer\.0\.SelfAttention\.relative_attention_bias\.",
     r"\1.relative_attention_bias."),                                       # shared by the whole stack
    (r"\.layer\.0\.SelfAttention\.", ".self_attn."),
    (r"\.layer\.0\.layer_norm\.", ".self_attn_norm."),
    (rf"^decoder\.{_BLOCK}\.layer\.1\.EncDecAttention\.", r"decoder.\1.cross_attn."),
    (rf"^decoder\.{_BLOCK}\.layer\.1\.layer_norm\.", r"decoder.\1.cross_attn_norm."),
    (rf"^decoder\.{_BLOCK}\.layer\.2\.", r"decoder.\1.feed_forward."),
    (rf"^encoder\.{_BLOCK}\.layer\.1\.", r"encoder.\1.feed_forward."),
    (r"\.feed_forward\.DenseReluDense\.", ".ff."),
    (r"\.feed_forward\.layer_norm\.", ".ff_norm."),
    (r"\.(self_attn|cross_attn)\.q\.", r".\1.query."),
    (r"\.(self_attn|cross_attn)\.k\.", r".\1.key."),
    (r"\.(self_attn|cross_attn)\.v\.", r".\1.value."),
    (r"\.(self_attn|cross_attn)\.o\.", r".\1.output."),
]


def weight_rules(config, task: str) -> list:
    rules = list(RULES)
    if task == "seq2seq-lm" and config.ties_lm_head:
        rules.insert(0, (r"^lm_head\.weight$", None))        # tied copy of `shared`
    return rules
