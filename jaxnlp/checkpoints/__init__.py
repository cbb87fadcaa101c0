"""Reading checkpoints: safetensors, torch.save zips (without torch), sharded indexes, hub repos.

Nothing here imports torch, transformers or jax; ``huggingface_hub`` is
imported only when a hub repo id is resolved.
"""

from jaxnlp.checkpoints.hub import resolve_model_dir
from jaxnlp.checkpoints.safetensors import read_safetensors, write_safetensors
from jaxnlp.checkpoints.state_dict import read_config, read_state_dict
from jaxnlp.checkpoints.torch_bin import read_torch_bin

__all__ = [
    "read_safetensors",
    "write_safetensors",
    "read_torch_bin",
    "read_state_dict",
    "read_config",
    "resolve_model_dir",
]
