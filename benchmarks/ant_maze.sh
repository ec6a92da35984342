#!/usr/bin/env bash
# The ant-maze experiment (paper Fig. 5) at the budget of results/ant_maze.csv, in priority order:
# hierarchies (3 goals x 3 seeds), the original high level's SAC variant (seed 0), every baseline
# with seed 0, then the strongest baseline (STRONGEST, chosen from the seed-0 results) with seeds
# 1 and 2. Re-running resumes unfinished runs and skips finished ones.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/runs/ant_maze}
COMMON=(--output-dir "$OUT" --pretrain-steps 1500000 --steps 300000 --eval-every 30000)
STRONGEST=${STRONGEST:-finetune+motion}
lsp experiment ant-maze "${COMMON[@]}" --methods hierarchy --seeds 0 1 2
lsp experiment ant-maze "${COMMON[@]}" --methods hierarchy-paper --seeds 0
lsp experiment ant-maze "${COMMON[@]}" --methods finetune+motion scratch+motion finetune scratch --seeds 0
lsp experiment ant-maze "${COMMON[@]}" --methods "$STRONGEST" --seeds 1 2
lsp experiment ant-maze-pictures --output-dir "$OUT"
mkdir -p results
cp "$OUT/ant_maze.csv" "$OUT/ant_maze.png" "$OUT/steering.png" "$OUT/steering.json" results/
