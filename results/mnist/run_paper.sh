#!/bin/sh
# The paper-protocol column: every MNIST preset with the paper's attack settings.
# Run from the repository root; each command resumes (finished cases are skipped).
for NAME in multiclass binary specific transfer cnn; do
  OMP_NUM_THREADS=1 /usr/bin/time -f "$NAME wall %e s" python -m bgpoison run --preset $NAME \
      --out results/mnist/$NAME --no-progress
done
