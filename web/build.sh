#!/usr/bin/env bash
# Builds the page's wasm module into web/pkg: the gan-wgpu-web crate for wasm32-unknown-unknown, then
# wasm-bindgen's JavaScript glue (the CLI at the exact version of the wasm-bindgen crate in Cargo.lock;
# installed here if missing), and beside them the MNIST classifier's files the page scores with. Serve
# the page with `node web/serve.mjs`.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')" != "$version" ]; then
    echo "installing wasm-bindgen-cli $version (once)"
    cargo install wasm-bindgen-cli --version "$version"
fi
cargo build -p gan-wgpu-web --target wasm32-unknown-unknown --release
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
    target/wasm32-unknown-unknown/release/gan_wgpu_web.wasm
# The MNIST classifier the page scores its samples with, served beside the module.
mkdir -p web/pkg/classifier
cp assets/classifier/mnist.safetensors assets/classifier/mnist.features.safetensors web/pkg/classifier/
echo "built web/pkg ($(du -h web/pkg/gan_wgpu_web_bg.wasm | cut -f1) of wasm); serve with: node web/serve.mjs"
