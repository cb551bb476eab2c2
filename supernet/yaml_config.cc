#include "supernet/yaml_config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "supernet/file_util.h"

namespace nas::supernet {
namespace {

std::string Describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsScalar()) return absl::StrCat("'", node.Scalar(), "'");
  if (node.IsSequence()) return "a list";
  return "a map";
}

}  // namespace

absl::StatusOr<ConfigNode> ConfigNode::Parse(const std::string& text,
                                             const std::string& source) {
  try {
    YAML::Node root = YAML::Load(text);
    return ConfigNode(root, "", std::make_shared<const std::string>(source));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1,
                                                   ": not valid YAML: ", e.msg));
  }
}

absl::Status ConfigNode::Error(absl::string_view message) const {
  const YAML::Mark mark = node_.Mark();
  std::string where = *source_;
  if (!mark.is_null()) absl::StrAppend(&where, ":", mark.line + 1);
  if (path_.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", path_, ": ", message));
}

absl::Status ConfigNode::ExpectKeys(const std::vector<std::string>& required,
                                    const std::vector<std::string>& allowed) const {
  if (!node_.IsMap()) {
    return Error(absl::StrCat("expected a map, got ", Describe(node_)));
  }
  for (const auto& entry : node_) {
    const std::string key = entry.first.as<std::string>();
    bool known = false;
    for (const std::string& a : allowed) known = known || a == key;
    for (const std::string& r : required) known = known || r == key;
    if (!known) {
      ConfigNode child(entry.first, path_.empty() ? key : absl::StrCat(path_, ".", key),
                       source_);
      std::vector<std::string> all = required;
      all.insert(all.end(), allowed.begin(), allowed.end());
      return child.Error(
          absl::StrCat("unknown key '", key, "' (known keys: ", absl::StrJoin(all, ", "), ")"));
    }
  }
  for (const std::string& r : required) {
    if (!node_[r]) {
      return Error(absl::StrCat("missing required key '", r, "'"));
    }
  }
  return absl::OkStatus();
}

bool ConfigNode::Has(const std::string& key) const {
  return node_.IsMap() && static_cast<bool>(node_[key]);
}

ConfigNode ConfigNode::operator[](const std::string& key) const {
  YAML::Node child = node_[key];
  // A missing child keeps the parent's mark so errors still point near it.
  return ConfigNode(child.IsDefined() ? child : node_,
                    path_.empty() ? key : absl::StrCat(path_, ".", key), source_);
}

absl::StatusOr<std::vector<ConfigNode>> ConfigNode::Items() const {
  if (!node_.IsSequence() || node_.size() == 0) {
    return Error(absl::StrCat("expected a non-empty list, got ", Describe(node_)));
  }
  std::vector<ConfigNode> items;
  for (size_t i = 0; i < node_.size(); ++i) {
    items.push_back(ConfigNode(node_[i], absl::StrCat(path_, "[", i, "]"), source_));
  }
  return items;
}

absl::StatusOr<int64_t> ConfigNode::Int(int64_t min_value, int64_t max_value) const {
  if (!node_.IsScalar()) return Error(absl::StrCat("expected an integer, got ", Describe(node_)));
  const std::string& s = node_.Scalar();
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0) {
    return Error(absl::StrCat("expected an integer, got '", s, "'"));
  }
  if (v < min_value || v > max_value) {
    return Error(absl::StrCat(v, " is out of range [", min_value, ", ", max_value, "]"));
  }
  return static_cast<int64_t>(v);
}

absl::StatusOr<double> ConfigNode::Double(double min_value, double max_value) const {
  if (!node_.IsScalar()) return Error(absl::StrCat("expected a number, got ", Describe(node_)));
  const std::string& s = node_.Scalar();
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) {
    return Error(absl::StrCat("expected a number, got '", s, "'"));
  }
  if (v < min_value || v > max_value) {
    return Error(absl::StrCat(s, " is out of range [", min_value, ", ", max_value, "]"));
  }
  return v;
}

absl::StatusOr<bool> ConfigNode::Bool() const {
  if (node_.IsScalar()) {
    const std::string& s = node_.Scalar();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  return Error(absl::StrCat("expected true or false, got ", Describe(node_)));
}

absl::StatusOr<std::string> ConfigNode::String() const {
  if (!node_.IsScalar() || node_.Scalar().empty()) {
    return Error(absl::StrCat("expected a non-empty string, got ", Describe(node_)));
  }
  return node_.Scalar();
}

absl::StatusOr<int64_t> ConfigNode::IntOr(const std::string& key, int64_t default_value,
                                          int64_t min_value, int64_t max_value) const {
  if (!Has(key)) return default_value;
  return (*this)[key].Int(min_value, max_value);
}

absl::StatusOr<bool> ConfigNode::BoolOr(const std::string& key, bool default_value) const {
  if (!Has(key)) return default_value;
  return (*this)[key].Bool();
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) { return ReadFileBytes(path); }

}  // namespace nas::supernet
