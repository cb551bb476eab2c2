#include "search/predictor.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace nas::search {

RidgeSolution SolveRidge(const torch::Tensor& x, const torch::Tensor& y, double lambda) {
  torch::NoGradGuard no_grad;
  const torch::Tensor xd = x.to(torch::kFloat64), yd = y.to(torch::kFloat64);
  RidgeSolution s;
  s.x_mean = xd.mean(0);
  s.y_mean = yd.mean().item<double>();
  const torch::Tensor xc = xd - s.x_mean;
  const torch::Tensor a = xc.t().mm(xc) + lambda * torch::eye(x.size(1), torch::kFloat64);
  s.weights = torch::linalg::solve(a, xc.t().mv(yd - s.y_mean), /*left=*/true);
  return s;
}

namespace {

class Ridge : public Predictor {
 public:
  explicit Ridge(double lambda) : lambda_(lambda) {}
  std::string name() const override { return "ridge"; }
  void Fit(const torch::Tensor& x, const torch::Tensor& y) override {
    RidgeSolution solution = SolveRidge(x, y, lambda_);
    x_mean_ = solution.x_mean;
    weights_ = solution.weights;
    y_mean_ = solution.y_mean;
  }
  torch::Tensor Predict(const torch::Tensor& x) const override {
    torch::NoGradGuard no_grad;
    return ((x.to(torch::kFloat64) - x_mean_).mv(weights_) + y_mean_).to(torch::kFloat32);
  }

 private:
  double lambda_;
  torch::Tensor x_mean_, weights_;
  double y_mean_ = 0;
};

class MlpEnsemble : public Predictor {
 public:
  MlpEnsemble(int members, int hidden, int epochs, uint64_t seed)
      : members_(members), hidden_(hidden), epochs_(epochs), seed_(seed) {}
  std::string name() const override { return "mlp_ensemble"; }

  void Fit(const torch::Tensor& x, const torch::Tensor& y) override {
    y_mean_ = y.mean().item<double>();
    y_std_ = std::max(1e-6, y.std().item<double>());
    const torch::Tensor target = (y.to(torch::kFloat32) - y_mean_) / y_std_;
    nets_.clear();
    for (int m = 0; m < members_; ++m) {
      torch::manual_seed(seed_ * 1000 + m);
      torch::nn::Sequential net(torch::nn::Linear(x.size(1), hidden_), torch::nn::ReLU(),
                                torch::nn::Linear(hidden_, hidden_), torch::nn::ReLU(),
                                torch::nn::Linear(hidden_, 1));
      torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2).weight_decay(1e-4));
      for (int e = 0; e < epochs_; ++e) {
        opt.zero_grad();
        torch::Tensor loss = torch::mse_loss(net->forward(x).squeeze(1), target);
        loss.backward();
        opt.step();
      }
      net->eval();
      nets_.push_back(net);
    }
  }

  torch::Tensor Predict(const torch::Tensor& x) const override { return Stack(x).mean(0); }
  torch::Tensor PredictStd(const torch::Tensor& x) const override { return Stack(x).std(0, /*unbiased=*/false); }

 private:
  torch::Tensor Stack(const torch::Tensor& x) const {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> outputs;
    for (auto net : nets_) outputs.push_back(net->forward(x).squeeze(1) * y_std_ + y_mean_);
    return torch::stack(outputs);
  }

  int members_, hidden_, epochs_;
  uint64_t seed_;
  double y_mean_ = 0, y_std_ = 1;
  std::vector<torch::nn::Sequential> nets_;
};

}  // namespace

torch::Tensor EncodeOneHot(const supernet::SearchSpace& space,
                           const std::vector<supernet::Architecture>& archs) {
  return ToTensor(OneHotFeatures(space, archs));
}

std::unique_ptr<Predictor> MakeRidge(double lambda) { return std::make_unique<Ridge>(lambda); }

std::unique_ptr<Predictor> MakeMlpEnsemble(int members, int hidden, int epochs, uint64_t seed) {
  return std::make_unique<MlpEnsemble>(members, hidden, epochs, seed);
}

namespace {

// A LibTorch predictor behind the LibTorch-free Surrogate interface.
class TorchSurrogate : public Surrogate {
 public:
  explicit TorchSurrogate(std::unique_ptr<Predictor> p) : p_(std::move(p)) {}
  std::string name() const override { return p_->name(); }
  void Fit(const FeatureMatrix& x, const std::vector<double>& y) override {
    std::vector<float> yf(y.begin(), y.end());
    p_->Fit(ToTensor(x), torch::tensor(yf));
  }
  std::vector<double> Predict(const FeatureMatrix& x) const override { return ToVector(p_->Predict(ToTensor(x))); }
  std::vector<double> PredictStd(const FeatureMatrix& x) const override {
    return ToVector(p_->PredictStd(ToTensor(x)));
  }

 private:
  static std::vector<double> ToVector(const torch::Tensor& t) {
    const torch::Tensor d = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  }
  std::unique_ptr<Predictor> p_;
};

}  // namespace

torch::Tensor ToTensor(const FeatureMatrix& x) {
  return torch::from_blob(const_cast<float*>(x.values.data()), {x.rows, x.cols}, torch::kFloat32).clone();
}

SurrogateFactory TorchSurrogates() {
  return [](const std::string& name, uint64_t seed) -> absl::StatusOr<std::unique_ptr<Surrogate>> {
    if (name == "ridge") return std::unique_ptr<Surrogate>(std::make_unique<TorchSurrogate>(MakeRidge()));
    if (name == "mlp_ensemble") {
      return std::unique_ptr<Surrogate>(std::make_unique<TorchSurrogate>(MakeMlpEnsemble(5, 64, 200, seed)));
    }
    return absl::InvalidArgumentError(absl::StrCat("predictor: '", name, "' is not one of ridge, mlp_ensemble"));
  };
}

}  // namespace nas::search
