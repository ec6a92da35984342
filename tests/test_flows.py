"""Mathematics of the bijections: inverse round trips and log-dets against jax.jacobian."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import randomize

from latent_space_policies.flows import (
    ConditionalRealNVP,
    ScaleShiftNets,
    block_diagonal,
    coupling_partition,
    standard_normal_log_prob,
    tanh_inverse_and_log_det,
    tanh_transform_and_log_det,
)
from latent_space_policies.policies import make_policy


def log_abs_det_jacobian(fn, x):
    return jnp.linalg.slogdet(jax.jacobian(fn)(x))[1]


@pytest.mark.parametrize("dim", [1, 2, 3, 6])
@pytest.mark.parametrize("num_coupling", [2, 4])
@pytest.mark.parametrize("bound", [5.0, None])
def test_real_nvp_inverse_and_log_det(dim, num_coupling, bound):
    flow = ConditionalRealNVP(dim=dim, num_coupling=num_coupling, hidden=5, log_scale_bound=bound)
    key = jax.random.PRNGKey(dim * 10 + num_coupling)
    k_init, k_params, k_x, k_e = jax.random.split(key, 4)
    condition = jax.random.normal(k_e, (7,))
    params = randomize(flow.init(k_init, jnp.zeros(dim), condition), k_params)
    for x in jax.random.normal(k_x, (5, dim)):
        y, log_det = flow.apply(params, x, condition, method=flow.transform_and_log_det)
        assert not np.allclose(y, x, atol=1e-3), "random parameters should not give the identity"
        x_back, inverse_log_det = flow.apply(params, y, condition, method=flow.inverse_and_log_det)
        np.testing.assert_allclose(x_back, x, atol=1e-5)
        np.testing.assert_allclose(inverse_log_det, -log_det, rtol=1e-5, atol=1e-5)
        forward = lambda v: flow.apply(params, v, condition, method=flow.transform_and_log_det)[0]  # noqa: E731
        np.testing.assert_allclose(log_det, log_abs_det_jacobian(forward, x), rtol=1e-4, atol=1e-4)


def test_real_nvp_batches_like_vmap():
    flow = ConditionalRealNVP(dim=4, num_coupling=2, hidden=4)
    condition = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
    x = jax.random.normal(jax.random.PRNGKey(2), (8, 4))
    params = randomize(flow.init(jax.random.PRNGKey(0), x[0], condition[0]), jax.random.PRNGKey(3))
    batched = flow.apply(params, x, condition, method=flow.transform_and_log_det)
    one = lambda xi, ci: flow.apply(params, xi, ci, method=flow.transform_and_log_det)  # noqa: E731
    mapped = jax.vmap(one)(x, condition)
    for a, b in zip(batched, mapped):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_zero_initialised_flow_is_identity():
    flow = ConditionalRealNVP(dim=3, num_coupling=2, hidden=3)
    x, condition = jnp.array([0.3, -1.2, 2.0]), jnp.ones(5)
    params = flow.init(jax.random.PRNGKey(0), x, condition)
    y, log_det = flow.apply(params, x, condition)
    np.testing.assert_allclose(y, x)
    assert float(log_det) == 0.0


def test_block_diagonal_places_blocks_with_exact_zeros():
    blocks = jnp.arange(1.0, 13.0).reshape(2, 3, 2)
    matrix = np.asarray(block_diagonal(blocks))
    assert matrix.shape == (6, 4)
    np.testing.assert_array_equal(matrix[:3, :2], blocks[0])
    np.testing.assert_array_equal(matrix[3:, 2:], blocks[1])
    assert not matrix[:3, 2:].any() and not matrix[3:, :2].any()


@pytest.mark.parametrize("bound", [5.0, None])
def test_fused_scale_shift_nets_equal_two_separate_mlps(bound):
    """The fused s/t net is exactly two tanh MLPs, s on the first block of every layer and t on
    the second: computed here separately from the same weights, they agree."""
    nets = ScaleShiftNets(num_outputs=2, hidden=5, log_scale_bound=bound)
    half, embedding = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 3))
    params = randomize(nets.init(jax.random.PRNGKey(1), half, embedding), jax.random.PRNGKey(2))
    log_scale, shift = nets.apply(params, half, embedding)
    p = params["params"]
    inputs = jnp.concatenate([half, embedding], -1)

    def mlp(block):
        columns = slice(5 * block, 5 * (block + 1))
        hidden = jnp.tanh(inputs @ p["hidden"]["kernel"][:, columns] + p["hidden"]["bias"][columns])
        return hidden @ p["out_kernel"][block] + p["out_bias"][block]

    expected_log_scale = mlp(0) if bound is None else bound * jnp.tanh(mlp(0) / bound)
    np.testing.assert_allclose(log_scale, expected_log_scale, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(shift, mlp(1), rtol=1e-6, atol=1e-6)


def test_fused_scale_shift_halves_depend_only_on_their_own_block():
    """d s / d (t's weights) == 0 and d t / d (s's weights) == 0, for every fused parameter."""
    nets = ScaleShiftNets(num_outputs=3, hidden=4)
    half, embedding = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 2))
    params = randomize(nets.init(jax.random.PRNGKey(4), half, embedding), jax.random.PRNGKey(5))
    for output, other in ((0, 1), (1, 0)):
        grads = jax.grad(lambda q: nets.apply(q, half, embedding)[output].sum())(params)["params"]
        own = lambda a, block: a[..., 4 * block : 4 * (block + 1)]  # noqa: E731  (hidden units)
        assert not np.asarray(own(grads["hidden"]["kernel"], other)).any()
        assert not np.asarray(own(grads["hidden"]["bias"], other)).any()
        assert not np.asarray(grads["out_kernel"][other]).any()
        assert not np.asarray(grads["out_bias"][other]).any()
        assert np.asarray(own(grads["hidden"]["kernel"], output)).any()
        assert np.asarray(grads["out_kernel"][output]).any()


def test_fused_scale_shift_init_matches_separate_layers():
    """Each block starts as its own layer would: lecun-normal (fan-in = input width) hidden
    kernel with zero bias, all-zero output layers (so the coupling starts as the identity)."""
    nets = ScaleShiftNets(num_outputs=1, hidden=64)
    half, embedding = jnp.zeros((1, 50)), jnp.zeros((1, 150))
    p = nets.init(jax.random.PRNGKey(6), half, embedding)["params"]
    assert p["hidden"]["kernel"].shape == (200, 128)
    assert not np.asarray(p["hidden"]["bias"]).any()
    assert not np.asarray(p["out_kernel"]).any() and not np.asarray(p["out_bias"]).any()
    for block in (p["hidden"]["kernel"][:, :64], p["hidden"]["kernel"][:, 64:]):
        np.testing.assert_allclose(float(jnp.std(block)), (1.0 / 200) ** 0.5, rtol=0.05)


def test_coupling_partition_alternates_halves():
    assert coupling_partition(3, 0) == (slice(0, 1), slice(1, 3))  # first floor(D/2) dims
    assert coupling_partition(3, 1) == (slice(1, 3), slice(0, 1))
    assert coupling_partition(1, 0) == (slice(0, 1), slice(0, 0))  # never an empty transform


def test_tanh_squash_log_det_and_inverse():
    u = np.array([-8.0, -2.0, -0.1, 0.0, 0.5, 3.0])
    a, log_det = tanh_transform_and_log_det(jnp.asarray(u, jnp.float32))
    expected = np.log(1.0 - np.tanh(u) ** 2).sum()  # naive formula, accurate in float64
    np.testing.assert_allclose(a, np.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(log_det, expected, rtol=1e-5)
    inner = jnp.asarray(u[1:5], jnp.float32)
    u_back, inverse_log_det = tanh_inverse_and_log_det(jnp.tanh(inner))
    np.testing.assert_allclose(u_back, inner, atol=1e-4)
    np.testing.assert_allclose(inverse_log_det, -tanh_transform_and_log_det(inner)[1], rtol=1e-4)


@pytest.mark.parametrize("kind", ["lsp", "gaussian"])
@pytest.mark.parametrize("squash", [True, False])
@pytest.mark.parametrize("action_dim", [1, 3])
def test_policy_log_prob_matches_change_of_variables(kind, squash, action_dim):
    """log pi(a|s) == log N(h) - log|det da/dh|, with the Jacobian computed by jax.jacobian.

    Run in float64 so that the naive Jacobian of a nearly saturated tanh is itself accurate.
    """
    policy = make_policy(kind, 4, action_dim, squash=squash, embedding_hidden=(16,), gaussian_hidden=(16,))
    params = randomize(policy.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1), scale=0.3)
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        observation = jnp.asarray(jax.random.normal(jax.random.PRNGKey(2), (4,)), jnp.float64)
        for latent in jnp.asarray(jax.random.normal(jax.random.PRNGKey(3), (4, action_dim)), jnp.float64):
            action, log_prob = policy.action_from_latent(params, observation, latent)
            to_action = lambda h: policy.action_from_latent(params, observation, h)[0]  # noqa: E731
            expected = standard_normal_log_prob(latent) - log_abs_det_jacobian(to_action, latent)
            np.testing.assert_allclose(log_prob, expected, rtol=1e-6, atol=1e-6)
            latent_back, log_prob_back = policy.latent_from_action(params, observation, action)
            np.testing.assert_allclose(latent_back, latent, atol=1e-4)
            np.testing.assert_allclose(log_prob_back, log_prob, atol=1e-4)


def test_policy_density_integrates_to_one_2d():
    """An unsquashed 2-D LSP: sum of pi(a|s) over a fine grid of actions is 1."""
    policy = make_policy("lsp", 3, 2, squash=False, embedding_hidden=(8,), coupling_hidden=6)
    params = randomize(policy.init(jax.random.PRNGKey(4)), jax.random.PRNGKey(5), scale=0.4)
    observation = jnp.array([0.2, -0.5, 1.0])
    grid = jnp.linspace(-12.0, 12.0, 801)
    spacing = float(grid[1] - grid[0])
    actions = jnp.stack(jnp.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    _, log_prob = policy.latent_from_action(params, jnp.broadcast_to(observation, (actions.shape[0], 3)), actions)
    mass = float(jnp.exp(log_prob).sum()) * spacing**2
    assert abs(mass - 1.0) < 5e-3, mass


def test_squashed_policy_density_integrates_to_one_1d():
    """A squashed 1-D LSP: integral of pi(a|s) over (-1, 1), taken in u = atanh(a), da = (1 - tanh(u)^2) du.

    In float64, and over |u| <= 7 where the inverse squash is exact (it clips at 1 - 1e-6).
    """
    policy = make_policy("lsp", 3, 1, squash=True, embedding_hidden=(8,), coupling_hidden=4)
    params = randomize(policy.init(jax.random.PRNGKey(6)), jax.random.PRNGKey(7), scale=0.25)
    u = np.linspace(-7.0, 7.0, 14001)
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        observation = jnp.broadcast_to(jnp.array([1.0, 0.1, -0.3], jnp.float64), (u.size, 3))
        _, log_prob = policy.latent_from_action(params, observation, jnp.asarray(np.tanh(u)[:, None]))
    density_u = np.exp(np.asarray(log_prob)) * (1.0 - np.tanh(u) ** 2)
    mass = float(np.trapezoid(density_u, u))
    assert abs(mass - 1.0) < 1e-3, mass


@pytest.mark.parametrize("kind", ["lsp", "gaussian", "gmm", "sql_sampler"])
def test_policy_spec_json_round_trip_rebuilds_the_same_policy(kind):
    import json

    from latent_space_policies.policies import PolicySpec, policy_from_spec

    spec = PolicySpec(kind, 3, 2, squash=kind != "lsp", embedding_dim=6, coupling_hidden=5, gmm_components=3)
    rebuilt = policy_from_spec(json.loads(json.dumps(spec.to_json())))
    params = spec.build().init(jax.random.PRNGKey(0))
    observation, key = jnp.ones((4, 3), jnp.float32), jax.random.PRNGKey(1)
    np.testing.assert_array_equal(spec.build().sample(params, observation, key)[0], rebuilt.sample(params, observation, key)[0])
    with pytest.raises(TypeError):
        PolicySpec(kind, 3, 2, no_such_setting=1)
