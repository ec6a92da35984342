"""Soft Q-learning (Haarnoja, Tang, Abbeel, Levine, ICML 2017), a baseline of the paper's Fig. 3 (SPEC §7).

SQL learns a soft Q function and fits a sampler to the energy-based policy pi(a|s) ∝ exp(Q(s, a) / alpha):

- **Soft value by importance sampling** (paper Eq. 10): V(s') = alpha log E_{a~q}[exp(Q(s', a) / alpha) / q(a)]
  with q uniform on [-1, 1]^A (q(a) = 2^-A) and M = 16 samples per state, drawn afresh for every
  state (the original shared one set of M across the batch); see :func:`soft_value_from_uniform_samples`.
- **Soft Bellman residual** (Eq. 11): 0.5 (Q(s, a) - [reward_scale r + gamma (1 - terminated) V_target(s')])^2,
  V_target computed with a target Q network.
- **Amortised SVGD** (Eq. 13-14): the sampler a = tanh(f(s, xi)), xi ~ N(0, I) draws K = 16 particles
  per state, split as in the authors' ``softqlearning`` code into a fixed half x_j (gradient stopped)
  and an updated half y_i. The Stein direction
  phi(y_i) = mean_j [kappa(x_j, y_i) grad log p(x_j) + grad_{x_j} kappa(x_j, y_i)]
  (RBF kernel, median-heuristic bandwidth, :func:`rbf_kernel`) is pushed back through the network
  by minimising -mean(stop_gradient(phi) . y_i(theta)) (:func:`amortized_svgd_gradient`; the
  original summed over batch and particles, a constant factor that Adam does not see).

**The tanh.** Q is a function of the squashed action a in [-1, 1]^A, and the particles, the kernel
and the Stein direction all live in that squashed space, as in the original code. The original's
target is log p = Q(s, a) / alpha + sum log(1 - a^2 + 1e-6). That expression is the log-density of
the *pre-squash* u = atanh(a) when a ~ exp(Q / alpha), but the original differentiates it with
respect to a and runs SVGD on a; as a density over a it is exp(Q / alpha) prod(1 - a^2), so the
extra term acts as a prior that keeps particles off the bounds (near |a| = 1, a strong inward
push), and the sampler's target differs from the policy whose value Eq. 10 estimates. We keep the
original by default (``squash_correction=True``); ``False`` gives SVGD on a towards exp(Q / alpha),
the policy Eq. 10 assumes.

Temperature: SQL used alpha = 1 and a per-task reward scale; both are exposed (``ent_coef``,
``reward_scale``). ``lsp train --algorithm sql`` uses alpha = 1 and the original's MuJoCo reward
scale for the task (``Preset.sql_reward_scale``: 30 on Swimmer, Hopper and HalfCheetah, 10 on
Walker2d, 300 on Ant, 100 on Humanoid; 1 elsewhere), see training.build_agent. The returned
:class:`SQL` has the fields of :class:`~latent_space_policies.sac.SAC`
and its state is a :class:`~latent_space_policies.sac.TrainState` (the V fields are ``{}``, log_alpha
is fixed), so the training loop, checkpoints and evaluation treat both agents alike.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from latent_space_policies.critics import QNetwork
from latent_space_policies.policies import Policy
from latent_space_policies.sac import Batch, TrainState, jitted_agent_functions

Params = Any
SQUASH_EPS = 1e-6  # the original's EPS in log(1 - a^2 + EPS)


@dataclasses.dataclass(frozen=True)
class SQLConfig:
    """Settings of the soft Q-learning update (defaults: the SQL paper's and its code's, unless noted)."""

    gamma: float = 0.99
    """Discount factor."""
    learning_rate: float = 3e-4
    """Adam step size of the Q network and of the sampler."""
    reward_scale: float = 1.0
    """Multiplies rewards in the backup: SQL's per-task knob for the entropy weight (alpha stayed 1)."""
    ent_coef: float = 1.0
    """Temperature alpha of pi ∝ exp(Q / alpha) (the original fixed it at 1)."""
    value_particles: int = 16
    """M: uniform action samples per state in the importance-sampled soft value."""
    svgd_particles: int = 16
    """K: sampler particles per state in the SVGD update (``kernel_n_particles``: 16 in the original's
    defaults and in its MuJoCo runs, examples/mujoco_all_sql.py)."""
    svgd_update_ratio: float = 0.5
    """Fraction of the K particles that are updated; the rest are the fixed ones (j in Eq. 13)."""
    squash_correction: bool = True
    """Add sum log(1 - a^2 + 1e-6) to the SVGD target log-density, as the original code (see module docstring)."""
    kernel_min_bandwidth: float = 1e-3
    """Lower bound of the RBF bandwidth h (original: 1e-3)."""
    tau: float = 0.005
    """Polyak rate of the target Q (the original copied it every 1000 steps: tau=1, target_update_interval=1000)."""
    target_update_interval: int = 1
    """Update the target Q every this many gradient steps."""
    critic_hidden: tuple[int, ...] = (128, 128)
    """Hidden widths of the Q network."""

    def split(self) -> tuple[int, int]:
        """(fixed, updated) particle counts, as the original: updated = int(K * ratio)."""
        updated = int(self.svgd_particles * self.svgd_update_ratio)
        return self.svgd_particles - updated, updated

    def validate(self) -> "SQLConfig":
        fixed, updated = self.split()
        if fixed < 2 or updated < 1:
            raise ValueError(
                f"SVGD needs at least 2 fixed and 1 updated particle; svgd_particles={self.svgd_particles} "
                f"with svgd_update_ratio={self.svgd_update_ratio} gives {fixed} and {updated}"
            )
        if self.value_particles < 1:
            raise ValueError(f"value_particles must be at least 1, got {self.value_particles}")
        if not isinstance(self.ent_coef, (int, float)) or not self.ent_coef > 0:
            raise ValueError(f"SQL needs a fixed positive temperature (ent_coef), got {self.ent_coef!r}")
        if self.target_update_interval < 1:
            raise ValueError(f"target_update_interval must be at least 1, got {self.target_update_interval}")
        return self


class SQL(NamedTuple):
    """The jitted functions of one SQL agent; the same fields as :class:`~latent_space_policies.sac.SAC`."""

    config: SQLConfig
    policy: Policy
    init: Callable[[jax.Array], TrainState]
    update: Callable[[TrainState, Batch], tuple[TrainState, dict]]
    train_step: Callable[..., tuple[TrainState, jax.Array, dict]]
    explore: Callable[..., tuple[TrainState, jax.Array]]


def soft_value_from_uniform_samples(q_values: jax.Array, alpha: float, action_dim: int) -> jax.Array:
    """alpha log( mean_m exp(Q(a_m) / alpha) / q(a_m) ) for a_m ~ U[-1, 1]^A, q(a) = 2^-A (paper Eq. 10).

    ``q_values`` (..., M) are Q at the M uniform samples. exp of this is an unbiased estimate of
    the integral of exp(Q(a) / alpha) over [-1, 1]^A (the log makes V itself slightly biased low).
    """
    num_samples = q_values.shape[-1]
    log_mean = jax.nn.logsumexp(q_values / alpha, axis=-1) - math.log(num_samples)
    return alpha * (log_mean + action_dim * math.log(2.0))


def rbf_kernel(fixed: jax.Array, updated: jax.Array, min_bandwidth: float = 1e-3):
    """kappa(x_j, y_i) = exp(-||x_j - y_i||^2 / h) and its gradient in x_j (``softqlearning``'s kernel).

    ``fixed`` (..., Kx, D) holds the x_j, ``updated`` (..., Ky, D) the y_i. The bandwidth is the
    median heuristic of the original: h = median_sq / log(Kx), with median_sq the (Kx Ky // 2 + 1)-th
    largest squared distance (the median when Kx Ky is odd), floored at ``min_bandwidth`` and held
    constant under differentiation. Returns (kappa (..., Kx, Ky), grad (..., Kx, Ky, D), h (...)).
    """
    num_fixed, num_updated = fixed.shape[-2], updated.shape[-2]
    if num_fixed < 2:
        raise ValueError("the median-heuristic bandwidth divides by log(Kx): use at least 2 fixed particles")
    difference = fixed[..., :, None, :] - updated[..., None, :, :]  # (..., Kx, Ky, D)
    squared_distance = jnp.square(difference).sum(-1)
    count = num_fixed * num_updated
    flat = squared_distance.reshape(*squared_distance.shape[:-2], count)
    median_squared = jnp.sort(flat, axis=-1)[..., count - (count // 2 + 1)]
    bandwidth = jax.lax.stop_gradient(jnp.maximum(median_squared / math.log(num_fixed), min_bandwidth))
    kappa = jnp.exp(-squared_distance / bandwidth[..., None, None])
    gradient = -2.0 * difference / bandwidth[..., None, None, None] * kappa[..., None]
    return kappa, gradient, bandwidth


def svgd_direction(fixed: jax.Array, updated: jax.Array, grad_log_p: jax.Array, min_bandwidth: float = 1e-3):
    """The Stein variational direction at the updated particles (paper Eq. 13).

    phi(y_i) = mean_j [kappa(x_j, y_i) grad log p(x_j) + grad_{x_j} kappa(x_j, y_i)], with
    ``grad_log_p`` (..., Kx, D) the score at the fixed particles. Returns (phi (..., Ky, D), h).
    """
    kappa, kappa_grad, bandwidth = rbf_kernel(fixed, updated, min_bandwidth)
    phi = (kappa[..., None] * grad_log_p[..., :, None, :] + kappa_grad).mean(axis=-3)
    return phi, bandwidth


def amortized_svgd_gradient(
    sample: Callable[[Params, jax.Array], jax.Array],
    params: Params,
    log_density: Callable[[jax.Array], jax.Array],
    latents: jax.Array,
    num_fixed: int,
    min_bandwidth: float = 1e-3,
):
    """Gradient of amortised SVGD for a sampler a = sample(params, xi) (paper Eq. 14, Wang & Liu 2016).

    ``latents`` (B, K, D_xi) are split, as in the original code, into the first ``num_fixed``
    (particles x_j, gradient stopped, where the score grad log p is taken) and the rest (particles
    y_i(params), which are moved). ``log_density(actions (B, N, A)) -> (B, N)``.
    Returns (gradient in params of the surrogate -mean_{b,i}(phi . y_i), that surrogate's value,
    the kernel bandwidths (B,), the fixed particles x_j (B, num_fixed, A): samples of the current
    sampler). A gradient-descent step on it moves each y_i along phi(y_i).
    """
    fixed = jax.lax.stop_gradient(sample(params, latents[:, :num_fixed]))
    grad_log_p = jax.grad(lambda actions: log_density(actions).sum())(fixed)
    updated, pull_back = jax.vjp(lambda p: sample(p, latents[:, num_fixed:]), params)
    phi, bandwidth = svgd_direction(fixed, updated, grad_log_p, min_bandwidth)
    # phi enters as a constant cotangent: the original's tf.gradients(y, params, grad_ys=phi), averaged.
    (gradient,) = pull_back(-phi / (updated.shape[0] * updated.shape[1]))
    return gradient, -(phi * updated).sum(-1).mean(), bandwidth, fixed


def _squash_log_det(action: jax.Array) -> jax.Array:
    """sum log(1 - a^2 + eps): the original's tanh correction as a function of the squashed action."""
    return jnp.log(1.0 - jnp.square(action) + SQUASH_EPS).sum(-1)


def _initializer(policy: Policy, q_net: QNetwork, optimizer, alpha: float) -> Callable[[jax.Array], TrainState]:
    """``init(key)``: fresh sampler and Q parameters, the target Q a copy, the fixed temperature."""
    action_dim = policy.action_dim

    def init(key: jax.Array) -> TrainState:
        k_policy, k_q, key = jax.random.split(key, 3)
        observation = jnp.zeros((1, policy.observation_dim), jnp.float32)
        action = jnp.zeros((1, action_dim), jnp.float32)
        policy_params = policy.init(k_policy)
        q_params = q_net.init(k_q, observation, action)
        return TrainState(
            policy_params=policy_params,
            q_params=q_params,
            q_target_params=q_params,
            v_params={},
            v_target_params={},
            policy_opt_state=optimizer.init(policy_params),
            q_opt_state=optimizer.init(q_params),
            v_opt_state={},
            log_alpha=jnp.asarray(math.log(alpha), jnp.float32),
            alpha_opt_state={},
            key=key,
            gradient_steps=jnp.zeros((), jnp.int32),
            nonfinite=jnp.zeros((), jnp.bool_),
        )

    return init


def make_sql(policy: Policy, config: SQLConfig) -> SQL:
    """Build the pure (jitted) SQL functions; ``policy`` is the sampler (kind ``"sql_sampler"``)."""
    config.validate()
    if not policy.squash:
        raise ValueError(
            "soft Q-learning here estimates V with uniform actions on [-1, 1]^A, so it needs a squashed "
            "sampler on a bounded action space (squash=True)"
        )
    q_net = QNetwork(hidden=config.critic_hidden)
    optimizer = optax.adam(config.learning_rate)
    alpha = float(config.ent_coef)
    num_fixed, num_updated = config.split()
    action_dim = policy.action_dim

    init = _initializer(policy, q_net, optimizer, alpha)

    def q_at(params, observation, actions):
        """Q(s, a) for ``actions`` (B, N, A) at each of the B observations: (B, N)."""
        observation = jnp.broadcast_to(observation[:, None, :], (*actions.shape[:-1], observation.shape[-1]))
        return q_net.apply(params, observation, actions)

    def update(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        key, k_value, k_particles = jax.random.split(state.key, 3)
        batch_size = batch.reward.shape[0]

        # Soft value of s' by importance sampling with uniform actions (fresh samples per state).
        uniform_actions = jax.random.uniform(
            k_value, (batch_size, config.value_particles, action_dim), minval=-1.0, maxval=1.0
        )
        next_q = q_at(state.q_target_params, batch.next_observation, uniform_actions)
        next_value = soft_value_from_uniform_samples(next_q, alpha, action_dim)
        discount = config.gamma * (1.0 - batch.terminated)
        q_backup = jax.lax.stop_gradient(config.reward_scale * batch.reward + discount * next_value)

        def q_loss_fn(q_params):
            q = q_net.apply(q_params, batch.observation, batch.action)
            return 0.5 * jnp.square(q - q_backup).mean(), q.mean()

        # Amortised SVGD on the sampler, towards log p(a) = Q(s, a) / alpha [+ the squash correction].
        def target_log_density(actions):
            log_density = q_at(state.q_params, batch.observation, actions) / alpha
            return log_density + _squash_log_det(actions) if config.squash_correction else log_density

        latents = jax.random.normal(k_particles, (batch_size, num_fixed + num_updated, action_dim))
        policy_grads, policy_loss, bandwidth, particles = amortized_svgd_gradient(
            lambda params, latent: policy.action_from_latent(params, batch.observation[:, None, :], latent)[0],
            state.policy_params,
            target_log_density,
            latents,
            num_fixed,
            config.kernel_min_bandwidth,
        )
        (q_loss, q_mean), q_grads = jax.value_and_grad(q_loss_fn, has_aux=True)(state.q_params)

        q_updates, q_opt_state = optimizer.update(q_grads, state.q_opt_state, state.q_params)
        q_params = optax.apply_updates(state.q_params, q_updates)
        policy_updates, policy_opt_state = optimizer.update(policy_grads, state.policy_opt_state, state.policy_params)
        policy_params = optax.apply_updates(state.policy_params, policy_updates)

        gradient_steps = state.gradient_steps + 1
        refresh = gradient_steps % config.target_update_interval == 0
        q_target_params = jax.tree_util.tree_map(
            lambda target, online: jnp.where(refresh, (1.0 - config.tau) * target + config.tau * online, target),
            state.q_target_params,
            q_params,
        )
        metrics = {
            "q_loss": q_loss,
            "policy_loss": policy_loss,
            "q_mean": q_mean,
            "next_value_mean": next_value.mean(),
            "svgd_bandwidth": bandwidth.mean(),
            "alpha": jnp.asarray(alpha, jnp.float32),
            # the mean norm of the sampler's actions (a higher level's latent actions), as SAC logs it
            "action_norm": jnp.linalg.norm(particles, axis=-1).mean(),
        }
        new_state = state.replace(
            policy_params=policy_params,
            q_params=q_params,
            q_target_params=q_target_params,
            policy_opt_state=policy_opt_state,
            q_opt_state=q_opt_state,
            key=key,
            gradient_steps=gradient_steps,
            nonfinite=state.nonfinite | ~jnp.isfinite(q_loss + policy_loss),
        )
        return new_state, metrics

    return SQL(config=config, policy=policy, **jitted_agent_functions(policy, init, update))
