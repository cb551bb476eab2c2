#ifndef NAS_SUPERNET_FILE_UTIL_H_
#define NAS_SUPERNET_FILE_UTIL_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nas {

// Writes `contents` to `path` atomically: a temporary file in the same directory,
// fsync, rename over `path`, fsync of the directory. A crash leaves either the old
// file or the new one, never a mix. Creates missing parent directories.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The same for contents produced by `write` into a stream (large files that should never
// be held in memory whole).
absl::Status WriteFileAtomically(const std::string& path, const std::function<void(std::ostream&)>& write);

// A new empty staging directory next to `dir` (same file system), for building a set of
// files that ReplaceDirectoryAtomically then puts in place as a whole. Staging
// directories that crashed processes left next to `dir` are removed first.
absl::StatusOr<std::string> MakeStagingDirectory(const std::string& dir);

// Puts the finished `staging` directory at `dir` in one step: a reader (or a crash) sees
// either the old directory or the new one, never a mix of their files. The old one, if
// any, is removed afterwards.
absl::Status ReplaceDirectoryAtomically(const std::string& staging, const std::string& dir);

// Reads a whole file as bytes.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// FNV-1a over a whole file, as "<16 hex digits>-<size>": an identity of its contents.
// (Not CRC-32: a checkpoint ends with its own CRC-32, so the CRC-32 of the whole file is
// the same constant for every checkpoint.)
absl::StatusOr<std::string> FileHash(const std::string& path);

// CRC-32 (zlib's) of `data`.
uint32_t Crc32(absl::string_view data);

// Returns the user's cache directory for this project: $NAS_CACHE_DIR, else
// $XDG_CACHE_HOME/supernet_nas, else ~/.cache/supernet_nas.
std::string DefaultCacheDir();

}  // namespace nas

#endif  // NAS_SUPERNET_FILE_UTIL_H_
