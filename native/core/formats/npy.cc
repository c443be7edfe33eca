#include "core/formats/npy.h"

#include <cctype>
#include <cstring>
#include <limits>
#include <map>

#include "core/base/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lcmd reads and writes little-endian .npy data in place");

namespace lcmd {

namespace {

struct TypeInfo {
  NpyDType type;
  const char* name;
  char kind;  // NumPy's descr kind letter
  size_t itemsize;
};

const TypeInfo kTypes[] = {
    {NpyDType::Bool, "bool", 'b', 1},       {NpyDType::Int8, "int8", 'i', 1},       {NpyDType::Int16, "int16", 'i', 2},
    {NpyDType::Int32, "int32", 'i', 4},     {NpyDType::Int64, "int64", 'i', 8},     {NpyDType::UInt8, "uint8", 'u', 1},
    {NpyDType::UInt16, "uint16", 'u', 2},   {NpyDType::UInt32, "uint32", 'u', 4},   {NpyDType::UInt64, "uint64", 'u', 8},
    {NpyDType::Float16, "float16", 'f', 2}, {NpyDType::Float32, "float32", 'f', 4}, {NpyDType::Float64, "float64", 'f', 8},
};

const TypeInfo& info_of(NpyDType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t;
  fail("E_DTYPE", "unknown npy dtype");
}

const char kMagic[] = "\x93NUMPY";

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  fail("E_DATA", "'" + path + "' is not a valid .npy file: " + what);
}

// The header is a Python dict literal, e.g. {'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }.
// This parser accepts exactly the literals NumPy writes: strings, True/False, and tuples of integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool has_descr = false, has_fortran = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        skip_space();
        if (peek() != '\'' && peek() != '"')
          fail("E_DTYPE", "'" + path_ + "' holds a structured array (its 'descr' is not a plain dtype string); lcmd reads "
                          "plain numeric arrays: save one field, e.g. np.save(path, arr['tokens'])");
        *descr = string_literal();
        has_descr = true;
      } else if (key == "fortran_order") {
        *fortran = boolean();
        has_fortran = true;
      } else if (key == "shape") {
        *shape = int_tuple();
        has_shape = true;
      } else {
        bad("the header has an unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') break;
      bad("expected ',' or '}' after the value of '" + key + "'");
    }
    expect('}');
    skip_space();
    if (pos_ != s_.size()) bad("there is text after the header dictionary");
    if (!has_descr || !has_fortran || !has_shape) bad("the header must hold the keys 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void bad(const std::string& what) { bad_file(path_, "header " + what); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) bad(std::string("expected '") + c + "' at character " + std::to_string(pos_));
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') bad("expected a quoted string at character " + std::to_string(pos_));
    ++pos_;
    auto end = s_.find(quote, pos_);
    if (end == std::string::npos) bad("has an unterminated string");
    std::string out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    bad("'fortran_order' is not True or False");
  }
  std::vector<int64_t> int_tuple() {
    std::vector<int64_t> out;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) bad("'shape' must be a tuple of non-negative integers");
      uint64_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        uint64_t digit = static_cast<uint64_t>(peek() - '0');
        if (value > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - digit) / 10) bad("'shape' has a dimension too large");
        value = value * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literals
      out.push_back(static_cast<int64_t>(value));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') bad("'shape' must be a tuple of non-negative integers");
    }
    expect(')');
    return out;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

NpyDType dtype_from_descr(const std::string& descr, const std::string& path) {
  auto unsupported = [&](const std::string& why) -> NpyDType {
    fail("E_DTYPE", "'" + path + "' holds dtype '" + descr + "', " + why +
                        ". lcmd reads little-endian bool, int8/16/32/64, uint8/16/32/64, float16/32/64; convert with numpy: "
                        "np.save(path, arr.astype('<i4'))");
  };
  if (descr.size() < 3) return unsupported("which is not a simple numeric dtype");
  char order = descr[0];
  char kind = descr[1];
  std::string digits = descr.substr(2);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
    return unsupported("which is not a simple numeric dtype");
  size_t size = std::stoul(digits.substr(0, 3));
  if (order == '>' && size > 1) return unsupported("which is big-endian");
  if (order != '<' && order != '|' && order != '=' && order != '>') return unsupported("with an unknown byte order");
  for (const auto& t : kTypes)
    if (t.kind == kind && t.itemsize == size) return t.type;
  return unsupported("which is not supported");
}

std::string descr_of(NpyDType type) {
  const auto& t = info_of(type);
  return std::string(t.itemsize == 1 ? "|" : "<") + t.kind + std::to_string(t.itemsize);
}

template <class Fn>
auto dispatch(NpyDType type, Fn&& fn) {
  switch (type) {
    case NpyDType::Bool: return fn(uint8_t{});
    case NpyDType::Int8: return fn(int8_t{});
    case NpyDType::Int16: return fn(int16_t{});
    case NpyDType::Int32: return fn(int32_t{});
    case NpyDType::Int64: return fn(int64_t{});
    case NpyDType::UInt8: return fn(uint8_t{});
    case NpyDType::UInt16: return fn(uint16_t{});
    case NpyDType::UInt32: return fn(uint32_t{});
    case NpyDType::UInt64: return fn(uint64_t{});
    default: fail("E_DTYPE", std::string("expected an integer array, got ") + npy_dtype_name(type));
  }
}

// Element i of a possibly unaligned array (memcpy compiles to a plain load).
template <class T>
inline T load(const uint8_t* data, int64_t i) {
  T v;
  std::memcpy(&v, data + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

std::string index_text(int64_t flat, int64_t row_length) {
  if (row_length <= 0) return "index " + std::to_string(flat);
  return "index " + std::to_string(flat) + " (example " + std::to_string(flat / row_length) + ", position " +
         std::to_string(flat % row_length) + ")";
}

}  // namespace

const char* npy_dtype_name(NpyDType type) { return info_of(type).name; }

NpyDType npy_dtype_from_name(const std::string& name) {
  for (const auto& t : kTypes)
    if (name == t.name) return t.type;
  fail("E_DTYPE", "unknown npy dtype '" + name +
                      "': expected one of bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64");
}

size_t npy_itemsize(NpyDType type) { return info_of(type).itemsize; }

bool npy_is_integer(NpyDType type) {
  char kind = info_of(type).kind;
  return kind == 'i' || kind == 'u';
}

at::ScalarType npy_tensor_type(NpyDType type) {
  switch (type) {
    case NpyDType::Bool: return at::kBool;
    case NpyDType::Int8: return at::kShort;  // lcmd's JS tensors have no int8
    case NpyDType::Int16: return at::kShort;
    case NpyDType::Int32: return at::kInt;
    case NpyDType::Int64: return at::kLong;
    case NpyDType::UInt8: return at::kByte;
    case NpyDType::UInt16: return at::kInt;
    case NpyDType::UInt32: return at::kLong;
    case NpyDType::UInt64: return at::kLong;
    case NpyDType::Float16: return at::kHalf;
    case NpyDType::Float32: return at::kFloat;
    case NpyDType::Float64: return at::kDouble;
  }
  fail("E_DTYPE", "unknown npy dtype");
}

NpyDType npy_dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kBool: return NpyDType::Bool;
    case at::kChar: return NpyDType::Int8;
    case at::kShort: return NpyDType::Int16;
    case at::kInt: return NpyDType::Int32;
    case at::kLong: return NpyDType::Int64;
    case at::kByte: return NpyDType::UInt8;
    case at::kHalf: return NpyDType::Float16;
    case at::kFloat: return NpyDType::Float32;
    case at::kDouble: return NpyDType::Float64;
    default:
      fail("E_DTYPE", std::string("NumPy has no dtype for ") + c10::toString(type) + " tensors; store them as float32");
  }
}

int64_t NpyHeader::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

NpyHeader parse_npy_header(const uint8_t* bytes, uint64_t size, const std::string& path) {
  NpyHeader h;
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0) bad_file(path, "it does not start with the NumPy magic string \\x93NUMPY");
  int major = bytes[6], minor = bytes[7];
  if (!((major == 1 || major == 2 || major == 3) && minor == 0))
    bad_file(path, "format version " + std::to_string(major) + "." + std::to_string(minor) + " is not 1.0, 2.0 or 3.0");
  h.version_major = major;
  uint64_t prefix = major == 1 ? 10 : 12;
  if (size < prefix) bad_file(path, "the file ends inside the header length");
  uint64_t header_len = major == 1 ? (uint64_t(bytes[8]) | uint64_t(bytes[9]) << 8)
                                   : (uint64_t(bytes[8]) | uint64_t(bytes[9]) << 8 | uint64_t(bytes[10]) << 16 | uint64_t(bytes[11]) << 24);
  if (header_len > size - prefix)
    bad_file(path, "the header length " + std::to_string(header_len) + " runs past the end of the " + std::to_string(size) + "-byte file");
  std::string text(reinterpret_cast<const char*>(bytes + prefix), header_len);
  if (major < 3) {
    for (char c : text)
      if (static_cast<unsigned char>(c) > 127) bad_file(path, "the header of a version 1.0/2.0 file must be ASCII");
  }
  h.data_offset = prefix + header_len;

  std::string descr;
  bool fortran = false;
  HeaderParser(text, path).parse(&descr, &fortran, &h.shape);
  h.dtype = dtype_from_descr(descr, path);
  if (fortran && h.shape.size() > 1)
    bad_file(path, "it is stored in Fortran (column-major) order; lcmd reads C order only. Rewrite it with numpy: "
                   "np.save(path, np.ascontiguousarray(arr))");

  uint64_t data_bytes = npy_itemsize(h.dtype);
  for (auto d : h.shape) {
    uint64_t u = static_cast<uint64_t>(d);
    if (u != 0 && data_bytes > std::numeric_limits<uint64_t>::max() / u) bad_file(path, "its shape is too large to address");
    data_bytes *= u;
  }
  uint64_t expected = h.data_offset + data_bytes;
  if (data_bytes > std::numeric_limits<uint64_t>::max() - h.data_offset || expected != size) {
    std::string shape_text;
    for (size_t i = 0; i < h.shape.size(); ++i) shape_text += (i ? ", " : "") + std::to_string(h.shape[i]);
    bad_file(path, "a " + std::string(npy_dtype_name(h.dtype)) + " array of shape (" + shape_text + ") needs " +
                       std::to_string(expected) + " bytes with its header, but the file has " + std::to_string(size) +
                       (size < expected ? " (truncated?)" : " (trailing bytes?)"));
  }
  return h;
}

NpyArray::NpyArray(const std::string& path) : file_(std::make_shared<MappedFile>(path, ".npy file")) {
  header_ = parse_npy_header(file_->data(), file_->size(), path);
}

at::Tensor read_npy(const std::string& path) {
  NpyArray array(path);
  const auto& h = array.header();
  int64_t n = h.numel();
  at::Tensor out = at::empty(h.shape, at::TensorOptions().dtype(npy_tensor_type(h.dtype)));
  if (n == 0) return out;
  switch (h.dtype) {
    case NpyDType::Int8:
    case NpyDType::UInt16:
    case NpyDType::UInt32:
    case NpyDType::UInt64: {
      if (h.dtype == NpyDType::UInt64) npy_check_index_range(h.dtype, array.data(), n, 0, "'" + path + "'", 0);
      at::Tensor wide = at::empty({n}, at::kLong);
      npy_copy_to_int64(h.dtype, array.data(), n, wide.data_ptr<int64_t>());
      out.copy_(wide.view(h.shape));
      break;
    }
    case NpyDType::Bool: {
      const uint8_t* p = array.data();
      for (int64_t i = 0; i < n; ++i)
        LCMD_CHECK(p[i] <= 1, "E_DATA", "'" + path + "' is a bool array holding the byte " + std::to_string(p[i]) + " at index " + std::to_string(i));
      std::memcpy(out.data_ptr(), p, static_cast<size_t>(n));
      break;
    }
    default: std::memcpy(out.data_ptr(), array.data(), static_cast<size_t>(n) * npy_itemsize(h.dtype));
  }
  return out;
}

void npy_copy_to_int64(NpyDType type, const uint8_t* src, int64_t count, int64_t* dst) {
  dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<int64_t>(load<T>(src, i));
    return 0;
  });
}

void npy_check_index_range(NpyDType type, const uint8_t* data, int64_t count, int64_t limit, const std::string& what,
                           int64_t row_length) {
  dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    // Compare in the element's own signedness so uint64 values above INT64_MAX are caught, not wrapped.
    for (int64_t i = 0; i < count; ++i) {
      T v = load<T>(data, i);
      bool negative = std::is_signed<T>::value && static_cast<int64_t>(v) < 0;
      bool too_big = limit > 0 ? (!negative && static_cast<uint64_t>(v) >= static_cast<uint64_t>(limit))
                               : (!negative && static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
      if (negative || too_big) {
        std::string value = std::is_signed<T>::value ? std::to_string(static_cast<int64_t>(v)) : std::to_string(static_cast<uint64_t>(v));
        std::string range = limit > 0 ? "[0, " + std::to_string(limit - 1) + "]" : "[0, 2^63)";
        fail("E_RANGE", what + " holds " + value + " at " + index_text(i, row_length) + ", outside the valid range " + range +
                            (limit > 0 ? ": the ids must be below the vocabulary size " + std::to_string(limit) +
                                             " (use the tokenizer that made them, or a larger vocabSize)"
                                       : ""));
      }
    }
    return 0;
  });
}

int64_t npy_max_value(NpyDType type, const uint8_t* data, int64_t count) {
  return dispatch(type, [&](auto tag) {
    using T = decltype(tag);
    int64_t best = 0;
    for (int64_t i = 0; i < count; ++i) {
      T v = load<T>(data, i);
      int64_t w = static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) && !std::is_signed<T>::value
                      ? std::numeric_limits<int64_t>::max()
                      : static_cast<int64_t>(v);
      if (w > best) best = w;
    }
    return best;
  });
}

void write_npy(const std::string& path, const at::Tensor& tensor) { write_npy(path, tensor, npy_dtype_of(tensor.scalar_type())); }

void write_npy(const std::string& path, const at::Tensor& tensor, NpyDType as) {
  LCMD_CHECK(tensor.defined(), "E_USAGE", "cannot write an undefined tensor to '" + path + "'");
  at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
  int64_t n = t.numel();
  bool source_float = at::isFloatingType(t.scalar_type());
  const char* source_name = c10::toString(t.scalar_type());

  std::vector<uint8_t> packed;  // used for the types libtorch lacks
  at::Tensor stored;
  if (npy_is_integer(as) || as == NpyDType::Bool) {
    LCMD_CHECK(!source_float, "E_DTYPE",
               std::string("cannot store a ") + source_name + " tensor as " + npy_dtype_name(as) + " in '" + path +
                   "': convert it to an integer tensor first");
    at::Tensor wide = t.to(at::kLong).contiguous();
    const int64_t* v = wide.data_ptr<int64_t>();
    int64_t lo = 0, hi = 1;
    switch (as) {
      case NpyDType::Bool: lo = 0, hi = 1; break;
      case NpyDType::Int8: lo = INT8_MIN, hi = INT8_MAX; break;
      case NpyDType::Int16: lo = INT16_MIN, hi = INT16_MAX; break;
      case NpyDType::Int32: lo = INT32_MIN, hi = INT32_MAX; break;
      case NpyDType::Int64: lo = INT64_MIN, hi = INT64_MAX; break;
      case NpyDType::UInt8: lo = 0, hi = UINT8_MAX; break;
      case NpyDType::UInt16: lo = 0, hi = UINT16_MAX; break;
      case NpyDType::UInt32: lo = 0, hi = UINT32_MAX; break;
      case NpyDType::UInt64: lo = 0, hi = INT64_MAX; break;
      default: break;
    }
    for (int64_t i = 0; i < n; ++i)
      LCMD_CHECK(v[i] >= lo && v[i] <= hi, "E_RANGE",
                 "cannot store " + std::to_string(v[i]) + " (at index " + std::to_string(i) + ") as " + npy_dtype_name(as) +
                     " in '" + path + "': the range is [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    size_t size = npy_itemsize(as);
    packed.resize(static_cast<size_t>(n) * size);
    for (int64_t i = 0; i < n; ++i) {
      uint64_t bits = static_cast<uint64_t>(v[i]);  // two's complement, little-endian: the low bytes are the value
      std::memcpy(packed.data() + static_cast<size_t>(i) * size, &bits, size);
    }
  } else {
    at::ScalarType target = npy_tensor_type(as);
    stored = t.to(target).contiguous();
  }

  std::string shape_text = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape_text += std::to_string(t.size(i)) + (t.dim() == 1 ? "," : i + 1 < t.dim() ? ", " : "");
  shape_text += ")";
  std::string dict = "{'descr': '" + descr_of(as) + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // NumPy pads the header with spaces and a final newline so the data starts 64-byte aligned.
  bool v2 = dict.size() + 1 + 10 + 63 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = prefix + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  uint32_t header_len = static_cast<uint32_t>(dict.size());

  AtomicFileWriter out(path);
  out.write(kMagic, 6);
  uint8_t version[2] = {static_cast<uint8_t>(v2 ? 2 : 1), 0};
  out.write(version, 2);
  uint8_t len_bytes[4];
  std::memcpy(len_bytes, &header_len, 4);
  out.write(len_bytes, v2 ? 4 : 2);
  out.write(dict.data(), dict.size());
  if (stored.defined()) {
    if (n) out.write(stored.data_ptr(), static_cast<size_t>(n) * stored.element_size());
  } else if (!packed.empty()) {
    out.write(packed.data(), packed.size());
  }
  out.commit();
}

}  // namespace lcmd
