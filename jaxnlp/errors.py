"""Exceptions raised by jaxnlp. Each names what was wrong with the input."""


class JaxnlpError(Exception):
    """Base class of every error jaxnlp raises on bad input."""


class CheckpointError(JaxnlpError, ValueError):
    """A checkpoint file is missing, corrupt, or cannot be read safely."""


class UnsafePickleError(CheckpointError):
    """A pickle asked for a global outside the allow-list (nothing was run)."""


class ConversionError(CheckpointError):
    """Checkpoint tensors do not match the parameters the model expects."""


class UnknownArchitectureError(JaxnlpError, ValueError):
    """config.json's model_type is not one jaxnlp implements."""


class UnknownTaskError(JaxnlpError, ValueError):
    """A task (head or pipeline) that the architecture or library lacks."""


class InputTooLongError(JaxnlpError, ValueError):
    """An input is longer than the model can take and truncation is off."""
