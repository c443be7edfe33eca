// Files as lcmd uses them: atomic writes (temporary file, fsync, rename, fsync of the folder), exact reads that
// turn short reads into errors, and read-only memory maps. Every failure is an lcmd::Error with code E_IO.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lcmd {

// Writes `path` so that a crash leaves either the old file or the complete new one, never a torn file.
// Data goes to path + ".tmp-<pid>"; commit() flushes it, renames it over `path` and flushes the folder.
// Without commit() (an exception on the way), the destructor removes the temporary file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

// A file opened for reading; sizes and reads are checked.
class ReadOnlyFile {
 public:
  // `what` names the file's role in error messages ("checkpoint", "token file").
  ReadOnlyFile(const std::string& path, const std::string& what);
  ~ReadOnlyFile();
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Reads exactly `bytes` at `offset`; returns false when the file ends first (the caller decides which error).
  bool read_at(uint64_t offset, void* dst, size_t bytes) const;

 private:
  std::string path_;
  std::string what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// A read-only, shared memory map of a whole file (an empty file maps to nullptr with size 0).
class MappedFile {
 public:
  MappedFile(const std::string& path, const std::string& what);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace lcmd
