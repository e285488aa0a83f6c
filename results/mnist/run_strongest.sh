#!/bin/sh
# The "strongest" column: the MNIST presets with bgpoison's strongest attack settings
# (presets.strongest; lowest, middle and top fraction, 5 splits). Run from the repository root.
for NAME in multiclass binary specific; do
  OMP_NUM_THREADS=1 /usr/bin/time -f "$NAME wall %e s" python -m bgpoison run --preset $NAME \
      --strongest --out results/mnist/$NAME-strongest --no-progress
done
