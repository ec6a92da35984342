"""Soft actor-critic for any :class:`~latent_space_policies.policies.Policy` (SPEC §3).

Two variants, chosen by ``SACConfig.variant``:

- ``"paper"``: one Q, one V and a target V (Polyak, tau = 0.01), temperature fixed (1 by default,
  the entropy weight set through the reward scale), as in Haarnoja et al. 2018 and the LSP paper.
- ``"modern"``: twin Q with target Qs, learned temperature (log alpha, target entropy -|A|),
  reward scale 1 (Haarnoja et al., "SAC algorithms and applications", 2018).

A level with a Gaussian action prior (a higher level acting on a frozen level's latent) keeps a
fixed temperature, alpha = 1 with the task preset's reward scale, in both variants (the paper's
high levels; SPEC §5, §6). A learned temperature is a constraint E[log pi - log p] <= -target:
while no reward has come in the critic is flat, pi stays at its prior, the constraint is slack and
alpha falls by about the learning rate every update (to about 0.3 after 5k updates on the maze),
so the prior that keeps the high level spread over the low level's skills stops acting before the
first reward is seen. ``ent_coef='auto'`` still asks for the learned rule.

The objective with an action prior p(a) (paper Eq. 5) is r - alpha (log pi(a|s) - log p(a)):
a uniform prior (bottom layer, squashed actions) adds nothing; a Gaussian prior (higher layers,
unbounded latent actions) adds alpha log N(a; 0, I). Time-limit truncation is not termination:
the replay stores ``terminated`` only and the backup bootstraps through truncations.

Everything is a pure function of a :class:`TrainState` pytree: :func:`make_losses` gives the
losses (Q, policy, V, temperature) as separate pure functions, and :func:`make_sac` composes them
into one update and returns jitted ``init``, ``update``, ``train_step`` (update + next action in one
call) and ``explore``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax

from latent_space_policies.critics import QEnsemble, VNetwork
from latent_space_policies.flows import standard_normal_log_prob
from latent_space_policies.policies import Policy
from latent_space_policies.replay import Batch  # noqa: F401  (re-exported)

Params = Any


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Settings of the SAC update. ``None`` means "the variant's default" (see :meth:`resolved`)."""

    variant: Literal["paper", "modern"] = "modern"
    """'paper': Q + V + target V, fixed temperature; 'modern': twin Q + target Qs, learned temperature."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float | None = None
    """Polyak rate of the target network(s); default 0.01 (paper, target V) or 0.005 (modern, target Qs)."""
    learning_rate: float = 3e-4
    """Adam step size for every network and the temperature."""
    reward_scale: float | None = None
    """Multiplies rewards in the backup; default: the task preset (paper, and with a fixed
    temperature) or 1 (modern with a learned temperature)."""
    ent_coef: float | Literal["auto"] | None = None
    """Temperature alpha: a number, or 'auto' to learn it; default 1 (paper, and any level with a
    Gaussian action prior) or 'auto' (modern with the uniform prior)."""
    target_entropy: float | None = None
    """Target of the learned temperature for -E[log pi - log p]: the entropy under the uniform prior,
    the relative entropy to the prior under the Gaussian one; default -|A|."""
    policy_gradient: Literal["reparameterized", "likelihood_ratio"] = "reparameterized"
    """Policy loss estimator: reparameterised mean(log pi - log p - Q), or the paper-era
    likelihood-ratio mean(log pi * stopgrad(log pi - log p - Q + V)) (needs the 'paper' variant's V)."""
    action_prior: Literal["uniform", "gaussian"] = "uniform"
    """Prior p(a) of the objective: uniform for squashed bottom layers, gaussian for latent actions."""
    critic_hidden: tuple[int, ...] = (128, 128)
    """Hidden widths of the Q and V networks."""

    def resolved(self, action_dim: int, preset_reward_scale: float = 1.0) -> "SACConfig":
        """Fill every ``None`` with the variant's default."""
        paper = self.variant == "paper"
        if self.policy_gradient == "likelihood_ratio" and not paper:
            raise ValueError("policy_gradient='likelihood_ratio' needs a V network: use variant='paper'")
        # The paper's settings (fixed alpha = 1, the preset's reward scale) for the paper variant, and
        # by default for a level with a Gaussian prior (see the module docstring).
        paper_temperature = paper or (self.action_prior == "gaussian" and self.ent_coef is None)
        return dataclasses.replace(
            self,
            tau=self.tau if self.tau is not None else (0.01 if paper else 0.005),
            reward_scale=self.reward_scale
            if self.reward_scale is not None
            else (preset_reward_scale if paper_temperature else 1.0),
            ent_coef=self.ent_coef if self.ent_coef is not None else (1.0 if paper_temperature else "auto"),
            target_entropy=self.target_entropy if self.target_entropy is not None else -float(action_dim),
        )


@flax.struct.dataclass
class TrainState:
    """Everything the update changes: parameters, optimiser states, temperature, RNG, counters."""

    policy_params: Params
    q_params: Params
    q_target_params: Params  # {} for the 'paper' variant
    v_params: Params  # {} for the 'modern' variant
    v_target_params: Params  # {} for the 'modern' variant
    policy_opt_state: Any
    q_opt_state: Any
    v_opt_state: Any
    log_alpha: jax.Array
    alpha_opt_state: Any
    key: jax.Array
    gradient_steps: jax.Array
    nonfinite: jax.Array  # sticky flag: a loss was NaN/inf at some update


class SAC(NamedTuple):
    """The jitted functions of one SAC agent (see :func:`make_sac`)."""

    config: SACConfig
    policy: Policy
    init: Callable[[jax.Array], TrainState]
    update: Callable[[TrainState, Batch], tuple[TrainState, dict]]
    train_step: Callable[..., tuple[TrainState, jax.Array, dict]]
    explore: Callable[..., tuple[TrainState, jax.Array]]


def _polyak(target: Params, online: Params, tau: float) -> Params:
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def _flat_adam(learning_rate: float) -> optax.GradientTransformation:
    """Adam run on each network's parameters raveled into one vector (``optax.flatten``).

    Adam is elementwise, so the update is the same as per-array Adam's; the state holds 2 moment
    vectors per network instead of 2 arrays per parameter array, which cuts the kernels of every
    update and the training-state leaves every jitted call dispatches. An empty tree ({}: no V
    network in 'modern') keeps plain Adam's empty state.
    """
    adam = optax.adam(learning_rate)
    flat = optax.flatten(adam)

    def pick(tree):
        return flat if jax.tree_util.tree_leaves(tree) else adam

    return optax.GradientTransformation(
        lambda params: pick(params).init(params),
        lambda updates, state, params=None: pick(updates).update(updates, state, params),
    )


class Losses(NamedTuple):
    """The SAC objective as pure functions (:func:`make_losses`); each loss is differentiated with
    respect to its first argument."""

    log_prior: Callable[[jax.Array], jax.Array]
    """log p(a) of the objective's action prior (0 for the uniform prior)."""
    q_backup: Callable[[TrainState, Batch, jax.Array], jax.Array]
    """(state, batch, key) -> the soft Bellman target of Q (gradient stopped)."""
    q: Callable[[Params, Batch, jax.Array], tuple[jax.Array, jax.Array]]
    """(q_params, batch, q_backup) -> (0.5 * squared error summed over the Qs, mean Q)."""
    policy: Callable[[Params, TrainState, Batch, jax.Array], tuple[jax.Array, tuple]]
    """(policy_params, state, batch, key) -> (loss, (action, log pi, Q of the action))."""
    v: Callable[[Params, Batch, jax.Array], jax.Array]
    """(v_params, batch, v_backup) -> 0.5 * squared error (the 'paper' variant's V)."""
    temperature: Callable[[jax.Array, jax.Array], jax.Array]
    """(log_alpha, log pi - log p of the batch) -> the loss whose gradient moves log alpha."""


def make_losses(policy: Policy, config: SACConfig, q_net: QEnsemble, v_net: VNetwork) -> Losses:
    """The losses of paper Eq. 5 for a resolved ``config``: r - alpha (log pi(a|s) - log p(a))."""
    paper = config.variant == "paper"
    gaussian_prior = config.action_prior == "gaussian"

    def log_prior(action):
        return standard_normal_log_prob(action) if gaussian_prior else jnp.zeros(action.shape[:-1])

    def q_backup(state: TrainState, batch: Batch, key: jax.Array) -> jax.Array:
        """Paper: through the target V; modern: through the target twin Qs at a fresh action."""
        alpha = jnp.exp(state.log_alpha)
        if paper:
            next_value = v_net.apply(state.v_target_params, batch.next_observation)
        else:
            next_action, next_log_prob = policy.sample(state.policy_params, batch.next_observation, key)
            next_q = q_net.apply(state.q_target_params, batch.next_observation, next_action).min(0)
            next_value = next_q - alpha * (next_log_prob - log_prior(next_action))
        discount = config.gamma * (1.0 - batch.terminated)
        return jax.lax.stop_gradient(config.reward_scale * batch.reward + discount * next_value)

    def q_loss(q_params, batch: Batch, backup: jax.Array):
        q = q_net.apply(q_params, batch.observation, batch.action)  # (num_q, B)
        return 0.5 * jnp.square(q - backup).mean(-1).sum(), q.mean()

    def policy_loss(policy_params, state: TrainState, batch: Batch, key: jax.Array):
        alpha = jnp.exp(state.log_alpha)
        action, log_prob = policy.sample(policy_params, batch.observation, key)
        q_new = q_net.apply(state.q_params, batch.observation, action).min(0)
        soft_penalty = alpha * (log_prob - log_prior(action))
        if config.policy_gradient == "likelihood_ratio":
            # log pi of the sampled action held fixed: the score-function estimator.
            fixed_log_prob = policy.log_prob(policy_params, batch.observation, jax.lax.stop_gradient(action))
            value = v_net.apply(state.v_params, batch.observation)
            advantage = jax.lax.stop_gradient(soft_penalty - q_new + value)
            loss = (fixed_log_prob * advantage).mean()
        else:
            loss = (soft_penalty - q_new).mean()
        regularization = policy.regularization_loss(policy_params, batch.observation)
        if regularization is not None:  # the Gaussian-mixture policy's L2 penalty
            loss = loss + regularization
        return loss, (jax.lax.stop_gradient(action), jax.lax.stop_gradient(log_prob), q_new)

    def v_loss(v_params, batch: Batch, backup: jax.Array):
        return 0.5 * jnp.square(v_net.apply(v_params, batch.observation) - backup).mean()

    def temperature_loss(log_alpha, log_pi_minus_log_prior):
        # The temperature holds the *relative* entropy -E[log pi(a|s) - log p(a)] of the objective at
        # the target, not the entropy alone: with a Gaussian prior (unsquashed higher layers) the
        # entropy of pi can stay high while pi drifts far from p, alpha then collapses to 0, the
        # prior stops acting and the latent actions run off to the critic's extrapolation. With the
        # uniform prior (log p = 0 here) this is the usual SAC rule.
        gap = jax.lax.stop_gradient((log_pi_minus_log_prior + config.target_entropy).mean())
        return -log_alpha * gap

    return Losses(log_prior, q_backup, q_loss, policy_loss, v_loss, temperature_loss)


def _step(optimizer: optax.GradientTransformation, grads, opt_state, params):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def q_network(config: SACConfig) -> QEnsemble:
    """The Q networks of ``config``: one for the ``paper`` variant (with its V), twin otherwise."""
    return QEnsemble(num_q=1 if config.variant == "paper" else 2, hidden=config.critic_hidden)


def make_sac(policy: Policy, config: SACConfig) -> SAC:
    """Build the pure (jitted) SAC functions for ``policy``. ``config`` must be resolved."""
    if config.tau is None or config.reward_scale is None or config.ent_coef is None:
        raise ValueError("make_sac needs a resolved SACConfig: call config.resolved(action_dim, ...)")
    paper = config.variant == "paper"
    q_net = q_network(config)
    v_net = VNetwork(hidden=config.critic_hidden)
    losses = make_losses(policy, config, q_net, v_net)
    optimizer = _flat_adam(config.learning_rate)
    learn_alpha = config.ent_coef == "auto"
    fixed_log_alpha = 0.0 if learn_alpha else float(jnp.log(config.ent_coef))

    def init(key: jax.Array) -> TrainState:
        k_policy, k_q, k_v, key = jax.random.split(key, 4)
        observation = jnp.zeros((1, policy.observation_dim), jnp.float32)
        action = jnp.zeros((1, policy.action_dim), jnp.float32)
        policy_params = policy.init(k_policy)
        q_params = q_net.init(k_q, observation, action)
        v_params = v_net.init(k_v, observation) if paper else {}
        log_alpha = jnp.asarray(fixed_log_alpha, jnp.float32)
        return TrainState(
            policy_params=policy_params,
            q_params=q_params,
            q_target_params={} if paper else q_params,
            v_params=v_params,
            v_target_params=v_params,
            policy_opt_state=optimizer.init(policy_params),
            q_opt_state=optimizer.init(q_params),
            v_opt_state=optimizer.init(v_params),
            log_alpha=log_alpha,
            alpha_opt_state=optimizer.init(log_alpha),
            key=key,
            gradient_steps=jnp.zeros((), jnp.int32),
            nonfinite=jnp.zeros((), jnp.bool_),
        )

    def update(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        key, k_current, k_next = jax.random.split(state.key, 3)
        q_backup = losses.q_backup(state, batch, k_next)
        (q_loss, q_mean), q_grads = jax.value_and_grad(losses.q, has_aux=True)(state.q_params, batch, q_backup)
        (policy_loss, (action, log_prob, q_new)), policy_grads = jax.value_and_grad(losses.policy, has_aux=True)(
            state.policy_params, state, batch, k_current
        )
        q_params, q_opt_state = _step(optimizer, q_grads, state.q_opt_state, state.q_params)
        policy_params, policy_opt_state = _step(optimizer, policy_grads, state.policy_opt_state, state.policy_params)
        relative = log_prob - losses.log_prior(action)  # log pi - log p: a KL under the Gaussian prior
        alpha = jnp.exp(state.log_alpha)
        metrics = {
            "q_loss": q_loss,
            "policy_loss": policy_loss,
            "q_mean": q_mean,
            "entropy": -log_prob.mean(),
            "log_pi_minus_log_prior": relative.mean(),
            "action_norm": jnp.linalg.norm(action, axis=-1).mean(),  # a higher level's latent actions
            "alpha": alpha,
        }

        v_params, v_opt_state, v_target_params = state.v_params, state.v_opt_state, state.v_target_params
        q_target_params = state.q_target_params
        if paper:
            v_backup = jax.lax.stop_gradient(q_new - alpha * relative)
            metrics["v_loss"], v_grads = jax.value_and_grad(losses.v)(state.v_params, batch, v_backup)
            v_params, v_opt_state = _step(optimizer, v_grads, state.v_opt_state, state.v_params)
            v_target_params = _polyak(state.v_target_params, v_params, config.tau)
        else:
            q_target_params = _polyak(state.q_target_params, q_params, config.tau)

        log_alpha, alpha_opt_state = state.log_alpha, state.alpha_opt_state
        if learn_alpha:
            alpha_grad = jax.grad(losses.temperature)(state.log_alpha, relative)
            alpha_updates, alpha_opt_state = optimizer.update(alpha_grad, state.alpha_opt_state)
            log_alpha = optax.apply_updates(state.log_alpha, alpha_updates)

        total = sum(v for k, v in metrics.items() if k.endswith("_loss"))
        new_state = state.replace(
            policy_params=policy_params,
            q_params=q_params,
            q_target_params=q_target_params,
            v_params=v_params,
            v_target_params=v_target_params,
            policy_opt_state=policy_opt_state,
            q_opt_state=q_opt_state,
            v_opt_state=v_opt_state,
            log_alpha=log_alpha,
            alpha_opt_state=alpha_opt_state,
            key=key,
            gradient_steps=state.gradient_steps + 1,
            nonfinite=state.nonfinite | ~jnp.isfinite(total),
        )
        return new_state, metrics

    return SAC(config=config, policy=policy, **jitted_agent_functions(policy, init, update))


def jitted_agent_functions(policy: Policy, init: Callable, update: Callable) -> dict[str, Callable]:
    """The jitted ``init``, ``update``, ``train_step`` and ``explore`` every agent exposes (SAC and
    SQL alike), built from its ``init(key)`` and one-batch ``update(state, batch)``."""

    def update_many(state: TrainState, batches: Batch) -> tuple[TrainState, dict]:
        """``batches`` has a leading axis of gradient steps; one step needs no loop."""
        if batches.reward.shape[0] == 1:
            return update(state, jax.tree_util.tree_map(lambda x: x[0], batches))
        state, metrics = jax.lax.scan(update, state, batches)
        return state, jax.tree_util.tree_map(lambda x: x[-1], metrics)

    def explore(state: TrainState, observation: jax.Array, latent: jax.Array | None = None):
        """Sample an action (or, given ``latent``, map that latent: a latent held per episode)."""
        key, k_action = jax.random.split(state.key)
        if latent is None:
            action, _ = policy.sample(state.policy_params, observation, k_action)
        else:
            action, _ = policy.action_from_latent(state.policy_params, observation, latent)
        return state.replace(key=key), action

    def train_step(state: TrainState, batches: Batch, observation: jax.Array, latent: jax.Array | None = None):
        """Update on ``batches`` (leading axis: gradient steps), then act on ``observation``."""
        state, metrics = update_many(state, batches)
        state, action = explore(state, observation, latent)
        return state, action, metrics

    return {
        "init": jax.jit(init),
        "update": jax.jit(update_many),
        "train_step": jax.jit(train_step, donate_argnums=(0,)),
        "explore": jax.jit(explore),
    }
