#include "kernels/depthwise_conv.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace nas::kernels {
namespace {

torch::Tensor Forward(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride) {
  return torch::conv2d(x, weight, {}, stride, weight.size(2) / 2, /*dilation=*/1, x.size(1));
}

// Stride-1 depthwise convolution with the backward described in the header.
class DepthwiseConvFunction : public torch::autograd::Function<DepthwiseConvFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight) {
    ctx->save_for_backward({x, weight});
    return Forward(x, weight, 1);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor grad_output = grad_outputs[0];
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const int64_t k = weight.size(2);
    torch::Tensor grad_input, grad_weight;
    if (ctx->needs_input_grad(0)) {
      grad_input = torch::conv2d(grad_output, weight.flip({2, 3}), {}, 1, k / 2, 1, c);
    }
    if (ctx->needs_input_grad(1)) {
      const torch::Tensor images = x.transpose(0, 1).reshape({1, c * n, h, w});
      const torch::Tensor kernels =
          grad_output.transpose(0, 1).reshape({c * n, 1, grad_output.size(2), grad_output.size(3)});
      const torch::Tensor per_image = torch::conv2d(images, kernels, {}, 1, k / 2, 1, c * n);
      grad_weight = per_image.view({c, n, k, k}).sum(1).unsqueeze(1);
    }
    return {grad_input, grad_weight};
  }
};

// One output row's contribution to the weight gradient, NHWC: for every kernel offset
// (dy, dx), acc[dy][dx][0:C] += g[ow][0:C] * x[ih = oh*s+dy-p][iw = ow*s+dx-p][0:C].
// `x_rows[dy]` is the input row of that offset (nullptr: outside the image). The inner
// loop runs over contiguous channels and vectorizes.
inline __attribute__((always_inline)) void AccumulateRow(const float* const* x_rows,
                                                         const float* g_row, float* acc, int64_t c,
                                                         int64_t w, int64_t ow_count, int64_t k,
                                                         int64_t stride) {
  const int64_t pad = k / 2;
  for (int64_t dy = 0; dy < k; ++dy) {
    const float* x_row = x_rows[dy];
    if (x_row == nullptr) continue;
    for (int64_t dx = 0; dx < k; ++dx) {
      float* __restrict a = acc + (dy * k + dx) * c;
      // ow with 0 <= ow*stride + dx - pad < w.
      const int64_t lo = std::max<int64_t>(0, (pad - dx + stride - 1) / stride);
      const int64_t hi = std::min<int64_t>(ow_count, (w - 1 + pad - dx) / stride + 1);
      // Blocks of 16 channels summed over the row in registers, then the rest.
      int64_t ch0 = 0;
      for (; ch0 + 16 <= c; ch0 += 16) {
        float block[16];
        for (int j = 0; j < 16; ++j) block[j] = a[ch0 + j];
        for (int64_t ow = lo; ow < hi; ++ow) {
          const float* __restrict gp = g_row + ow * c + ch0;
          const float* __restrict xp = x_row + (ow * stride + dx - pad) * c + ch0;
          for (int j = 0; j < 16; ++j) block[j] += gp[j] * xp[j];
        }
        for (int j = 0; j < 16; ++j) a[ch0 + j] = block[j];
      }
      for (int64_t ow = lo; ow < hi; ++ow) {
        const float* __restrict gp = g_row + ow * c;
        const float* __restrict xp = x_row + (ow * stride + dx - pad) * c;
        for (int64_t ch = ch0; ch < c; ++ch) a[ch] += gp[ch] * xp[ch];
      }
    }
  }
}

__attribute__((target("avx2,fma"))) void AccumulateRowAvx2(const float* const* x_rows,
                                                           const float* g_row, float* acc,
                                                           int64_t c, int64_t w, int64_t ow_count,
                                                           int64_t k, int64_t stride) {
  AccumulateRow(x_rows, g_row, acc, c, w, ow_count, k, stride);
}

void AccumulateRowGeneric(const float* const* x_rows, const float* g_row, float* acc, int64_t c,
                          int64_t w, int64_t ow_count, int64_t k, int64_t stride) {
  AccumulateRow(x_rows, g_row, acc, c, w, ow_count, k, stride);
}

// d(loss)/d(weight) of a depthwise convolution (padding k/2), computed in NHWC: x
// [N, C, H, W] and grad_output [N, C, OH, OW], both channels-last (dense); returns
// [C, 1, k, k]. Rows (n, oh) are split over LibTorch's intra-op threads, each with its
// own accumulator, summed at the end.
torch::Tensor WeightGradChannelsLast(const torch::Tensor& x, const torch::Tensor& grad_output,
                                     int64_t k, int64_t stride) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh_count = grad_output.size(2), ow_count = grad_output.size(3);
  const int64_t pad = k / 2;
  const float* x_data = x.data_ptr<float>();
  const float* g_data = grad_output.data_ptr<float>();
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const auto accumulate = avx2 ? &AccumulateRowAvx2 : &AccumulateRowGeneric;
  std::vector<float> total(k * k * c, 0.0f);
  std::mutex total_mutex;
  at::parallel_for(0, n * oh_count, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(k * k * c, 0.0f);
    std::vector<const float*> x_rows(k);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / oh_count, oh = row % oh_count;
      for (int64_t dy = 0; dy < k; ++dy) {
        const int64_t ih = oh * stride + dy - pad;
        x_rows[dy] = ih >= 0 && ih < h ? x_data + (b * h + ih) * w * c : nullptr;
      }
      accumulate(x_rows.data(), g_data + row * ow_count * c, acc.data(), c, w, ow_count, k, stride);
    }
    std::lock_guard<std::mutex> lock(total_mutex);
    for (size_t i = 0; i < acc.size(); ++i) total[i] += acc[i];
  });
  // [k, k, C] -> [C, 1, k, k].
  return torch::from_blob(total.data(), {k, k, c}, torch::kFloat32)
      .permute({2, 0, 1})
      .reshape({c, 1, k, k})
      .clone();
}

// Channels-last depthwise convolution, any stride: LibTorch's (oneDNN) forward and input
// gradient, and WeightGradChannelsLast for the weight gradient, where oneDNN's
// channels-last weight gradient of 5x5 and 7x7 kernels is slow.
class DepthwiseConvChannelsLastFunction
    : public torch::autograd::Function<DepthwiseConvChannelsLastFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, int64_t stride) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    return Forward(x, weight, stride);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    const int64_t k = weight.size(2), c = x.size(1);
    const torch::Tensor grad_output = grad_outputs[0].contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor grad_input, grad_weight;
    if (ctx->needs_input_grad(0)) {
      grad_input = std::get<0>(at::convolution_backward(
          grad_output, x, weight, c10::nullopt, {stride, stride}, {k / 2, k / 2}, {1, 1},
          /*transposed=*/false, {0, 0}, c, {true, false, false}));
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = WeightGradChannelsLast(x.contiguous(torch::MemoryFormat::ChannelsLast),
                                           grad_output, k, stride);
    }
    return {grad_input, grad_weight, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor DepthwiseConv2d(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride) {
  RECORD_FUNCTION("nas::depthwise_conv2d", std::vector<c10::IValue>({x, weight}));
  const int64_t k = weight.size(2);
  if (k % 2 == 0 || !x.is_cpu() || x.scalar_type() != torch::kFloat32 ||
      !torch::GradMode::is_enabled()) {
    return Forward(x, weight, stride);
  }
  // 3x3 kernels: LibTorch's own backward is as fast or faster (bench/depthwise_bench).
  if (k >= 5 && x.dim() == 4 && x.suggest_memory_format() == torch::MemoryFormat::ChannelsLast) {
    return DepthwiseConvChannelsLastFunction::apply(x, weight, stride);
  }
  if (stride != 1 || k < 5) return Forward(x, weight, stride);
  return DepthwiseConvFunction::apply(x, weight);
}

}  // namespace nas::kernels
