#ifndef NAS_SUPERNET_FILE_UTIL_H_
#define NAS_SUPERNET_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace nas {

// Writes `contents` to `path` atomically: a temporary file in the same directory,
// fsync, rename over `path`, fsync of the directory. A crash leaves either the old
// file or the new one, never a mix. Creates missing parent directories.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// Reads a whole file as bytes.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// CRC-32 (zlib's) of `data`.
uint32_t Crc32(absl::string_view data);

// Returns the user's cache directory for this project: $NAS_CACHE_DIR, else
// $XDG_CACHE_HOME/supernet_nas, else ~/.cache/supernet_nas.
std::string DefaultCacheDir();

}  // namespace nas

#endif  // NAS_SUPERNET_FILE_UTIL_H_
