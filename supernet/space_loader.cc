// LoadSearchSpace / ParseSearchSpace: dispatch on the YAML `type` key.
#include "absl/strings/str_cat.h"
#include "supernet/mobilenetv2_space.h"
#include "supernet/nb201_space.h"
#include "supernet/search_space.h"
#include "supernet/shufflenet_space.h"
#include "supernet/yaml_config.h"

namespace nas::supernet {

absl::StatusOr<std::shared_ptr<const SearchSpace>> ParseSearchSpace(const std::string& yaml,
                                                                   const std::string& source) {
  absl::StatusOr<ConfigNode> root = ConfigNode::Parse(yaml, source);
  if (!root.ok()) return root.status();
  if (!root->IsMap()) return root->Error("a search space must be a YAML map");
  if (!root->Has("type")) return root->Error("missing required key 'type'");
  absl::StatusOr<std::string> type = (*root)["type"].String();
  if (!type.ok()) return type.status();
  absl::StatusOr<std::shared_ptr<const SearchSpace>> space;
  if (*type == SpaceKindName(SpaceKind::kShuffleNetOneShot)) {
    auto s = ShuffleNetSpace::FromConfig(*root, source);
    if (!s.ok()) return s.status();
    return std::shared_ptr<const SearchSpace>(*s);
  }
  if (*type == SpaceKindName(SpaceKind::kMobileNetV2Macro)) {
    auto s = MobileNetV2Space::FromConfig(*root, source);
    if (!s.ok()) return s.status();
    return std::shared_ptr<const SearchSpace>(*s);
  }
  if (*type == SpaceKindName(SpaceKind::kNb201)) {
    auto s = Nb201Space::FromConfig(*root, source);
    if (!s.ok()) return s.status();
    return std::shared_ptr<const SearchSpace>(*s);
  }
  return (*root)["type"].Error(absl::StrCat(
      "'", *type, "' is not one of shufflenet_oneshot, mobilenetv2_macro, nb201"));
}

absl::StatusOr<std::shared_ptr<const SearchSpace>> LoadSearchSpace(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseSearchSpace(*text, path);
}

}  // namespace nas::supernet
