import numpy as np

from latent_space_policies.replay import ReplayBuffer


def fill(buffer, values):
    for v in values:
        buffer.add(np.full(2, v), np.full(1, v), v, np.full(2, v + 0.5), v % 2 == 0, False)


def test_ring_overwrites_oldest_and_samples_only_filled_slots():
    buffer = ReplayBuffer(4, 2, 1)
    fill(buffer, [1, 2, 3])
    batch = buffer.sample(np.random.default_rng(0), 64)
    assert set(np.unique(batch.reward)) <= {1.0, 2.0, 3.0} and batch.reward.shape == (1, 64)
    fill(buffer, [4, 5, 6])
    assert len(buffer) == 4 and sorted(buffer.reward.tolist()) == [3.0, 4.0, 5.0, 6.0]
    np.testing.assert_array_equal(batch.next_observation[0, :, 0], batch.reward[0] + 0.5)


def test_state_dict_round_trip_and_growth_keeps_chronological_order():
    small = ReplayBuffer(4, 2, 1)
    fill(small, [1, 2, 3, 4, 5, 6])  # ring holds 5, 6, 3, 4 with the oldest (3) at position 2
    same = ReplayBuffer(4, 2, 1)
    same.load_state_dict(small.state_dict())
    assert same.position == small.position and same.reward.tolist() == small.reward.tolist()
    bigger = ReplayBuffer(8, 2, 1)  # the run was extended: more capacity
    bigger.load_state_dict(small.state_dict())
    assert bigger.reward[:4].tolist() == [3.0, 4.0, 5.0, 6.0] and bigger.position == 4
    fill(bigger, [7])
    assert bigger.reward[:5].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0] and len(bigger) == 5
