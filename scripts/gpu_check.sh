#!/usr/bin/env bash
# The GPU check, run on the `device` tool's machine from binaries that scripts/gpu_check_prepare.sh put
# in .dev/: the tuner on the card (`gan-wgpu tune`), then its choice and the tiled products' hand-set
# variants (--kernels: block 4 or 8, staging padded or not, slices loaded ahead or not, how far K is
# split) each timed by `gan-wgpu bench --steps 300`,
# PyTorch's CUDA step in its three modes (the notebook's, --fast, --compile) before and after,
# per-kernel profiles, the kernel tests on the card, and the 25-epoch run on Fashion-MNIST's 60,000
# training images (468 steps an epoch at batch 128, as the seed's MNIST run), timed from command to
# last file, then its last G scored by the Fashion-MNIST classifier.
# Results under $OUT (bench.jsonl, perkernel.jsonl, pd_*.txt, train.txt, the last grid). STEPS, EPOCHS
# and DATA shrink it for a rehearsal on lavapipe: STEPS=1 EPOCHS=1 DATA=<a small IDX folder>.
set -u
STEPS=${STEPS:-300}
EPOCHS=${EPOCHS:-25}
DATA=${DATA:-.dev/fashion-mnist}
if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
[ -f .dev/bin.tar.xz ] && tar -C .dev -xJf .dev/bin.tar.xz
B=$PWD/.dev/gan-wgpu
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
# PyTorch's step on the card: torch MODE... for each mode ("" the notebook's, --fast, --compile).
torch() {
    for mode in "$@"; do
        echo "pytorch ${mode:-notebook}: $(cd .dev/bench && timeout 150 python3 pytorch_dcgan_step.py --device cuda --steps "$STEPS" $mode 2>&1 | tail -1)"
    done
}
bench() {
    local tag=$1
    shift
    timeout 40 "$B" bench --steps "$STEPS" "$@" > "$OUT/tmp.txt" 2>&1
    tail -1 "$OUT/tmp.txt" | sed "s/^{/{\"tag\":\"$tag\",/" >> "$OUT/bench.jsonl"
    echo "$tag $* :: $(grep -E 'ms/step' "$OUT/tmp.txt")"
}
echo "=== torch cuda"; torch "" --fast --compile
export GAN_WGPU_PIPELINE_CACHE=$OUT/cache
echo "=== tune"; timeout 120 "$B" tune --batch-size 128 2>&1 | tee "$OUT/tune.txt" | grep -E 'measuring|/[0-9]|measured in'
bench tuned
bench defaults --no-tune
bench block4-pitch16 --kernels block=4,pitch=16
bench block4 --kernels block=4
bench block8 --kernels block=8
bench block4-prefetch --kernels block=4,prefetch=on
bench block8-prefetch --kernels block=8,prefetch=on
bench block4-split264 --kernels block=4,split-k=264
bench block8-split264 --kernels block=8,split-k=264
bench block8-unsplit --kernels block=8,split-k=off
bench tuned
echo "=== torch cuda, again"; torch "" --fast
for v in "" "--kernels block=4" "--kernels block=8"; do
    echo "=== per kernel: ${v:-tuned}"
    RUST_LOG=gan_wgpu::bench=debug timeout 40 "$B" bench --steps "$((STEPS / 6))" --per-kernel $v > "$OUT/tmp.txt" 2>&1
    sed -n '/per kernel/,/^{/p' "$OUT/tmp.txt" | head -14
    grep DEBUG "$OUT/tmp.txt" | awk '{print $4, $5}' > "$OUT/pd_$(echo "${v:-tuned}" | tr -dc '0-9a-z' ).txt"
    tail -1 "$OUT/tmp.txt" >> "$OUT/perkernel.jsonl"
done
export GAN_WGPU_ORACLE_DIR=$PWD/.dev/oracle
for t in oracle_layers reference_shapes linear_products determinism; do
    echo "=== test $t"
    timeout 90 ".dev/$t" 2>&1 | grep -E "test result|FAILED|panicked"
done
echo "=== train: $EPOCHS epochs on $DATA (${TRAIN_ENV:-defaults})"
start=$(date +%s.%N)
env ${TRAIN_ENV:-} timeout 150 "$B" train --epochs "$EPOCHS" --data-dir "$DATA" --out /tmp/gpu_check_run --overwrite 2>&1 |
    while IFS= read -r line; do echo "$(date +%s.%N) $line"; done > "$OUT/train.txt"
end=$(date +%s.%N)
echo "train wall $(python3 -c "print(round($end - $start, 2))") s"
grep -E "epoch (1|$EPOCHS)," "$OUT/train.txt"
cp "/tmp/gpu_check_run/epoch_$(printf %03d "$EPOCHS").png" "$OUT/" 2>/dev/null
# The timed run scores nothing (a --data-dir set); its last G, scored afterwards, gives the quality
# reached and what scoring costs on the card: 10,000 images, and the 2,000 each epoch's curve takes.
G_LAST="/tmp/gpu_check_run/G_$(printf %03d "$EPOCHS").safetensors"
for n in 10000 2000; do
    echo "=== score: $n images of $G_LAST"
    timeout 60 "$B" score --checkpoint "$G_LAST" --dataset fashion-mnist --count "$n" 2>&1 | grep -E "images from|^\{"
done
rm -f "$OUT/tmp.txt"
