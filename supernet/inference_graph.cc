#include "supernet/inference_graph.h"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace nas::supernet {
namespace {

// The tensor a constant input holds; undefined for None or a non-constant.
c10::optional<torch::Tensor> ConstantTensor(torch::jit::Value* v, bool* is_none) {
  *is_none = false;
  c10::optional<c10::IValue> iv = torch::jit::toIValue(v);
  if (!iv.has_value()) return c10::nullopt;
  if (iv->isNone()) {
    *is_none = true;
    return torch::Tensor();
  }
  if (!iv->isTensor()) return c10::nullopt;
  return iv->toTensor();
}

}  // namespace

bool IsConvolution(const torch::jit::Node* n) {
  return n->kind() == c10::Symbol::aten("conv2d") || n->kind() == c10::Symbol::aten("_convolution");
}

absl::StatusOr<std::shared_ptr<torch::jit::Graph>> TraceInference(SupernetImpl& subnet, const Architecture& arch,
                                                                  const torch::Tensor& example,
                                                                  QuantCalibration* quant) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : subnet.parameters()) p.set_requires_grad(false);
  subnet.eval();
  auto fn = [&](torch::jit::Stack in) -> torch::jit::Stack {
    ForwardContext ctx;
    ctx.mode = BnMode::kEval;
    ctx.quant = quant;
    return {subnet.Forward(in[0].toTensor(), arch, ctx)};
  };
  try {
    std::shared_ptr<torch::jit::tracer::TracingState> state =
        torch::jit::tracer::trace({example}, fn, [](const torch::autograd::Variable&) { return std::string(); },
                                  /*strict=*/false, /*force_outplace=*/false)
            .first;
    return state->graph;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("tracing the subnet failed: ", e.what()));
  }
}

int FoldBatchNorm(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::shared_ptr<torch::jit::Graph> g = graph;  // The pass takes a non-const reference.
  torch::jit::ConstantPropagation(g);
  torch::NoGradGuard no_grad;
  int folded = 0;
  std::vector<torch::jit::Node*> norms;
  for (torch::jit::Node* n : graph->nodes()) {
    if (n->kind() == c10::Symbol::aten("batch_norm")) norms.push_back(n);
  }
  for (torch::jit::Node* bn : norms) {
    torch::jit::Node* conv = bn->input(0)->node();
    if (!IsConvolution(conv) || conv->output()->uses().size() != 1) continue;
    if (conv->kind() == c10::Symbol::aten("_convolution")) {
      c10::optional<bool> transposed = torch::jit::constant_as<bool>(conv->input(6));
      if (!transposed.has_value() || *transposed) continue;
    }
    bool none[6];
    c10::optional<torch::Tensor> w = ConstantTensor(conv->input(1), &none[0]);
    c10::optional<torch::Tensor> b = ConstantTensor(conv->input(2), &none[1]);
    c10::optional<torch::Tensor> gamma = ConstantTensor(bn->input(1), &none[2]);
    c10::optional<torch::Tensor> beta = ConstantTensor(bn->input(2), &none[3]);
    c10::optional<torch::Tensor> mean = ConstantTensor(bn->input(3), &none[4]);
    c10::optional<torch::Tensor> var = ConstantTensor(bn->input(4), &none[5]);
    c10::optional<bool> training = torch::jit::constant_as<bool>(bn->input(5));
    c10::optional<double> eps = torch::jit::constant_as<double>(bn->input(7));
    if (!w || none[0] || !b || !gamma || !beta || !mean || none[4] || !var || none[5] || !training || *training || !eps) {
      continue;
    }
    // In double, so that folding adds no rounding beyond the final float conversion.
    const torch::Tensor inv_std = (var->to(torch::kDouble) + *eps).rsqrt();
    const torch::Tensor scale = none[2] ? inv_std : gamma->to(torch::kDouble) * inv_std;
    torch::Tensor shift = -mean->to(torch::kDouble) * scale;
    if (!none[1]) shift = shift + b->to(torch::kDouble) * scale;
    if (!none[3]) shift = shift + beta->to(torch::kDouble);
    std::vector<int64_t> shape(w->dim(), 1);
    shape[0] = -1;
    const torch::Tensor new_w = (w->to(torch::kDouble) * scale.view(shape)).to(w->scalar_type()).contiguous(w->suggest_memory_format());
    const torch::Tensor new_b = shift.to(w->scalar_type()).contiguous();
    {
      torch::jit::WithInsertPoint guard(conv);
      conv->replaceInput(1, graph->insertConstant(new_w));
      conv->replaceInput(2, graph->insertConstant(new_b));
    }
    bn->output()->replaceAllUsesWith(conv->output());
    bn->destroy();
    ++folded;
  }
  torch::jit::EliminateDeadCode(graph);
  return folded;
}

int CountNodes(const std::shared_ptr<torch::jit::Graph>& graph, c10::Symbol kind) {
  int count = 0;
  for (const torch::jit::Node* n : graph->nodes()) count += n->kind() == kind ? 1 : 0;
  return count;
}

torch::jit::Module ModuleFromGraph(const std::shared_ptr<torch::jit::Graph>& graph) {
  torch::jit::Module module("__torch__.nas.Subnet");
  std::shared_ptr<torch::jit::Graph> copy = graph->copy();
  copy->insertInput(0, "self")->setType(module._ivalue()->type());
  torch::jit::Function* forward = module._ivalue()->compilation_unit()->create_function("forward", copy);
  module.type()->addMethod(forward);
  module.eval();
  return module;
}

}  // namespace nas::supernet
