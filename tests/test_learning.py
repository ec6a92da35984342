"""A real learning check: the default agent (SAC-LSP, modern variant) learns Pendulum-v1.

A uniformly random policy scores about -1200 to -1500 here. Measured with these exact settings
(5 evaluation episodes at 8000 steps): seed 0: -101; seeds 1/2/3: -348/-188/-172.
"""

import pytest

from latent_space_policies.training import TrainConfig, train


@pytest.mark.slow
def test_lsp_learns_pendulum(tmp_path):
    config = TrainConfig(
        env_id="Pendulum-v1",
        total_steps=8000,
        max_episode_steps=None,  # Pendulum's own 200-step limit
        eval_every=8000,
        eval_episodes=5,
        output_dir=str(tmp_path),
        progress=False,
        tensorboard=False,
    )
    result = train(config)
    final = result.evaluations[-1]
    assert final["step"] == 8000
    assert final["return_stochastic_mean"] > -400, final
