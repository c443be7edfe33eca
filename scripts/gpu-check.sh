#!/usr/bin/env bash
# The GPU check, one command, on a machine with an NVIDIA GPU and a pip (or any CUDA) torch:
#   1. builds the addon against that torch's libtorch, with native/cuda/ (build/);
#   2. runs jest's "gpu" project (test-gpu/: CUDA against the CPU, the sync bound on CUDA);
#   3. builds and runs the Node-free core check and benchmarks (bench/native/gpu_check: CPU and CUDA trainers from
#      one state, training images/s and MFU, sampling samples/s);
#   4. times lcmd against the same model in PyTorch, eager and torch.compile, from one checkpoint (bench/gpu-vs-pytorch:
#      paper-uncond at batch 128 in bf16, images/s, MFU, peak memory; ancestral sampling of n = 256 at 8, 50, 200 steps);
# and writes one JSON report. Target: under 8 minutes on an H100 / H200.
#
# Usage: LCMD_NODE_DIR=/folder/holding/node scripts/gpu-check.sh [REPORT.json]   (default gpu-check.json)
# Env:   LCMD_NODE_DIR   folder with a `node` binary (Node may be absent from GPU machines; carry one), else PATH
#        PYTHON          the Python whose torch to build against (default python3)
#        LCMD_EXTRA_INCLUDE  folder holding nlohmann/json.hpp when the system has none (carry /usr/include/nlohmann)
#        LCMD_CUDA_ARCH  CUDA architectures (default: 90, or what the visible GPU reports)
#        LCMD_VS_PYTORCH  flags for bench/gpu-vs-pytorch (default: its own, paper-uncond, batch 128, bf16, compile yes)
set -euo pipefail
cd "$(dirname "$0")/.."
REPORT=$(realpath -m "${1:-gpu-check.json}")
NODE=${LCMD_NODE_DIR:+$LCMD_NODE_DIR/node}
NODE=${NODE:-$(command -v node || true)}
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
started=$(date +%s)

die() { echo "gpu-check: $*" >&2; exit 1; }
[ -n "$NODE" ] && [ -x "$NODE" ] || die "no node binary: set LCMD_NODE_DIR to a folder holding one"
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this check needs an NVIDIA GPU"
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  die "$PYTHON's torch sees no CUDA device (install a CUDA build of torch, or pass PYTHON=)"
[ -d node_modules/cmake-js ] || die "node_modules is missing: run npm install on a machine with the registry, and carry node_modules"
export PATH="$(dirname "$NODE"):$PATH"

TORCH_PREFIX=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')
export Torch_DIR="$TORCH_PREFIX/Torch"
if [ -z "${LCMD_CUDA_ARCH:-}" ]; then
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
  export LCMD_CUDA_ARCH=${cap:-90}
fi
GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
echo "gpu-check: $GPU; torch from $Torch_DIR; CUDA arch $LCMD_CUDA_ARCH; node $("$NODE" --version)"

phase() { echo; echo "==== $* ($(( $(date +%s) - started )) s) ===="; }

phase "1/4 build the addon against this torch, with CUDA"
"$NODE" scripts/build-native.js
"$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
"$NODE" dist/bin/lcmd.js info --json > "$WORK/info.json"
grep -q '"cudaAvailable": *true' "$WORK/info.json" || die "the addon was built but sees no CUDA device (see $WORK/info.json)"

phase "2/4 jest, gpu project"
tests_rc=0
"$NODE" node_modules/jest/bin/jest.js --selectProjects gpu --json --outputFile="$WORK/tests.json" || tests_rc=$?

phase "3/4 core check and benchmarks (bench/native/gpu_check)"
cmake -S bench/native -B build-gpu-check -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DCMAKE_CUDA_ARCHITECTURES="$LCMD_CUDA_ARCH" ${LCMD_EXTRA_INCLUDE:+-DLCMD_EXTRA_INCLUDE=$LCMD_EXTRA_INCLUDE} > "$WORK/cmake.log"
cmake --build build-gpu-check -j "$(nproc)" > "$WORK/build.log"
bench_rc=0
for mode in check train sample; do
  build-gpu-check/gpu_check "$mode" | tee "$WORK/$mode.log" || bench_rc=$?
done

phase "4/4 lcmd against PyTorch eager and torch.compile (bench/gpu-vs-pytorch)"
vs_rc=0
# shellcheck disable=SC2086  # LCMD_VS_PYTORCH is a list of flags
"$NODE" dist/bench/gpu-vs-pytorch.js --python "$PYTHON" --out "$WORK/vs-pytorch.json" ${LCMD_VS_PYTORCH:-} || vs_rc=$?

"$PYTHON" - "$WORK" "$REPORT" "$GPU" "$tests_rc" "$bench_rc" "$(( $(date +%s) - started ))" <<'PY'
import json, os, sys
work, report, gpu, tests_rc, bench_rc, seconds = sys.argv[1:]
def last_json(path):
    lines = [l for l in open(path) if l.startswith('{')]
    return json.loads(lines[-1]) if lines else None
tests = json.load(open(f'{work}/tests.json'))
out = {
    'gpu': gpu, 'seconds': int(seconds),
    'addon': json.load(open(f'{work}/info.json')),
    'tests': {'passed': tests['numPassedTests'], 'failed': tests['numFailedTests'], 'skipped': tests['numPendingTests'],
              'failures': [a['fullName'] for r in tests['testResults'] for a in r['assertionResults'] if a['status'] == 'failed']},
    'core': {mode: last_json(f'{work}/{mode}.log') for mode in ('check', 'train', 'sample')},
    'vsPytorch': json.load(open(f'{work}/vs-pytorch.json')) if os.path.exists(f'{work}/vs-pytorch.json') else None,
}
json.dump(out, open(report, 'w'), indent=2)
print(json.dumps(out['tests']), json.dumps(out['core']), json.dumps((out['vsPytorch'] or {}).get('ratios')))
PY
echo "gpu-check: report in $REPORT ($(( $(date +%s) - started )) s)"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$vs_rc" = 0 ]
