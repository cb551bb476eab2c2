#include "kernels/depthwise_conv.h"

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
      const torch::Tensor kernels = grad_output.transpose(0, 1).reshape(
          {c * n, 1, grad_output.size(2), grad_output.size(3)});
      const torch::Tensor per_image = torch::conv2d(images, kernels, {}, 1, k / 2, 1, c * n);
      grad_weight = per_image.view({c, n, k, k}).sum(1).unsqueeze(1);
    }
    return {grad_input, grad_weight};
  }
};

}  // namespace

torch::Tensor DepthwiseConv2d(const torch::Tensor& x, const torch::Tensor& weight, int64_t stride) {
  // 3x3 kernels: LibTorch's own backward is as fast or faster (bench/depthwise_bench).
  if (stride != 1 || weight.size(2) < 5 || weight.size(2) % 2 == 0 || !x.is_cpu() ||
      x.scalar_type() != torch::kFloat32 || !torch::GradMode::is_enabled()) {
    return Forward(x, weight, stride);
  }
  return DepthwiseConvFunction::apply(x, weight);
}

}  // namespace nas::kernels
