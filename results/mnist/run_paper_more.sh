#!/bin/sh
# specific and transfer went from 5 to 10 splits after the first sweep: this resumes them
# (splits 0-4 are kept, 5-9 run). Run from the repository root.
for NAME in specific transfer; do
  OMP_NUM_THREADS=1 /usr/bin/time -f "$NAME (splits 5-9) wall %e s" python -m bgpoison run \
      --preset $NAME --out results/mnist/$NAME --no-progress
done
