"""Latent space policies (SAC-LSP): real NVP policies trained with soft actor-critic, and
layerwise hierarchies of them (Haarnoja et al., ICML 2018)."""

from latent_space_policies.envs import make_env
from latent_space_policies.errors import LSPError
from latent_space_policies.loading import LoadedPolicy, load_policy
from latent_space_policies.policies import Policy, PolicySpec, make_policy
from latent_space_policies.presets import PRESETS, get_preset
from latent_space_policies.sac import Batch, SACConfig, TrainState, make_sac
from latent_space_policies.sql import SQLConfig, make_sql
from latent_space_policies.training import TrainConfig, TrainResult, resume, train

__version__ = "0.1.0"
__all__ = [
    "Batch",
    "LSPError",
    "LoadedPolicy",
    "PRESETS",
    "Policy",
    "SACConfig",
    "SQLConfig",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "get_preset",
    "load_policy",
    "make_env",
    "make_policy",
    "PolicySpec",
    "make_sac",
    "make_sql",
    "resume",
    "train",
]
