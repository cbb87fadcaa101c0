"""jaxnlp: transformer language models and NLP pipelines in JAX.

Heavy submodules are imported on first use so that `import jaxnlp` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load_model", "load_tokenizer", "generate", "pipeline", "Conversation", "ConversationManager",
           "__version__"]


def load_model(*args, **kwargs):
    from jaxnlp.models.auto import load_model as _load_model

    return _load_model(*args, **kwargs)


def load_tokenizer(*args, **kwargs):
    from jaxnlp.tokenization import load_tokenizer as _load_tokenizer

    return _load_tokenizer(*args, **kwargs)


def generate(*args, **kwargs):
    from jaxnlp.generation import generate as _generate

    return _generate(*args, **kwargs)


def pipeline(*args, **kwargs):
    from jaxnlp.pipelines import pipeline as _pipeline

    return _pipeline(*args, **kwargs)


def __getattr__(name):   # the conversation pipeline's state classes, imported on first use
    if name in ("Conversation", "ConversationManager"):
        from jaxnlp.pipelines import conversation

        return getattr(conversation, name)
    raise AttributeError(f"module 'jaxnlp' has no attribute {name!r}")
