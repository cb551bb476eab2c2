#include "supernet/mobilenetv2_space.h"

#include "absl/strings/str_cat.h"

namespace nas::supernet {

std::string MbChoice::Name() const {
  if (identity) return "identity";
  return absl::StrCat("mb_k", kernel_size, "_e", expand_ratio);
}

absl::StatusOr<std::shared_ptr<const MobileNetV2Space>> MobileNetV2Space::FromConfig(
    const ConfigNode& root, const std::string& source) {
  std::vector<std::string> required = LayeredRequiredKeys();
  required.push_back("choices");
  if (absl::Status s = root.ExpectKeys(required, LayeredOptionalKeys()); !s.ok()) return s;
  absl::StatusOr<LayeredConfig> config = ParseLayeredConfig(root);
  if (!config.ok()) return config.status();

  std::shared_ptr<MobileNetV2Space> space(new MobileNetV2Space(*std::move(config), source));
  if (absl::Status s = space->ComputeLayers(root); !s.ok()) return s;

  absl::StatusOr<std::vector<ConfigNode>> items = root["choices"].Items();
  if (!items.ok()) return items.status();
  std::vector<std::string> names;
  for (const ConfigNode& item : *items) {
    MbChoice choice;
    if (item.IsScalar()) {
      absl::StatusOr<std::string> name = item.String();
      if (!name.ok()) return name.status();
      if (*name != "identity") {
        return item.Error(absl::StrCat("'", *name,
                                       "' is not a choice: write identity or "
                                       "{kernel_size: K, expand_ratio: E}"));
      }
      choice.identity = true;
    } else {
      if (absl::Status s = item.ExpectKeys({"kernel_size", "expand_ratio"}, {}); !s.ok()) return s;
      absl::StatusOr<int64_t> k = item["kernel_size"].Int(1, 11);
      if (!k.ok()) return k.status();
      if (*k % 2 == 0) return item["kernel_size"].Error(absl::StrCat(*k, " must be odd"));
      absl::StatusOr<int64_t> e = item["expand_ratio"].Int(1, 16);
      if (!e.ok()) return e.status();
      choice.kernel_size = *k;
      choice.expand_ratio = *e;
    }
    for (const std::string& existing : names) {
      if (existing == choice.Name()) {
        return item.Error(absl::StrCat("choice ", existing, " is listed twice"));
      }
    }
    names.push_back(choice.Name());
    space->choices_.push_back(choice);
  }

  space->dimensions_ = {"op"};
  space->AddLayerGenes({names});
  if (absl::Status s = space->Finish(); !s.ok()) return s;
  return std::shared_ptr<const MobileNetV2Space>(std::move(space));
}

NetworkPlan MobileNetV2Space::BuildPlan(const Architecture& arch) const {
  NetworkPlan plan;
  plan.blocks.push_back(StemBlock());
  for (int l = 0; l < static_cast<int>(layers_.size()); ++l) {
    const LayerShape& shape = layers_[l];
    const MbChoice& choice = ChoiceOf(arch, l);
    PlanBlock b{absl::StrCat("layers[", l, "]"), l, {}};
    auto& p = b.primitives;
    if (choice.identity) {
      if (IdentityNeedsProjection(l)) {
        p = {Conv(shape.in_channels, shape.out_channels, 1, shape.stride, 1, shape.out_size),
             BatchNorm(shape.out_channels)};
      }
    } else {
      const int64_t hidden = shape.in_channels * choice.expand_ratio;
      if (choice.expand_ratio != 1) {
        p = {Conv(shape.in_channels, hidden, 1, 1, 1, shape.in_size), BatchNorm(hidden)};
      }
      p.insert(p.end(),
               {Conv(hidden, hidden, choice.kernel_size, shape.stride, hidden, shape.out_size),
                BatchNorm(hidden),
                Conv(hidden, shape.out_channels, 1, 1, 1, shape.out_size),
                BatchNorm(shape.out_channels)});
    }
    ApplyPrecision(arch, l, b);
    plan.blocks.push_back(std::move(b));
  }
  plan.blocks.push_back(HeadBlock());
  return plan;
}

}  // namespace nas::supernet
