// Atomic files and directories, and the temporaries crashed writers leave behind.
#include "supernet/file_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "tests/test_paths.h"

namespace nas {
namespace {

namespace fs = std::filesystem;

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

// The pid of a process that has exited (and been reaped).
pid_t DeadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(FileUtilTest, ABundleDirectoryIsReplacedAsAWhole) {
  const std::string root = testing::FreshTempDir("file_util_bundle");
  const std::string dir = root + "/bundle";
  ASSERT_TRUE(WriteFileAtomically(dir + "/subnet.pt", "old model").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/subnet.json", "old metadata").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/bn_stats.pt", "old stats").ok());

  absl::StatusOr<std::string> staging = MakeStagingDirectory(dir);
  ASSERT_TRUE(staging.ok()) << staging.status();
  ASSERT_TRUE(WriteFileAtomically(*staging + "/subnet.pt", "new model").ok());
  // Until the replacement, the old bundle is untouched (a crash here leaves it whole).
  EXPECT_EQ(*ReadFileBytes(dir + "/subnet.pt"), "old model");
  ASSERT_TRUE(WriteFileAtomically(*staging + "/subnet.json", "new metadata").ok());
  ASSERT_TRUE(ReplaceDirectoryAtomically(*staging, dir).ok());
  EXPECT_EQ(Names(dir), (std::set<std::string>{"subnet.pt", "subnet.json"}));
  EXPECT_EQ(*ReadFileBytes(dir + "/subnet.json"), "new metadata");
  EXPECT_EQ(Names(root), (std::set<std::string>{"bundle"}));  // Nothing left over.

  // A first bundle (no directory yet) is a plain rename.
  staging = MakeStagingDirectory(root + "/fresh");
  ASSERT_TRUE(staging.ok());
  ASSERT_TRUE(WriteFileAtomically(*staging + "/a", "a").ok());
  ASSERT_TRUE(ReplaceDirectoryAtomically(*staging, root + "/fresh").ok());
  EXPECT_EQ(Names(root + "/fresh"), (std::set<std::string>{"a"}));
}

TEST(FileUtilTest, TemporariesOfDeadWritersAreRemovedAndLiveOnesKept) {
  const std::string root = testing::FreshTempDir("file_util_stale");
  const pid_t dead = DeadPid();
  const std::string stale_file = root + "/checkpoint.nasckpt.tmp." + std::to_string(dead);
  const std::string live_file = root + "/checkpoint.nasckpt.tmp.1";  // pid 1 is alive.
  const std::string stale_dir = root + "/.bundle.staging." + std::to_string(dead);
  ASSERT_TRUE(WriteFileAtomically(stale_file, "half").ok());
  ASSERT_TRUE(WriteFileAtomically(live_file, "in progress").ok());
  ASSERT_TRUE(WriteFileAtomically(stale_dir + "/subnet.pt", "half").ok());
  ASSERT_TRUE(WriteFileAtomically(root + "/checkpoint.nasckpt", "complete").ok());
  EXPECT_FALSE(fs::exists(stale_file));
  EXPECT_TRUE(fs::exists(live_file));
  absl::StatusOr<std::string> staging = MakeStagingDirectory(root + "/bundle");
  ASSERT_TRUE(staging.ok());
  EXPECT_FALSE(fs::exists(stale_dir));
  EXPECT_TRUE(fs::is_directory(*staging));
}

}  // namespace
}  // namespace nas
