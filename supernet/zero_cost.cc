#include "supernet/zero_cost.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nas::supernet {
namespace {

constexpr struct {
  ZeroCostProxy proxy;
  const char* name;
} kProxies[] = {{ZeroCostProxy::kSynflow, "synflow"},
                {ZeroCostProxy::kNaswot, "naswot"},
                {ZeroCostProxy::kJacobCov, "jacob_cov"},
                {ZeroCostProxy::kGradNorm, "grad_norm"},
                {ZeroCostProxy::kSnip, "snip"},
                {ZeroCostProxy::kSwap, "swap"},
                {ZeroCostProxy::kMeco, "meco"},
                {ZeroCostProxy::kMecoAll, "meco_all"},
                {ZeroCostProxy::kZico, "zico"}};

// Log of a non-negative sum; an all-zero sum (no gradient reaches the path) is the
// lowest finite score rather than -inf.
double SafeLog(double v) { return std::log(std::max(v, 1e-300)); }

// Gradients of `output` with respect to `params`; parameters that `output` does not
// depend on get undefined tensors.
std::vector<torch::Tensor> Gradients(const torch::Tensor& output, const std::vector<torch::Tensor>& params) {
  return torch::autograd::grad({output}, params, /*grad_outputs=*/{}, /*retain_graph=*/false,
                               /*create_graph=*/false, /*allow_unused=*/true);
}

}  // namespace

int64_t DistinctActivationPatterns(const std::vector<torch::Tensor>& codes) {
  if (codes.empty()) return 0;
  const int64_t n = codes[0].size(0);
  const int64_t words = (n + 63) / 64;
  // Each unit's pattern packed into `words` int64 bit fields: bit j of word w is image
  // 64w + j (bit 63 lands on the sign bit, which keeps patterns distinct).
  std::vector<torch::Tensor> packed_layers;
  for (const torch::Tensor& layer : codes) {
    const torch::Tensor units = layer.reshape({n, -1}).to(torch::kInt64).t();  // [units, n]
    std::vector<torch::Tensor> packed;
    for (int64_t w = 0; w < words; ++w) {
      const int64_t first = 64 * w, count = std::min<int64_t>(64, n - first);
      const torch::Tensor shifts = torch::arange(count, units.options());
      packed.push_back(units.narrow(1, first, count).bitwise_left_shift(shifts).sum(1));
    }
    packed_layers.push_back(torch::stack(packed, 1));
  }
  return std::get<0>(torch::unique_dim(torch::cat(packed_layers, 0), 0, /*sorted=*/false)).size(0);
}

absl::StatusOr<ZeroCostProxy> ParseZeroCostProxy(const std::string& name) {
  for (const auto& p : kProxies) {
    if (name == p.name) return p.proxy;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown zero-cost proxy '", name, "' (one of ", absl::StrJoin(ZeroCostProxyNames(), ", "), ")"));
}

std::string ZeroCostProxyName(ZeroCostProxy proxy) {
  for (const auto& p : kProxies) {
    if (proxy == p.proxy) return p.name;
  }
  return "?";
}

std::vector<std::string> ZeroCostProxyNames() {
  std::vector<std::string> names;
  for (const auto& p : kProxies) names.push_back(p.name);
  return names;
}

std::vector<ZeroCostProxy> AllZeroCostProxies() {
  std::vector<ZeroCostProxy> all;
  for (const auto& p : kProxies) all.push_back(p.proxy);
  return all;
}

ZeroCostScorer::ZeroCostScorer(Supernet net, torch::Tensor images, torch::Tensor labels, torch::Device device)
    : net_(std::move(net)), images_(std::move(images)), labels_(std::move(labels)), device_(device) {
  // Synflow's network: the same weights, absolute values, in float64 (its products of
  // weights overflow float32 in deep networks). Built as a second supernet of the same
  // space and filled by name, so net_ itself is never changed.
  synflow_net_ = CreateSupernet(net_->shared_space(), net_->options());
  synflow_net_->to(device_, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto source = net_->named_parameters(/*recurse=*/true);
  for (auto& p : synflow_net_->named_parameters(/*recurse=*/true)) {
    p.value().copy_(source[p.key()].abs());
  }
  auto source_buffers = net_->named_buffers(/*recurse=*/true);
  for (auto& b : synflow_net_->named_buffers(/*recurse=*/true)) b.value().copy_(source_buffers[b.key()]);
}

absl::StatusOr<double> ZeroCostScorer::Score(ZeroCostProxy proxy, const Architecture& arch) const {
  if (absl::Status s = net_->space().Validate(arch); !s.ok()) return s;
  try {
    switch (proxy) {
      case ZeroCostProxy::kSynflow:
        return Synflow(arch);
      case ZeroCostProxy::kNaswot:
        return Naswot(arch);
      case ZeroCostProxy::kJacobCov:
        return JacobCov(arch);
      case ZeroCostProxy::kGradNorm:
        return LossGradient(arch, /*snip=*/false);
      case ZeroCostProxy::kSnip:
        return LossGradient(arch, /*snip=*/true);
      case ZeroCostProxy::kSwap:
        return Swap(arch);
      case ZeroCostProxy::kMeco:
        return Meco(arch, false);
      case ZeroCostProxy::kMecoAll:
        return Meco(arch, true);
      case ZeroCostProxy::kZico:
        return Zico(arch);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(ZeroCostProxyName(proxy), " failed: ", e.what_without_backtrace()));
  }
  return absl::InternalError("unknown proxy");
}

double ZeroCostScorer::Synflow(const Architecture& arch) const {
  ForwardContext ctx{BnMode::kBypass};
  const torch::Tensor ones =
      torch::ones({1, images_.size(1), images_.size(2), images_.size(3)},
                  torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  const torch::Tensor r = synflow_net_->Forward(ones, arch, ctx).sum();
  const std::vector<torch::Tensor> params = synflow_net_->PathParameters(arch);
  const std::vector<torch::Tensor> grads = Gradients(r, params);
  double total = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads[i].defined()) total += (params[i] * grads[i]).abs().sum().item<double>();
  }
  return SafeLog(total);
}

double ZeroCostScorer::Naswot(const Architecture& arch) const {
  torch::NoGradGuard no_grad;
  const int64_t n = images_.size(0);
  torch::Tensor k = torch::zeros({n, n}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  ForwardContext ctx{BnMode::kCalibrate};  // Batch statistics; nothing accumulated.
  ctx.on_relu = [&](const torch::Tensor& y) {
    // Agreements of two codes over m units: both active plus both inactive
    // (= m − Hamming distance) = 2 c_i·c_j − |c_i| − |c_j| + m. In float32 the counts are
    // exact (integers far below 2^24 per layer); summed over layers in float64.
    const torch::Tensor codes = y.reshape({n, -1}).gt(0).to(torch::kFloat32);
    const torch::Tensor active = codes.sum(1);
    const torch::Tensor agree = 2 * codes.matmul(codes.t()) - active.unsqueeze(1) - active.unsqueeze(0) +
                                static_cast<double>(codes.size(1));
    k += agree.to(torch::kFloat64);
  };
  net_->Forward(images_, arch, ctx);
  const auto [sign, logdet] = torch::linalg::slogdet(k);
  const double v = logdet.item<double>();
  // A singular kernel (two images with identical codes) is the lowest score.
  return std::isfinite(v) ? v : -1e300;
}

double ZeroCostScorer::JacobCov(const Architecture& arch) const {
  ForwardContext ctx{BnMode::kCalibrate};
  torch::Tensor x = images_.clone().set_requires_grad(true);
  const torch::Tensor y = net_->Forward(x, arch, ctx);
  const torch::Tensor grad = Gradients(y.sum(), {x})[0];
  // A cell with no path from input to output: the output ignores the input.
  if (!grad.defined()) return -1e300;
  const torch::Tensor jacobian = grad.reshape({x.size(0), -1});
  const torch::Tensor corr = torch::corrcoef(jacobian.to(torch::kFloat64));
  const torch::Tensor eig = torch::linalg::eigvalsh(corr.nan_to_num(0.0), "L");
  const double kEps = 1e-5;
  const torch::Tensor e = eig + kEps;
  return -(e.abs().log() + 1.0 / e).sum().item<double>();
}

double ZeroCostScorer::LossGradient(const Architecture& arch, bool snip) const {
  ForwardContext ctx{BnMode::kCalibrate};
  const torch::Tensor logits = net_->Forward(images_, arch, ctx);
  const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels_);
  const std::vector<torch::Tensor> params = net_->PathParameters(arch);
  const std::vector<torch::Tensor> grads = Gradients(loss, params);
  double total = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    total += snip ? (params[i] * grads[i]).abs().sum().item<double>() : grads[i].norm().item<double>();
  }
  return SafeLog(total);
}

double ZeroCostScorer::Swap(const Architecture& arch) const {
  torch::NoGradGuard no_grad;
  const int64_t n = images_.size(0);
  std::vector<torch::Tensor> codes;
  ForwardContext ctx{BnMode::kCalibrate};
  ctx.on_relu = [&](const torch::Tensor& y) { codes.push_back(y.reshape({n, -1}).gt(0)); };
  net_->Forward(images_, arch, ctx);
  return static_cast<double>(DistinctActivationPatterns(codes));
}

double ZeroCostScorer::Meco(const Architecture& arch, bool all_modules) const {
  torch::NoGradGuard no_grad;
  double total = 0;
  ForwardContext ctx{BnMode::kCalibrate};  // Batch statistics over the whole batch.
  (all_modules ? ctx.on_output : ctx.on_relu) = [&](const torch::Tensor& y) {
    if (y.dim() != 4 || y.size(1) < 2) return;
    // The first image's channels, correlated over positions (one image, as in the paper:
    // a C x C eigenproblem per ReLU whatever the batch). Constant channels (dead units)
    // have no correlation: 0, as in the original.
    const torch::Tensor f = y[0].to(torch::kFloat64).flatten(1);  // [C, HW]
    const torch::Tensor centred = f - f.mean(1, /*keepdim=*/true);
    const torch::Tensor cov = centred.matmul(centred.t());
    const torch::Tensor sd = cov.diagonal().sqrt();
    const torch::Tensor corr = (cov / (sd.unsqueeze(1) * sd.unsqueeze(0))).nan_to_num(0.0, 0.0, 0.0);
    total += torch::linalg::eigvalsh(corr, "L")[0].item<double>();
  };
  net_->Forward(images_, arch, ctx);
  return total;
}

double ZeroCostScorer::Zico(const Architecture& arch) const {
  const int64_t n = images_.size(0);
  const int64_t part = n / kZicoParts;
  if (part < 1) throw c10::Error("zico needs a batch of at least 2 images", "");
  std::vector<torch::Tensor> weights;  // Convolution and linear weights of the path.
  for (const torch::Tensor& p : net_->PathParameters(arch)) {
    if (p.dim() >= 2) weights.push_back(p);
  }
  std::vector<std::vector<torch::Tensor>> grads(weights.size());
  for (int k = 0; k < kZicoParts; ++k) {
    ForwardContext ctx{BnMode::kCalibrate};
    const torch::Tensor logits = net_->Forward(images_.narrow(0, k * part, part), arch, ctx);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, labels_.narrow(0, k * part, part));
    const std::vector<torch::Tensor> g = Gradients(loss, weights);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (g[i].defined()) grads[i].push_back(g[i].to(torch::kFloat64));
    }
  }
  double total = 0;
  for (const auto& per_part : grads) {
    if (per_part.size() < 2) continue;
    const torch::Tensor g = torch::stack(per_part);
    const torch::Tensor sd = g.std(0, /*unbiased=*/false);
    const torch::Tensor nonzero = sd.gt(0);
    const double sum = (g.abs().mean(0).masked_select(nonzero) / sd.masked_select(nonzero)).sum().item<double>();
    if (sum > 0) total += std::log(sum);
  }
  return total;
}

}  // namespace nas::supernet
