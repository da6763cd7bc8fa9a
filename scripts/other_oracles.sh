#!/usr/bin/env bash
# The oracle tests on oracles other than the shared one: `make_oracle.py` (beside the shared oracle)
# writes one for each SEED:LAYER_BATCH:STEP_BATCH in SPECS, `f32_errors.py` measures float32 PyTorch's
# own error on it, and `oracle_layers` and `oracle_step` run against it (GAN_WGPU_ORACLE_DIR). An
# oracle already written is reused. Needs a Python with torch and safetensors (PYTHON, default
# python3); CI has none, so this runs on a developer's machine: about 4 minutes an oracle on lavapipe.
# (A layer batch of 1 is none: PyTorch refuses BatchNorm1d in training mode on one row.)
# Usage: scripts/other_oracles.sh   (SPECS="7:3:50 2:8:80" OUT=target/other-oracles PYTHON=python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
source_dir=../shared/oracle
out=${OUT:-target/other-oracles}
specs=${SPECS:-"7:3:50 2:8:80 11:2:64"}

"$python" -c 'import torch, safetensors' 2>/dev/null || {
    echo "other_oracles.sh: $python has no torch or safetensors (set PYTHON to one that has)" >&2
    exit 2
}
cargo test --release --no-run --test oracle_layers --test oracle_step >/dev/null 2>&1 ||
    cargo test --release --no-run --test oracle_layers --test oracle_step
for spec in $specs; do
    IFS=: read -r seed layer_batch step_batch <<<"$spec"
    dir=$out/seed$seed-layer$layer_batch-step$step_batch
    if [ ! -f "$dir/f32_errors.json" ]; then
        mkdir -p "$dir"
        "$python" "$source_dir/make_oracle.py" --out "$dir" --seed "$seed" \
            --layer-batch "$layer_batch" --step-batch "$step_batch"
        "$python" "$source_dir/f32_errors.py" "$dir"
    fi
    echo "== oracle seed $seed, layer batch $layer_batch, step batch $step_batch ($dir)"
    rm -f "$dir/test-notes.txt"
    if ! GAN_WGPU_ORACLE_DIR=$dir GAN_WGPU_TEST_NOTES=$dir/test-notes.txt \
        cargo test --release --test oracle_layers --test oracle_step >"$dir/test.log" 2>&1; then
        grep -E 'panicked|FAILED|failures:' -A6 "$dir/test.log" | head -60
        echo "other_oracles.sh: the oracle tests failed on $dir (whole log: $dir/test.log)" >&2
        exit 1
    fi
    grep '^test result' "$dir/test.log"
    cut -f2- "$dir/test-notes.txt"
done
