#!/usr/bin/env bash
# Compile-checks every native source against libtorch 2.x headers, so the 2.x (pip / CUDA) paths cannot rot
# while development machines build against Debian bookworm's libtorch 1.13.
#
# Headers come from Debian trixie (libtorch 2.6): fetched with `apt-get download` through a private apt state
# under the cache folder and unpacked with dpkg-deb. Nothing is installed and the system's apt setup is untouched.
# Two flavours are checked:
#   cpu   libtorch-dev + gloo headers:                            native/core/**/*.cc, native/addon/**/*.cc
#   cuda  libtorch-cuda-dev + gloo-cuda + NCCL + CUDA headers,    the same sources with -DLCMD_WITH_CUDA=1,
#         plus native/cuda/*.cu with nvcc
# CUDA runtime headers are those of the installed nvcc ($CUDA_HOME, default /usr/local/cuda); the CUDA library
# headers nvcc's toolkit may lack (cuBLAS, cuSPARSE, cuSOLVER, cuRAND, cuFFT, NVRTC) come from trixie's
# nvidia-cuda-dev (CUDA 12.4, the one Debian built libtorch 2.6 with). Without $CUDA_HOME, trixie's full CUDA
# headers are used and the .cu files are skipped with a warning.
#
# Usage: scripts/check-torch-2x.sh   (after npm ci: it needs node_modules/node-api-headers and node-addon-api)
# Env:   LCMD_TORCH2X_CACHE (default .cache/torch-2x), LCMD_CHECK_JOBS (default: nproc), CUDA_HOME, NVCC,
#        LCMD_CHECK_SOURCES (space-separated .cc / .cu files to check instead of all, while working on them)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SELF=$ROOT/scripts/$(basename "$0")
CACHE=${LCMD_TORCH2X_CACHE:-$ROOT/.cache/torch-2x}
JOBS=${LCMD_CHECK_JOBS:-$(nproc)}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$(command -v nvcc || echo "$CUDA_HOME/bin/nvcc")}

# Bump when the package set or the unpacked layout changes, so stale caches are rebuilt.
RECIPE=3
CPU_PACKAGES=(libtorch-dev libgloo-dev)
CUDA_PACKAGES=(libtorch-cuda-dev libgloo-cuda-dev libnccl-dev nvidia-cuda-dev)
# The CUDA library headers libtorch's CUDA headers include, taken from nvidia-cuda-dev.
CUDA_LIBRARY_HEADERS=('cublas*' 'cusparse*' 'cusolver*' 'curand*' 'cufft*' 'nvrtc*')

# Mirrors CMakeLists.txt: the same language level, defines and warnings as the real build.
COMMON_FLAGS=(-std=c++17 -D_GLIBCXX_USE_CXX11_ABI=1
  -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
  -I"$ROOT/node_modules/node-api-headers/include" -I"$ROOT/node_modules/node-addon-api" -I"$ROOT/native")
[ -n "${LCMD_EXTRA_INCLUDE:-}" ] && COMMON_FLAGS+=(-I"$LCMD_EXTRA_INCLUDE")
# CMakeLists.txt builds core/blas/onednn_gemm.cc against oneDNN where its headers are installed: check that path too.
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then COMMON_FLAGS+=(-DLCMD_WITH_ONEDNN=1); fi
WARNINGS=(-Wall -Wno-unused-parameter)
CUDA_ARCH_FLAGS=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90)

# ---- include paths of each flavour -------------------------------------------------------------------------

torch_includes() {  # $1: unpacked root
  echo "-isystem $1/usr/include -isystem $1/usr/include/torch/csrc/api/include"
}

# The definitions find_package(Torch) gives its users (USE_DISTRIBUTED, USE_C10D_GLOO, USE_C10D_NCCL, ...),
# read from the package's exported CMake targets, as CMake would apply them.
torch_defines() {  # $1: unpacked root
  grep -ho 'INTERFACE_COMPILE_DEFINITIONS "[^"$]*"' "$1"/usr/lib/*/cmake/Caffe2/Caffe2Targets.cmake |
    sed 's/.*"\(.*\)"/\1/' | tr ';' '\n' | sort -u | sed 's/^/-D/' | tr '\n' ' '
}

flavour_flags() {  # $1: cpu | cuda
  local flags
  if [ "$1" = cpu ]; then
    flags="$(torch_includes "$CACHE/cpu") $(torch_defines "$CACHE/cpu") -isystem $CACHE/gloo-cpu/usr/include"
  else
    flags="$(torch_includes "$CACHE/cuda") $(torch_defines "$CACHE/cuda")"
    flags="$flags -isystem $CACHE/gloo-cuda/usr/include -isystem $CACHE/nccl/usr/include"
    if [ -f "$CUDA_HOME/include/cuda_runtime_api.h" ]; then
      flags="$flags -isystem $CUDA_HOME/include -isystem $CACHE/cuda-libraries"
    else
      flags="$flags -isystem $CACHE/cuda-12/usr/include"
    fi
    flags="$flags -DLCMD_WITH_CUDA=1"
  fi
  echo "$flags"
}

# A header that resolves to the system's libtorch 1.13 instead of the 2.x tree would make the check meaningless.
check_no_leak() {  # $1: dependency file, $2: what
  if grep -qE '(^|[[:space:]])/usr/(local/)?include/(torch|ATen|c10|caffe2|gloo)/' "$1"; then
    echo "error: $2 picked up system libtorch 1.13 headers (a header missing from the 2.x tree?):" >&2
    grep -oE '(^|[[:space:]])/usr/(local/)?include/(torch|ATen|c10|caffe2|gloo)/[^ ]*' "$1" | head -5 >&2
    return 1
  fi
}

# ---- one compile job (run through xargs) ----------------------------------------------------------------

compile_one() {  # $1: flavour, $2: source file (relative to ROOT)
  local flavour=$1 src=$2 tag log dep
  tag=$(echo "$flavour-$src" | tr '/.' '__')
  log=$CACHE/logs/$tag.log
  dep=$CACHE/logs/$tag.d
  # shellcheck disable=SC2046
  if [[ $src == *.cu ]]; then
    "$NVCC" -std=c++17 "${CUDA_ARCH_FLAGS[@]}" -c "$src" -o "$CACHE/logs/$tag.o" \
      "${COMMON_FLAGS[@]}" $(flavour_flags "$flavour") -MD -MF "$dep" >"$log" 2>&1 || { cat "$log"; echo "FAILED [$flavour] $src"; return 1; }
  else
    g++ -fsyntax-only "${COMMON_FLAGS[@]}" "${WARNINGS[@]}" $(flavour_flags "$flavour") \
      -include "$CACHE/pch-$flavour/torch_pch.h" -Winvalid-pch -MD -MF "$dep" "$src" >"$log" 2>&1 || { cat "$log"; echo "FAILED [$flavour] $src"; return 1; }
  fi
  check_no_leak "$dep" "[$flavour] $src" || return 1
  [ -s "$log" ] && cat "$log"
  echo "ok     [$flavour] $src"
}

build_pch() {  # $1: flavour. The real build precompiles <torch/torch.h> into every file too (CMakeLists.txt).
  local dir=$CACHE/pch-$1
  mkdir -p "$dir"
  echo '#include <torch/torch.h>' >"$dir/torch_pch.h"
  # shellcheck disable=SC2046
  g++ -x c++-header "${COMMON_FLAGS[@]}" "${WARNINGS[@]}" $(flavour_flags "$1") "$dir/torch_pch.h" \
    -o "$dir/torch_pch.h.gch" -MD -MF "$dir/pch.d" >"$dir/pch.log" 2>&1 || { cat "$dir/pch.log"; echo "FAILED [$1] <torch/torch.h>"; return 1; }
  check_no_leak "$dir/pch.d" "[$1] <torch/torch.h>"
  echo "ok     [$1] <torch/torch.h> (precompiled)"
}

if [ "${1:-}" = --compile ]; then compile_one "$2" "$3"; exit; fi
if [ "${1:-}" = --pch ]; then build_pch "$2"; exit; fi

# ---- fetch and unpack (once; cached) ----------------------------------------------------------------------

fetch() {
  local apt=$CACHE/apt debs=$CACHE/debs
  mkdir -p "$apt/sources" "$apt/lists/partial" "$apt/archives/partial" "$apt/preferences" "$debs"
  : >"$apt/status"
  cat >"$apt/sources/trixie.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # A private apt state: our own sources, lists, cache and an empty dpkg status; the system's is never touched.
  local opts=(-q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/sources"
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt/preferences"
    -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status" -o Dir::Cache="$apt"
    -o Dir::Cache::Archives="$apt/archives" -o APT::Sandbox::User=root -o Acquire::Languages=none)
  echo "fetching Debian trixie package lists into $apt"
  apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 || { cat "$apt/update.log"; return 1; }
  echo "downloading ${CPU_PACKAGES[*]} ${CUDA_PACKAGES[*]}"
  (cd "$debs" && apt-get "${opts[@]}" download "${CPU_PACKAGES[@]}" "${CUDA_PACKAGES[@]}")

  rm -rf "$CACHE/cpu" "$CACHE/cuda" "$CACHE/gloo-cpu" "$CACHE/gloo-cuda" "$CACHE/nccl" "$CACHE/cuda-12" "$CACHE/cuda-libraries"
  dpkg-deb -x "$debs"/libtorch-dev_*.deb "$CACHE/cpu"
  dpkg-deb -x "$debs"/libtorch-cuda-dev_*.deb "$CACHE/cuda"
  dpkg-deb -x "$debs"/libgloo-dev_*.deb "$CACHE/gloo-cpu"
  dpkg-deb -x "$debs"/libgloo-cuda-dev_*.deb "$CACHE/gloo-cuda"
  mkdir -p "$CACHE/nccl" "$CACHE/cuda-12" "$CACHE/cuda-libraries"
  dpkg-deb --fsys-tarfile "$debs"/libnccl-dev_*.deb | tar -x -C "$CACHE/nccl" --wildcards './usr/include/*'
  # nvidia-cuda-dev is ~0.9 GB, almost all libraries: keep its headers only, then drop the big debs.
  echo "unpacking CUDA 12.4 headers from nvidia-cuda-dev"
  dpkg-deb --fsys-tarfile "$debs"/nvidia-cuda-dev_*.deb | tar -x -C "$CACHE/cuda-12" --wildcards './usr/include/*'
  local pattern
  for pattern in "${CUDA_LIBRARY_HEADERS[@]}"; do
    # shellcheck disable=SC2086
    cp "$CACHE"/cuda-12/usr/include/$pattern "$CACHE/cuda-libraries/"
  done
  rm -f "$debs"/nvidia-cuda-dev_*.deb "$debs"/libnccl-dev_*.deb
  rm -rf "$apt/archives"
  for d in "$debs"/*.deb; do basename "$d"; done >"$CACHE/packages.txt"
  echo "$RECIPE" >"$CACHE/ready"
}

start=$(date +%s)
if [ "$(cat "$CACHE/ready" 2>/dev/null)" != "$RECIPE" ]; then
  rm -rf "$CACHE"
  mkdir -p "$CACHE"
  fetch
else
  echo "using cached trixie headers in $CACHE"
fi
echo "headers: $(tr '\n' ' ' <"$CACHE/packages.txt")"
fetched=$(date +%s)

for f in node_modules/node-api-headers/include/node_api.h node_modules/node-addon-api/napi.h; do
  [ -f "$f" ] || { echo "error: $f is missing; run npm ci first" >&2; exit 1; }
done

rm -rf "$CACHE/logs" && mkdir -p "$CACHE/logs"
sources=$(find native/core native/addon -name '*.cc' | sort)
cuda_sources=$(ls native/cuda/*.cu 2>/dev/null || true)
if [ -n "${LCMD_CHECK_SOURCES:-}" ]; then
  sources=$(printf '%s\n' $LCMD_CHECK_SOURCES | grep '\.cc$' || true)
  cuda_sources=$(printf '%s\n' $LCMD_CHECK_SOURCES | grep '\.cu$' || true)
fi
nvcc_ok=1
if [ -n "$cuda_sources" ] && ! [ -x "$NVCC" ]; then
  echo "WARNING: nvcc not found (NVCC / CUDA_HOME); skipping $(echo "$cuda_sources" | wc -w) .cu files" >&2
  nvcc_ok=0
fi

printf '%s\n' cpu cuda | xargs -P "$JOBS" -I{} bash "$SELF" --pch {}
{
  for s in $sources; do echo "cpu $s"; echo "cuda $s"; done
  if [ "$nvcc_ok" = 1 ]; then for s in $cuda_sources; do echo "cuda $s"; done; fi
} | xargs -P "$JOBS" -L1 bash "$SELF" --compile

count=$(($(echo "$sources" | wc -w) * 2 + nvcc_ok * $(echo "$cuda_sources" | wc -w)))
rm -f "$CACHE"/logs/*.o
echo "libtorch 2.x header check passed: $count compiles (fetch $((fetched - start)) s, compile $(($(date +%s) - fetched)) s)"
