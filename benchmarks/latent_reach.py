r"""How far a frozen layer's latent moves its action: the room a level stacked on it has to act.

    python benchmarks/latent_reach.py LAYER [LAYER ...] [--states 100] [--samples 256] [--output F.json]

A second level acts through the frozen layer: its latent action h gives the env action f(h; s).
Under its Gaussian prior (log p(h) = -|h|^2/2 + const, weighted by the fixed temperature) a second
level pays about r^2/2 nats per decision for a latent of norm r, so what it can do is bounded by how
much f moves the action for latents of moderate norm. A layer trained to low entropy (a learned
temperature that ends near 0.05) maps the whole prior to a narrow cone of actions round f(0; s);
one trained at a fixed temperature maps it across much of the action box.

For each LAYER (a run folder, checkpoint, policy file or `pretrained:NAME`): one episode of up to
1000 steps in the layer's own env with its stochastic actions, from which `--states` states are
taken evenly; at each, `--samples` latents h ~ N(0, I) and, for each radius r in --radii, as many
latents r * u with u uniform on the unit sphere. Reported, averaged over the states: the policy's
entropy -E log pi(a|s); the per-dimension standard deviation of a = f(h; s) under the prior (a
uniform action on [-1, 1] has 0.577); the mean distance |f(h; s) - f(0; s)| under the prior and at
each radius; and the share of the action box's diagonal half-width (sqrt(dim)) that the largest
radius reaches.
"""

from __future__ import annotations

import argparse
import json
import math

import jax
import jax.numpy as jnp
import numpy as np

from latent_space_policies.envs import make_env
from latent_space_policies.loading import load_policy


def visited_states(layer, states: int, seed: int, max_steps: int = 1000) -> np.ndarray:
    """Observations of one stochastic episode of ``layer`` in its own env (actions rescaled from the
    policy's [-1, 1] to the env's box, as in training), ``states`` of them evenly spaced."""
    env = make_env(layer.env_id)
    layer.seed(seed)
    observation, _ = env.reset(seed=seed)
    seen = [observation]
    for _ in range(max_steps - 1):
        observation, _, terminated, truncated, _ = env.step(layer.act(observation))
        seen.append(observation)
        if terminated or truncated:
            break
    env.close()
    seen = np.asarray(seen, np.float32)
    return seen[np.linspace(0, len(seen) - 1, min(states, len(seen))).astype(int)]


def measure(policy, params, observations: np.ndarray, *, samples: int, radii: list[float], seed: int) -> dict:
    """The statistics of the module docstring for ``policy`` at ``observations`` (n, obs_dim)."""
    n, dim = len(observations), policy.action_dim
    prior_key, direction_key = jax.random.split(jax.random.PRNGKey(seed))
    prior = jax.random.normal(prior_key, (n, samples, dim))
    directions = jax.random.normal(direction_key, (n, samples, dim))
    directions = directions / jnp.linalg.norm(directions, axis=-1, keepdims=True)
    tiled = jnp.broadcast_to(jnp.asarray(observations, jnp.float32)[:, None], (n, samples, observations.shape[-1]))

    forward = jax.jit(lambda h: policy.action_from_latent(params, tiled, h))
    center = np.asarray(forward(jnp.zeros((n, samples, dim)))[0])[:, :1]  # f(0; s), (n, 1, dim)
    actions, log_prob = (np.asarray(x) for x in forward(prior))
    result = {
        "states": n,
        "samples": samples,
        "entropy": float(-log_prob.mean()),
        "action_std_per_dim": float(actions.std(axis=1).mean()),
        "prior_distance": float(np.linalg.norm(actions - center, axis=-1).mean()),
        "center_norm": float(np.linalg.norm(center, axis=-1).mean()),
        "radius_distance": {},
    }
    for r in radii:
        moved = np.asarray(forward(r * directions)[0])
        result["radius_distance"][str(r)] = float(np.linalg.norm(moved - center, axis=-1).mean())
    result["largest_radius_share_of_half_diagonal"] = result["radius_distance"][str(max(radii))] / math.sqrt(dim)
    return result


def reach(path: str, *, states: int, samples: int, radii: list[float], seed: int) -> dict:
    layer = load_policy(path)
    if len(layer.levels) != 1:
        raise SystemExit(f"error: {path} holds {len(layer.levels)} levels: give a single layer")
    config = layer.metadata.get("config", {})
    return {
        "layer": path,
        "env_id": layer.env_id,
        "config": {k: config.get(k) for k in ("variant", "ent_coef", "reward_scale")},
        "step": layer.metadata.get("step"),
    } | measure(layer.policy, layer.params, visited_states(layer, states, seed), samples=samples, radii=radii, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])  # fmt: skip
    parser.add_argument("layers", nargs="+")
    parser.add_argument("--states", type=int, default=100)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--radii", type=float, nargs="+", default=[1.0, 3.0, 6.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()
    if args.states < 1 or args.samples < 2 or min(args.radii) <= 0:
        parser.error("--states must be >= 1, --samples >= 2 and every radius > 0")
    rows = [reach(p, states=args.states, samples=args.samples, radii=args.radii, seed=args.seed) for p in args.layers]
    header = ["layer", "entropy", "std/dim", "E|f(h)-f(0)|"] + [f"r={r:g}" for r in args.radii]
    print(" | ".join(header))
    for row in rows:
        cells = [row["layer"], f"{row['entropy']:.2f}", f"{row['action_std_per_dim']:.3f}", f"{row['prior_distance']:.3f}"]
        print(" | ".join(cells + [f"{d:.3f}" for d in row["radius_distance"].values()]))
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"command": "python benchmarks/latent_reach.py " + " ".join(args.layers), "rows": rows}, f, indent=1)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
