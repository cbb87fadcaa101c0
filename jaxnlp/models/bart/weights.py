"""PyTorch BART-family names -> our parameter tree (jaxnlp.nn.seq2seq names)."""

from __future__ import annotations

ATTENTION_RULES = [
    (r"\.(self_attn|encoder_attn)\.q_proj\.", r".\1.query."),
    (r"\.(self_attn|encoder_attn)\.k_proj\.", r".\1.key."),
    (r"\.(self_attn|encoder_attn)\.v_proj\.", r".\1.value."),
    (r"\.(self_attn|encoder_attn)\.out_proj\.", r".\1.output."),
]


def weight_rules(config, task: str) -> list:
    """Rules for every member of the family (the options say what it has)."""
    o = config.options()
    rules = [(r"^model\.(encoder|decoder)\.version$", None)]          # fairseq leftovers
    if o.position_style != "learned":
        # computed, never needed (Pegasus saves them, Marian and M2M100 do not)
        rules.append((r"\.embed_positions\.(weight|weights|_float_tensor)$", None))
    if o.shared_embeddings:
        rules.append((r"^model\.(encoder|decoder)\.embed_tokens\.weight$", None))   # copies of `shared`
    else:
        rules.append((r"^model\.shared\.weight$", None))                            # unused when untied
    if task == "seq2seq-lm" and o.tie_word_embeddings:
        rules.append((r"^lm_head\.weight$", None))                                  # tied copy
    return rules + ATTENTION_RULES
