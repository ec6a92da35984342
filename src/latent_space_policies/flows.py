"""State-conditioned real NVP flow and the tanh squash (paper §5.2, Dinh et al. 2016).

Every bijection here follows one convention (flowjax's):
``transform_and_log_det(x, condition) -> (y, log|det dy/dx|)`` and
``inverse_and_log_det(y, condition) -> (x, log|det dx/dy|)``. They are written for one sample
(``x`` of shape ``(dim,)``) and work unchanged on any leading batch shape, or under ``vmap``.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG_2 = math.log(2.0)


def coupling_partition(dim: int, index: int) -> tuple[slice, slice]:
    """Which dimensions coupling layer ``index`` transforms, and which it is conditioned on.

    As in the authors' code: layer 0 transforms the first ``dim // 2`` dimensions conditioned on
    the rest, layer 1 the other half, and so on alternating, with no permutation. With ``dim == 1``
    one half is empty; such a layer then transforms the single dimension conditioned on the
    observation embedding alone (still an affine bijection of the latent).
    """
    split = dim // 2
    first, second = slice(0, split), slice(split, dim)
    transformed, conditioning = (first, second) if index % 2 == 0 else (second, first)
    if transformed.stop - transformed.start == 0:
        transformed, conditioning = slice(0, dim), slice(0, 0)
    return transformed, conditioning


class ScaleShiftNets(nn.Module):
    """The s and t networks of one coupling layer, evaluated as one block-diagonal MLP.

    Mathematically two separate MLPs with one tanh hidden layer each (the paper's s and t):
    both read the same input, so their hidden layers are one Dense of width 2 * hidden (columns
    ``[:hidden]`` are s's units, ``[hidden:]`` t's), and their output layers are the two diagonal
    blocks ``out_kernel[0]`` (s) and ``out_kernel[1]`` (t) of a block-diagonal matrix, so that s
    never sees t's hidden units or the reverse (``out_bias[0]`` / ``[1]`` likewise). Each block
    is initialised as its own layer would be (lecun-normal with the same fan-in on the hidden
    kernel, zeros elsewhere) and gets the gradient its own layer would, so the function class,
    the initial distribution (not the individual draws) and Adam's elementwise updates are those
    of two separate MLPs; fusing only cuts the kernels per coupling (2 matmuls instead of 4) and
    the parameter arrays (4 instead of 8).

    The output blocks start at zero so that every coupling layer starts as the identity.
    """

    num_outputs: int
    hidden: int
    log_scale_bound: float | None = 5.0

    @nn.compact
    def __call__(self, conditioning_half: jax.Array, embedding: jax.Array):
        inputs = jnp.concatenate([conditioning_half, embedding], axis=-1)
        hidden = nn.tanh(nn.Dense(2 * self.hidden, name="hidden")(inputs))  # [s units | t units]
        out_kernel = self.param("out_kernel", nn.initializers.zeros, (2, self.hidden, self.num_outputs))
        out_bias = self.param("out_bias", nn.initializers.zeros, (2, self.num_outputs))
        outputs = hidden @ block_diagonal(out_kernel) + out_bias.reshape(-1)  # [s | t]
        log_scale, shift = outputs[..., : self.num_outputs], outputs[..., self.num_outputs :]
        if self.log_scale_bound is not None:
            # Soft bound: smooth, invertible-preserving, and keeps exp(s) from overflowing.
            log_scale = self.log_scale_bound * jnp.tanh(log_scale / self.log_scale_bound)
        return log_scale, shift


def block_diagonal(blocks: jax.Array) -> jax.Array:
    """``(k, m, n)`` blocks -> the ``(k m, k n)`` matrix with ``blocks[i]`` as its i-th diagonal
    block and exact zeros elsewhere (so a product with it never mixes the blocks' inputs)."""
    k, m, n = blocks.shape
    rows = [jnp.pad(blocks[i], ((0, 0), (i * n, (k - 1 - i) * n))) for i in range(k)]
    return jnp.concatenate(rows, axis=0)


class ConditionalRealNVP(nn.Module):
    """A stack of affine coupling layers conditioned on an observation embedding.

    y_b = x_b * exp(s(x_a, e)) + t(x_a, e) on the transformed half b; log-det = sum s.
    """

    dim: int
    num_coupling: int = 2
    hidden: int = 8
    log_scale_bound: float | None = 5.0

    def setup(self):
        self.partitions = [coupling_partition(self.dim, k) for k in range(self.num_coupling)]
        self.couplings = [
            ScaleShiftNets(
                num_outputs=b.stop - b.start, hidden=self.hidden, log_scale_bound=self.log_scale_bound
            )
            for b, _ in self.partitions
        ]

    def __call__(self, latent: jax.Array, embedding: jax.Array):
        return self.transform_and_log_det(latent, embedding)

    def transform_and_log_det(self, latent: jax.Array, embedding: jax.Array):
        """Latent -> pre-squash action. Returns (output, log|det d output / d latent|)."""
        x = latent
        log_det = jnp.zeros(latent.shape[:-1], latent.dtype)
        for (transformed, conditioning), nets in zip(self.partitions, self.couplings):
            log_scale, shift = nets(x[..., conditioning], embedding)
            x = x.at[..., transformed].set(x[..., transformed] * jnp.exp(log_scale) + shift)
            log_det = log_det + log_scale.sum(-1)
        return x, log_det

    def inverse_and_log_det(self, output: jax.Array, embedding: jax.Array):
        """Pre-squash action -> latent. Returns (latent, log|det d latent / d output|)."""
        x = output
        log_det = jnp.zeros(output.shape[:-1], output.dtype)
        for (transformed, conditioning), nets in reversed(list(zip(self.partitions, self.couplings))):
            log_scale, shift = nets(x[..., conditioning], embedding)
            x = x.at[..., transformed].set((x[..., transformed] - shift) * jnp.exp(-log_scale))
            log_det = log_det - log_scale.sum(-1)
        return x, log_det


def tanh_log_det(pre_squash: jax.Array) -> jax.Array:
    """sum log(1 - tanh(u)^2), computed stably as 2 (log 2 - u - softplus(-2u))."""
    return (2.0 * (LOG_2 - pre_squash - jax.nn.softplus(-2.0 * pre_squash))).sum(-1)


def tanh_transform_and_log_det(pre_squash: jax.Array):
    """u -> tanh(u), with log|det|."""
    return jnp.tanh(pre_squash), tanh_log_det(pre_squash)


def tanh_inverse_and_log_det(action: jax.Array, eps: float = 1e-6):
    """a -> atanh(a) (a clipped into the open interval), with log|det d u / d a|."""
    clipped = jnp.clip(action, -1.0 + eps, 1.0 - eps)
    pre_squash = jnp.arctanh(clipped)
    return pre_squash, -tanh_log_det(pre_squash)


def standard_normal_log_prob(x: jax.Array) -> jax.Array:
    """log N(x; 0, I), summed over the last axis."""
    return -0.5 * (jnp.square(x).sum(-1) + x.shape[-1] * math.log(2.0 * math.pi))


class MLP(nn.Module):
    """ReLU MLP; ``activate_output`` puts a ReLU on the last layer too (original LSP embedding)."""

    features: Sequence[int]
    activate_output: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.features):
            x = nn.Dense(width)(x)
            if i < len(self.features) - 1 or self.activate_output:
                x = nn.relu(x)
        return x
