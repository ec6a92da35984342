"""Policies saved before the coupling s/t nets were fused still load, and compute the same function."""

import numpy as np
import pytest

from latent_space_policies.checkpoint import load_checkpoint, save_checkpoint, upgrade_flow_layout
from latent_space_policies.flows import ScaleShiftNets


def _old_layout(rng, inputs: int, hidden: int, outputs: int) -> dict:
    def dense(n_in, n_out):
        return {"kernel": rng.normal(size=(n_in, n_out)), "bias": rng.normal(size=(n_out,))}

    return {
        "log_scale_hidden": dense(inputs, hidden),
        "log_scale_out": dense(hidden, outputs),
        "shift_hidden": dense(inputs, hidden),
        "shift_out": dense(hidden, outputs),
    }


def _old_function(params, x, bound=5.0):
    """The two separate MLPs of the old layout, written out in NumPy."""

    def mlp(name):
        h = np.tanh(x @ params[f"{name}_hidden"]["kernel"] + params[f"{name}_hidden"]["bias"])
        return h @ params[f"{name}_out"]["kernel"] + params[f"{name}_out"]["bias"]

    return bound * np.tanh(mlp("log_scale") / bound), mlp("shift")


def test_old_separate_st_nets_upgrade_to_the_same_function(tmp_path):
    rng = np.random.default_rng(0)
    half, embedding, hidden, outputs = 3, 5, 4, 2
    old = _old_layout(rng, half + embedding, hidden, outputs)
    tree = {"params": {"flow": {"couplings_0": old, "couplings_1": _old_layout(rng, half + embedding, hidden, outputs)}}}
    path = save_checkpoint(tmp_path / "old.lsp", {"policy": tree}, {"kind": "policy"})
    loaded, _ = load_checkpoint(path)
    upgraded = loaded["policy"]["params"]["flow"]["couplings_0"]
    assert set(upgraded) == {"hidden", "out_kernel", "out_bias"}
    x_half, x_embedding = rng.normal(size=(7, half)), rng.normal(size=(7, embedding))
    net = ScaleShiftNets(num_outputs=outputs, hidden=hidden, log_scale_bound=5.0)
    log_scale, shift = net.apply({"params": upgraded}, x_half, x_embedding)
    expected_log_scale, expected_shift = _old_function(old, np.concatenate([x_half, x_embedding], -1))
    np.testing.assert_allclose(log_scale, expected_log_scale, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(shift, expected_shift, rtol=1e-5, atol=1e-5)


def test_trees_in_the_current_layout_are_left_alone():
    tree = {"a": {"hidden": {"kernel": np.ones((2, 2))}, "out_kernel": np.zeros((2, 2, 1))}, "b": np.arange(3)}
    assert upgrade_flow_layout(tree) is not tree
    upgraded = upgrade_flow_layout(tree)
    assert upgraded["a"]["out_kernel"] is tree["a"]["out_kernel"] and upgraded["b"] is tree["b"]
    with pytest.raises(KeyError):
        upgrade_flow_layout({"log_scale_hidden": {}, "log_scale_out": {}, "shift_hidden": {}, "shift_out": {}})
