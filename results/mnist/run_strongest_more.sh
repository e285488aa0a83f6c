#!/bin/sh
# The strongest runs went from 5 to the presets' 10 splits after the first sweep: this resumes
# them (splits 0-4 are kept, 5-9 run). Run from the repository root.
for NAME in multiclass specific binary; do
  OMP_NUM_THREADS=1 /usr/bin/time -f "$NAME (more splits) wall %e s" python -m bgpoison run \
      --preset $NAME --strongest --out results/mnist/$NAME-strongest --no-progress
done
