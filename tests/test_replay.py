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


def test_hindsight_copies_take_a_later_position_as_goal_and_pay_where_it_is_reached():
    """A 4-step walk along x (positions 1, 2, 3, 4 after each step) to the real goal (4, 0), with an
    exploration bonus of 1 per step and 1000 at the goal. Worked by hand for every copy: its goal is
    where the episode was after a step j >= its own step t; it is reached (within 0.5) exactly when
    j == t (the positions are 1 apart), and then pays 1 + 1000 and ends the episode; otherwise 1, not
    ending. The original's goal payment never leaks into a copy; a step that earned none keeps all it had."""
    from latent_space_policies.replay import FIELDS, relabel_goals

    layout = {"achieved": (0, 2), "desired": (2, 4), "radius": 0.5}
    xs = np.arange(5, dtype=np.float32)  # x before step 0..3 and after the last
    observation = np.stack([xs[:-1], 0 * xs[:-1], 4 + 0 * xs[:-1], 0 * xs[:-1], xs[:-1] * 10], axis=1)
    next_observation = np.stack([xs[1:], 0 * xs[1:], 4 + 0 * xs[1:], 0 * xs[1:], xs[1:] * 10], axis=1)
    episode = {
        "observation": observation,
        "action": np.arange(4, dtype=np.float32)[:, None],
        "reward": np.array([1, 1, 1, 1001], np.float32),
        "next_observation": next_observation,
        "terminated": np.array([0, 0, 0, 1], np.float32),
        "truncated": np.zeros(4, np.float32),
    }
    copies = relabel_goals(episode, layout, 50, 1000.0, np.random.default_rng(0))
    assert set(copies) == set(FIELDS) and len(copies["reward"]) == 200
    t = copies["action"][:, 0].astype(int)
    j = copies["observation"][:, 2].astype(int) - 1  # the goal's x is the position after step j
    assert np.all(copies["observation"][:, 3] == 0) and np.all(copies["next_observation"][:, 2] == j + 1)
    assert np.all(j >= t) and all(set(j[t == k]) == set(range(k, 4)) for k in range(4))  # every later step drawn
    np.testing.assert_array_equal(copies["observation"][:, [0, 1, 4]], observation[t][:, [0, 1, 4]])
    np.testing.assert_array_equal(copies["next_observation"][:, [0, 1, 4]], next_observation[t][:, [0, 1, 4]])
    np.testing.assert_array_equal(copies["reward"], np.where(j == t, 1001.0, 1.0))
    np.testing.assert_array_equal(copies["terminated"], (j == t).astype(np.float32))

    elsewhere = {name: value.copy() for name, value in episode.items()}  # the real goal is far away,
    elsewhere["observation"][:, 2] = elsewhere["next_observation"][:, 2] = -9.0  # the end is a fall
    elsewhere["reward"][3] = 1.0
    copies = relabel_goals(elsewhere, layout, 20, 1000.0, np.random.default_rng(1))
    last = copies["action"][:, 0] == 3
    assert np.all(copies["terminated"][last] == 1) and np.all(copies["reward"][last] == 1001.0)
    assert relabel_goals(episode, layout, 0, 1000.0, np.random.default_rng(0))["reward"].shape == (0,)
