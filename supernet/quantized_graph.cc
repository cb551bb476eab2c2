#include "supernet/quantized_graph.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/fake_quant.h"
#include "supernet/inference_graph.h"

namespace nas::supernet {
namespace {

using torch::jit::Node;
using torch::jit::Value;

constexpr int64_t kUint8Max = 255;

struct ConvParams {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};

c10::optional<std::vector<int64_t>> IntList(Value* v) {
  c10::optional<c10::IValue> iv = torch::jit::toIValue(v);
  if (!iv.has_value() || !iv->isIntList()) return c10::nullopt;
  return iv->toIntVector();
}

absl::StatusOr<ConvParams> ReadConvParams(Node* n) {
  const bool full = n->kind() == c10::Symbol::aten("_convolution");
  ConvParams p;
  c10::optional<std::vector<int64_t>> stride = IntList(n->input(3)), padding = IntList(n->input(4)),
                                      dilation = IntList(n->input(5));
  c10::optional<int64_t> groups = torch::jit::constant_as<int64_t>(n->input(full ? 8 : 6));
  if (!stride || !padding || !dilation || !groups) {
    return absl::InternalError("a convolution of the graph has non-constant stride, padding, dilation or groups");
  }
  if (full) {
    c10::optional<bool> transposed = torch::jit::constant_as<bool>(n->input(6));
    if (!transposed.has_value() || *transposed) return absl::InternalError("transposed convolutions are not converted");
  }
  // A traced single value stands for both spatial dimensions.
  auto pair = [](std::vector<int64_t> v) { return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v; };
  p.stride = pair(*stride);
  p.padding = pair(*padding);
  p.dilation = pair(*dilation);
  p.groups = *groups;
  return p;
}

c10::optional<torch::Tensor> ConstantTensor(Value* v) {
  c10::optional<c10::IValue> iv = torch::jit::toIValue(v);
  if (!iv.has_value() || !iv->isTensor()) return c10::nullopt;
  return iv->toTensor();
}

// quantized::conv2d_prepack through the dispatcher (its C++ type is not public).
c10::IValue Prepack(const torch::Tensor& qweight, const c10::optional<torch::Tensor>& bias, const ConvParams& p) {
  static const c10::OperatorHandle op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_prepack", "");
  torch::jit::Stack stack;
  stack.emplace_back(qweight);
  stack.emplace_back(bias.has_value() ? c10::IValue(*bias) : c10::IValue());
  stack.emplace_back(c10::List<int64_t>(p.stride));
  stack.emplace_back(c10::List<int64_t>(p.padding));
  stack.emplace_back(c10::List<int64_t>(p.dilation));
  stack.emplace_back(p.groups);
  op.callBoxed(&stack);
  return stack.back();
}

// The 8-bit unsigned storage of an activation grid: a signed grid is offset by 128.
struct Uint8Grid {
  double scale = 1;
  int64_t zero_point = 0;
};
Uint8Grid StorageOf(const kernels::ActivationGrid& g) { return Uint8Grid{g.scale, g.is_unsigned ? 0 : 128}; }

// An 8-bit grid spanning [lo, hi] (0 always inside).
Uint8Grid SpanGrid(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  Uint8Grid g;
  g.scale = std::max((hi - lo) / static_cast<double>(kUint8Max), 1e-8);
  g.zero_point = std::clamp<int64_t>(std::llround(-lo / g.scale), 0, kUint8Max);
  return g;
}

// The activation node that alone consumes `conv`'s output: relu, or hardtanh(0, 6).
Node* FusableActivation(Node* conv, bool* is_relu6) {
  *is_relu6 = false;
  if (conv->output()->uses().size() != 1) return nullptr;
  Node* user = conv->output()->uses()[0].user;
  if (user->kind() == c10::Symbol::aten("relu") || user->kind() == c10::Symbol::aten("relu_")) return user;
  if (user->kind() == c10::Symbol::aten("hardtanh") || user->kind() == c10::Symbol::aten("hardtanh_")) {
    c10::optional<c10::IValue> lo = torch::jit::toIValue(user->input(1)), hi = torch::jit::toIValue(user->input(2));
    if (lo && hi && lo->isScalar() && hi->isScalar() && lo->toScalar().toDouble() == 0.0 &&
        hi->toScalar().toDouble() == 6.0) {
      *is_relu6 = true;
      return user;
    }
  }
  return nullptr;
}

bool IsInteger(const QuantCalibration::Conv& c) { return c.weight_bits <= 8 && c.activation_bits <= 8; }

}  // namespace

absl::StatusOr<std::string> SelectQuantizedEngine(const std::string& requested) {
  const std::vector<at::QEngine>& supported = at::globalContext().supportedQEngines();
  auto has = [&](at::QEngine e) { return std::find(supported.begin(), supported.end(), e) != supported.end(); };
  std::vector<std::string> names;
  if (has(at::QEngine::ONEDNN)) names.push_back("onednn");
  if (has(at::QEngine::QNNPACK)) names.push_back("qnnpack");
  if (names.empty()) return absl::UnimplementedError("this LibTorch has no quantized engine (onednn or qnnpack)");
  const std::string name = requested.empty() ? names[0] : requested;
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    return absl::InvalidArgumentError(absl::StrCat("quantized engine \"", requested,
                                                   "\" is not available; this LibTorch has: ",
                                                   absl::StrJoin(names, ", ")));
  }
  at::globalContext().setQEngine(name == "onednn" ? at::QEngine::ONEDNN : at::QEngine::QNNPACK);
  return name;
}

absl::StatusOr<QuantizedModule> QuantizeGraph(const std::shared_ptr<torch::jit::Graph>& folded,
                                              const QuantCalibration& calibration) {
  torch::NoGradGuard no_grad;
  QuantizedModule out;
  out.module = torch::jit::Module("__torch__.nas.QuantizedSubnet");
  torch::jit::Module& module = out.module;
  std::shared_ptr<torch::jit::Graph> g = folded->copy();
  torch::jit::ConstantPropagation(g);  // Constant weights and convolution parameters.
  Value* self = g->insertInput(0, "self");
  self->setType(module._ivalue()->type());

  std::vector<Node*> convs;
  for (Node* n : g->nodes()) {
    if (IsConvolution(n)) convs.push_back(n);
  }
  const auto& recorded = calibration.convs();
  if (convs.size() != recorded.size()) {
    return absl::InternalError(absl::StrCat("the graph has ", convs.size(), " convolutions but ", recorded.size(),
                                            " were calibrated"));
  }
  std::unordered_map<Node*, int> index_of;
  for (size_t i = 0; i < convs.size(); ++i) index_of[convs[i]] = static_cast<int>(i);
  // Float values whose integer form (already on the consumer's input grid) exists.
  std::unordered_map<Value*, Value*> integer_form;
  const c10::Symbol quantize = c10::Symbol::aten("quantize_per_tensor");
  const c10::Symbol dequantize = c10::Symbol::aten("dequantize");

  for (size_t i = 0; i < convs.size(); ++i) {
    Node* conv = convs[i];
    const QuantCalibration::Conv& c = recorded[i];
    if (c.batches == 0) return absl::InternalError(absl::StrCat("convolution ", i, " was never calibrated"));
    if (c.weight_bits >= 32 && c.activation_bits >= 32) {
      ++out.float_convolutions;
      continue;
    }
    absl::StatusOr<ConvParams> params = ReadConvParams(conv);
    if (!params.ok()) return params.status();
    c10::optional<torch::Tensor> weight = ConstantTensor(conv->input(1));
    if (!weight.has_value() || weight->dim() != 4) {
      return absl::InternalError(absl::StrCat("convolution ", i, " has no constant 4-D weight"));
    }
    const torch::Tensor w = weight->contiguous();
    c10::optional<torch::Tensor> bias;
    if (c10::optional<c10::IValue> b = torch::jit::toIValue(conv->input(2)); b.has_value() && b->isTensor()) {
      bias = b->toTensor().contiguous();
    } else if (!b.has_value()) {
      return absl::InternalError(absl::StrCat("convolution ", i, " has a non-constant bias"));
    }
    Value* x = conv->input(0);
    torch::jit::WithInsertPoint guard(conv);

    if (!IsInteger(c)) {
      // Float convolution on grid values: weights rounded in place, inputs rounded by the
      // very operations of kernels::FakeQuantizeActivationStatic (so the values agree to
      // the bit).
      if (c.weight_bits < 32) conv->replaceInput(1, g->insertConstant(kernels::FakeQuantizeWeight(w, c.weight_bits)));
      if (c.activation_bits < 32) {
        const kernels::ActivationGrid grid = kernels::ActivationGridFor(c.activation_bits, c.in_lo, c.in_hi);
        Value* steps = g->insert(c10::Symbol::aten("div"), {x, grid.scale});
        Value* rounded = g->insert(c10::Symbol::aten("round"), {steps});
        Value* clamped = g->insert(c10::Symbol::aten("clamp"),
                                   {rounded, static_cast<double>(grid.qmin), static_cast<double>(grid.qmax)});
        conv->replaceInput(0, g->insert(c10::Symbol::aten("mul"), {clamped, grid.scale}));
      }
      ++out.grid_convolutions;
      continue;
    }

    // Integer convolution.
    const int64_t wmax = (int64_t{1} << (c.weight_bits - 1)) - 1;
    const torch::Tensor scales =
        w.abs().amax({1, 2, 3}).div(static_cast<double>(wmax)).clamp_min(1e-12).to(torch::kDouble);
    // Rounded exactly like FakeQuantizeWeight, then stored as int8.
    const torch::Tensor levels = w.div(scales.view({-1, 1, 1, 1}).to(w.scalar_type())).round().clamp(-wmax, wmax);
    const torch::Tensor qweight = torch::_make_per_channel_quantized_tensor(
        levels.to(torch::kChar), scales, torch::zeros({w.size(0)}, torch::kLong), 0);
    const std::string attr = absl::StrCat("conv", i);
    c10::IValue packed;
    try {
      packed = Prepack(qweight, bias, *params);
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("packing convolution ", i, " for the integer kernels failed: ", e.what_without_backtrace()));
    }
    module.register_attribute(attr, packed.type(), packed);

    const kernels::ActivationGrid in_grid = kernels::ActivationGridFor(c.activation_bits, c.in_lo, c.in_hi);
    Value* xq = nullptr;
    if (auto it = integer_form.find(x); it != integer_form.end()) {
      xq = it->second;
    } else {
      Value* xin = x;
      // 8-bit unsigned grids are the storage's own range; others are clamped first.
      if (!(in_grid.is_unsigned && c.activation_bits == 8)) {
        xin = g->insert(c10::Symbol::aten("clamp"), {x, in_grid.qmin * in_grid.scale, in_grid.qmax * in_grid.scale});
      }
      const Uint8Grid storage = StorageOf(in_grid);
      xq = g->insert(quantize, {xin, storage.scale, storage.zero_point, static_cast<int64_t>(c10::ScalarType::QUInt8)});
    }

    bool relu6 = false;
    Node* act = FusableActivation(conv, &relu6);
    Value* final_float = act != nullptr ? act->output() : conv->output();
    // Chain into the next convolution when it alone reads this output and takes 8-bit
    // inputs: this convolution then writes that convolution's input grid.
    int next = -1;
    if (final_float->uses().size() == 1 && final_float->uses()[0].offset == 0 &&
        IsConvolution(final_float->uses()[0].user)) {
      const int j = index_of.at(final_float->uses()[0].user);
      const QuantCalibration::Conv& cj = recorded[j];
      if (IsInteger(cj) && cj.activation_bits == 8) {
        const kernels::ActivationGrid gj = kernels::ActivationGridFor(8, cj.in_lo, cj.in_hi);
        if (!relu6 || (gj.is_unsigned && gj.qmax * gj.scale <= 6.0 + 1e-6)) next = j;
      }
    }
    Uint8Grid out_grid;
    if (next >= 0) {
      const QuantCalibration::Conv& cj = recorded[next];
      out_grid = StorageOf(kernels::ActivationGridFor(8, cj.in_lo, cj.in_hi));
    } else if (act != nullptr) {
      out_grid = SpanGrid(0.0, relu6 ? std::min(c.out_hi, 6.0) : c.out_hi);
    } else {
      out_grid = SpanGrid(c.out_lo, c.out_hi);
    }
    Value* packed_value = g->insertGetAttr(self, attr);
    const c10::Symbol kernel = c10::Symbol::fromQualString(act != nullptr ? "quantized::conv2d_relu" : "quantized::conv2d");
    Value* y = g->insert(kernel, {xq, packed_value, out_grid.scale, out_grid.zero_point});
    Value* yf = g->insert(dequantize, {y});
    if (act != nullptr) {
      act->output()->replaceAllUsesWith(yf);
      act->destroy();
    } else {
      conv->output()->replaceAllUsesWith(yf);
    }
    conv->destroy();
    if (next >= 0) {
      integer_form[yf] = y;
      ++out.chained;
    }
    ++out.int8_convolutions;
  }
  torch::jit::EliminateDeadCode(g);
  torch::jit::Function* forward = module._ivalue()->compilation_unit()->create_function("forward", g);
  module.type()->addMethod(forward);
  module.eval();
  return out;
}

}  // namespace nas::supernet
