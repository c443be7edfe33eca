# node-gyp build of the same addon as CMakeLists.txt (which `npm install` uses, through cmake-js).
# libtorch is found by the same locator, scripts/find-libtorch.js. This build compiles the C++ sources only:
# the CUDA kernels in native/cuda/ need the CMake build (see README, "Builds").
# Usage: npx node-gyp rebuild -j max --nodedir="$(dirname "$(dirname "$(command -v node)")")"
# It writes build/Release/lcmd.node, replacing a cmake-js build in build/.
{
  "targets": [
    {
      "target_name": "lcmd",
      "sources": [
        "<!@(node -p \"['core', 'addon'].flatMap((d) => require('fs').readdirSync('native/' + d, { recursive: true }).filter((f) => f.endsWith('.cc')).sort().map((f) => 'native/' + d + '/' + f)).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-api-headers').include_dir\")",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(node scripts/find-libtorch.js includes)",
        "<!@(node -p \"process.env.LCMD_EXTRA_INCLUDE || ''\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "LCMD_TORCH_VIA=\"<!(node scripts/find-libtorch.js via)\"",
        "LCMD_TORCH_DIR=\"<!(node scripts/find-libtorch.js dir)\""
      ],
      # node's common.gypi turns exceptions and RTTI off and picks its own -std; libtorch needs both, and C++17.
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-frtti",
        "-fvisibility=hidden",
        "-Wno-unused-parameter",
        "<!@(node scripts/find-libtorch.js cflags)"
      ],
      # -L and -Wl,-rpath to the libtorch folder, so the addon loads it without LD_LIBRARY_PATH.
      "libraries": ["<!@(node scripts/find-libtorch.js libraries)"]
    }
  ]
}
