"""Soft Q and V networks (2 x 128 ReLU, paper Appendix A)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from latent_space_policies.flows import MLP


class QNetwork(nn.Module):
    """Q(s, a) -> scalar."""

    hidden: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, observation: jax.Array, action: jax.Array) -> jax.Array:
        inputs = jnp.concatenate([observation, action], axis=-1)
        return MLP((*self.hidden, 1))(inputs)[..., 0]


class QEnsemble(nn.Module):
    """``num_q`` independent Q networks evaluated together; output shape ``(num_q, *batch)``."""

    num_q: int = 2
    hidden: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, observation: jax.Array, action: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            QNetwork,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_q,
        )
        return ensemble(tuple(self.hidden))(observation, action)


class VNetwork(nn.Module):
    """V(s) -> scalar."""

    hidden: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, observation: jax.Array) -> jax.Array:
        return MLP((*self.hidden, 1))(observation)[..., 0]
