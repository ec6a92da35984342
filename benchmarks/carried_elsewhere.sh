#!/bin/bash
# Continue the committed long runs (benchmarks/carried/) on another machine with more cores for a
# fixed time, and pack them back as carried copies to commit here.
#
#   TRAIN=450 OUT=/tmp/back bash benchmarks/carried_elsewhere.sh
#   # then, here: tar xzf maze_visits.tgz / fig4_*.tgz into folders and, per run,
#   #   rm -rf benchmarks/carried/.../RUN && cp -r FOLDER/RUN benchmarks/carried/.../RUN
#
# As used on 2026-12-04: it runs the maze hierarchy runs listed below (then unfinished; finished
# runs are skipped) and the Fig. 4 grid of seeds 0-2, one run per core (16 cores), stops them all
# with one Ctrl-C after TRAIN seconds (each saves a checkpoint), and writes
# OUT/{maze_visits,fig4_s0,fig4_s12}.tgz (carried copies: no replay). Edit the run lists for other runs. Needs the package importable (pip install -e ., or PYTHONPATH=src); leave MUJOCO_GL
# unset on a machine without EGL libraries. Used once on 2026-12-04 (16-core machine, 7.5 min).
cd "$(dirname "$0")/.." || exit 1
T0=$(date +%s)
TRAIN=${TRAIN:-450}
OUT=${OUT:?set OUT to the folder for the packed runs}
export PYTHONPATH=$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
mkdir -p "$OUT"
R=$(mktemp -d)
mkdir -p $R/maze_visits $R/fig4_2M $R/back/maze_visits $R/back/fig4_s0 $R/back/fig4_s12
for r in goal0__hierarchy+visits__1 goal0__hierarchy+visits__2 goal1__hierarchy+visits__0 goal1__hierarchy+visits__1 \
         goal1__hierarchy+visits__2 goal2__hierarchy+visits__0 goal2__hierarchy+visits__1; do
  cp -r benchmarks/carried/maze_visits/$r $R/maze_visits/
done
cp -r benchmarks/carried/fig4_2M/* $R/fig4_2M/
M="python3 -m latent_space_policies.cli experiment ant-maze --methods hierarchy+visits --steps 3000000 --eval-every 150000 --eval-episodes 10 --output-dir $R/maze_visits"
taskset -c 0,1 $M --goals 0 --seeds 1 2 >> "$OUT/maze.log" 2>&1 &
taskset -c 2,3,4 $M --goals 1 --seeds 0 1 2 >> "$OUT/maze.log" 2>&1 &
taskset -c 5,6 $M --goals 2 --seeds 0 1 >> "$OUT/maze.log" 2>&1 &
taskset -c 7-14 python3 benchmarks/fig4_two_level.py --env Ant-v5 --steps 2000000 --freeze 500000 1000000 \
  --snapshot-every 250000 --eval-every 50000 --eval-episodes 10 --checkpoint-every 100000 \
  --runs $R/fig4_2M --seeds 0 1 2 --name fig4_Ant-v5_2M > "$OUT/fig4.log" 2>&1 &
sleep 60
while [ $(( $(date +%s) - T0 )) -lt "$TRAIN" ]; do
  sleep 10
  pgrep -f "latent_space_policies.cli (train|stack)" > /dev/null || { echo "no training process left"; break; }
done
echo "stopping at $(( $(date +%s) - T0 )) s"
pkill -INT -f "cli experiment ant-maze"; pkill -INT -f fig4_two_level.py   # one Ctrl-C each: the runners pass it on
for _ in $(seq 60); do pgrep -f "latent_space_policies.cli (train|stack)" > /dev/null || break; sleep 1; done
for r in $R/maze_visits/*/; do python3 benchmarks/carry_run.py save $r $R/back/maze_visits/$(basename $r); done
for r in $R/fig4_2M/*__0; do python3 benchmarks/carry_run.py save $r $R/back/fig4_s0/$(basename $r); done
for r in $R/fig4_2M/*__[12]; do python3 benchmarks/carry_run.py save $r $R/back/fig4_s12/$(basename $r); done
for t in maze_visits fig4_s0 fig4_s12; do tar czf "$OUT/$t.tgz" -C $R/back/$t .; done
echo "done at $(( $(date +%s) - T0 )) s"; ls -la "$OUT"
