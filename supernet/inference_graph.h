#ifndef NAS_SUPERNET_INFERENCE_GRAPH_H_
#define NAS_SUPERNET_INFERENCE_GRAPH_H_

#include <memory>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/supernet.h"

namespace nas::supernet {

// The eval-mode forward of a stand-alone subnet as a TorchScript graph: one input (the
// image batch), one output (the logits), the weights as constants. Nothing in it depends
// on the batch size of `example`, so the graph runs at any batch size. `quant` (optional)
// is set as the pass's ForwardContext::quant (kFloat: a float graph for a quantized
// conversion).
absl::StatusOr<std::shared_ptr<torch::jit::Graph>> TraceInference(SupernetImpl& subnet, const Architecture& arch,
                                                                  const torch::Tensor& example,
                                                                  QuantCalibration* quant = nullptr);

// Whether `n` is a 2-D convolution (aten::conv2d or aten::_convolution).
bool IsConvolution(const torch::jit::Node* n);

// Folds every inference BatchNorm that directly follows a convolution into that
// convolution's weight and bias (w' = w * g / sqrt(var + eps), b' = (b - mean) * g /
// sqrt(var + eps) + beta), after folding constant subexpressions. Returns how many were
// folded; BatchNorms after anything else stay.
int FoldBatchNorm(const std::shared_ptr<torch::jit::Graph>& graph);

// Counts the nodes of `kind` (e.g. c10::Symbol::aten("batch_norm")) in `graph`.
int CountNodes(const std::shared_ptr<torch::jit::Graph>& graph, c10::Symbol kind);

// A TorchScript module whose forward(x) runs `graph` (a copy of it).
torch::jit::Module ModuleFromGraph(const std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_INFERENCE_GRAPH_H_
