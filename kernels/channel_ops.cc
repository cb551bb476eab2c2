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

class SplitOfConcatFunction : public torch::autograd::Function<SplitOfConcatFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& a,
                               const torch::Tensor& b) {
    const torch::MemoryFormat format = a.suggest_memory_format();
    const int64_t ca = a.size(1), cb = b.size(1);
    ctx->saved_data["a_channels"] = ca;
    ctx->saved_data["b_channels"] = cb;
    ctx->saved_data["format"] = FormatCode(a);
    auto half = [&](int64_t parity) {
      torch::Tensor out = torch::empty({a.size(0), (ca + cb) / 2, a.size(2), a.size(3)},
                                       a.options().memory_format(format));
      out.narrow(1, 0, ca / 2).copy_(a.slice(1, parity, ca, 2));
      out.narrow(1, ca / 2, cb / 2).copy_(b.slice(1, parity, cb, 2));
      return out;
    };
    return {half(0), half(1)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t ca = ctx->saved_data["a_channels"].toInt();
    const int64_t cb = ctx->saved_data["b_channels"].toInt();
    const torch::MemoryFormat format = FormatOf(ctx->saved_data["format"].toInt());
    const torch::Tensor& any = grads[0].defined() ? grads[0] : grads[1];
    // grad of x (a or b, `count` channels from `offset` in each half) interleaved back.
    auto interleave = [&](int64_t offset, int64_t count) {
      std::vector<int64_t> sizes = any.sizes().vec();
      sizes[1] = count;
      torch::Tensor grad = torch::empty(sizes, any.options().memory_format(format));
      for (int64_t parity = 0; parity < 2; ++parity) {
        torch::Tensor slot = grad.slice(1, parity, count, 2);
        if (grads[parity].defined()) {
          slot.copy_(grads[parity].narrow(1, offset, count / 2));
        } else {
          slot.zero_();
        }
      }
      return grad;
    };
    return {interleave(0, ca), interleave(ca / 2, cb)};
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

std::pair<torch::Tensor, torch::Tensor> SplitEvenOddOfConcat(const torch::Tensor& a,
                                                             const torch::Tensor& b) {
  RECORD_FUNCTION("nas::split_even_odd_of_concat", std::vector<c10::IValue>({a, b}));
  if (!UseAutogradFunction(a) || b.dim() != 4 || a.size(1) % 2 != 0 || b.size(1) % 2 != 0) {
    return SplitEvenOddChannels(ConcatChannels(a, b));
  }
  variable_list out = SplitOfConcatFunction::apply(a, b);
  return {out[0], out[1]};
}

}  // namespace nas::kernels
