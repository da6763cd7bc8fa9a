#!/usr/bin/env bash
# Back-to-back CPU-host comparison for BENCHMARKS.md: PyTorch CPU (the notebook's step and --fast, 2
# threads) and gan-wgpu bench on lavapipe (tuned kernels, then the hand-set default and tiles), natively
# and then as an AVX2 host: GALLIUM_OVERRIDE_CPU_CAPS=avx makes llvmpipe generate AVX2 code (16 vector
# registers, no AVX-512), and ATEN_CPU_CAPABILITY/DNNL_MAX_CPU_ISA/MKL_ENABLE_INSTRUCTIONS do the same
# for PyTorch. Usage: scripts/bench_host.sh [STEPS] (PYTHON names a python with torch; MESA_ROOT names a
# root made by scripts/mesa_root.sh, to run gan-wgpu on that root's Mesa instead of the host's).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10}
python=${PYTHON:-python3}
cargo build --release --quiet
bin=(target/release/gan-wgpu)
if [ -n "${MESA_ROOT:-}" ]; then
  cp target/release/gan-wgpu "$MESA_ROOT/opt/gan-wgpu"
  bin=(chroot "$MESA_ROOT" /opt/gan-wgpu)
fi
"${bin[@]}" devices | sed -n 2p
lscpu | grep -E 'Model name|^Flags' | sed 's/^Flags:.*\(avx512f\).*/Flags: ... avx512f .../'
pytorch() {
  "$python" ../shared/bench/pytorch_dcgan_step.py --threads 2 --steps 20 "$@" | tail -1
}
ours() {
  "${bin[@]}" bench --batch-size 128 --steps "$steps" "$@" | tail -1
}
for host in native avx2; do
  if [ "$host" = avx2 ]; then
    export GALLIUM_OVERRIDE_CPU_CAPS=avx ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
  fi
  echo "== $host"
  echo "-- pytorch notebook step"; pytorch
  echo "-- pytorch --fast"; pytorch --fast
  echo "-- gan-wgpu tune"; "${bin[@]}" tune --batch-size 128 | grep -E 'measuring|/[0-9]|measured in'
  echo "-- gan-wgpu tuned"; ours
  echo "-- gan-wgpu --no-tune (subgroup products, the hand-set default)"; ours --no-tune
  echo "-- pytorch notebook step again"; pytorch
done
