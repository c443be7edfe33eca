#include "core/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/formats/file_io.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; lcmd assumes a little-endian host");

namespace lcmd {

namespace {

// The reference implementation refuses headers above 100 MB; so do we, before allocating anything.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeName {
  const char* name;
  at::ScalarType type;
};

const DTypeName kDTypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"I64", at::kLong},
    {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},   {"U8", at::kByte},       {"BOOL", at::kBool},
};

const char* name_of(at::ScalarType type) {
  for (const auto& d : kDTypes)
    if (d.type == type) return d.name;
  fail("E_DTYPE", std::string("safetensors cannot store tensors of dtype ") + c10::toString(type) +
                      ": supported are float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool");
}

bool type_of(const std::string& name, at::ScalarType* out) {
  for (const auto& d : kDTypes)
    if (name == d.name) {
      *out = d.type;
      return true;
    }
  return false;
}

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  fail("E_CHECKPOINT", "'" + path + "' is not a valid safetensors file: " + what +
                           ". The file may be truncated or damaged; use another checkpoint or rewrite it.");
}

struct TensorEntry {
  std::string name;
  at::ScalarType type;
  std::vector<int64_t> shape;
  uint64_t begin;  // relative to the start of the data section
  uint64_t end;
};

struct Header {
  uint64_t data_start = 0;  // 8 + header length
  std::vector<TensorEntry> entries;
  std::map<std::string, std::string> metadata;
};

uint64_t as_offset(const nlohmann::json& value, const std::string& path, const std::string& name) {
  if (!value.is_number_unsigned()) corrupt(path, "tensor '" + name + "' has a data offset that is not a non-negative integer");
  return value.get<uint64_t>();
}

Header parse_header(const ReadOnlyFile& file) {
  const std::string& path = file.path();
  Header h;
  uint8_t size_bytes[8];
  if (file.size() < 8 || !file.read_at(0, size_bytes, 8))
    corrupt(path, "it is " + std::to_string(file.size()) + " bytes long, shorter than the 8-byte header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, size_bytes, 8);
  if (header_len > kMaxHeaderBytes) corrupt(path, "the header length " + std::to_string(header_len) + " exceeds 100 MB");
  if (header_len > file.size() - 8)
    corrupt(path, "the header length " + std::to_string(header_len) + " runs past the end of the " +
                      std::to_string(file.size()) + "-byte file");
  std::string text(header_len, '\0');
  if (header_len > 0 && !file.read_at(8, text.data(), header_len)) corrupt(path, "the header is truncated");
  h.data_start = 8 + header_len;

  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) corrupt(path, "the header is not well-formed JSON");
  if (!json.is_object()) corrupt(path, "the header is JSON but not an object");

  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& name = it.key();
    const auto& value = it.value();
    if (name == kMetadataKey) {
      if (!value.is_object()) corrupt(path, "\"__metadata__\" is not an object");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) corrupt(path, "metadata entry '" + m.key() + "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) corrupt(path, "the entry for tensor '" + name + "' is not an object");
    if (!value.contains("dtype") || !value["dtype"].is_string()) corrupt(path, "tensor '" + name + "' has no dtype string");
    if (!value.contains("shape") || !value["shape"].is_array()) corrupt(path, "tensor '" + name + "' has no shape array");
    if (!value.contains("data_offsets") || !value["data_offsets"].is_array() || value["data_offsets"].size() != 2)
      corrupt(path, "tensor '" + name + "' has no [begin, end] data_offsets");
    TensorEntry e;
    e.name = name;
    std::string dtype = value["dtype"].get<std::string>();
    if (!type_of(dtype, &e.type))
      corrupt(path, "tensor '" + name + "' has dtype '" + dtype + "', which lcmd does not read (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    // numel * itemsize must not overflow before it is compared with the offsets.
    uint64_t bytes = static_cast<uint64_t>(c10::elementSize(e.type));
    for (const auto& dim : value["shape"]) {
      if (!dim.is_number_unsigned()) corrupt(path, "tensor '" + name + "' has a shape entry that is not a non-negative integer");
      uint64_t d = dim.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / d))
        corrupt(path, "tensor '" + name + "' has a shape too large to address");
      bytes *= d;
      e.shape.push_back(static_cast<int64_t>(d));
    }
    e.begin = as_offset(value["data_offsets"][0], path, name);
    e.end = as_offset(value["data_offsets"][1], path, name);
    if (e.end < e.begin) corrupt(path, "tensor '" + name + "' has data_offsets that end before they begin");
    if (e.end - e.begin != bytes)
      corrupt(path, "tensor '" + name + "' spans " + std::to_string(e.end - e.begin) + " bytes but its dtype " + dtype +
                        " and shape need " + std::to_string(bytes));
    h.entries.push_back(std::move(e));
  }

  // Like the reference reader: sorted by offset, the tensors tile the data section exactly.
  std::vector<const TensorEntry*> by_offset;
  for (const auto& e : h.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const auto* e : by_offset) {
    if (e->begin < cursor) corrupt(path, "tensor '" + e->name + "' overlaps the tensor before it");
    if (e->begin > cursor) corrupt(path, "there is a gap of unclaimed bytes before tensor '" + e->name + "'");
    cursor = e->end;
  }
  uint64_t data_bytes = file.size() - h.data_start;
  if (cursor != data_bytes)
    corrupt(path, "the tensors claim " + std::to_string(cursor) + " data bytes but the file holds " + std::to_string(data_bytes));
  return h;
}

}  // namespace

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::map<std::string, at::Tensor> sorted;
  for (const auto& [name, tensor] : tensors) {
    LCMD_CHECK(!name.empty(), "E_USAGE", "safetensors tensor names must not be empty");
    LCMD_CHECK(name != kMetadataKey, "E_USAGE", "'__metadata__' is reserved in safetensors and cannot name a tensor");
    LCMD_CHECK(tensor.defined(), "E_USAGE", "tensor '" + name + "' is undefined and cannot be saved");
    LCMD_CHECK(sorted.count(name) == 0, "E_USAGE", "tensor name '" + name + "' appears twice; safetensors names are unique");
    name_of(tensor.scalar_type());  // rejects unsupported dtypes before anything is written
    sorted[name] = tensor.detach().to(at::kCPU).contiguous();
  }

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = meta;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : sorted) {
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", name_of(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    fail("E_USAGE", "safetensors tensor names and metadata must be valid UTF-8 text");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  uint64_t header_len = text.size();

  AtomicFileWriter out(path);
  uint8_t size_bytes[8];
  std::memcpy(size_bytes, &header_len, 8);
  out.write(size_bytes, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : sorted) {
    size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
    if (bytes) out.write(t.data_ptr(), bytes);
  }
  out.commit();
}

SafetensorsFile load_safetensors(const std::string& path) {
  ReadOnlyFile file(path, "checkpoint");
  Header h = parse_header(file);
  SafetensorsFile result;
  result.metadata = std::move(h.metadata);
  for (const auto& e : h.entries) {
    // One copy: straight from the file into the tensor's storage.
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.type));
    size_t bytes = static_cast<size_t>(e.end - e.begin);
    if (bytes && !file.read_at(h.data_start + e.begin, t.data_ptr(), bytes))
      corrupt(path, "the data of tensor '" + e.name + "' is truncated");
    if (e.type == at::kBool) {
      // A bool byte other than 0 or 1 is undefined behaviour in libtorch kernels.
      const auto* p = static_cast<const uint8_t*>(t.data_ptr());
      if (std::any_of(p, p + bytes, [](uint8_t b) { return b > 1; }))
        corrupt(path, "BOOL tensor '" + e.name + "' holds bytes other than 0 and 1");
    }
    result.tensors.emplace(e.name, std::move(t));
  }
  return result;
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  ReadOnlyFile file(path, "checkpoint");
  return parse_header(file).metadata;
}

}  // namespace lcmd
