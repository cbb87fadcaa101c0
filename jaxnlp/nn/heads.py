"""Task heads shared by the encoder family."""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.activations import get_activation
from jaxnlp.nn.norms import layer_norm

Dtype = Any
_init = nn.initializers.normal(0.02)


class ClassificationHead(nn.Module):
    """[CLS] vector -> optional `dense` + activation -> `out_proj`.

    BERT/ALBERT: dense = the pooler, tanh. RoBERTa: dense + tanh. ELECTRA:
    dense + gelu. DistilBERT: dense (pre_classifier) + relu."""

    num_labels: int
    hidden_size: int | None = None   # None: no dense layer before out_proj
    activation: str = "tanh"
    dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, cls_vector, deterministic: bool = True):
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype, kernel_init=_init)
        x = cls_vector
        if self.hidden_size is not None:
            x = get_activation(self.activation)(nn.Dense(self.hidden_size, name="dense", **kw)(x))
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return nn.Dense(self.num_labels, name="out_proj", **kw)(x)


class MaskedLMHead(nn.Module):
    """`dense` -> activation -> `layer_norm` -> output projection + `bias`.

    The projection is the tied word embedding matrix (`tied` given by the
    caller as a function hidden -> logits) or an untied `decoder` Dense."""

    vocab_size: int
    features: int
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, hidden, tied: Callable | None = None):
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        x = nn.Dense(self.features, kernel_init=_init, name="dense", **kw)(hidden)
        x = get_activation(self.activation)(x)
        x = layer_norm(self.layer_norm_eps, self.param_dtype, name="layer_norm")(x)
        if tied is not None:
            logits = tied(x)
        else:
            logits = nn.Dense(self.vocab_size, use_bias=False, kernel_init=_init, name="decoder", **kw)(x)
        bias = self.param("bias", nn.initializers.zeros, (self.vocab_size,), self.param_dtype)
        return logits + bias.astype(logits.dtype)
