"""PyTorch GPT-2 / OpenAI GPT names -> our parameter tree."""

from __future__ import annotations

KEEP_LAYOUT = (r"\.(c_attn|c_proj|c_fc)\.weight$",)   # Conv1D: saved [in, out]


def weight_rules(config, task: str) -> list:
    rules = [
        (r"\.attn\.(bias|masked_bias)$", None),        # saved causal-mask buffers
        (r"\.position_ids$", None),
        (r"^transformer\.tokens_embed\.", "transformer.wte."),    # OpenAI GPT
        (r"^transformer\.positions_embed\.", "transformer.wpe."),
        (r"\.attn\.c_attn\.", ".attn.qkv."),
        (r"\.attn\.c_proj\.", ".attn.output."),
    ]
    if task != "causal-lm" or config.tie_word_embeddings:
        rules.insert(0, (r"^lm_head\.weight$", None))
    return rules
