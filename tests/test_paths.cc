#include "tests/test_paths.h"

#include <climits>
#include <cstdlib>
#include <filesystem>

namespace nas::testing {

std::string SharedDataDir() {
  if (const char* env = std::getenv("NAS_SHARED_DATA"); env != nullptr && *env != '\0') {
    return env;
  }
  char resolved[PATH_MAX];
  if (realpath("configs/nb201.yaml", resolved) == nullptr) return "../shared/data";
  // <repo>/configs/nb201.yaml -> <repo>/../shared/data
  return (std::filesystem::path(resolved).parent_path().parent_path().parent_path() / "shared" /
          "data")
      .string();
}

std::string FreshTempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace nas::testing
