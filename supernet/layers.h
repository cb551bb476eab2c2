#ifndef NAS_SUPERNET_LAYERS_H_
#define NAS_SUPERNET_LAYERS_H_

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "supernet/forward_context.h"

namespace nas::supernet {

// BatchNorm2d whose statistics come from the ForwardContext (see BnMode), so that BN
// recalibration of one architecture never touches the shared module.
class ContextBatchNormImpl : public torch::nn::Module {
 public:
  ContextBatchNormImpl(int64_t channels, bool affine, double momentum = 0.1, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x, ForwardContext& ctx);
  // Copies affine parameters and statistics (from `stats` when it holds `source`,
  // else from the source's running statistics) into this layer.
  void CopyFrom(const ContextBatchNormImpl& source, const BnStatistics* stats);

  int64_t channels() const { return channels_; }
  bool affine() const { return affine_; }
  torch::Tensor weight, bias, running_mean, running_var;

 private:
  int64_t channels_;
  bool affine_;
  double momentum_, eps_;
};
TORCH_MODULE(ContextBatchNorm);

enum class Activation { kNone, kRelu, kRelu6 };

// One conv (+ BN) (+ activation) step of a ConvBnStack.
struct ConvUnit {
  int64_t in_channels = 0;   // Ignored when in_is_mid: the stack's mid width is used.
  int64_t out_channels = 0;  // Ignored when out_is_mid.
  bool in_is_mid = false;
  bool out_is_mid = false;
  int64_t kernel_size = 1;
  int64_t stride = 1;
  bool depthwise = false;  // groups = channels (in and out channels must agree).
  bool relu_before = false;  // ReLU-Conv-BN order (NB201).
  bool batch_norm = true;
  Activation activation = Activation::kNone;
};

// A chain of convolutions with shared weights at the largest mid width; a forward pass
// picks one of `mid_widths` and slices the first k mid channels of every weight. Each
// width has its own BatchNorm layers (every choice has its own BN).
class ConvBnStackImpl : public torch::nn::Module {
 public:
  ConvBnStackImpl(std::vector<ConvUnit> units, std::vector<int64_t> mid_widths, bool bn_affine);
  torch::Tensor forward(torch::Tensor x, int width_index, ForwardContext& ctx);
  // Copies the weights sliced to `source_width` of `source`, and the BN layers of that
  // width, into this stack (which must have exactly that width as its width 0).
  void CopyFrom(const ConvBnStackImpl& source, int source_width, const BnStatistics* stats);
  // Every parameter this stack uses at `width_index` (whole tensors, unsliced).
  std::vector<torch::Tensor> ParametersAt(int width_index) const;

  const std::vector<int64_t>& mid_widths() const { return mid_widths_; }

 private:
  int64_t Channels(const ConvUnit& u, bool input, int width_index) const;

  std::vector<ConvUnit> units_;
  std::vector<int64_t> mid_widths_;
  std::vector<torch::Tensor> weights_;                  // One per unit.
  std::vector<std::vector<ContextBatchNorm>> norms_;    // [width][unit]; null if no BN.
};
TORCH_MODULE(ConvBnStack);

// The final linear classifier (traced like the convolutions).
class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl(int64_t in_features, int64_t classes, bool bias);
  torch::Tensor forward(const torch::Tensor& x, ForwardContext& ctx);
  void CopyFrom(const ClassifierImpl& source);
  torch::Tensor weight, bias;
};
TORCH_MODULE(Classifier);

// Records a weighted op into ctx.trace when tracing.
void Trace(ForwardContext& ctx, const char* kind, int64_t flops, int64_t params);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_LAYERS_H_
