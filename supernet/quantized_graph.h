#ifndef NAS_SUPERNET_QUANTIZED_GRAPH_H_
#define NAS_SUPERNET_QUANTIZED_GRAPH_H_

#include <memory>
#include <string>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include "absl/status/statusor.h"
#include "supernet/forward_context.h"

namespace nas::supernet {

// The quantized engine integer kernels are packed for: `requested` ("onednn" or
// "qnnpack"), or the empty string for the fastest this LibTorch supports (onednn, then
// qnnpack). Makes it LibTorch's engine for this process; an error names the engines that
// exist when the request is not one of them.
absl::StatusOr<std::string> SelectQuantizedEngine(const std::string& requested);

// How close a converted module must be to the fake-quantized supernet path with the same
// static ranges (checked by nas export and the tests): the mean |logit difference|
// relative to max(1, largest |logit|). Integer kernels round their accumulations, biases
// and outputs, and a value on the edge of a grid step can land on the other side, so the
// outputs are close but not equal; on near-tied logits (an untrained network) that can
// change the top-1, so top-1 agreement is reported, not bounded.
constexpr double kQuantizedMeanDiffBound = 0.05;

struct QuantizedModule {
  torch::jit::Module module;  // forward(x) -> logits; a float batch in, float logits out.
  int int8_convolutions = 0;  // Run by LibTorch's integer kernels (quantized::conv2d).
  // Integer outputs fed straight into the next integer convolution (no float round trip).
  int chained = 0;
  // Float convolutions on values quantized to the grid (bit-widths between 9 and 31, or
  // only one of weights and inputs quantized).
  int grid_convolutions = 0;
  int float_convolutions = 0;  // Layers at 32 bits (stem, head, float layers).
};

// Converts the float inference graph of a subnet (TraceInference with a kFloat
// QuantCalibration, then FoldBatchNorm) into a module that runs each convolution the way
// the fake-quantized path does with `calibration`'s static ranges: convolution i of the
// graph (in order) is convolution i of the calibration. Where both weights and inputs
// have at most 8 bits, the convolution becomes an integer kernel: weights int8 per output
// channel (the symmetric grid of kernels::FakeQuantizeWeight; BN folding only rescales a
// channel, so the grid is the same), the input uint8 on the calibrated grid (a signed grid
// with zero point 128), a following ReLU or ReLU6 fused, and the output either on the
// next convolution's input grid (when that convolution is its only user and its inputs
// have 8 bits) or on an 8-bit grid spanning the calibrated output range, then float
// again. The quantized engine must be selected first (SelectQuantizedEngine).
absl::StatusOr<QuantizedModule> QuantizeGraph(const std::shared_ptr<torch::jit::Graph>& folded,
                                              const QuantCalibration& calibration);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_QUANTIZED_GRAPH_H_
