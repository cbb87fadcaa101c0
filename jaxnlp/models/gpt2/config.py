"""GPT2Config and OpenAIGPTConfig, with transformers' field names."""

from __future__ import annotations

import dataclasses

from jaxnlp.models.config_base import ModelConfig


@dataclasses.dataclass(frozen=True)
class GPTOptions:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    activation: str = "gelu_new"
    layer_norm_eps: float = 1e-5
    pre_norm: bool = True        # GPT-2; OpenAI GPT normalises after each residual
    final_norm: bool = True      # GPT-2's ln_f
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    dropout: float = 0.1
    embedding_dropout: float = 0.1
    attention_dropout: float = 0.1
    tie_word_embeddings: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPT2Config(ModelConfig):
    model_type = "gpt2"

    vocab_size: int
    n_embd: int
    n_layer: int
    n_head: int
    n_positions: int = 1024
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    bos_token_id: int | None = 50256
    eos_token_id: int | tuple | None = 50256
    add_cross_attention: bool = False

    @property
    def max_input_length(self) -> int:
        return self.n_positions

    def options(self) -> GPTOptions:
        return GPTOptions(
            vocab_size=self.vocab_size, hidden_size=self.n_embd, num_layers=self.n_layer,
            num_heads=self.n_head, intermediate_size=self.n_inner or 4 * self.n_embd,
            max_positions=self.n_positions, activation=self.activation_function,
            layer_norm_eps=self.layer_norm_epsilon, scale_attn_weights=self.scale_attn_weights,
            scale_attn_by_inverse_layer_idx=self.scale_attn_by_inverse_layer_idx,
            dropout=self.resid_pdrop, embedding_dropout=self.embd_pdrop,
            attention_dropout=self.attn_pdrop, tie_word_embeddings=self.tie_word_embeddings)


@dataclasses.dataclass(frozen=True, kw_only=True)
class OpenAIGPTConfig(ModelConfig):
    model_type = "openai-gpt"

    vocab_size: int
    n_embd: int
    n_layer: int
    n_head: int
    n_positions: int = 512
    afn: str = "gelu"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02

    @property
    def max_input_length(self) -> int:
        return self.n_positions

    def options(self) -> GPTOptions:
        # OpenAI GPT's "gelu" is the tanh approximation (transformers' ACT_FNS).
        activation = {"gelu": "gelu_new", "swish": "silu"}.get(self.afn, self.afn)
        return GPTOptions(
            vocab_size=self.vocab_size, hidden_size=self.n_embd, num_layers=self.n_layer,
            num_heads=self.n_head, intermediate_size=4 * self.n_embd, max_positions=self.n_positions,
            activation=activation, layer_norm_eps=self.layer_norm_epsilon, pre_norm=False,
            final_norm=False, dropout=self.resid_pdrop, embedding_dropout=self.embd_pdrop,
            attention_dropout=self.attn_pdrop, tie_word_embeddings=self.tie_word_embeddings)
