#include "search/predictor.h"

#include <algorithm>
#include <cmath>
#include <numeric>

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

std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = 0.5 * (i + j);  // Average rank of ties.
    i = j + 1;
  }
  return ranks;
}

}  // namespace

torch::Tensor EncodeOneHot(const supernet::SearchSpace& space,
                           const std::vector<supernet::Architecture>& archs) {
  int64_t width = 0;
  std::vector<int64_t> offsets;
  for (const supernet::Gene& g : space.genes()) {
    offsets.push_back(width);
    width += static_cast<int64_t>(g.options.size());
  }
  torch::Tensor x = torch::zeros({static_cast<int64_t>(archs.size()), width});
  float* data = x.data_ptr<float>();
  for (size_t i = 0; i < archs.size(); ++i) {
    for (size_t g = 0; g < offsets.size(); ++g) data[i * width + offsets[g] + archs[i].genes[g]] = 1.0f;
  }
  return x;
}

std::unique_ptr<Predictor> MakeRidge(double lambda) { return std::make_unique<Ridge>(lambda); }

std::unique_ptr<Predictor> MakeMlpEnsemble(int members, int hidden, int epochs, uint64_t seed) {
  return std::make_unique<MlpEnsemble>(members, hidden, epochs, seed);
}

double KendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  int64_t concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) {
        ++ties_a;
      } else if (db == 0) {
        ++ties_b;
      } else if ((da > 0) == (db > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  // Tau-b: corrected for ties.
  const double n1 = concordant + discordant + ties_a, n2 = concordant + discordant + ties_b;
  if (n1 == 0 || n2 == 0) return 0;
  return (concordant - discordant) / std::sqrt(n1 * n2);
}

double TopPrecision(const std::vector<double>& predicted, const std::vector<double>& truth, double fraction) {
  const size_t n = std::min(predicted.size(), truth.size());
  if (n == 0) return 0;
  const size_t k = std::max<size_t>(1, static_cast<size_t>(n * fraction));
  std::vector<size_t> by_predicted(n), by_truth(n);
  for (size_t i = 0; i < n; ++i) by_predicted[i] = by_truth[i] = i;
  std::stable_sort(by_predicted.begin(), by_predicted.end(), [&](size_t x, size_t y) { return predicted[x] > predicted[y]; });
  std::stable_sort(by_truth.begin(), by_truth.end(), [&](size_t x, size_t y) { return truth[x] > truth[y]; });
  std::vector<bool> in_true_top(n, false);
  for (size_t i = 0; i < k; ++i) in_true_top[by_truth[i]] = true;
  size_t hits = 0;
  for (size_t i = 0; i < k; ++i) hits += in_true_top[by_predicted[i]];
  return static_cast<double>(hits) / k;
}

double SpearmanRho(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = Ranks(a), rb = Ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double cov = 0, va = 0, vb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    cov += (ra[i] - ma) * (rb[i] - mb);
    va += (ra[i] - ma) * (ra[i] - ma);
    vb += (rb[i] - mb) * (rb[i] - mb);
  }
  return va > 0 && vb > 0 ? cov / std::sqrt(va * vb) : 0;
}

PredictorMetrics ScorePredictions(const std::vector<double>& predicted,
                                  const std::vector<double>& truth) {
  PredictorMetrics m;
  double se = 0, ape = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    se += (predicted[i] - truth[i]) * (predicted[i] - truth[i]);
    ape += std::abs(predicted[i] - truth[i]) / std::max(1e-12, std::abs(truth[i]));
  }
  m.rmse = std::sqrt(se / truth.size());
  m.mape = 100 * ape / truth.size();
  m.kendall_tau = KendallTau(predicted, truth);
  m.spearman_rho = SpearmanRho(predicted, truth);
  return m;
}

}  // namespace nas::search
