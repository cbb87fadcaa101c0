"""T5Config and MT5Config, with transformers' field names.

Two things transformers 5 no longer writes in a way one can read off
`tie_word_embeddings` (it always saves `true`):
- whether the decoder output is scaled by d_model ** -0.5 before the LM
  head: `scale_decoder_outputs` where saved, else (transformers 4 configs)
  `tie_word_embeddings`; mT5 never scales (as transformers 5);
- whether the LM head is `shared` or its own `lm_head`: as the released
  checkpoints have it, the original T5 (scaled outputs) ties it, T5 v1.1 /
  Flan-T5 (unscaled) and mT5 have their own.
"""

from __future__ import annotations

import dataclasses

from jaxnlp.errors import CheckpointError
from jaxnlp.models.config_base import ModelConfig
from jaxnlp.nn.t5 import T5Options


@dataclasses.dataclass(frozen=True, kw_only=True)
class T5Config(ModelConfig):
    model_type = "t5"

    vocab_size: int
    d_model: int
    d_kv: int
    d_ff: int
    num_layers: int
    num_heads: int
    num_decoder_layers: int | None = None
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"
    scale_decoder_outputs: bool | None = None
    is_encoder_decoder: bool = True
    use_cache: bool = True
    classifier_dropout: float | None = 0.0
    pad_token_id: int | None = 0
    eos_token_id: int | tuple | None = 1
    decoder_start_token_id: int | None = 0

    def __post_init__(self):
        parts = self.feed_forward_proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise CheckpointError(f"feed_forward_proj {self.feed_forward_proj!r} is not of the form "
                                  "'gated-{ACT}' or '{ACT}'")
        # the buckets past the exact ones grow as log(distance / exact) / log(max_distance / exact),
        # exact = num_buckets // 2 in the decoder: max_distance must exceed it
        if self.relative_attention_max_distance <= self.relative_attention_num_buckets // 2:
            raise CheckpointError(
                f"relative_attention_max_distance ({self.relative_attention_max_distance}) must exceed half of "
                f"relative_attention_num_buckets ({self.relative_attention_num_buckets})")

    @property
    def scales_decoder_outputs(self) -> bool:
        if self.scale_decoder_outputs is not None:
            return bool(self.scale_decoder_outputs)
        return bool(self.tie_word_embeddings)

    @property
    def ties_lm_head(self) -> bool:
        return self.scales_decoder_outputs

    def options(self) -> T5Options:
        parts = self.feed_forward_proj.split("-")
        # transformers: "gated-gelu" means gelu_new (backwards compatibility)
        activation = "gelu_new" if self.feed_forward_proj == "gated-gelu" else parts[-1]
        return T5Options(
            vocab_size=self.vocab_size, d_model=self.d_model, d_kv=self.d_kv, d_ff=self.d_ff,
            num_layers=self.num_layers,
            num_decoder_layers=self.num_decoder_layers if self.num_decoder_layers is not None else self.num_layers,
            num_heads=self.num_heads, relative_attention_num_buckets=self.relative_attention_num_buckets,
            relative_attention_max_distance=self.relative_attention_max_distance,
            dropout_rate=self.dropout_rate, layer_norm_epsilon=self.layer_norm_epsilon,
            activation=activation, gated=parts[0] == "gated" and len(parts) == 2,
            tie_word_embeddings=self.ties_lm_head, scale_decoder_outputs=self.scales_decoder_outputs,
            initializer_factor=self.initializer_factor,
            pad_token_id=self.pad_token_id if self.pad_token_id is not None else 0,
            decoder_start_token_id=self.decoder_start_token_id if self.decoder_start_token_id is not None else 0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MT5Config(T5Config):
    model_type = "mt5"
    feed_forward_proj: str = "gated-gelu"

    @property
    def scales_decoder_outputs(self) -> bool:
        return False

    @property
    def ties_lm_head(self) -> bool:
        return False
