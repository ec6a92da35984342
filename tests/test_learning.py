"""A real learning check: the default agent (SAC-LSP, modern variant) learns Pendulum-v1.

A uniformly random policy scores about -1200 to -1500 here. Measured with these exact settings
(5 evaluation episodes at 8000 steps): seed 0: -101; seeds 1/2/3: -348/-188/-172.
"""

import pytest

from conftest import pendulum_config

from latent_space_policies.training import train


@pytest.mark.slow
def test_lsp_learns_pendulum(tmp_path):
    config = pendulum_config(tmp_path)
    result = train(config)
    final = result.evaluations[-1]
    assert final["step"] == 8000
    assert final["return_stochastic_mean"] > -400, final
