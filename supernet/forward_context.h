#ifndef NAS_SUPERNET_FORWARD_CONTEXT_H_
#define NAS_SUPERNET_FORWARD_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "kernels/profiler.h"

namespace nas::supernet {

// How BatchNorm layers behave in one forward pass.
enum class BnMode {
  // Normalize with batch statistics and update the modules' running statistics
  // (training; not thread-safe across concurrent training passes).
  kTrain,
  // Normalize with batch statistics and accumulate them into ForwardContext::stats,
  // leaving the modules untouched (BN recalibration; thread-safe).
  kCalibrate,
  // Normalize with ForwardContext::stats when it holds the layer, else with the
  // module's running statistics (evaluation; thread-safe).
  kEval,
  // BatchNorm is the identity (training-free proxies such as synflow, whose score is
  // defined on the network without normalization).
  kBypass,
};

// BN statistics re-estimated for one architecture, keyed by BN module. Owned by the
// caller, so several architectures can be recalibrated and evaluated at once over the
// same shared weights. Not thread-safe itself: one per thread/evaluation.
class BnStatistics {
 public:
  struct Entry {
    torch::Tensor mean_sum;  // Sum over batches of the batch mean.
    torch::Tensor var_sum;   // Sum over batches of the unbiased batch variance.
    int64_t batches = 0;
  };
  // Adds one batch's statistics for `key`.
  void Accumulate(const void* key, const torch::Tensor& mean, const torch::Tensor& var);
  // The averaged running mean/var for `key`; false when `key` was never accumulated.
  bool Get(const void* key, torch::Tensor* mean, torch::Tensor* var) const;
  size_t size() const { return entries_.size(); }
  void Clear() { entries_.clear(); }

 private:
  std::unordered_map<const void*, Entry> entries_;
};

// One weighted primitive actually executed in a forward pass, measured from the real
// tensors (used to cross-check the analytic cost model).
struct TracedOp {
  std::string block;  // Network part, as in NetworkPlan ("stem", "layers[3]", ...).
  std::string kind;   // "conv", "linear", "bn".
  int64_t flops = 0;  // Per input image.
  int64_t params = 0;
};

// Static (calibrated) activation quantization. The convolutions of one pass are numbered
// in call order; a recording pass collects, for each, its bit-widths and the range of its
// input (averaged over the batches it saw) and of its output (after BatchNorm, before the
// activation). Passes that apply it quantize each convolution's input to the grid of
// that averaged range instead of the batch's own range, which is what an integer kernel
// with fixed scales computes. One object per architecture; not thread-safe.
class QuantCalibration {
 public:
  enum class Mode {
    kRecord,  // Fake quantization with dynamic ranges, as in training; ranges recorded.
    kApply,   // Fake quantization with the recorded ranges.
    kFloat,   // No fake quantization at all (the float graph a conversion starts from).
  };
  struct Conv {
    int weight_bits = 32;
    int activation_bits = 32;
    double in_lo = 0, in_hi = 0;    // Input range: averages over the recorded batches.
    // Output range: the extremes over all batches (an integer output grid must not clip
    // what the float path keeps).
    double out_lo = 0, out_hi = 0;
    int64_t batches = 0;
  };
  Mode mode = Mode::kRecord;
  // When above 0, every searched layer runs at this many bits for weights and inputs,
  // whatever its genes say (post-training quantization of a float architecture).
  int uniform_bits = 0;

  void Record(int index, int weight_bits, int activation_bits, const torch::Tensor& in, const torch::Tensor& out);
  // The recorded convolution `index`; an error when the pass has more convolutions than
  // were recorded.
  const Conv& At(int index) const;
  const std::vector<Conv>& convs() const { return convs_; }

 private:
  struct Sums {
    double in_lo = 0, in_hi = 0;
  };
  std::vector<Conv> convs_;
  std::vector<Sums> sums_;
};

struct ForwardContext {
  BnMode mode = BnMode::kTrain;
  BnStatistics* stats = nullptr;      // Not owned. Needed for kCalibrate.
  std::vector<TracedOp>* trace = nullptr;  // Not owned. When set, ops are recorded.
  std::string block;                  // Current network part, for the trace.
  kernels::BlockTimer* timer = nullptr;  // Not owned. When set, parts are timed.
  // When set, called with the output of every ReLU (and ReLU6) of the pass, in order
  // (the NASWOT activation codes are read this way).
  std::function<void(const torch::Tensor&)> on_relu;
  // When set, called with the output of every module of the pass, in order: each
  // convolution, BatchNorm, ReLU (and ReLU6), pooling operation, NAS-Bench-201 cell node
  // and reduction block (MeCo's all-module variant reads them this way).
  std::function<void(const torch::Tensor&)> on_output;

  // Bit-widths of the current part's weights and convolution inputs (32: float); the
  // convolutions fake-quantize to them (kernels/fake_quant.h).
  int weight_bits = 32;
  int activation_bits = 32;

  // Static activation ranges (see QuantCalibration); null: dynamic ranges. Not owned.
  QuantCalibration* quant = nullptr;
  int conv_calls = 0;  // Convolutions run so far in this pass (QuantCalibration's index).

  // Networks call this as they enter each part ("stem", "layers[3]", "head", ...), with
  // the part's bit-widths.
  void EnterBlock(std::string name, int part_weight_bits = 32, int part_activation_bits = 32) {
    if (timer != nullptr) timer->Mark(name);
    block = std::move(name);
    weight_bits = part_weight_bits;
    activation_bits = part_activation_bits;
  }
  // The same for a searched layer, whose bit-widths a post-training quantization may
  // replace (QuantCalibration::uniform_bits).
  void EnterLayer(std::string name, int layer_weight_bits, int layer_activation_bits) {
    if (quant != nullptr && quant->uniform_bits > 0) layer_weight_bits = layer_activation_bits = quant->uniform_bits;
    EnterBlock(std::move(name), layer_weight_bits, layer_activation_bits);
  }
};

// ReLU that reports its output to ctx.on_relu.
inline torch::Tensor Relu(const torch::Tensor& x, ForwardContext& ctx) {
  torch::Tensor y = torch::relu(x);
  if (ctx.on_relu) ctx.on_relu(y);
  if (ctx.on_output) ctx.on_output(y);
  return y;
}

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_FORWARD_CONTEXT_H_
