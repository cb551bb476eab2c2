#include "supernet/layers.h"

#include <string>

#include "kernels/depthwise_conv.h"
#include "kernels/fake_quant.h"

namespace nas::supernet {

void Trace(ForwardContext& ctx, const char* kind, int64_t flops, int64_t params) {
  if (ctx.trace != nullptr) ctx.trace->push_back(TracedOp{ctx.block, kind, flops, params});
}

ContextBatchNormImpl::ContextBatchNormImpl(int64_t channels, bool affine, double momentum,
                                           double eps)
    : channels_(channels), affine_(affine), momentum_(momentum), eps_(eps) {
  if (affine_) {
    weight = register_parameter("weight", torch::ones({channels}));
    bias = register_parameter("bias", torch::zeros({channels}));
  }
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
}

torch::Tensor ContextBatchNormImpl::forward(const torch::Tensor& x, ForwardContext& ctx) {
  Trace(ctx, "bn", 0, affine_ ? 2 * channels_ : 0);
  switch (ctx.mode) {
    case BnMode::kTrain:
      return torch::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/true,
                               momentum_, eps_, /*cudnn_enabled=*/true);
    case BnMode::kCalibrate: {
      // Differentiable: training-free proxies differentiate through it.
      if (ctx.stats == nullptr) {
        return torch::batch_norm(x, weight, bias, {}, {}, /*training=*/true, 0.0, eps_, true);
      }
      // The batch's mean and unbiased variance come out of the normalization itself: running
      // buffers at momentum 1 hold exactly this batch's statistics. (x.mean / x.var over
      // {0, 2, 3} is a scalar double-precision Welford loop on CPU that cost a third of a
      // supernet evaluation.)
      torch::Tensor mean = torch::zeros({x.size(1)}, x.options().requires_grad(false));
      torch::Tensor var = torch::ones({x.size(1)}, x.options().requires_grad(false));
      torch::Tensor y =
          torch::batch_norm(x, weight, bias, mean, var, /*training=*/true, /*momentum=*/1.0, eps_, true);
      ctx.stats->Accumulate(this, mean, var);
      return y;
    }
    case BnMode::kBypass:
      return x;
    case BnMode::kEval: {
      torch::Tensor mean = running_mean, var = running_var;
      if (ctx.stats != nullptr) ctx.stats->Get(this, &mean, &var);
      return torch::batch_norm(x, weight, bias, mean, var, /*training=*/false, 0.0, eps_, true);
    }
  }
  return x;
}

void ContextBatchNormImpl::CopyFrom(const ContextBatchNormImpl& source,
                                    const BnStatistics* stats) {
  torch::NoGradGuard no_grad;
  if (affine_ && source.affine_) {
    weight.copy_(source.weight);
    bias.copy_(source.bias);
  }
  torch::Tensor mean = source.running_mean, var = source.running_var;
  if (stats != nullptr) stats->Get(&source, &mean, &var);
  running_mean.copy_(mean);
  running_var.copy_(var);
}

ConvBnStackImpl::ConvBnStackImpl(std::vector<ConvUnit> units, std::vector<int64_t> mid_widths,
                                 bool bn_affine)
    : units_(std::move(units)), mid_widths_(std::move(mid_widths)) {
  if (mid_widths_.empty()) mid_widths_ = {0};
  int64_t max_mid = 0;
  for (int64_t w : mid_widths_) max_mid = std::max(max_mid, w);
  for (size_t u = 0; u < units_.size(); ++u) {
    const ConvUnit& unit = units_[u];
    const int64_t in = unit.in_is_mid ? max_mid : unit.in_channels;
    const int64_t out = unit.out_is_mid ? max_mid : unit.out_channels;
    const int64_t k = unit.kernel_size;
    torch::Tensor w = torch::empty({out, unit.depthwise ? 1 : in, k, k});
    torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanOut, torch::kReLU);
    weights_.push_back(register_parameter("conv" + std::to_string(u), w));
  }
  norms_.resize(mid_widths_.size());
  for (size_t wi = 0; wi < mid_widths_.size(); ++wi) {
    for (size_t u = 0; u < units_.size(); ++u) {
      if (!units_[u].batch_norm) {
        norms_[wi].push_back(nullptr);
        continue;
      }
      const int64_t channels = Channels(units_[u], /*input=*/false, static_cast<int>(wi));
      norms_[wi].push_back(register_module(
          "bn" + std::to_string(wi) + "_" + std::to_string(u), ContextBatchNorm(channels, bn_affine)));
    }
  }
}

int64_t ConvBnStackImpl::Channels(const ConvUnit& u, bool input, int width_index) const {
  if (input) return u.in_is_mid ? mid_widths_[width_index] : u.in_channels;
  return u.out_is_mid ? mid_widths_[width_index] : u.out_channels;
}

torch::Tensor ConvBnStackImpl::forward(torch::Tensor x, int width_index, ForwardContext& ctx) {
  for (size_t u = 0; u < units_.size(); ++u) {
    const ConvUnit& unit = units_[u];
    const int64_t in = Channels(unit, true, width_index);
    const int64_t out = Channels(unit, false, width_index);
    torch::Tensor w = weights_[u];
    if (w.size(0) != out) w = w.narrow(0, 0, out);
    if (!unit.depthwise && w.size(1) != in) w = w.narrow(1, 0, in);
    if (unit.relu_before) x = Relu(x, ctx);
    const int conv_index = ctx.conv_calls++;
    using QuantMode = QuantCalibration::Mode;
    const QuantMode quant_mode = ctx.quant != nullptr ? ctx.quant->mode : QuantMode::kRecord;
    const torch::Tensor conv_input = x;
    if (quant_mode == QuantMode::kApply && ctx.activation_bits < 32) {
      const QuantCalibration::Conv& c = ctx.quant->At(conv_index);
      x = kernels::FakeQuantizeActivationStatic(x, kernels::ActivationGridFor(ctx.activation_bits, c.in_lo, c.in_hi));
    } else if (quant_mode != QuantMode::kFloat) {
      x = kernels::FakeQuantizeActivation(x, ctx.activation_bits);
    }
    if (quant_mode != QuantMode::kFloat) w = kernels::FakeQuantizeWeight(w, ctx.weight_bits);
    x = unit.depthwise ? kernels::DepthwiseConv2d(x, w, unit.stride)
                       : torch::conv2d(x, w, {}, unit.stride, unit.kernel_size / 2);
    if (ctx.on_output) ctx.on_output(x);
    if (ctx.trace != nullptr) {
      Trace(ctx, "conv", x.size(1) * x.size(2) * x.size(3) * w.size(1) * w.size(2) * w.size(3),
            w.numel());
    }
    if (unit.batch_norm) {
      x = norms_[width_index][u]->forward(x, ctx);
      if (ctx.on_output) ctx.on_output(x);
    }
    if (ctx.quant != nullptr && quant_mode == QuantMode::kRecord) {
      ctx.quant->Record(conv_index, ctx.weight_bits, ctx.activation_bits, conv_input, x);
    }
    if (unit.activation == Activation::kRelu) x = Relu(x, ctx);
    if (unit.activation == Activation::kRelu6) {
      x = torch::hardtanh(x, 0.0, 6.0);
      if (ctx.on_relu) ctx.on_relu(x);
      if (ctx.on_output) ctx.on_output(x);
    }
  }
  return x;
}

void ConvBnStackImpl::CopyFrom(const ConvBnStackImpl& source, int source_width,
                               const BnStatistics* stats) {
  torch::NoGradGuard no_grad;
  for (size_t u = 0; u < units_.size(); ++u) {
    torch::Tensor src = source.weights_[u];
    const torch::Tensor& dst = weights_[u];
    src = src.narrow(0, 0, dst.size(0)).narrow(1, 0, dst.size(1));
    weights_[u].copy_(src);
    if (units_[u].batch_norm) norms_[0][u]->CopyFrom(*source.norms_[source_width][u], stats);
  }
}

std::vector<torch::Tensor> ConvBnStackImpl::ParametersAt(int width_index) const {
  std::vector<torch::Tensor> params = weights_;
  for (const auto& norm : norms_[width_index]) {
    if (norm && norm->affine()) {
      params.push_back(norm->weight);
      params.push_back(norm->bias);
    }
  }
  return params;
}

ClassifierImpl::ClassifierImpl(int64_t in_features, int64_t classes, bool with_bias) {
  weight = register_parameter("weight", torch::randn({classes, in_features}) * 0.01);
  if (with_bias) bias = register_parameter("bias", torch::zeros({classes}));
}

torch::Tensor ClassifierImpl::forward(const torch::Tensor& x, ForwardContext& ctx) {
  const int64_t bias_count = bias.defined() ? bias.numel() : 0;
  Trace(ctx, "linear", weight.numel() + bias_count, weight.numel() + bias_count);
  return torch::linear(x, weight, bias);
}

void ClassifierImpl::CopyFrom(const ClassifierImpl& source) {
  torch::NoGradGuard no_grad;
  weight.copy_(source.weight);
  if (bias.defined()) bias.copy_(source.bias);
}

}  // namespace nas::supernet
