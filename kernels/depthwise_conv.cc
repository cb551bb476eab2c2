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

// One output row's contribution to the weight gradient of a KxK depthwise convolution,
// NHWC: for every kernel offset (dy, dx),
//   acc[dy][dx][0:C] += sum over ow of g[ow][0:C] * x_rows[dy][iw = ow*s + dx - K/2][0:C],
// `x_rows[dy]` being the input row of offset dy (nullptr: outside the image). Channels
// go in blocks of 8 (one AVX2 register) with the K sums of a block held in registers
// across the row, so each gradient vector is loaded once for K multiply-adds; columns
// whose K offsets all lie inside the row skip the bounds checks.
// Eight floats; GCC lowers its arithmetic to one AVX2 register (two SSE ones without).
typedef float Lanes __attribute__((vector_size(32)));
constexpr int kLanes = 8;

inline __attribute__((always_inline)) Lanes LoadLanes(const float* p) {
  Lanes v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

template <int K>
inline __attribute__((always_inline)) void AccumulateRow(const float* const* x_rows,
                                                         const float* g_row, float* acc, int64_t c,
                                                         int64_t w, int64_t ow_count,
                                                         int64_t stride) {
  constexpr int64_t kPad = K / 2;
  // Columns [inner_lo, inner_hi) have 0 <= ow*s - pad and ow*s - pad + K - 1 < w.
  const int64_t inner_lo = std::min<int64_t>(ow_count, (kPad + stride - 1) / stride);
  const int64_t last = w - K + kPad;  // The largest ow*s with every offset inside.
  const int64_t inner_hi =
      std::max<int64_t>(inner_lo, last < 0 ? 0 : std::min<int64_t>(ow_count, last / stride + 1));
  for (int64_t dy = 0; dy < K; ++dy) {
    const float* x_row = x_rows[dy];
    if (x_row == nullptr) continue;
    float* a_row = acc + dy * K * c;
    int64_t ch0 = 0;
    for (; ch0 + kLanes <= c; ch0 += kLanes) {
      Lanes sum[K];
      for (int dx = 0; dx < K; ++dx) sum[dx] = LoadLanes(a_row + dx * c + ch0);
      auto edge = [&](int64_t ow) {
        const Lanes g = LoadLanes(g_row + ow * c + ch0);
        for (int dx = 0; dx < K; ++dx) {
          const int64_t iw = ow * stride + dx - kPad;
          if (iw >= 0 && iw < w) sum[dx] += g * LoadLanes(x_row + iw * c + ch0);
        }
      };
      for (int64_t ow = 0; ow < inner_lo; ++ow) edge(ow);
      for (int64_t ow = inner_lo; ow < inner_hi; ++ow) {
        const Lanes g = LoadLanes(g_row + ow * c + ch0);
        const float* xp = x_row + (ow * stride - kPad) * c + ch0;
        for (int dx = 0; dx < K; ++dx) sum[dx] += g * LoadLanes(xp + dx * c);
      }
      for (int64_t ow = inner_hi; ow < ow_count; ++ow) edge(ow);
      for (int dx = 0; dx < K; ++dx)
        __builtin_memcpy(a_row + dx * c + ch0, &sum[dx], sizeof(Lanes));
    }
    // The last C mod 8 channels.
    for (int64_t ow = 0; ow < ow_count && ch0 < c; ++ow) {
      for (int dx = 0; dx < K; ++dx) {
        const int64_t iw = ow * stride + dx - kPad;
        if (iw < 0 || iw >= w) continue;
        for (int64_t ch = ch0; ch < c; ++ch)
          a_row[dx * c + ch] += g_row[ow * c + ch] * x_row[iw * c + ch];
      }
    }
  }
}

using RowFunction = void (*)(const float* const*, const float*, float*, int64_t, int64_t, int64_t,
                             int64_t);

template <int K>
__attribute__((target("avx2,fma"))) void AccumulateRowAvx2(const float* const* x_rows,
                                                           const float* g_row, float* acc,
                                                           int64_t c, int64_t w, int64_t ow_count,
                                                           int64_t stride) {
  AccumulateRow<K>(x_rows, g_row, acc, c, w, ow_count, stride);
}

template <int K>
void AccumulateRowGeneric(const float* const* x_rows, const float* g_row, float* acc, int64_t c,
                          int64_t w, int64_t ow_count, int64_t stride) {
  AccumulateRow<K>(x_rows, g_row, acc, c, w, ow_count, stride);
}

// The row kernel for k (5 or 7), AVX2 + FMA where the CPU has them.
RowFunction RowKernel(int64_t k) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (k == 5) return avx2 ? &AccumulateRowAvx2<5> : &AccumulateRowGeneric<5>;
  return avx2 ? &AccumulateRowAvx2<7> : &AccumulateRowGeneric<7>;
}

// d(loss)/d(weight) of a depthwise convolution (padding k/2), computed in NHWC: x
// [N, C, H, W] and grad_output [N, C, OH, OW], both channels-last (dense); returns
// [C, 1, k, k], k 5 or 7. Rows (n, oh) are split over LibTorch's intra-op threads, each with its
// own accumulator, summed at the end.
torch::Tensor WeightGradChannelsLast(const torch::Tensor& x, const torch::Tensor& grad_output,
                                     int64_t k, int64_t stride) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh_count = grad_output.size(2), ow_count = grad_output.size(3);
  const int64_t pad = k / 2;
  const float* x_data = x.data_ptr<float>();
  const float* g_data = grad_output.data_ptr<float>();
  const RowFunction accumulate = RowKernel(k);
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
      accumulate(x_rows.data(), g_data + row * ow_count * c, acc.data(), c, w, ow_count, stride);
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
  RECORD_FUNCTION("nas::depthwise_conv2d", std::vector<c10::IValue>({x, weight, stride}));
  const int64_t k = weight.size(2);
  if (k % 2 == 0 || !x.is_cpu() || x.scalar_type() != torch::kFloat32 ||
      !torch::GradMode::is_enabled()) {
    return Forward(x, weight, stride);
  }
  // 3x3 kernels: LibTorch's own backward is as fast or faster (bench/depthwise_bench).
  if ((k == 5 || k == 7) && x.dim() == 4 &&
      x.suggest_memory_format() == torch::MemoryFormat::ChannelsLast) {
    return DepthwiseConvChannelsLastFunction::apply(x, weight, stride);
  }
  if (stride != 1 || k < 5) return Forward(x, weight, stride);
  return DepthwiseConvFunction::apply(x, weight);
}

}  // namespace nas::kernels
