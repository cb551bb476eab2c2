#include "supernet/shufflenet_space.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace nas::supernet {
namespace {

constexpr ShuffleBlock kAllBlocks[] = {ShuffleBlock::kShuffle3x3, ShuffleBlock::kShuffle5x5,
                                       ShuffleBlock::kShuffle7x7, ShuffleBlock::kXception};

// Formats a channel scale with at least one decimal: 0.2 -> "0.2", 1 -> "1.0".
std::string FormatScale(double scale) {
  std::string s = absl::StrFormat("%.3f", scale);
  while (s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
  return s;
}

}  // namespace

absl::string_view ShuffleBlockName(ShuffleBlock block) {
  switch (block) {
    case ShuffleBlock::kShuffle3x3:
      return "shuffle3x3";
    case ShuffleBlock::kShuffle5x5:
      return "shuffle5x5";
    case ShuffleBlock::kShuffle7x7:
      return "shuffle7x7";
    case ShuffleBlock::kXception:
      return "xception";
  }
  return "unknown";
}

int64_t ShuffleBlockKernelSize(ShuffleBlock block) {
  switch (block) {
    case ShuffleBlock::kShuffle3x3:
      return 3;
    case ShuffleBlock::kShuffle5x5:
      return 5;
    case ShuffleBlock::kShuffle7x7:
      return 7;
    case ShuffleBlock::kXception:
      return 3;
  }
  return 3;
}

absl::StatusOr<std::shared_ptr<const ShuffleNetSpace>> ShuffleNetSpace::FromConfig(
    const ConfigNode& root, const std::string& source) {
  std::vector<std::string> optional = LayeredOptionalKeys();
  optional.insert(optional.end(), {"blocks", "channel_scales"});
  if (absl::Status s = root.ExpectKeys(LayeredRequiredKeys(), optional); !s.ok()) return s;
  absl::StatusOr<LayeredConfig> config = ParseLayeredConfig(root);
  if (!config.ok()) return config.status();

  std::shared_ptr<ShuffleNetSpace> space(new ShuffleNetSpace(*std::move(config), source));
  if (absl::Status s = space->ComputeLayers(root); !s.ok()) return s;

  // ShuffleNetV2 blocks split and concatenate channels: check the widths allow it.
  int64_t channels = space->config_.stem.channels;
  for (size_t s = 0; s < space->config_.stages.size(); ++s) {
    const int64_t out = space->config_.stages[s].channels;
    const ConfigNode field = root["stages"].Items()->at(s)["channels"];
    if (out % 2 != 0) return field.Error(absl::StrCat(out, " must be even (channels are split in half)"));
    if (out <= channels) {
      return field.Error(absl::StrCat(out, " must exceed the stage's input channels (", channels,
                                      "): the block adds channels to the projection branch"));
    }
    channels = out;
  }

  std::vector<std::string> block_names;
  if (root.Has("blocks")) {
    absl::StatusOr<std::vector<ConfigNode>> items = root["blocks"].Items();
    if (!items.ok()) return items.status();
    for (const ConfigNode& item : *items) {
      absl::StatusOr<std::string> name = item.String();
      if (!name.ok()) return name.status();
      bool found = false;
      for (ShuffleBlock b : kAllBlocks) {
        if (ShuffleBlockName(b) == *name) {
          for (ShuffleBlock existing : space->blocks_) {
            if (existing == b) return item.Error(absl::StrCat("'", *name, "' is listed twice"));
          }
          space->blocks_.push_back(b);
          found = true;
        }
      }
      if (!found) {
        return item.Error(absl::StrCat("'", *name,
                                       "' is not one of shuffle3x3, shuffle5x5, shuffle7x7, xception"));
      }
    }
  } else {
    space->blocks_.assign(std::begin(kAllBlocks), std::end(kAllBlocks));
  }
  for (ShuffleBlock b : space->blocks_) block_names.emplace_back(ShuffleBlockName(b));

  std::vector<std::string> scale_names;
  if (root.Has("channel_scales")) {
    absl::StatusOr<std::vector<ConfigNode>> items = root["channel_scales"].Items();
    if (!items.ok()) return items.status();
    for (const ConfigNode& item : *items) {
      absl::StatusOr<double> scale = item.Double(0.01, 8.0);
      if (!scale.ok()) return scale.status();
      const std::string name = FormatScale(*scale);
      for (const std::string& existing : scale_names) {
        if (existing == name) return item.Error(absl::StrCat("scale ", name, " is listed twice"));
      }
      scale_names.push_back(name);
      space->channel_scales_.push_back(*scale);
    }
  }

  space->dimensions_ = {"block"};
  std::vector<std::vector<std::string>> options = {block_names};
  if (!scale_names.empty()) {
    space->dimensions_.push_back("channel_scale");
    options.push_back(scale_names);
  }
  space->AddLayerGenes(options);
  if (absl::Status s = space->Finish(); !s.ok()) return s;
  return std::shared_ptr<const ShuffleNetSpace>(std::move(space));
}

int64_t ShuffleNetSpace::MidChannelsAtScale(int layer, double scale) const {
  const int64_t base = layers_[layer].out_channels / 2;
  // The small epsilon keeps exact products (e.g. 80 * 0.6) from rounding down.
  return std::max<int64_t>(1, static_cast<int64_t>(std::floor(base * scale + 1e-9)));
}

int64_t ShuffleNetSpace::MidChannels(const Architecture& arch, int layer) const {
  if (!searches_channels()) return MidChannelsAtScale(layer, 1.0);
  return MidChannelsAtScale(layer, channel_scales_[arch.genes[GeneIndex(layer, 1)]]);
}

int64_t ShuffleNetSpace::MaxMidChannels(int layer) const {
  if (!searches_channels()) return MidChannelsAtScale(layer, 1.0);
  int64_t best = 0;
  for (double scale : channel_scales_) best = std::max(best, MidChannelsAtScale(layer, scale));
  return best;
}

int64_t ShuffleNetSpace::BranchInChannels(int layer) const {
  const LayerShape& shape = layers_[layer];
  return shape.index_in_stage == 0 ? shape.in_channels : shape.in_channels / 2;
}

NetworkPlan ShuffleNetSpace::BuildPlan(const Architecture& arch) const {
  NetworkPlan plan;
  plan.blocks.push_back(StemBlock());
  for (int l = 0; l < static_cast<int>(layers_.size()); ++l) {
    const LayerShape& shape = layers_[l];
    const ShuffleBlock block = BlockOf(arch, l);
    const int64_t k = ShuffleBlockKernelSize(block);
    const int64_t inp = BranchInChannels(l);
    const int64_t outputs = shape.out_channels - inp;
    const int64_t mid = MidChannels(arch, l);
    const int64_t in_size = shape.in_size, out_size = shape.out_size, s = shape.stride;
    PlanBlock b{absl::StrCat("layers[", l, "]"), l, {}};
    auto& p = b.primitives;
    if (block == ShuffleBlock::kXception) {
      p = {Conv(inp, inp, 3, s, inp, out_size),       BatchNorm(inp),
           Conv(inp, mid, 1, 1, 1, out_size),         BatchNorm(mid),
           Conv(mid, mid, 3, 1, mid, out_size),       BatchNorm(mid),
           Conv(mid, mid, 1, 1, 1, out_size),         BatchNorm(mid),
           Conv(mid, mid, 3, 1, mid, out_size),       BatchNorm(mid),
           Conv(mid, outputs, 1, 1, 1, out_size),     BatchNorm(outputs)};
    } else {
      p = {Conv(inp, mid, 1, 1, 1, in_size),          BatchNorm(mid),
           Conv(mid, mid, k, s, mid, out_size),       BatchNorm(mid),
           Conv(mid, outputs, 1, 1, 1, out_size),     BatchNorm(outputs)};
    }
    if (shape.index_in_stage == 0) {
      // Projection branch: depthwise k x k (stride s) then pointwise, on all inputs.
      p.insert(p.end(), {Conv(inp, inp, k, s, inp, out_size), BatchNorm(inp),
                         Conv(inp, inp, 1, 1, 1, out_size), BatchNorm(inp)});
    }
    ApplyPrecision(arch, l, b);
    plan.blocks.push_back(std::move(b));
  }
  plan.blocks.push_back(HeadBlock());
  return plan;
}

}  // namespace nas::supernet
