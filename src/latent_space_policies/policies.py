"""Policies as state-conditioned bijections of a Gaussian latent (paper §5.2, Eq. 6), and two baselines.

The two main policies map a latent h ~ N(0, I) (dim h = dim a) to an action a = f(h; s):
- :class:`LatentSpacePolicy`: observation embedding MLP + conditional real NVP (+ optional tanh);
- :class:`TanhGaussianPolicy`: the usual SAC policy, which is the special case of one elementwise
  affine layer a = tanh(mu(s) + sigma(s) h). Sharing the interface lets the same SAC code, the
  same hierarchy wrapper and the same tests serve both.

Two baselines of the paper's Fig. 3 (SPEC §7) share the interface where they can:
- :class:`GaussianMixturePolicy` (kind ``"gmm"``): SAC's Gaussian-mixture policy (Haarnoja et al.
  2018). A mixture is not a bijection of a Gaussian latent, so it has no ``latent_from_action`` /
  ``action_from_latent``; it samples directly and gives exact log-probs through ``log_prob``.
- :class:`AmortizedSamplerPolicy` (kind ``"sql_sampler"``): the SVGD sampling network of soft
  Q-learning (Haarnoja et al. 2017), a = tanh(f(s, xi)). It maps a latent to an action but is
  not invertible and has no density: the log-prob it returns is 0 (not available).
Operations a policy cannot do raise :class:`UnsupportedPolicyOperation`.

``Policy`` is a thin, immutable wrapper of pure functions over a parameter pytree:
``init``, ``sample``, ``action_from_latent``, ``latent_from_action``, ``deterministic_action``,
``log_prob`` and ``regularization_loss``.
Actions are in the policy's own units: in [-1, 1] when squashed, unbounded otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from latent_space_policies.errors import LSPError
from latent_space_policies.flows import (
    MLP,
    ConditionalRealNVP,
    standard_normal_log_prob,
    tanh_inverse_and_log_det,
    tanh_log_det,
    tanh_transform_and_log_det,
)

Params = Any


class UnsupportedPolicyOperation(LSPError, NotImplementedError):
    """A policy was asked for something its kind cannot do (e.g. the inverse of a mixture)."""


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

    def log_prob(self, params: Params, observation, action):
        """log pi(a|s) of a given action (what SAC's likelihood-ratio gradient differentiates)."""
        return self.latent_from_action(params, observation, action)[1]

    def regularization_loss(self, params: Params, observation) -> jax.Array | None:
        """An extra term of the policy loss, or None (the bijective policies have none)."""
        return None


def gaussian_mixture_log_prob(logits, means, log_stds, x):
    """log sum_k w_k N(x; mu_k, diag(sigma_k^2)) with w = softmax(logits), exactly (logsumexp).

    Shapes: ``logits`` (..., K), ``means`` and ``log_stds`` (..., K, A), ``x`` (..., A).
    """
    standardized = (x[..., None, :] - means) * jnp.exp(-log_stds)
    component_log_prob = -0.5 * (jnp.square(standardized) + math.log(2.0 * math.pi)).sum(-1) - log_stds.sum(-1)
    return jax.nn.logsumexp(jax.nn.log_softmax(logits, axis=-1) + component_log_prob, axis=-1)


def _select_component(values, component):
    """values[..., component, :] for a (...)-shaped integer ``component``."""
    return jnp.take_along_axis(values, component[..., None, None], axis=-2)[..., 0, :]


class GaussianMixturePolicyNet(nn.Module):
    """K diagonal Gaussians with mixture logits, all from one shared ReLU torso (SAC paper, GMM policy).

    Returns (logits (..., K), means (..., K, A), log_stds (..., K, A)); log-stds are clipped to
    [-20, 2] as in the original code and the tanh-Gaussian policy.
    """

    action_dim: int
    num_components: int = 4
    hidden: Sequence[int] = (128, 128)
    squash: bool = True
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, observation):
        features = MLP(tuple(self.hidden), activate_output=True)(observation)
        k, a = self.num_components, self.action_dim
        outputs = nn.Dense(k * (1 + 2 * a))(features)
        logits = outputs[..., :k]
        means, log_stds = jnp.split(outputs[..., k:].reshape(*outputs.shape[:-1], k, 2 * a), 2, axis=-1)
        return logits, means, jnp.clip(log_stds, self.log_std_min, self.log_std_max)


@dataclasses.dataclass(frozen=True)
class GaussianMixturePolicy(Policy):
    """SAC's Gaussian-mixture policy: pick k ~ Categorical(softmax(logits(s))), then
    a = [tanh](mu_k(s) + sigma_k(s) eps), eps ~ N(0, I).

    log pi(a|s) is exact: logsumexp over the components of the pre-squash point, minus the tanh
    log-det. ``sample`` is differentiable the way the original ``reparameterize=True`` code was:
    through mu_k and sigma_k of the *sampled* component and through the log-prob's explicit
    dependence on every parameter, but not through the discrete choice of k (so with a
    reparameterised loss the mixture weights learn from the entropy term only). The original SAC
    paper trained it with the likelihood-ratio estimator instead (``variant='paper'``,
    ``policy_gradient='likelihood_ratio'``), which uses :meth:`log_prob` and is unbiased.
    ``regularization`` weights the original's L2 penalty 0.5 (mean(mu^2) + mean(log sigma^2)).

    A mixture is not a bijection of a Gaussian latent: ``action_from_latent`` and
    ``latent_from_action`` raise :class:`UnsupportedPolicyOperation`.
    """

    regularization: float = 1e-3

    def init(self, key: jax.Array) -> Params:
        return self.net.init(key, jnp.zeros((1, self.observation_dim), jnp.float32))

    def components(self, params: Params, observation):
        """(logits (..., K), means (..., K, A), log_stds (..., K, A)) for ``observation``."""
        return self.net.apply(params, observation)

    def _log_prob_of_pre_squash(self, logits, means, log_stds, pre_squash):
        log_prob = gaussian_mixture_log_prob(logits, means, log_stds, pre_squash)
        return log_prob - tanh_log_det(pre_squash) if self.squash else log_prob

    def sample(self, params: Params, observation, key: jax.Array):
        """Draw a component, then a Gaussian sample from it; returns (action, exact log_prob)."""
        component_key, noise_key = jax.random.split(key)
        logits, means, log_stds = self.components(params, observation)
        component = jax.random.categorical(component_key, logits, axis=-1)
        noise = jax.random.normal(noise_key, (*logits.shape[:-1], self.action_dim))
        pre_squash = _select_component(means, component) + jnp.exp(_select_component(log_stds, component)) * noise
        log_prob = self._log_prob_of_pre_squash(logits, means, log_stds, pre_squash)
        return (jnp.tanh(pre_squash) if self.squash else pre_squash), log_prob

    def log_prob(self, params: Params, observation, action):
        """Exact log pi(a|s) (actions at the bounds are clipped to 1 - 1e-6, as for the other policies)."""
        pre_squash, inverse_log_det = action, 0.0
        if self.squash:
            pre_squash, inverse_log_det = tanh_inverse_and_log_det(action)
        logits, means, log_stds = self.components(params, observation)
        return gaussian_mixture_log_prob(logits, means, log_stds, pre_squash) + inverse_log_det

    def deterministic_action(self, params: Params, observation):
        """The mean of the most probable component, squashed."""
        logits, means, _ = self.components(params, observation)
        mean = _select_component(means, jnp.argmax(logits, axis=-1))
        return jnp.tanh(mean) if self.squash else mean

    def regularization_loss(self, params: Params, observation) -> jax.Array:
        _, means, log_stds = self.components(params, observation)
        return self.regularization * 0.5 * (jnp.square(means).mean() + jnp.square(log_stds).mean())

    def action_from_latent(self, params: Params, observation, latent):
        raise UnsupportedPolicyOperation(
            "a Gaussian-mixture policy is not a bijection of a Gaussian latent, so it cannot map a latent to an "
            "action (held latents, --latent-per-episode and stacking a layer on it need policy 'lsp' or 'gaussian'); "
            "use sample() or deterministic_action()"
        )

    def latent_from_action(self, params: Params, observation, action):
        raise UnsupportedPolicyOperation(
            "a Gaussian-mixture policy has no inverse (an action has no unique latent); "
            "use log_prob(params, observation, action) for its exact log-density"
        )


class AmortizedSamplerNet(nn.Module):
    """a = [tanh](f(s, xi)): soft Q-learning's sampling network, an MLP of the observation and noise."""

    action_dim: int
    hidden: Sequence[int] = (128, 128)
    squash: bool = True

    @nn.compact
    def __call__(self, observation, latent):
        observation = jnp.broadcast_to(observation, (*latent.shape[:-1], observation.shape[-1]))
        pre_squash = MLP((*self.hidden, self.action_dim))(jnp.concatenate([observation, latent], axis=-1))
        return jnp.tanh(pre_squash) if self.squash else pre_squash


@dataclasses.dataclass(frozen=True)
class AmortizedSamplerPolicy(Policy):
    """Soft Q-learning's amortised SVGD sampler (Haarnoja et al. 2017, §3.2): a = tanh(f(s, xi)), xi ~ N(0, I).

    Its density is not available (f is not invertible and not constrained): every log-prob it
    returns is 0, so that evaluation and logging stay NaN-free; nothing in SQL's update uses it.
    The deterministic action is the one for xi = 0. ``observation`` broadcasts against
    ``latent``'s leading axes, so one observation can map many particles at once.
    """

    def init(self, key: jax.Array) -> Params:
        observation = jnp.zeros((1, self.observation_dim), jnp.float32)
        return self.net.init(key, observation, jnp.zeros((1, self.action_dim), jnp.float32))

    def action_from_latent(self, params: Params, observation, latent):
        """a = f(s, xi); returns (action, 0): the log-prob is not available."""
        action = self.net.apply(params, observation, latent)
        return action, jnp.zeros(action.shape[:-1], action.dtype)

    def latent_from_action(self, params: Params, observation, action):
        raise UnsupportedPolicyOperation(
            "the soft Q-learning sampler is not invertible (a = tanh(f(s, xi)) with an unconstrained MLP f): "
            "it has no latent_from_action and no log-density"
        )

    def log_prob(self, params: Params, observation, action):
        raise UnsupportedPolicyOperation("the soft Q-learning sampler has no log-density (it is an implicit sampler)")


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """Everything that defines a policy network; its JSON form (:meth:`to_json`) is what a checkpoint
    stores and :func:`policy_from_spec` rebuilds from.

    ``kind``: ``"lsp"`` (latent space policy), ``"gaussian"`` (tanh-Gaussian), ``"gmm"`` (Gaussian
    mixture, SAC paper baseline) or ``"sql_sampler"`` (soft Q-learning's sampler).
    """

    kind: str
    observation_dim: int
    action_dim: int
    squash: bool = True
    """tanh on the output (bounded action spaces); False for a level acting on a latent."""
    embedding_hidden: Sequence[int] = (128, 128)
    """Hidden widths of the LSP's observation embedding (the paper's 2 x 128 ReLU)."""
    embedding_dim: int | None = None
    """Its output width; default 2|A| (the original code's ``preprocessing_hidden_sizes[-1]``)."""
    embedding_output_relu: bool = True
    """ReLU on the embedding's output (single-level runs); linear for the maze's high level."""
    coupling_hidden: int | None = None
    """Hidden width of the coupling layers' s and t nets; default |A| (paper Table 2)."""
    num_coupling: int = 2
    """Coupling layers in the flow (2 per level in the paper)."""
    log_scale_bound: float | None = 5.0
    """Soft bound on each coupling log-scale (None: unbounded)."""
    gaussian_hidden: Sequence[int] = (128, 128)
    """Hidden widths of the other three kinds' networks."""
    gmm_components: int = 4
    """Mixture components K of ``"gmm"`` (4 in the SAC paper)."""
    gmm_regularization: float = 1e-3
    """L2 penalty on the mixture's outputs (the original's 1e-3)."""

    def to_json(self) -> dict:
        document = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in document.items()}

    def build(self) -> Policy:
        if self.kind == "lsp":
            net = LatentSpacePolicyNet(
                action_dim=self.action_dim,
                embedding_hidden=tuple(self.embedding_hidden),
                embedding_dim=self.embedding_dim if self.embedding_dim is not None else 2 * self.action_dim,
                embedding_output_relu=self.embedding_output_relu,
                coupling_hidden=self.coupling_hidden if self.coupling_hidden is not None else self.action_dim,
                num_coupling=self.num_coupling,
                squash=self.squash,
                log_scale_bound=self.log_scale_bound,
            )
        elif self.kind == "gaussian":
            hidden = tuple(self.gaussian_hidden)
            net = TanhGaussianPolicyNet(action_dim=self.action_dim, hidden=hidden, squash=self.squash)
        elif self.kind == "gmm":
            if self.gmm_components < 1:
                raise ValueError(f"gmm_components must be at least 1, got {self.gmm_components}")
            net = GaussianMixturePolicyNet(
                action_dim=self.action_dim,
                num_components=self.gmm_components,
                hidden=tuple(self.gaussian_hidden),
                squash=self.squash,
            )
            return GaussianMixturePolicy(
                net=net,
                observation_dim=self.observation_dim,
                action_dim=self.action_dim,
                regularization=self.gmm_regularization,
            )
        elif self.kind == "sql_sampler":
            hidden = tuple(self.gaussian_hidden)
            net = AmortizedSamplerNet(action_dim=self.action_dim, hidden=hidden, squash=self.squash)
            return AmortizedSamplerPolicy(net=net, observation_dim=self.observation_dim, action_dim=self.action_dim)
        else:
            raise ValueError(f"unknown policy kind {self.kind!r}: use 'lsp', 'gaussian', 'gmm' or 'sql_sampler'")
        return Policy(net=net, observation_dim=self.observation_dim, action_dim=self.action_dim)


def jit_action_from_latent(policy: Policy):
    """Jitted ``(params, observation, latent) -> action`` of ``policy`` (a frozen level's forward pass)."""
    return jax.jit(lambda params, observation, latent: policy.action_from_latent(params, observation, latent)[0])


def make_policy(kind: str, observation_dim: int, action_dim: int, **settings) -> Policy:
    """``PolicySpec(kind, observation_dim, action_dim, **settings).build()``: see :class:`PolicySpec`."""
    return PolicySpec(kind, observation_dim, action_dim, **settings).build()


def policy_from_spec(spec: dict) -> Policy:
    """Rebuild a policy from its JSON description (``agents.policy_spec`` writes them)."""
    return PolicySpec(**spec).build()
