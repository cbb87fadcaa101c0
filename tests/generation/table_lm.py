"""Fake language models for search tests, with no parameters but a table.

Order 1: the next-token logits are `table[last]`, table [vocab, vocab].
Order 2: they are `table[previous, last]`, table [vocab, vocab, vocab]; the
step function keeps `previous` in the cache, so a beam search that failed to
reorder the cache with its beams would read another beam's history.

`step_fn` is one module-level function (the table travels in the cache, every
leaf with batch first), so jitting a search with it compiles once per config.
`make_hf_model` wraps the same table as a transformers PreTrainedModel so that
transformers' own `generate` can run it (use_cache=False: it sees the whole
sequence and reads the last columns)."""

import jax.numpy as jnp
import numpy as np

V = 13


def step_fn(tokens, cache, step):
    """tokens [rows] int32 -> logits [rows, vocab]; cache {"table", "last", "steps"}."""
    rows = jnp.arange(tokens.shape[0])
    table = cache["table"]
    if table.ndim == 3:                                   # order 1: [rows, V, V]
        logits = table[rows, tokens]
    else:                                                 # order 2: [rows, V, V, V]
        logits = table[rows, cache["last"], tokens]
    return logits, {"table": table, "last": tokens, "steps": cache["steps"] + 1}


def prefill(table, tokens, prompt_len):
    """(first_logits [batch, vocab], cache) for a buffer whose prompt fills the first
    prompt_len columns."""
    tokens = jnp.asarray(tokens, jnp.int32)
    batch = tokens.shape[0]
    table = jnp.asarray(table, jnp.float32)
    last = tokens[:, prompt_len - 1]
    if table.ndim == 2:
        first_logits = table[last]
    else:
        first_logits = table[tokens[:, prompt_len - 2], last]
    cache = {"table": jnp.broadcast_to(table, (batch,) + table.shape), "last": last,
             "steps": jnp.zeros((batch,), jnp.int32)}
    return first_logits, cache


def log_table(rows, vocab=V):
    """Order-1 table from next-token probabilities {last: {next: prob}}; tokens not
    listed get log-prob about -1e4 (never chosen, and log_softmax stays finite).
    Rows not listed are uniform."""
    table = np.zeros((vocab, vocab), np.float32)
    for last, nxt in rows.items():
        table[last] = -1e4
        for tok, p in nxt.items():
            table[last, tok] = np.log(p)
    return table


def make_hf_model(table):
    import torch
    from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import CausalLMOutput

    class TableConfig(PretrainedConfig):
        model_type = "jaxnlp_table_lm"

        def __init__(self, vocab_size=V, **kw):
            self.vocab_size = vocab_size
            super().__init__(**kw)

    class TableLM(PreTrainedModel, GenerationMixin):
        config_class = TableConfig

        def __init__(self, config, table):
            super().__init__(config)
            self.table = torch.nn.Parameter(torch.as_tensor(np.asarray(table)), requires_grad=False)

        def forward(self, input_ids=None, attention_mask=None, **kwargs):
            if self.table.dim() == 2:
                logits = self.table[input_ids]
            else:
                prev = torch.cat([input_ids[:, :1], input_ids[:, :-1]], dim=1)
                logits = self.table[prev, input_ids]
            return CausalLMOutput(logits=logits)

    return TableLM(TableConfig(vocab_size=table.shape[0]), table).eval()
