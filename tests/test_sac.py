"""The SAC update against independent computations of its targets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from latent_space_policies.critics import QEnsemble, VNetwork
from latent_space_policies.flows import standard_normal_log_prob
from latent_space_policies.policies import make_policy
from latent_space_policies.sac import Batch, SACConfig, make_sac

from conftest import random_batch


@pytest.mark.parametrize("terminated", [0.0, 1.0])
def test_paper_q_loss_uses_reward_scale_and_bootstraps_only_when_not_terminated(rng, terminated):
    policy = make_policy("lsp", 3, 2)
    config = SACConfig(variant="paper", reward_scale=7.0).resolved(2)
    sac = make_sac(policy, config)
    state = sac.init(jax.random.PRNGKey(0))
    batch = random_batch(rng, 3, 2, terminated=terminated)
    _, metrics = sac.update(state, batch)
    one = jax.tree_util.tree_map(lambda x: x[0], batch)
    q = QEnsemble(num_q=1).apply(state.q_params, one.observation, one.action)[0]
    v_next = VNetwork().apply(state.v_target_params, one.next_observation)
    target = 7.0 * one.reward + 0.99 * (1.0 - terminated) * v_next
    np.testing.assert_allclose(metrics["q_loss"], 0.5 * np.mean((q - target) ** 2), rtol=1e-5)


def test_gaussian_action_prior_enters_the_value_target(rng):
    """V target = Q(s, a~) - alpha (log pi(a~|s) - log p(a~)): the prior term moves the V loss by
    exactly the amount computed by hand from log N(a~; 0, I)."""
    policy = make_policy("lsp", 3, 2, squash=False)
    batch = random_batch(rng, 3, 2)
    one = jax.tree_util.tree_map(lambda x: x[0], batch)
    losses = {}
    for prior in ("uniform", "gaussian"):
        sac = make_sac(policy, SACConfig(variant="paper", reward_scale=1.0, action_prior=prior).resolved(2))
        state = sac.init(jax.random.PRNGKey(0))
        _, metrics = sac.update(state, batch)
        losses[prior] = float(metrics["v_loss"])
    # Recompute both by hand with the same sample of the policy.
    key = jax.random.split(state.key, 3)[1]
    action, log_prob = policy.sample(state.policy_params, one.observation, key)
    q = QEnsemble(num_q=1).apply(state.q_params, one.observation, action)[0]
    v = VNetwork().apply(state.v_params, one.observation)
    log_p = -0.5 * np.sum(np.square(action), -1) - np.log(2 * np.pi)  # log N(a; 0, I), 2-D, by hand
    np.testing.assert_allclose(standard_normal_log_prob(action), log_p, rtol=1e-5)
    np.testing.assert_allclose(losses["uniform"], 0.5 * np.mean((v - (q - log_prob)) ** 2), rtol=1e-5)
    np.testing.assert_allclose(losses["gaussian"], 0.5 * np.mean((v - (q - log_prob + log_p)) ** 2), rtol=1e-5)


def test_modern_learns_temperature_towards_target_entropy(rng):
    policy = make_policy("lsp", 3, 2)
    sac = make_sac(policy, SACConfig(variant="modern").resolved(2))
    state = sac.init(jax.random.PRNGKey(0))
    assert float(jnp.exp(state.log_alpha)) == 1.0
    # The initial policy (tanh of a unit Gaussian) has entropy above -|A| = -2: alpha must fall.
    for _ in range(20):
        state, _ = sac.update(state, random_batch(rng, 3, 2))
    assert float(jnp.exp(state.log_alpha)) < 1.0


def test_likelihood_ratio_needs_the_paper_variant():
    with pytest.raises(ValueError, match="variant='paper'"):
        SACConfig(variant="modern", policy_gradient="likelihood_ratio").resolved(2)


def test_likelihood_ratio_gradient_agrees_with_the_reparameterized_one():
    """Both policy-gradient estimators are unbiased for the same objective E[alpha (log pi - log p) - Q]:
    over 4,096 samples their gradients point the same way (cosine > 0.98), while the gradient of the
    objective without its entropy term (what an estimator that dropped it would follow) does not."""
    import dataclasses

    from conftest import randomize
    from latent_space_policies.sac import make_losses

    policy = make_policy("lsp", 3, 2)
    likelihood_ratio = SACConfig(variant="paper", policy_gradient="likelihood_ratio").resolved(2)
    reparameterized = dataclasses.replace(likelihood_ratio, policy_gradient="reparameterized")
    state = make_sac(policy, likelihood_ratio).init(jax.random.PRNGKey(0))
    state = state.replace(  # away from the identity flow and the zero Q
        policy_params=randomize(state.policy_params, jax.random.PRNGKey(1), 0.3),
        q_params=randomize(state.q_params, jax.random.PRNGKey(2), 0.3),
    )
    observation = np.repeat(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32), 1024, 0)
    zeros = np.zeros(len(observation), np.float32)
    batch = Batch(observation, np.zeros((len(observation), 2), np.float32), zeros, observation, zeros)

    def gradient(config, state):
        losses = make_losses(policy, config, QEnsemble(num_q=1), VNetwork())
        grads = jax.grad(lambda p: losses.policy(p, state, batch, jax.random.PRNGKey(3))[0])(state.policy_params)
        return np.concatenate([np.ravel(g) for g in jax.tree_util.tree_leaves(grads)])

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    estimate = gradient(likelihood_ratio, state)
    assert cosine(estimate, gradient(reparameterized, state)) > 0.98
    without_entropy = gradient(reparameterized, state.replace(log_alpha=jnp.asarray(-20.0)))
    assert cosine(estimate, without_entropy) < 0.8


@pytest.mark.parametrize("prior, expected_direction", [("gaussian", +1.0), ("uniform", -1.0)])
def test_learned_temperature_tracks_the_relative_entropy_of_the_objective(rng, prior, expected_direction):
    """alpha's rule uses -E[log pi - log p], the entropy term of the objective itself.

    An unsquashed LSP starts as the identity flow, so pi = N(0, I) = p exactly: with the Gaussian
    prior the relative entropy -E[log pi - log p] is 0, below the target of +1, so alpha must grow.
    With the uniform prior the same policy's entropy -E[log pi] = |A|/2 log(2 pi e) ~ 2.8 is above
    the target, so alpha must shrink. (Using log pi alone for the Gaussian prior would shrink alpha here too,
    which let the prior fade away in the maze high level.)
    """
    policy = make_policy("lsp", 3, 2, squash=False)
    config = SACConfig(variant="modern", action_prior=prior, ent_coef="auto", target_entropy=1.0).resolved(2)
    sac = make_sac(policy, config)
    state = sac.init(jax.random.PRNGKey(1))
    batch = random_batch(rng, 3, 2, size=256)
    new_state, _ = sac.update(state, batch)
    step = float(new_state.log_alpha - state.log_alpha)
    assert step * expected_direction > 0.5 * config.learning_rate


@pytest.mark.slow
def test_default_temperature_of_a_gaussian_prior_level_keeps_the_prior_acting_without_rewards(rng):
    """A higher level (unsquashed, Gaussian prior) on a sparse task sees only zero rewards at first.

    With the default settings its temperature must stay where it is over 3,000 updates, so the prior
    keeps pi near N(0, I) until a reward comes in. The learned temperature ('auto') on the same
    data falls to below half (its constraint is slack: the relative entropy stays near 0, below
    the target of |A| nats), which is the collapse the default avoids.
    """
    obs_dim, act_dim, updates, chunk = 6, 4, 3000, 500
    policy = make_policy("lsp", obs_dim, act_dim, squash=False)

    def zero_reward_batches():
        shape = (chunk, 64)
        return Batch(
            observation=rng.normal(size=(*shape, obs_dim)).astype(np.float32),
            action=rng.normal(size=(*shape, act_dim)).astype(np.float32),
            reward=np.zeros(shape, np.float32),
            next_observation=rng.normal(size=(*shape, obs_dim)).astype(np.float32),
            terminated=np.zeros(shape, np.float32),
        )

    alphas, relative_entropy = {}, {}
    for ent_coef in (None, "auto"):
        config = SACConfig(variant="modern", action_prior="gaussian", ent_coef=ent_coef).resolved(act_dim)
        sac = make_sac(policy, config)
        state = sac.init(jax.random.PRNGKey(0))
        for _ in range(updates // chunk):
            state, metrics = sac.update(state, zero_reward_batches())
        assert int(state.gradient_steps) == updates
        alphas[ent_coef] = float(jnp.exp(state.log_alpha))
        relative_entropy[ent_coef] = float(metrics["log_pi_minus_log_prior"])
    assert alphas[None] == pytest.approx(1.0)  # the default: fixed, the prior keeps its weight
    assert relative_entropy[None] < 0.5  # and pi stays near the prior (KL in nats, sampled)
    assert alphas["auto"] < 0.5  # the learned rule, on the same data, lets the prior fade


def test_gaussian_prior_level_defaults_to_the_paper_temperature_and_reward_scale():
    """Fixed alpha = 1 and the preset's reward scale (the paper's high levels); a uniform-prior
    modern level keeps the learned temperature and scale 1; asking for 'auto' keeps scale 1."""
    gaussian = SACConfig(variant="modern", action_prior="gaussian").resolved(8, preset_reward_scale=3.0)
    assert (gaussian.ent_coef, gaussian.reward_scale) == (1.0, 3.0)
    uniform = SACConfig(variant="modern").resolved(8, preset_reward_scale=3.0)
    assert (uniform.ent_coef, uniform.reward_scale) == ("auto", 1.0)
    learned = SACConfig(variant="modern", action_prior="gaussian", ent_coef="auto").resolved(8, 3.0)
    assert (learned.ent_coef, learned.reward_scale) == ("auto", 1.0)
