#include "supernet/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas {
namespace {

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

// True when `name` is `prefix` followed by the pid of a process that no longer exists
// (and optionally ".old", a directory moved aside by ReplaceDirectoryAtomically).
bool IsStaleTemporary(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  std::string pid_text = name.substr(prefix.size());
  if (pid_text.size() > 4 && pid_text.compare(pid_text.size() - 4, 4, ".old") == 0) pid_text.resize(pid_text.size() - 4);
  if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9) return false;
  const pid_t pid = static_cast<pid_t>(std::atoi(pid_text.c_str()));
  return pid > 0 && pid != getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
}

void FsyncDirectory(const std::string& dir) {
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace

absl::StatusOr<std::string> MakeStagingDirectory(const std::string& dir) {
  const std::filesystem::path target = std::filesystem::path(dir).lexically_normal();
  const std::filesystem::path parent = target.has_parent_path() ? target.parent_path() : ".";
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat(parent.string(), ": ", ec.message()));
  const std::string prefix = absl::StrCat(".", target.filename().string(), ".staging.");
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    if (IsStaleTemporary(entry.path().filename().string(), prefix)) std::filesystem::remove_all(entry.path(), ec);
  }
  const std::string staging = (parent / absl::StrCat(prefix, getpid())).string();
  std::filesystem::remove_all(staging, ec);
  if (!std::filesystem::create_directory(staging, ec) || ec) {
    return absl::InternalError(absl::StrCat(staging, ": cannot create: ", ec.message()));
  }
  return staging;
}

absl::Status ReplaceDirectoryAtomically(const std::string& staging, const std::string& dir) {
  FsyncDirectory(staging);
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    // Swap the two names in one step, then remove the old bundle (now at `staging`).
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
      std::filesystem::remove_all(staging, ec);
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
      // A file system without exchange: the old directory moves aside first, so a crash
      // between the two renames leaves it whole under `<staging>.old` (no mixed bundle).
      const std::string old = staging + ".old";
      std::filesystem::remove_all(old, ec);
      if (::rename(dir.c_str(), old.c_str()) != 0) return Errno("cannot move aside to " + old, dir);
      if (::rename(staging.c_str(), dir.c_str()) != 0) {
        absl::Status s = Errno("cannot rename " + staging + " to", dir);
        ::rename(old.c_str(), dir.c_str());
        return s;
      }
      std::filesystem::remove_all(old, ec);
    } else {
      return Errno("cannot exchange with " + staging, dir);
    }
  } else if (::rename(staging.c_str(), dir.c_str()) != 0) {
    return Errno("cannot rename " + staging + " to", dir);
  }
  const std::filesystem::path target(dir);
  FsyncDirectory(target.has_parent_path() ? target.parent_path().string() : ".");
  return absl::OkStatus();
}

// The temporary file a write to `path` goes through (parent directories created;
// temporaries a killed writer left behind, whose pid is gone, removed).
std::string TemporaryFor(const std::filesystem::path& target) {
  std::error_code ec;
  const std::filesystem::path parent = target.has_parent_path() ? target.parent_path() : ".";
  if (target.has_parent_path()) std::filesystem::create_directories(parent, ec);
  const std::string tmp_prefix = absl::StrCat(target.filename().string(), ".tmp.");
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    if (IsStaleTemporary(entry.path().filename().string(), tmp_prefix)) std::filesystem::remove(entry.path(), ec);
  }
  return absl::StrCat(target.string(), ".tmp.", getpid());
}

// fsync of the written temporary (through `fd`, which it closes), rename over `path`,
// fsync of the directory; the temporary is removed on failure.
absl::Status CommitTemporary(int fd, const std::string& tmp, const std::filesystem::path& target) {
  if (fd < 0 || ::fsync(fd) != 0) {
    absl::Status s = Errno("fsync failed", tmp);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    absl::Status s = Errno("rename failed", target.string());
    ::unlink(tmp.c_str());
    return s;
  }
  FsyncDirectory(target.has_parent_path() ? target.parent_path().string() : ".");
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  const std::filesystem::path target(path);
  const std::string tmp = TemporaryFor(target);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = Errno("write failed", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    written += static_cast<size_t>(n);
  }
  return CommitTemporary(fd, tmp, target);
}

absl::Status WriteFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::filesystem::path target(path);
  const std::string tmp = TemporaryFor(target);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Errno("cannot create", tmp);
    write(out);
    out.flush();
    if (!out) {
      absl::Status s = Errno("write failed", tmp);
      ::unlink(tmp.c_str());
      return s;
    }
  }
  return CommitTemporary(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC), tmp, target);
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  // One allocation of the file's size and one read (a stringstream grows by copying: a
  // second of CPU for CIFAR-10 on every start).
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0 || !in) {
    std::ostringstream buffer;  // Not seekable (a pipe): read it as a stream.
    in.clear();
    buffer << in.rdbuf();
    return buffer.str();
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  if (size > 0 && !in.read(bytes.data(), size)) {
    return absl::DataLossError(absl::StrCat(path, ": read ", in.gcount(), " of ", size, " bytes"));
  }
  return bytes;
}

absl::StatusOr<std::string> FileHash(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : *bytes) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return absl::StrFormat("%016x-%d", hash, bytes->size());
}

uint32_t Crc32(absl::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t offset = 0;
  while (offset < data.size()) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(data.size() - offset, 1 << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + offset), chunk);
    offset += chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string DefaultCacheDir() {
  if (const char* dir = std::getenv("NAS_CACHE_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return absl::StrCat(xdg, "/supernet_nas");
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "/tmp", "/.cache/supernet_nas");
}

}  // namespace nas
