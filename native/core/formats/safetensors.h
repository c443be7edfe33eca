// The safetensors file format (https://github.com/huggingface/safetensors), as Python's `safetensors` package
// writes and reads it: an 8-byte little-endian header length, a JSON header mapping each tensor name to
// {dtype, shape, data_offsets} plus an optional "__metadata__" string map, then the raw little-endian data.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lcmd {

struct SafetensorsFile {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Atomic: writes path + ".tmp-<pid>", fsyncs the file, renames over path, fsyncs the directory. Tensors are moved
// to CPU and made contiguous; dtypes F32, F64, BF16, F16, I64, I32, I16, I8, U8, BOOL. Keys sorted; header padded
// with spaces to a multiple of 8 bytes. Duplicate or empty names and the reserved name "__metadata__" are E_USAGE.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata);

// Validates everything (header length vs file size, JSON well-formed, dtype names, shapes, offsets in range,
// consistent with dtype * numel, contiguous without overlaps or gaps, BOOL bytes 0/1) and throws
// lcmd::Error("E_CHECKPOINT", ...) for anything wrong, E_IO for a missing or unreadable file.
SafetensorsFile load_safetensors(const std::string& path);

// Reads and validates only the header; returns the "__metadata__" map (empty when absent).
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

}  // namespace lcmd
