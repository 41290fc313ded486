#!/usr/bin/env bash
# One-stop set-up for convnet on Debian bookworm: installs the Debian packages the project needs
# (oneDNN headers, a C++ toolchain, the Fashion-MNIST dataset, Chromium for the dashboard's browser
# test - and, with the Vulkan loader libvulkan1, its software Vulkan driver SwiftShader, which gives
# the webgpu backend (npm `webgpu`, Dawn) an adapter on machines without a GPU - Open MPI for multi-process training and its tests, PyTorch 1.13 and torchvision 0.14 for the
# side-by-side tests and benchmarks) when they are missing, runs `npm ci` when node_modules is stale,
# and builds the native addons (the local build, the prebuild the npm package ships, the optional MPI
# addon) and the TypeScript. Idempotent and fast when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libdnnl-dev dataset-fashion-mnist g++ make python3 chromium libvulkan1 openmpi-bin libopenmpi-dev python3-torch python3-torchvision)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # onnxruntime-node (used by the ONNX export tests) carries its CPU binaries in the package; its
  # postinstall would only try to download GPU extras, which cannot be fetched here.
  export ONNXRUNTIME_NODE_INSTALL=skip
  npm ci --no-audit --no-fund --loglevel=error
fi

node scripts/build-native.mjs
# The prebuilt addon the npm package ships (test/install.test.ts packs and installs it).
node scripts/prebuild.mjs
echo "setup: compiling TypeScript"
npx tsc -p tsconfig.json
echo "setup: done"
