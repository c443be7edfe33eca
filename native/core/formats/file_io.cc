#include "core/formats/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/base/error.h"

namespace lcmd {

namespace {

std::string reason() { return std::strerror(errno); }

std::string parent_folder(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int open_for_reading(const std::string& path, const std::string& what, uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("E_IO", "cannot open " + what + " '" + path + "': " + reason());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    auto why = reason();
    ::close(fd);
    fail("E_IO", "cannot stat " + what + " '" + path + "': " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("E_IO", what + " '" + path + "' is not a regular file");
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::string& path)
    : path_(path), tmp_path_(path + ".tmp-" + std::to_string(::getpid())) {
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("E_IO", "cannot create '" + tmp_path_ + "' (to write '" + path + "'): " + reason());
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    // Linux writes at most ~2 GiB per call; loop over partial writes and EINTR.
    ssize_t n = ::write(fd_, p, bytes < (size_t(1) << 30) ? bytes : (size_t(1) << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("E_IO", "cannot write '" + tmp_path_ + "': " + reason());
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) fail("E_IO", "cannot flush '" + tmp_path_ + "' to disk: " + reason());
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("E_IO", "cannot close '" + tmp_path_ + "': " + reason());
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    fail("E_IO", "cannot rename '" + tmp_path_ + "' to '" + path_ + "': " + reason());
  committed_ = true;
  // The rename is durable only once the folder's entry is on disk.
  int dir = ::open(parent_folder(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

ReadOnlyFile::ReadOnlyFile(const std::string& path, const std::string& what) : path_(path), what_(what) {
  fd_ = open_for_reading(path, what, &size_);
}

ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool ReadOnlyFile::read_at(uint64_t offset, void* dst, size_t bytes) const {
  auto* p = static_cast<uint8_t*>(dst);
  while (bytes > 0) {
    ssize_t n = ::pread(fd_, p, bytes < (size_t(1) << 30) ? bytes : (size_t(1) << 30), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("E_IO", "cannot read " + what_ + " '" + path_ + "': " + reason());
    if (n == 0) return false;
    p += n;
    offset += static_cast<uint64_t>(n);
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

MappedFile::MappedFile(const std::string& path, const std::string& what) : path_(path) {
  int fd = open_for_reading(path, what, &size_);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      auto why = reason();
      ::close(fd);
      fail("E_IO", "cannot memory-map " + what + " '" + path + "': " + why);
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file open
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace lcmd
