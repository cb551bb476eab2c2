#include "kernels/channel_ops.h"

#include <ATen/record_function.h>

namespace nas::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The memory format of `x` as an integer, for saving in an AutogradContext.
int64_t FormatCode(const torch::Tensor& x) {
  return x.suggest_memory_format() == torch::MemoryFormat::ChannelsLast ? 1 : 0;
}
torch::MemoryFormat FormatOf(int64_t code) {
  return code == 1 ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
}

class SplitEvenOddFunction : public torch::autograd::Function<SplitEvenOddFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x) {
    const int64_t c = x.size(1);
    const torch::MemoryFormat format = x.suggest_memory_format();
    ctx->saved_data["sizes"] = x.sizes().vec();
    ctx->saved_data["format"] = FormatCode(x);
    return {x.slice(1, 0, c, 2).contiguous(format), x.slice(1, 1, c, 2).contiguous(format)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
    const torch::MemoryFormat format = FormatOf(ctx->saved_data["format"].toInt());
    const torch::Tensor& any = grads[0].defined() ? grads[0] : grads[1];
    torch::Tensor grad = torch::empty(sizes, any.options().memory_format(format));
    const int64_t c = sizes[1];
    for (int64_t half = 0; half < 2; ++half) {
      torch::Tensor slot = grad.slice(1, half, c, 2);
      if (grads[half].defined()) {
        slot.copy_(grads[half]);
      } else {
        slot.zero_();
      }
    }
    return {grad};
  }
};

class ConcatChannelsFunction : public torch::autograd::Function<ConcatChannelsFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    const torch::MemoryFormat format = a.suggest_memory_format();
    ctx->saved_data["split"] = a.size(1);
    ctx->saved_data["format"] = FormatCode(a);
    torch::Tensor out = torch::empty({a.size(0), a.size(1) + b.size(1), a.size(2), a.size(3)},
                                     a.options().memory_format(format));
    return torch::cat_out(out, {a, b}, 1);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t split = ctx->saved_data["split"].toInt();
    const torch::MemoryFormat format = FormatOf(ctx->saved_data["format"].toInt());
    const torch::Tensor& g = grads[0];
    return {g.narrow(1, 0, split).contiguous(format),
            g.narrow(1, split, g.size(1) - split).contiguous(format)};
  }
};

bool UseAutogradFunction(const torch::Tensor& x) {
  return torch::GradMode::is_enabled() && x.dim() == 4;
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> SplitEvenOddChannels(const torch::Tensor& x) {
  RECORD_FUNCTION("nas::split_even_odd_channels", std::vector<c10::IValue>({x}));
  TORCH_CHECK(x.dim() >= 2 && x.size(1) % 2 == 0, "SplitEvenOddChannels: odd channel count ",
              x.size(1));
  if (!UseAutogradFunction(x)) {
    const int64_t c = x.size(1);
    const torch::MemoryFormat format = x.suggest_memory_format();
    return {x.slice(1, 0, c, 2), x.slice(1, 1, c, 2).contiguous(format)};
  }
  variable_list out = SplitEvenOddFunction::apply(x);
  return {out[0], out[1]};
}

torch::Tensor ConcatChannels(const torch::Tensor& a, const torch::Tensor& b) {
  RECORD_FUNCTION("nas::concat_channels", std::vector<c10::IValue>({a, b}));
  if (!UseAutogradFunction(a) || b.dim() != 4) return torch::cat({a, b}, 1);
  return ConcatChannelsFunction::apply(a, b);
}

}  // namespace nas::kernels
