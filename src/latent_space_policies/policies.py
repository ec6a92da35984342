"""Policies as state-conditioned bijections of a Gaussian latent (paper §5.2, Eq. 6).

Both policies here map a latent h ~ N(0, I) (dim h = dim a) to an action a = f(h; s):
- :class:`LatentSpacePolicy`: observation embedding MLP + conditional real NVP (+ optional tanh);
- :class:`TanhGaussianPolicy`: the usual SAC policy, which is the special case of one elementwise
  affine layer a = tanh(mu(s) + sigma(s) h). Sharing the interface lets the same SAC code, the
  same hierarchy wrapper and the same tests serve both.

``Policy`` is a thin, immutable wrapper of pure functions over a parameter pytree:
``init``, ``sample``, ``action_from_latent``, ``latent_from_action``, ``deterministic_action``.
Actions are in the policy's own units: in [-1, 1] when squashed, unbounded otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from latent_space_policies.flows import (
    MLP,
    ConditionalRealNVP,
    standard_normal_log_prob,
    tanh_inverse_and_log_det,
    tanh_transform_and_log_det,
)

Params = Any


class LatentSpacePolicyNet(nn.Module):
    """Embedding e = MLP(s); a = [tanh] RealNVP(h; e). Paper Fig. 2 (left)."""

    action_dim: int
    embedding_hidden: Sequence[int] = (128, 128)
    embedding_dim: int = 16
    embedding_output_relu: bool = True
    coupling_hidden: int = 8
    num_coupling: int = 2
    squash: bool = True
    log_scale_bound: float | None = 5.0

    def setup(self):
        self.embedding = MLP(
            (*self.embedding_hidden, self.embedding_dim), activate_output=self.embedding_output_relu
        )
        self.flow = ConditionalRealNVP(
            dim=self.action_dim,
            num_coupling=self.num_coupling,
            hidden=self.coupling_hidden,
            log_scale_bound=self.log_scale_bound,
        )

    def __call__(self, observation, latent):
        return self.forward(observation, latent)

    def forward(self, observation, latent):
        """(s, h) -> (a, log pi(a|s))."""
        pre_squash, log_det = self.flow.transform_and_log_det(latent, self.embedding(observation))
        log_prob = standard_normal_log_prob(latent) - log_det
        if not self.squash:
            return pre_squash, log_prob
        action, squash_log_det = tanh_transform_and_log_det(pre_squash)
        return action, log_prob - squash_log_det

    def inverse(self, observation, action):
        """(s, a) -> (h, log pi(a|s))."""
        pre_squash, inverse_log_det = action, 0.0
        if self.squash:
            pre_squash, inverse_log_det = tanh_inverse_and_log_det(action)
        latent, flow_inverse_log_det = self.flow.inverse_and_log_det(pre_squash, self.embedding(observation))
        return latent, standard_normal_log_prob(latent) + flow_inverse_log_det + inverse_log_det


class TanhGaussianPolicyNet(nn.Module):
    """a = [tanh](mu(s) + exp(log_sigma(s)) h): the Gaussian SAC policy in latent form."""

    action_dim: int
    hidden: Sequence[int] = (128, 128)
    squash: bool = True
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    def setup(self):
        self.torso = MLP(tuple(self.hidden), activate_output=True)
        self.head = nn.Dense(2 * self.action_dim)

    def _mean_log_std(self, observation):
        mean, log_std = jnp.split(self.head(self.torso(observation)), 2, axis=-1)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)

    def __call__(self, observation, latent):
        return self.forward(observation, latent)

    def forward(self, observation, latent):
        mean, log_std = self._mean_log_std(observation)
        pre_squash = mean + jnp.exp(log_std) * latent
        log_prob = standard_normal_log_prob(latent) - log_std.sum(-1)
        if not self.squash:
            return pre_squash, log_prob
        action, squash_log_det = tanh_transform_and_log_det(pre_squash)
        return action, log_prob - squash_log_det

    def inverse(self, observation, action):
        pre_squash, inverse_log_det = action, 0.0
        if self.squash:
            pre_squash, inverse_log_det = tanh_inverse_and_log_det(action)
        mean, log_std = self._mean_log_std(observation)
        latent = (pre_squash - mean) * jnp.exp(-log_std)
        return latent, standard_normal_log_prob(latent) - log_std.sum(-1) + inverse_log_det


@dataclasses.dataclass(frozen=True)
class Policy:
    """Pure functions of (params, observation, ...) around a policy network.

    Every function takes one observation ``(obs_dim,)`` or a batch ``(..., obs_dim)``.
    """

    net: nn.Module
    observation_dim: int
    action_dim: int

    @property
    def squash(self) -> bool:
        return bool(self.net.squash)

    def init(self, key: jax.Array) -> Params:
        observation = jnp.zeros((1, self.observation_dim), jnp.float32)
        latent = jnp.zeros((1, self.action_dim), jnp.float32)
        return self.net.init(key, observation, latent, method=self.net.forward)

    def action_from_latent(self, params: Params, observation, latent):
        """a = f(h; s). Returns (action, log_prob)."""
        return self.net.apply(params, observation, latent, method=self.net.forward)

    def latent_from_action(self, params: Params, observation, action):
        """h = f^-1(a; s). Returns (latent, log_prob of the action)."""
        return self.net.apply(params, observation, action, method=self.net.inverse)

    def sample(self, params: Params, observation, key: jax.Array):
        """Draw h ~ N(0, I) and return (action, log_prob)."""
        latent = jax.random.normal(key, (*jnp.shape(observation)[:-1], self.action_dim))
        return self.action_from_latent(params, observation, latent)

    def deterministic_action(self, params: Params, observation):
        """The action for latent h = 0 (the 'deterministic' evaluation mode)."""
        latent = jnp.zeros((*jnp.shape(observation)[:-1], self.action_dim))
        return self.action_from_latent(params, observation, latent)[0]


def make_policy(
    kind: str,
    observation_dim: int,
    action_dim: int,
    *,
    squash: bool = True,
    embedding_hidden: Sequence[int] = (128, 128),
    embedding_dim: int | None = None,
    embedding_output_relu: bool = True,
    coupling_hidden: int | None = None,
    num_coupling: int = 2,
    log_scale_bound: float | None = 5.0,
    gaussian_hidden: Sequence[int] = (128, 128),
) -> Policy:
    """Build a policy by name: ``"lsp"`` (latent space policy) or ``"gaussian"`` (tanh-Gaussian).

    ``embedding_hidden`` are the embedding MLP's hidden widths and ``embedding_dim`` its output
    width: the paper's 2 x 128 ReLU -> 2|A| (the original code's ``preprocessing_hidden_sizes``
    of ``(128, 128, 2|A|)``). ``coupling_hidden`` defaults to |A| (paper Table 2).
    """
    if kind == "lsp":
        net = LatentSpacePolicyNet(
            action_dim=action_dim,
            embedding_hidden=tuple(embedding_hidden),
            embedding_dim=embedding_dim if embedding_dim is not None else 2 * action_dim,
            embedding_output_relu=embedding_output_relu,
            coupling_hidden=coupling_hidden if coupling_hidden is not None else action_dim,
            num_coupling=num_coupling,
            squash=squash,
            log_scale_bound=log_scale_bound,
        )
    elif kind == "gaussian":
        net = TanhGaussianPolicyNet(action_dim=action_dim, hidden=tuple(gaussian_hidden), squash=squash)
    else:
        raise ValueError(f"unknown policy kind {kind!r}: use 'lsp' or 'gaussian'")
    return Policy(net=net, observation_dim=observation_dim, action_dim=action_dim)


def policy_from_spec(spec: dict) -> Policy:
    """Rebuild a policy from its JSON description (``training.policy_spec`` writes them)."""
    spec = dict(spec)
    return make_policy(spec.pop("kind"), spec.pop("observation_dim"), spec.pop("action_dim"), **spec)
