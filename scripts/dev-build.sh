#!/usr/bin/env bash
# Developer build into its own folder (.dev/build-NAME), so several builds can run side by side.
# Usage: scripts/dev-build.sh NAME   then   LCMD_ADDON=.dev/build-NAME/lcmd.node npx jest test/x.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-default}
dir=.dev/build-$name
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DTorch_DIR="$(node scripts/find-libtorch.js)" \
    -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/$dir" >/dev/null
fi
cmake --build "$dir"
