#ifndef NAS_SUPERNET_LAYERED_SPACE_H_
#define NAS_SUPERNET_LAYERED_SPACE_H_

#include <string>
#include <vector>

#include "supernet/search_space.h"
#include "supernet/yaml_config.h"

namespace nas::supernet {

struct StemConfig {
  int64_t channels = 16;
  int64_t kernel_size = 3;
  int64_t stride = 1;
  bool max_pool = false;  // 3x3 stride-2 max pool after the stem conv (ImageNet).
};

struct StageConfig {
  int64_t layers = 1;
  int64_t channels = 16;  // Output channels of every layer in the stage.
  int64_t stride = 1;     // Stride of the stage's first layer; the others use 1.
};

struct HeadConfig {
  int64_t channels = 1024;      // 1x1 conv before global pooling.
  bool classifier_bias = true;  // Bias of the final linear layer.
};

// Where a searchable layer sits in the skeleton; fixed whatever the architecture.
struct LayerShape {
  int stage = 0;
  int index_in_stage = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t stride = 1;
  int64_t in_size = 0;   // Spatial size of the layer's input.
  int64_t out_size = 0;  // Spatial size of the layer's output.
};

// Per-layer bit-width genes (`precision:` in the YAML). Each list holds the options of
// one gene per searchable layer, 2-16 bits or 32 (float); an empty list adds no gene
// and leaves that side float. Stem and head always stay float.
struct PrecisionConfig {
  std::vector<int> weight_bits;      // options "w4", "w8", "w32", ...
  std::vector<int> activation_bits;  // options "a8", "a32", ...
};

// The keys shared by the layer-wise spaces (shufflenet_oneshot, mobilenetv2_macro).
struct LayeredConfig {
  std::string name;
  int64_t input_size = 32;
  int64_t input_channels = 3;
  int64_t num_classes = 10;
  StemConfig stem;
  std::vector<StageConfig> stages;
  HeadConfig head;
  PrecisionConfig precision;
};

// Keys every layered YAML may have, besides the space-specific ones.
const std::vector<std::string>& LayeredRequiredKeys();
const std::vector<std::string>& LayeredOptionalKeys();
absl::StatusOr<LayeredConfig> ParseLayeredConfig(const ConfigNode& root);

// A space made of a stem, stages of searchable layers, and a head. Every layer has the
// same dimensions (e.g. "block" and "channel_scale"); its genes are consecutive.
// Architecture strings list the layers separated by ',', a layer's dimensions by ':'
// (e.g. "shuffle3x3:1.0,xception:0.4,..."); each token may also be an option index.
class LayeredSpace : public SearchSpace {
 public:
  const LayeredConfig& config() const { return config_; }
  const std::vector<LayerShape>& layers() const { return layers_; }
  const std::vector<std::string>& dimensions() const { return dimensions_; }
  // Spatial size after the stem (and its optional max pool).
  int64_t stem_out_size() const;
  // Gene index of dimension `dim` of layer `layer`.
  int GeneIndex(int layer, int dim) const {
    return layer * static_cast<int>(dimensions_.size()) + dim;
  }
  // True when the layers have bit-width genes.
  bool HasPrecisionGenes() const { return weight_bits_dim_ >= 0 || activation_bits_dim_ >= 0; }
  // Bit-widths layer `layer` of `arch` runs at (32: float).
  int WeightBits(const Architecture& arch, int layer) const;
  int ActivationBits(const Architecture& arch, int layer) const;

  std::string Format(const Architecture& arch) const override;
  absl::StatusOr<Architecture> Parse(absl::string_view text) const override;

 protected:
  LayeredSpace(LayeredConfig config, SpaceKind kind, std::string source);

  // Computes layers_ from the config; errors name the stage field.
  absl::Status ComputeLayers(const ConfigNode& root);
  // Adds one gene per (layer, dimension) with the given options, grouped per layer,
  // then the bit-width dimensions of config_.precision.
  void AddLayerGenes(std::vector<std::vector<std::string>> options_per_dimension);
  // Sets the weight and activation bits of layer `layer` of `arch` on the convolutions
  // and linear maps of `block`.
  void ApplyPrecision(const Architecture& arch, int layer, PlanBlock& block) const;
  PlanBlock StemBlock() const;
  PlanBlock HeadBlock() const;

  LayeredConfig config_;
  std::vector<LayerShape> layers_;
  std::vector<std::string> dimensions_;
  int weight_bits_dim_ = -1;      // Index in dimensions_, or -1 (float weights).
  int activation_bits_dim_ = -1;  // Index in dimensions_, or -1 (float activations).
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_LAYERED_SPACE_H_
