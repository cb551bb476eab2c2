#ifndef NAS_TESTS_TEST_PATHS_H_
#define NAS_TESTS_TEST_PATHS_H_

#include <string>

namespace nas::testing {

// Returns the directory of the shared read-only data (../shared/data beside the
// repository): $NAS_SHARED_DATA when set, otherwise found by following the runfiles
// link of configs/nb201.yaml back to the source tree. Tests that use it must list
// //configs:spaces in their data.
std::string SharedDataDir();

// Returns a fresh, empty directory under the test's temporary directory.
std::string FreshTempDir(const std::string& name);

}  // namespace nas::testing

#endif  // NAS_TESTS_TEST_PATHS_H_
