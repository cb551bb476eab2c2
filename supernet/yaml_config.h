#ifndef NAS_SUPERNET_YAML_CONFIG_H_
#define NAS_SUPERNET_YAML_CONFIG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nas::supernet {

// A YAML node that knows where it came from (file, line, field path), so that every
// error it reports reads like `configs/x.yaml:12: stages[3].channels: must be >= 1`.
// Reading is strict: ExpectKeys() rejects keys a schema does not know.
class ConfigNode {
 public:
  // Parses `text`; `source` names it in errors (usually the file path).
  static absl::StatusOr<ConfigNode> Parse(const std::string& text, const std::string& source);

  // Returns an InvalidArgument error that names the file, line and field.
  absl::Status Error(absl::string_view message) const;
  const std::string& path() const { return path_; }

  // Fails unless this node is a map whose keys are all in `allowed` and which has every
  // key in `required`.
  absl::Status ExpectKeys(const std::vector<std::string>& required,
                          const std::vector<std::string>& allowed) const;
  bool Has(const std::string& key) const;
  // Returns the child at `key` (which must exist: check with Has or ExpectKeys).
  ConfigNode operator[](const std::string& key) const;
  // Returns the items of a sequence node; fails if this is not a non-empty sequence.
  absl::StatusOr<std::vector<ConfigNode>> Items() const;

  bool IsScalar() const { return node_.IsScalar(); }
  bool IsMap() const { return node_.IsMap(); }
  absl::StatusOr<int64_t> Int(int64_t min_value, int64_t max_value) const;
  absl::StatusOr<double> Double(double min_value, double max_value) const;
  absl::StatusOr<bool> Bool() const;
  absl::StatusOr<std::string> String() const;

  // Reads an optional integer/bool child with a default.
  absl::StatusOr<int64_t> IntOr(const std::string& key, int64_t default_value,
                                int64_t min_value, int64_t max_value) const;
  absl::StatusOr<bool> BoolOr(const std::string& key, bool default_value) const;

 private:
  ConfigNode(YAML::Node node, std::string path, std::shared_ptr<const std::string> source)
      : node_(std::move(node)), path_(std::move(path)), source_(std::move(source)) {}

  YAML::Node node_;
  std::string path_;  // Field path, e.g. "stages[2].channels"; empty for the root.
  std::shared_ptr<const std::string> source_;
};

// Reads a whole file; NotFound names the path.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_YAML_CONFIG_H_
