#include "supernet/layered_space.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace nas::supernet {

const std::vector<std::string>& LayeredRequiredKeys() {
  static const auto* keys =
      new std::vector<std::string>{"name", "type", "input", "num_classes", "stem", "stages", "head"};
  return *keys;
}

const std::vector<std::string>& LayeredOptionalKeys() {
  static const auto* keys = new std::vector<std::string>{"description", "precision"};
  return *keys;
}

namespace {

absl::StatusOr<std::vector<int>> ParseBitsList(const ConfigNode& node) {
  absl::StatusOr<std::vector<ConfigNode>> items = node.Items();
  if (!items.ok()) return items.status();
  if (items->empty()) return node.Error("must list at least one bit-width");
  std::vector<int> bits;
  for (const ConfigNode& item : *items) {
    absl::StatusOr<int64_t> v = item.Int(2, 32);
    if (!v.ok()) return v.status();
    if (*v > 16 && *v != 32) {
      return item.Error(absl::StrCat(*v, " is not a bit-width: use 2 to 16, or 32 for float"));
    }
    if (std::find(bits.begin(), bits.end(), *v) != bits.end()) {
      return item.Error(absl::StrCat(*v, " is listed twice"));
    }
    bits.push_back(static_cast<int>(*v));
  }
  return bits;
}

absl::StatusOr<PrecisionConfig> ParsePrecisionConfig(const ConfigNode& node) {
  if (absl::Status s = node.ExpectKeys({}, {"weight_bits", "activation_bits"}); !s.ok()) return s;
  PrecisionConfig precision;
  for (const auto& [key, target] : {std::pair{"weight_bits", &precision.weight_bits},
                                    std::pair{"activation_bits", &precision.activation_bits}}) {
    if (!node.Has(key)) continue;
    absl::StatusOr<std::vector<int>> bits = ParseBitsList(node[key]);
    if (!bits.ok()) return bits.status();
    *target = *std::move(bits);
  }
  if (precision.weight_bits.empty() && precision.activation_bits.empty()) {
    return node.Error("needs weight_bits, activation_bits or both");
  }
  return precision;
}

std::vector<std::string> BitsOptionNames(const std::string& prefix, const std::vector<int>& bits) {
  std::vector<std::string> names;
  for (int b : bits) names.push_back(absl::StrCat(prefix, b));
  return names;
}

}  // namespace

absl::StatusOr<LayeredConfig> ParseLayeredConfig(const ConfigNode& root) {
  LayeredConfig c;
  absl::StatusOr<std::string> name = root["name"].String();
  if (!name.ok()) return name.status();
  c.name = *name;

  const ConfigNode input = root["input"];
  if (absl::Status s = input.ExpectKeys({"size", "channels"}, {}); !s.ok()) return s;
  absl::StatusOr<int64_t> v = input["size"].Int(1, 4096);
  if (!v.ok()) return v.status();
  c.input_size = *v;
  if (v = input["channels"].Int(1, 64); !v.ok()) return v.status();
  c.input_channels = *v;
  if (v = root["num_classes"].Int(2, 100000); !v.ok()) return v.status();
  c.num_classes = *v;

  const ConfigNode stem = root["stem"];
  if (absl::Status s = stem.ExpectKeys({"channels"}, {"kernel_size", "stride", "max_pool"});
      !s.ok()) {
    return s;
  }
  if (v = stem["channels"].Int(1, 4096); !v.ok()) return v.status();
  c.stem.channels = *v;
  if (v = stem.IntOr("kernel_size", 3, 1, 11); !v.ok()) return v.status();
  if (*v % 2 == 0) return stem["kernel_size"].Error(absl::StrCat(*v, " must be odd"));
  c.stem.kernel_size = *v;
  if (v = stem.IntOr("stride", 1, 1, 4); !v.ok()) return v.status();
  c.stem.stride = *v;
  absl::StatusOr<bool> b = stem.BoolOr("max_pool", false);
  if (!b.ok()) return b.status();
  c.stem.max_pool = *b;

  absl::StatusOr<std::vector<ConfigNode>> stages = root["stages"].Items();
  if (!stages.ok()) return stages.status();
  for (const ConfigNode& stage : *stages) {
    if (absl::Status s = stage.ExpectKeys({"layers", "channels"}, {"stride"}); !s.ok()) return s;
    StageConfig sc;
    if (v = stage["layers"].Int(1, 64); !v.ok()) return v.status();
    sc.layers = *v;
    if (v = stage["channels"].Int(1, 8192); !v.ok()) return v.status();
    sc.channels = *v;
    if (v = stage.IntOr("stride", 1, 1, 2); !v.ok()) return v.status();
    sc.stride = *v;
    c.stages.push_back(sc);
  }

  const ConfigNode head = root["head"];
  if (absl::Status s = head.ExpectKeys({"channels"}, {"classifier_bias"}); !s.ok()) return s;
  if (v = head["channels"].Int(1, 16384); !v.ok()) return v.status();
  c.head.channels = *v;
  if (b = head.BoolOr("classifier_bias", true); !b.ok()) return b.status();
  c.head.classifier_bias = *b;
  if (root.Has("precision")) {
    absl::StatusOr<PrecisionConfig> precision = ParsePrecisionConfig(root["precision"]);
    if (!precision.ok()) return precision.status();
    c.precision = *std::move(precision);
  }
  return c;
}

LayeredSpace::LayeredSpace(LayeredConfig config, SpaceKind kind, std::string source)
    : SearchSpace(config.name, kind, std::move(source), config.input_size,
                  config.input_channels, config.num_classes),
      config_(std::move(config)) {}

int64_t LayeredSpace::stem_out_size() const {
  int64_t size = ConvOutputSize(config_.input_size, config_.stem.kernel_size, config_.stem.stride);
  if (config_.stem.max_pool) size = ConvOutputSize(size, 3, 2);
  return size;
}

absl::Status LayeredSpace::ComputeLayers(const ConfigNode& root) {
  layers_.clear();
  int64_t channels = config_.stem.channels;
  int64_t size = stem_out_size();
  for (size_t s = 0; s < config_.stages.size(); ++s) {
    const StageConfig& stage = config_.stages[s];
    for (int i = 0; i < stage.layers; ++i) {
      LayerShape layer;
      layer.stage = static_cast<int>(s);
      layer.index_in_stage = i;
      layer.in_channels = channels;
      layer.out_channels = stage.channels;
      layer.stride = i == 0 ? stage.stride : 1;
      layer.in_size = size;
      // Every candidate pads kernel_size / 2, so all give the same output size.
      layer.out_size = ConvOutputSize(size, 3, layer.stride);
      layers_.push_back(layer);
      channels = stage.channels;
      size = layer.out_size;
    }
    if (size < 1) {
      return root["stages"].Error(absl::StrCat("stage ", s, " reduces input.size ",
                                               config_.input_size, " below 1 pixel"));
    }
  }
  return absl::OkStatus();
}

void LayeredSpace::AddLayerGenes(std::vector<std::vector<std::string>> options_per_dimension) {
  if (!config_.precision.weight_bits.empty()) {
    weight_bits_dim_ = static_cast<int>(dimensions_.size());
    dimensions_.push_back("weight_bits");
    options_per_dimension.push_back(BitsOptionNames("w", config_.precision.weight_bits));
  }
  if (!config_.precision.activation_bits.empty()) {
    activation_bits_dim_ = static_cast<int>(dimensions_.size());
    dimensions_.push_back("activation_bits");
    options_per_dimension.push_back(BitsOptionNames("a", config_.precision.activation_bits));
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    group_names_.push_back(absl::StrCat("layers[", l, "]"));
    for (size_t d = 0; d < dimensions_.size(); ++d) {
      genes_.push_back(Gene{absl::StrCat("layers[", l, "].", dimensions_[d]),
                            options_per_dimension[d], static_cast<int>(l)});
    }
  }
}

int LayeredSpace::WeightBits(const Architecture& arch, int layer) const {
  if (weight_bits_dim_ < 0) return 32;
  return config_.precision.weight_bits[arch.genes[GeneIndex(layer, weight_bits_dim_)]];
}

int LayeredSpace::ActivationBits(const Architecture& arch, int layer) const {
  if (activation_bits_dim_ < 0) return 32;
  return config_.precision.activation_bits[arch.genes[GeneIndex(layer, activation_bits_dim_)]];
}

void LayeredSpace::ApplyPrecision(const Architecture& arch, int layer, PlanBlock& block) const {
  const int weight_bits = WeightBits(arch, layer);
  const int activation_bits = ActivationBits(arch, layer);
  for (Primitive& p : block.primitives) {
    if (p.kind == Primitive::Kind::kBatchNorm) continue;
    p.weight_bits = weight_bits;
    p.activation_bits = activation_bits;
  }
}

PlanBlock LayeredSpace::StemBlock() const {
  const StemConfig& stem = config_.stem;
  const int64_t out = ConvOutputSize(config_.input_size, stem.kernel_size, stem.stride);
  return PlanBlock{"stem", -1,
                   {Conv(config_.input_channels, stem.channels, stem.kernel_size, stem.stride,
                         /*groups=*/1, out),
                    BatchNorm(stem.channels)}};
}

PlanBlock LayeredSpace::HeadBlock() const {
  const LayerShape& last = layers_.back();
  return PlanBlock{"head", -1,
                   {Conv(last.out_channels, config_.head.channels, /*kernel_size=*/1,
                         /*stride=*/1, /*groups=*/1, last.out_size),
                    BatchNorm(config_.head.channels),
                    Linear(config_.head.channels, config_.num_classes,
                           config_.head.classifier_bias)}};
}

std::string LayeredSpace::Format(const Architecture& arch) const {
  std::vector<std::string> layer_tokens;
  layer_tokens.reserve(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    std::vector<std::string> parts;
    for (size_t d = 0; d < dimensions_.size(); ++d) {
      const Gene& gene = genes_[GeneIndex(static_cast<int>(l), static_cast<int>(d))];
      parts.push_back(gene.options[arch.genes[GeneIndex(static_cast<int>(l), static_cast<int>(d))]]);
    }
    layer_tokens.push_back(absl::StrJoin(parts, ":"));
  }
  return absl::StrJoin(layer_tokens, ",");
}

absl::StatusOr<Architecture> LayeredSpace::Parse(absl::string_view text) const {
  const std::vector<absl::string_view> tokens = absl::StrSplit(text, ',');
  if (text.empty() || tokens.size() != layers_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arch: space '", name(), "' expects ", layers_.size(),
        " layers separated by ',', got ", text.empty() ? 0 : tokens.size()));
  }
  Architecture arch;
  arch.genes.reserve(genes_.size());
  for (size_t l = 0; l < tokens.size(); ++l) {
    const std::vector<absl::string_view> parts = absl::StrSplit(tokens[l], ':');
    if (parts.size() != dimensions_.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("arch: layers[", l, "]: expected ", absl::StrJoin(dimensions_, ":"),
                       " (", dimensions_.size(), " part(s) separated by ':'), got ",
                       parts.size(), " part(s)"));
    }
    for (size_t d = 0; d < parts.size(); ++d) {
      const Gene& gene = genes_[GeneIndex(static_cast<int>(l), static_cast<int>(d))];
      absl::StatusOr<int> option = ParseOption(gene, parts[d], absl::StrCat("arch: ", gene.name));
      if (!option.ok()) return option.status();
      arch.genes.push_back(*option);
    }
  }
  return arch;
}

}  // namespace nas::supernet
