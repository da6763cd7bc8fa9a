#!/usr/bin/env bash
# Prepares the GPU check (scripts/gpu_check.sh) for the `device` tool's machine, which has no Rust, no
# Vulkan loader, no network and no ../shared: builds release binaries here, strips them and packs them
# (xz) into .dev/ with the oracle, the PyTorch peer and Debian's Fashion-MNIST training files (the
# 25-epoch run's 60,000 images), and downloads Debian's Vulkan loader into .gl/. Both folders are kept
# out of git; carry them: run(command="bash scripts/gpu_check.sh", carry=[".gl", ".dev"]). The carry
# limit is 64 MiB; this prints what travels.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${GAN_WGPU_SHARED:-../shared}
# A fresh clone may have no info/ folder.
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for d in /.dev/ /.gl/; do grep -qxF "$d" "$exclude" 2>/dev/null || echo "$d" >> "$exclude"; done
cargo build --release
rm -rf .dev
mkdir -p .dev/oracle .dev/bench .dev/fashion-mnist .dev/bin
cp target/release/gan-wgpu .dev/bin/
tests=(oracle_layers reference_shapes linear_products determinism)
for t in "${tests[@]}"; do
    bin=$(cargo test --release --no-run --test "$t" --message-format=json 2>/dev/null |
        python3 -c 'import json, sys; print(next(m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m["target"]["name"] == sys.argv[1]))' "$t")
    cp "$bin" ".dev/bin/$t"
done
strip .dev/bin/*
tar -C .dev/bin -cJf .dev/bin.tar.xz .
rm -r .dev/bin
fashion=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
cp "$fashion"/train-images-idx3-ubyte.gz "$fashion"/train-labels-idx1-ubyte.gz .dev/fashion-mnist/
cp "$shared/oracle/layers.safetensors" "$shared/oracle/README.md" .dev/oracle/
cp "$shared/bench/pytorch_dcgan_step.py" .dev/bench/
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update
    (cd .gl && apt-get "${o[@]}" download libvulkan1)
fi
du -sh .dev/* .gl
du -shc .dev .gl | tail -1
