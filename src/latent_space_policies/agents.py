"""A run's settings and what they build: the TrainConfig, the policy and agent it describes, and the
env a layer trains in (the task, the layer's reward, the frozen levels below it)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from latent_space_policies.envs import action_space_bounded, make_env
from latent_space_policies.errors import CheckpointError, SettingsError
from latent_space_policies.levels import Level, ObservationMap, env_for, load_levels
from latent_space_policies.policies import PolicySpec, policy_from_spec
from latent_space_policies.presets import get_preset
from latent_space_policies.sac import SAC, SACConfig, make_sac
from latent_space_policies.sql import SQL, SQLConfig, make_sql


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run. ``None`` means "from the task preset / variant"."""

    env_id: str = "Hopper-v5"
    """Gymnasium id of the task (any 1-D Box action space; presets exist for the paper's tasks)."""
    total_steps: int | None = None
    """Environment steps to train for; default: the preset's budget."""
    seed: int = 0
    """Seed of everything: networks, replay sampling, environment resets."""
    algorithm: Literal["sac", "sql"] = "sac"
    """'sac': soft actor-critic with the chosen policy; 'sql': soft Q-learning (Haarnoja et al. 2017), a
    baseline with its own SVGD sampler (policy, variant and SAC-only settings are then not used)."""
    variant: Literal["paper", "modern"] = "modern"
    """SAC variant (see README for which learns better): 'paper' (Q+V, fixed temperature) or 'modern'."""
    policy: Literal["lsp", "gaussian", "gmm"] = "lsp"
    """'lsp': latent space policy (real NVP); 'gaussian': tanh-Gaussian SAC policy; 'gmm': Gaussian-mixture
    SAC policy (SAC paper; its original gradient is --variant paper --policy-gradient likelihood_ratio)."""
    gmm_components: int = 4
    """Mixture components of the 'gmm' policy (4 in the SAC paper)."""
    num_coupling: int = 2
    """Coupling layers in the flow (2 per level in the paper; 4 for the end-to-end ablation)."""
    reward_scale: float | None = None
    """Reward multiplier; default: preset's (paper variant, and any level with a Gaussian prior), 1 (modern),
    the original's per task (sql, sql.py)."""
    embedding_dim: int | None = None
    """Observation-embedding width; default: preset's (2|A|)."""
    coupling_hidden: int | None = None
    """Hidden units of each s/t net; default: preset's (|A|)."""
    embedding_hidden: tuple[int, ...] = (128, 128)
    """Hidden widths of the observation-embedding MLP."""
    critic_hidden: tuple[int, ...] = (128, 128)
    """Hidden widths of the critics' MLPs (SAC's Q and V networks, soft Q-learning's Q)."""
    embedding_output_relu: bool = True
    """ReLU on the embedding's output (original single-level code); False for a linear output."""
    log_scale_bound: float | None = 5.0
    """Soft bound b on coupling log-scales, s = b tanh(s_raw / b); None for no bound (original code)."""
    squash: bool | None = None
    """tanh on the action; default: True for bounded action spaces."""
    action_prior: Literal["uniform", "gaussian"] | None = None
    """Action prior of the objective; default: uniform if squashed, gaussian otherwise."""
    ent_coef: float | Literal["auto"] | None = None
    """Temperature: a number or 'auto'; default: 1 (paper, and any level with a Gaussian prior: a higher
    level, whose learned temperature would fall to about 0 before a sparse reward comes in) or 'auto' (modern)."""
    target_entropy: float | None = None
    """Target entropy of the learned temperature; default -|A|."""
    tau: float | None = None
    """Target-network Polyak rate; default 0.01 (paper) or 0.005 (modern)."""
    gamma: float = 0.99
    """Discount factor."""
    learning_rate: float = 3e-4
    """Adam step size for all networks."""
    policy_gradient: Literal["reparameterized", "likelihood_ratio"] = "reparameterized"
    """Policy-loss estimator (likelihood_ratio only with variant='paper')."""
    batch_size: int = 128
    """Transitions per gradient step."""
    buffer_size: int = 1_000_000
    """Replay capacity."""
    learning_starts: int = 1000
    """Transitions collected before the first update."""
    gradient_steps: int = 1
    """Gradient steps per environment step."""
    max_episode_steps: int | None = 1000
    """Time limit of an episode in env steps (None: the environment's own)."""
    reward: str = "task"
    """Reward of this layer: 'task', 'speed_xy', 'visits_xy' (an exploration bonus), 'package.module:function',
    or a weighted sum such as 'task+0.5*visits_xy' (see rewards.py)."""
    base: str | None = None
    """Train on top of frozen layer(s): a policy.lsp / hierarchy file or a run folder (paper Alg. 1)."""
    base_observation: str = "all"
    """The part of the env observation the top frozen layer sees: 'all' or 'START:STOP'."""
    action_repeat: int = 1
    """Env steps each of this layer's latent actions is held for by the frozen layer below."""
    base_latent_scale: float = 1.0
    """The frozen layer below sees this times this layer's action as its latent (1: the paper). Below 1
    keeps a layer with a N(0, I) prior inside the latents its frozen layer walks upright under
    (``benchmarks/layer_posture.py --hold``)."""
    repeat_reward: Literal["sum", "last"] = "sum"
    """Reward of a held action: sum over its env steps, or the last one only (original code)."""
    latent_per_episode: bool = False
    """Sample this layer's own latent once per episode and hold it (paper §6.3, maze high level)."""
    observation: str = "all"
    """The part of the env observation this layer's policy sees: 'all' or 'START:STOP' (e.g. '2:'
    hides the maze's torso xy from a fine-tuned locomotion policy)."""
    relabel_goals: int = 0
    """Hindsight relabelling (HER, 'future'): after each training episode, store this many extra copies
    of each of its transitions whose goal is a position the episode reached later, paid
    --relabel-reward where it is reached; for goal envs that say where their goal lives
    (LSP/AntMazeUMaze-v0). 0: off. The replay grows to hold the copies; --learning-starts counts them."""
    relabel_reward: float = 1000.0
    """What this layer's --reward pays at the goal ('1000*task' on the U-maze: 1000), for relabelled copies."""
    init_policy: str | None = None
    """Start this policy from the parameters of a trained one (a policy.lsp or run folder; its top
    level must have the same networks): the fine-tuning baseline of the maze experiment."""
    init_policy_observation: str | None = None
    """The part of this layer's observation ('START:STOP') that the --init-policy layer was trained on.
    The policy's inputs outside it start with zero weights, so the fine-tuned policy starts as the layer
    and can learn to use the rest (e.g. the maze's torso xy, '2:'). Unset: the layer saw all of it."""
    eval_every: int = 10_000
    """Evaluate every this many env steps (0: never)."""
    eval_episodes: int = 5
    """Episodes per evaluation, in each mode (stochastic and deterministic)."""
    checkpoint_every: int = 50_000
    """Write RUN_DIR/checkpoints/latest.lsp every this many env steps (and at the end / on Ctrl-C)."""
    snapshot_every: int = 0
    """Also keep a policy-only snapshot checkpoints/step_N.lsp every this many steps (0: never)."""
    save_replay: bool = True
    """Store the replay buffer in checkpoints (needed for an exact resume)."""
    log_every: int = 1000
    """Log losses and check for NaNs every this many env steps."""
    output_dir: str = "runs"
    """Parent folder of run folders."""
    run_name: str | None = None
    """Run folder name; default {env}__{policy}-{variant}__{seed}__{time}."""
    progress: bool = True
    """Show a progress bar."""
    tensorboard: bool = True
    """Write TensorBoard logs to RUN_DIR/tb."""

    def check(self) -> "TrainConfig":
        """Raise :class:`SettingsError` naming the first setting outside what it may be."""

        def flag(name: str) -> str:
            return "--" + name.replace("_", "-")

        for name, annotation in typing.get_type_hints(TrainConfig).items():
            value = getattr(self, name)
            if not _has_type(value, annotation):
                raise SettingsError(f"{flag(name)} must be {_type_name(annotation)}, got {value!r}")

        positive = ["learning_rate", "batch_size", "buffer_size", "gradient_steps", "log_every", "num_coupling",
                    "gmm_components", "action_repeat", "base_latent_scale"]  # fmt: skip
        optional_positive = ["total_steps", "max_episode_steps", "embedding_dim", "coupling_hidden", "reward_scale",
                             "log_scale_bound"]  # fmt: skip
        non_negative = ["learning_starts", "eval_every", "eval_episodes", "checkpoint_every", "snapshot_every",
                        "relabel_goals"]  # fmt: skip
        for name in positive + optional_positive:
            value = getattr(self, name)
            if (value is not None or name in positive) and not (value is not None and value > 0):
                raise SettingsError(f"{flag(name)} must be greater than 0, got {value}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise SettingsError(f"{flag(name)} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise SettingsError(f"--gamma must be in [0, 1], got {self.gamma}")
        if self.tau is not None and not 0.0 < self.tau <= 1.0:
            raise SettingsError(f"--tau must be in (0, 1], got {self.tau}")
        if self.ent_coef not in (None, "auto") and not float(self.ent_coef) > 0:
            raise SettingsError(f"--ent-coef must be 'auto' or greater than 0, got {self.ent_coef}")
        for name in ("embedding_hidden", "critic_hidden"):
            if any(width <= 0 for width in getattr(self, name)):  # () is a linear map, as before
                raise SettingsError(f"{flag(name)} needs widths greater than 0, got {list(getattr(self, name))}")
        if self.relabel_goals and ObservationMap.parse(self.observation).start != 0:
            raise SettingsError(
                "--relabel-goals needs the goal where the env puts it: --observation all or 0:STOP, "
                f"got {self.observation!r}"
            )
        if self.init_policy_observation is not None:
            if self.init_policy is None:
                raise SettingsError("--init-policy-observation says what an --init-policy layer saw: give --init-policy too")
            ObservationMap.parse(self.init_policy_observation)  # a malformed map fails here, before any work
        if self.eval_every and not self.eval_episodes:
            raise SettingsError("--eval-episodes must be at least 1 when --eval-every is set (0 turns evaluation off)")
        return self

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, document: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(document) - names
        if unknown:
            raise CheckpointError(f"run config has unknown settings {sorted(unknown)}: written by another version?")
        values = dict(document)
        for name in ("embedding_hidden", "critic_hidden"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)


def _has_type(value: Any, annotation: Any) -> bool:
    """Whether ``value`` fits a TrainConfig annotation (settings from TOML files and Python, which
    tyro does not check): int, float (an int is fine), str, bool, None, Literal, unions and
    ``tuple[int, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return value in typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(annotation))
    if origin is tuple:
        (item, _) = typing.get_args(annotation)
        return isinstance(value, (tuple, list)) and all(_has_type(v, item) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(annotation))
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(item, str(item))
    if annotation is type(None):
        return "unset (None)"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(annotation, str(annotation))


def policy_spec(config: TrainConfig, observation_dim: int, action_dim: int, bounded: bool) -> dict:
    """The JSON form of the run's :class:`PolicySpec`, from which :func:`policy_from_spec` rebuilds
    the policy network (what checkpoints store).

    With ``algorithm='sql'`` the policy is soft Q-learning's sampler (kind ``"sql_sampler"``).
    """
    preset = get_preset(config.env_id)
    kind = "sql_sampler" if config.algorithm == "sql" else config.policy
    return PolicySpec(
        kind=kind,
        observation_dim=int(observation_dim),
        action_dim=int(action_dim),
        squash=bool(bounded if config.squash is None else config.squash),
        embedding_hidden=tuple(config.embedding_hidden),
        embedding_dim=config.embedding_dim or preset.embedding_dim or 2 * action_dim,
        embedding_output_relu=config.embedding_output_relu,
        coupling_hidden=config.coupling_hidden or preset.coupling_hidden or action_dim,
        num_coupling=config.num_coupling,
        log_scale_bound=config.log_scale_bound,
        **({"gmm_components": config.gmm_components} if kind == "gmm" else {}),
    ).to_json()


# The SAC settings a run sets by name (TrainConfig has a field of the same name and meaning).
SAC_SETTINGS = ("variant", "gamma", "tau", "learning_rate", "reward_scale", "ent_coef", "target_entropy", "policy_gradient")


def sac_config(config: TrainConfig, action_dim: int, squash: bool) -> SACConfig:
    prior = config.action_prior or ("uniform" if squash else "gaussian")
    shared = {name: getattr(config, name) for name in SAC_SETTINGS}
    sac = SACConfig(**shared, action_prior=prior, critic_hidden=tuple(config.critic_hidden))
    return sac.resolved(action_dim, get_preset(config.env_id).reward_scale)


def build_agent(
    config: TrainConfig, observation_dim: int, action_dim: int, bounded: bool
) -> tuple[dict, SAC | SQL]:
    """(policy spec, agent functions: SAC or SQL) for a run of ``config`` on the given spaces."""
    if config.algorithm == "sql" and config.policy != "lsp":
        raise ValueError(
            f"algorithm 'sql' trains its own sampling network: leave --policy unset (got {config.policy!r})"
        )
    if config.policy == "gmm" and config.algorithm == "sac" and config.latent_per_episode:
        raise ValueError("--latent-per-episode holds a latent, and a Gaussian-mixture policy has none: use 'lsp'")
    spec = policy_spec(config, observation_dim, action_dim, bounded)
    policy = policy_from_spec(spec)
    if config.algorithm == "sql":
        if config.ent_coef == "auto":
            raise ValueError("soft Q-learning has no learned temperature: give --ent-coef a number (default 1)")
        if not spec["squash"] or (config.action_prior or "uniform") != "uniform":
            raise ValueError("soft Q-learning needs squashed actions in [-1, 1] with a uniform action prior")
        # alpha 1 and the reward scale of the original's MuJoCo runs (Preset.sql_reward_scale), as
        # SQL was run; 1 on other tasks (on Pendulum SQL learned with 1 where LSP's 5 did not, 8k steps).
        return spec, make_sql(
            policy,
            SQLConfig(
                gamma=config.gamma,
                learning_rate=config.learning_rate,
                reward_scale=(
                    config.reward_scale
                    if config.reward_scale is not None
                    else get_preset(config.env_id).sql_reward_scale
                ),
                ent_coef=float(config.ent_coef) if config.ent_coef is not None else 1.0,
                critic_hidden=tuple(config.critic_hidden),
                **({"tau": config.tau} if config.tau is not None else {}),
            ),
        )
    return spec, make_sac(policy, sac_config(config, action_dim, spec["squash"]))


def base_levels_for(config: TrainConfig) -> list[Level]:
    """The frozen levels below this run's layer, bottom first (empty without ``config.base``)."""
    if config.base is None:
        return []
    levels, _ = load_levels(config.base)
    top = levels[-1]
    levels[-1] = dataclasses.replace(
        top,
        observation_map=ObservationMap.parse(config.base_observation),
        latent_repeat=config.action_repeat,
        repeat_reward=config.repeat_reward,
        latent_scale=config.base_latent_scale,
    )
    return levels


def make_training_env(config: TrainConfig, base_levels: list[Level]):
    """The env a layer trains in: the task, this layer's reward, and the frozen layers below it."""
    if config.action_repeat < 1:
        raise ValueError(f"action_repeat must be at least 1, got {config.action_repeat}")
    if config.action_repeat > 1 and not base_levels:
        raise SettingsError("--action-repeat needs a frozen layer below (--base): it holds latents for that layer")
    if config.base_latent_scale != 1.0 and not base_levels:
        raise SettingsError("--base-latent-scale needs a frozen layer below (--base): it scales that layer's latent")
    env = make_env(config.env_id, max_episode_steps=config.max_episode_steps)
    return env_for(env, base_levels, reward=config.reward, observation=config.observation)


def env_dims(env) -> tuple[int, int, bool]:
    return env.observation_space.shape[0], env.action_space.shape[0], action_space_bounded(env.action_space)
