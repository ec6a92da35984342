#!/usr/bin/env bash
# Diagnostics of the ant-maze hierarchy (paper Fig. 5) for one locomotion layer:
#   1. the oracle steering check (a planner in place of the high level: the ceiling of any high level);
#   2. the steering picture and its statistics (what a held latent does in the open arena);
#   3. the dense-reward check of the high-level trainer (on the v1 maze, where falls do not end the
#      episode): the maze hierarchy with a reward for progress
#      along the corridor path (+1000 at the goal), each latent held 15 env steps, 40k decisions on
#      goal 2 (the farthest);
#   4. the exploration check: how close an untrained high level (latents from its prior) comes to
#      each goal, the first thing the sparse maze needs.
# Usage: bash benchmarks/ant_maze_diagnostics.sh LAYER NAME   (LAYER: a policy.lsp or snapshot)
# Writes results/ant_maze_oracle_NAME.json, results/ant_maze_steering_NAME.{png,json},
# results/ant_maze_exploration_NAME.json and the dense
# run in benchmarks/runs/ant_maze_dense/NAME (re-running resumes it). Each step uses one core; pin the
# whole script with `taskset -c N`.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYER=$1
NAME=$2
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
ORACLE=(--episodes "${ORACLE_EPISODES:-10}" --candidates "${ORACLE_CANDIDATES:-16}" --horizon "${ORACLE_HORIZON:-15}")
if [ "${SKIP_ORACLE:-0}" != 1 ]; then
    lsp experiment ant-maze-oracle "$LAYER" "${ORACLE[@]}" --output "results/ant_maze_oracle_${NAME}.json"
fi
if [ "${SKIP_STEERING:-0}" != 1 ]; then
    lsp experiment ant-maze-pictures --locomotion "$LAYER" --output-dir "benchmarks/runs/steering_${NAME}" --no-video
    cp "benchmarks/runs/steering_${NAME}/steering.png" "results/ant_maze_steering_${NAME}.png"
    cp "benchmarks/runs/steering_${NAME}/steering.json" "results/ant_maze_steering_${NAME}.json"
fi
if [ "${SKIP_DENSE:-0}" != 1 ]; then
    OUT=benchmarks/runs/ant_maze_dense
    RUN="$OUT/$NAME"
    DECISIONS=${DENSE_DECISIONS:-40000}
    if [ -f "$RUN/checkpoints/latest.lsp" ]; then
        lsp train --resume "$RUN" --total-steps "$DECISIONS" --no-progress
    else
        lsp stack "$LAYER" --env-id LSP/AntCrossMazeDense-Goal2-v1 --base-observation 2: --seed 0 \
            --action-repeat "${DENSE_REPEAT:-15}" --latent-per-episode --embedding-dim 16 --no-embedding-output-relu \
            --coupling-hidden 8 --output-dir "$OUT" --run-name "$NAME" --total-steps "$DECISIONS" \
            --eval-every 4000 --eval-episodes 10 --checkpoint-every 4000 --no-progress
    fi
fi
if [ "${SKIP_EXPLORATION:-0}" != 1 ]; then
    python benchmarks/maze_exploration.py "$LAYER" --episodes 50 --repeats 3 15 45 \
        --output "results/ant_maze_exploration_${NAME}.json"
fi
