"""PyTorch BERT names -> our parameter tree (jaxnlp.nn.encoder names)."""

from __future__ import annotations

# The encoder layers of BERT, RoBERTa and ELECTRA.
BERT_LAYER_RULES = [
    (r"\.position_ids$", None),                       # saved buffers
    (r"\.embeddings\.token_type_ids$", None),
    (r"\.encoder\.layer\.", ".encoder.layers."),
    (r"\.attention\.self\.(query|key|value)\.", r".attention.\1."),
    (r"\.attention\.output\.dense\.", ".attention.output."),
    (r"\.attention\.output\.LayerNorm\.", ".attention_norm."),
    (r"\.intermediate\.dense\.", ".intermediate."),
    (r"\.output\.dense\.", ".output."),
    (r"\.output\.LayerNorm\.", ".output_norm."),
]


def mlm_rules(head: str, *, tied: bool, bias: str | None, decoder: str) -> list:
    """Rules for a masked-LM head saved as `{head}.dense`, its norm, a
    `decoder` projection and an output `bias` (None: the decoder's own)."""
    if tied:
        rules = [(rf"^{decoder}\.weight$", None)]
        if bias is not None:
            rules += [(rf"^{decoder}\.bias$", None), (rf"^{bias}$", "lm_head.bias")]
        else:
            rules += [(rf"^{decoder}\.bias$", "lm_head.bias")]
    else:
        rules = [(rf"^{decoder}\.weight$", "lm_head.decoder.weight"),
                 (rf"^{decoder}\.bias$", "lm_head.bias")]
        if bias is not None:
            rules.insert(0, (rf"^{bias}$", None))
    return rules


def weight_rules(config, task: str) -> list:
    rules = list(BERT_LAYER_RULES)
    if task == "sequence-classification":
        rules += [(r"^bert\.pooler\.dense\.", "classifier.dense."),
                  (r"^classifier\.(weight|bias)$", r"classifier.out_proj.\1")]
    else:
        rules += [(r"^bert\.pooler\.", None)]
    if task == "masked-lm":
        rules += [(r"^cls\.predictions\.transform\.dense\.", "lm_head.dense."),
                  (r"^cls\.predictions\.transform\.LayerNorm\.", "lm_head.layer_norm.")]
        rules += mlm_rules("cls.predictions", tied=config.tie_word_embeddings,
                           bias=r"cls\.predictions\.bias", decoder=r"cls\.predictions\.decoder")
    return rules
