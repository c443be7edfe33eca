// NumPy .npy files (format versions 1.0, 2.0 and 3.0): little-endian, C order, integer, bool and float dtypes.
// Reading validates the whole header and the file size and memory-maps the data (read-only), so a large token
// file is never copied whole; writing is atomic (temporary file, fsync, rename).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/formats/file_io.h"

namespace lcmd {

// The element types lcmd reads and writes. uint16/32/64 have no libtorch dtype in 1.13; they are widened on read.
enum class NpyDType { Bool, Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64, Float16, Float32, Float64 };

const char* npy_dtype_name(NpyDType type);          // "int16", "uint32", "float32", ...
NpyDType npy_dtype_from_name(const std::string& name);  // E_DTYPE for an unknown name
size_t npy_itemsize(NpyDType type);
bool npy_is_integer(NpyDType type);                 // the integer types (bool excluded)
// The libtorch dtype a read produces: the same type, or the next wider signed one for the unsigned 16/32/64 and int8.
at::ScalarType npy_tensor_type(NpyDType type);

struct NpyHeader {
  NpyDType dtype;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;  // bytes before the data
  int version_major = 1;
  int64_t numel() const;
};

// Parses and validates the header of `bytes` (the whole file, `size` bytes long) read from `path`; E_DATA for
// a malformed file (naming the file and the problem), E_DTYPE for an unsupported or big-endian dtype.
NpyHeader parse_npy_header(const uint8_t* bytes, uint64_t size, const std::string& path);

// An .npy file, memory-mapped and validated. data() points at the first element.
class NpyArray {
 public:
  explicit NpyArray(const std::string& path);
  const NpyHeader& header() const { return header_; }
  const uint8_t* data() const { return file_->data() + header_.data_offset; }
  const std::string& path() const { return file_->path(); }

 private:
  std::shared_ptr<MappedFile> file_;
  NpyHeader header_;
};

// The whole array as a tensor of npy_tensor_type(dtype) (one copy out of the mapping). uint64 values above
// the int64 range are E_RANGE.
at::Tensor read_npy(const std::string& path);

// Writes a CPU-convertible tensor as `as` (by default the tensor's own type); integer values must fit `as`,
// else E_RANGE naming the first offending index. bfloat16 has no NumPy dtype: store it as float32.
void write_npy(const std::string& path, const at::Tensor& tensor, NpyDType as);
void write_npy(const std::string& path, const at::Tensor& tensor);
NpyDType npy_dtype_of(at::ScalarType type);  // E_DTYPE when NumPy has no such type (bfloat16)

// Copies `count` elements of type `type` at `src` into int64 at `dst`, widening. Used by the dataset gather.
void npy_copy_to_int64(NpyDType type, const uint8_t* src, int64_t count, int64_t* dst);

// Checks that every value of an integer array lies in [0, limit) (limit <= 0: only >= 0). On failure throws
// E_RANGE naming `what`, the first offending flat index and its value. One pass over memory, no copies.
void npy_check_index_range(NpyDType type, const uint8_t* data, int64_t count, int64_t limit, const std::string& what,
                           int64_t row_length);
// The largest value of an integer array (0 for an empty one).
int64_t npy_max_value(NpyDType type, const uint8_t* data, int64_t count);

}  // namespace lcmd
