#include "supernet/samplers.h"

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace nas::supernet {
namespace {

constexpr uint64_t kMaxEnumerated = 1 << 18;
constexpr int kUniformTries = 32;
constexpr int kRepairMoves = 256;

int64_t DistanceToBin(int64_t flops, int64_t lo, int64_t hi) {
  if (flops < lo) return lo - flops;
  if (flops >= hi) return flops - hi + 1;
  return 0;
}

// Draws an index with probability proportional to `weights` (not all zero).
int Draw(const std::vector<double>& weights, Rng& rng) {
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  double u = rng.Uniform01() * total;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (u < weights[i]) return static_cast<int>(i);
    u -= weights[i];
  }
  for (size_t i = weights.size(); i > 0; --i) {
    if (weights[i - 1] > 0) return static_cast<int>(i - 1);
  }
  return 0;
}

class UniformSampler : public PathSampler {
 public:
  UniformSampler(std::shared_ptr<const SearchSpace> space, uint64_t seed)
      : space_(std::move(space)), seed_(seed) {}
  std::string name() const override { return "uniform"; }
  std::vector<Architecture> Sample(int64_t step) override {
    Rng rng = Rng(seed_).Fork(static_cast<uint64_t>(step));
    return {space_->Sample(rng)};
  }

 private:
  std::shared_ptr<const SearchSpace> space_;
  uint64_t seed_;
};

// Always the same path: training the stand-alone subnet of one architecture inside the
// supernet (the weights of other paths get no gradient and stay as they are).
class FixedSampler : public PathSampler {
 public:
  explicit FixedSampler(Architecture arch) : arch_(std::move(arch)) {}
  std::string name() const override { return "fixed"; }
  std::vector<Architecture> Sample(int64_t) override { return {arch_}; }

 private:
  Architecture arch_;
};

class FlopsUniformSampler : public PathSampler {
 public:
  FlopsUniformSampler(std::shared_ptr<const SearchSpace> space, int bins, uint64_t seed)
      : bins_(std::move(space), bins), seed_(seed) {}
  std::string name() const override { return "flops_uniform"; }
  std::vector<Architecture> Sample(int64_t step) override {
    Rng rng = Rng(seed_).Fork(static_cast<uint64_t>(step));
    return {bins_.Generate(Draw(BinProbabilities(), rng), rng)};
  }
  std::vector<double> BinProbabilities() const override {
    std::vector<double> p(bins_.num_bins(), 0.0);
    int non_empty = 0;
    for (int b = 0; b < bins_.num_bins(); ++b) non_empty += !bins_.empty(b);
    for (int b = 0; b < bins_.num_bins(); ++b) p[b] = bins_.empty(b) ? 0.0 : 1.0 / non_empty;
    return p;
  }

 private:
  ComplexityBins bins_;
  uint64_t seed_;
};

// ShiftNAS-style sampler: the probability of each FLOPs bin follows how fast the
// training loss of that bin's paths is still falling. Rule in docs/samplers.md.
class ShiftedSampler : public PathSampler {
 public:
  ShiftedSampler(std::shared_ptr<const SearchSpace> space, const SamplerConfig& config,
                 uint64_t seed)
      : space_(space), bins_(space, config.num_bins), config_(config), seed_(seed) {
    const int k = bins_.num_bins();
    loss_.assign(k, 0.0);
    last_loss_.assign(k, 0.0);
    seen_.assign(k, 0);
    probability_ = UniformOverNonEmpty();
  }
  std::string name() const override { return "shifted"; }

  std::vector<Architecture> Sample(int64_t step) override {
    Rng rng = Rng(seed_).Fork(static_cast<uint64_t>(step));
    return {bins_.Generate(Draw(probability_, rng), rng)};
  }

  void Observe(int64_t step, const Architecture& arch, double loss) override {
    if (!std::isfinite(loss)) return;
    const int b = bins_.BinOf(space_->Cost(arch).flops);
    loss_[b] = seen_[b] == 0 ? loss : config_.loss_ema * loss_[b] + (1 - config_.loss_ema) * loss;
    ++seen_[b];
    if ((step + 1) % config_.update_every == 0) Update();
  }

  std::vector<double> BinProbabilities() const override { return probability_; }

  nlohmann::json SaveState() const override {
    return {{"loss", loss_}, {"last_loss", last_loss_}, {"seen", seen_}, {"probability", probability_}};
  }

  absl::Status LoadState(const nlohmann::json& state) override {
    try {
      std::vector<double> loss = state.at("loss"), last = state.at("last_loss"),
                          prob = state.at("probability");
      std::vector<int64_t> seen = state.at("seen");
      const size_t k = loss_.size();
      if (loss.size() != k || last.size() != k || prob.size() != k || seen.size() != k) {
        return absl::InvalidArgumentError("sampler state: bin count differs from sampler.num_bins");
      }
      loss_ = loss;
      last_loss_ = last;
      probability_ = prob;
      seen_ = seen;
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("sampler state: ", e.what()));
    }
    return absl::OkStatus();
  }

 private:
  std::vector<double> UniformOverNonEmpty() const {
    std::vector<double> p(bins_.num_bins(), 0.0);
    int non_empty = 0;
    for (int b = 0; b < bins_.num_bins(); ++b) non_empty += !bins_.empty(b);
    for (int b = 0; b < bins_.num_bins(); ++b) p[b] = bins_.empty(b) ? 0.0 : 1.0 / non_empty;
    return p;
  }

  void Update() {
    const int k = bins_.num_bins();
    // Improvement of a bin: how much its smoothed loss fell since the last update.
    // Bins without two measurements get the mean improvement (no evidence either way).
    std::vector<double> improvement(k, 0.0);
    std::vector<bool> known(k, false);
    int num_known = 0;
    double mean = 0;
    for (int b = 0; b < k; ++b) {
      if (!bins_.empty(b) && seen_[b] > 0 && last_loss_[b] > 0) {
        improvement[b] = last_loss_[b] - loss_[b];
        known[b] = true;
        mean += improvement[b];
        ++num_known;
      }
      if (seen_[b] > 0) last_loss_[b] = loss_[b];
    }
    if (num_known < 2) return;
    mean /= num_known;
    double var = 0;
    for (int b = 0; b < k; ++b) {
      if (known[b]) var += (improvement[b] - mean) * (improvement[b] - mean);
    }
    const double sd = std::sqrt(var / num_known) + 1e-12;
    std::vector<double> score(k, 0.0);
    double score_max = -1e300;
    for (int b = 0; b < k; ++b) {
      if (bins_.empty(b)) continue;
      score[b] = (known[b] ? (improvement[b] - mean) / sd : 0.0) / config_.temperature;
      score_max = std::max(score_max, score[b]);
    }
    const std::vector<double> uniform = UniformOverNonEmpty();
    double total = 0;
    for (int b = 0; b < k; ++b) {
      score[b] = bins_.empty(b) ? 0.0 : std::exp(score[b] - score_max);
      total += score[b];
    }
    for (int b = 0; b < k; ++b) {
      probability_[b] = (1 - config_.min_probability) * score[b] / total +
                        config_.min_probability * uniform[b];
    }
  }

  std::shared_ptr<const SearchSpace> space_;
  ComplexityBins bins_;
  SamplerConfig config_;
  uint64_t seed_;
  std::vector<double> loss_, last_loss_, probability_;
  std::vector<int64_t> seen_;
};

// BigNAS sandwich rule: largest, smallest and N random paths each step; the largest
// (first) teaches the others through its soft labels.
class SandwichSampler : public PathSampler {
 public:
  SandwichSampler(std::shared_ptr<const SearchSpace> space, int random, uint64_t seed)
      : space_(std::move(space)), random_(random), seed_(seed) {}
  std::string name() const override { return "sandwich"; }
  bool distills() const override { return true; }
  std::vector<Architecture> Sample(int64_t step) override {
    Rng rng = Rng(seed_).Fork(static_cast<uint64_t>(step));
    std::vector<Architecture> paths = {space_->MaxFlops().arch, space_->MinFlops().arch};
    for (int i = 0; i < random_; ++i) paths.push_back(space_->Sample(rng));
    return paths;
  }

 private:
  std::shared_ptr<const SearchSpace> space_;
  int random_;
  uint64_t seed_;
};

// FairNAS strict fairness: each step trains K = (most options of any gene) paths, built
// from one random permutation of every gene's options, so that within the step every
// option of every gene is trained exactly once (a gene with fewer options than K fills
// its remaining paths with fresh uniform draws). Gradients are accumulated over the K
// paths and applied in one update, unscaled (sums_paths).
class FairSampler : public PathSampler {
 public:
  FairSampler(std::shared_ptr<const SearchSpace> space, uint64_t seed) : space_(std::move(space)), seed_(seed) {
    for (const auto& gene : space_->genes()) paths_ = std::max<int>(paths_, static_cast<int>(gene.options.size()));
  }
  std::string name() const override { return "fair"; }
  bool sums_paths() const override { return true; }
  std::vector<Architecture> Sample(int64_t step) override {
    Rng rng = Rng(seed_).Fork(static_cast<uint64_t>(step));
    const size_t genes = space_->genes().size();
    std::vector<Architecture> paths(paths_, Architecture{std::vector<int>(genes, 0)});
    for (size_t g = 0; g < genes; ++g) {
      const int n = static_cast<int>(space_->genes()[g].options.size());
      std::vector<int> order(n);
      for (int o = 0; o < n; ++o) order[o] = o;
      for (int o = n - 1; o > 0; --o) std::swap(order[o], order[rng.UniformInt(o + 1)]);
      for (int k = 0; k < paths_; ++k) {
        paths[k].genes[g] = k < n ? order[k] : static_cast<int>(rng.UniformInt(n));
      }
    }
    return paths;
  }

 private:
  std::shared_ptr<const SearchSpace> space_;
  uint64_t seed_;
  int paths_ = 1;
};

// Delegates everything to another sampler; subclasses change its paths.
class WrappingSampler : public PathSampler {
 public:
  explicit WrappingSampler(std::unique_ptr<PathSampler> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  std::vector<Architecture> Sample(int64_t step) override { return inner_->Sample(step); }
  void Observe(int64_t step, const Architecture& arch, double loss) override { inner_->Observe(step, arch, loss); }
  bool distills() const override { return inner_->distills(); }
  bool sums_paths() const override { return inner_->sums_paths(); }
  nlohmann::json SaveState() const override { return inner_->SaveState(); }
  absl::Status LoadState(const nlohmann::json& state) override { return inner_->LoadState(state); }
  std::vector<double> BinProbabilities() const override { return inner_->BinProbabilities(); }

 protected:
  std::unique_ptr<PathSampler> inner_;
};

// A few-shot sub-supernet's sampler: the inner sampler's paths with one gene fixed.
class RestrictedSampler : public WrappingSampler {
 public:
  RestrictedSampler(std::unique_ptr<PathSampler> inner, int gene, int option)
      : WrappingSampler(std::move(inner)), gene_(gene), option_(option) {}
  std::vector<Architecture> Sample(int64_t step) override {
    std::vector<Architecture> paths = inner_->Sample(step);
    for (Architecture& a : paths) a.genes[gene_] = option_;
    return paths;
  }

 private:
  int gene_, option_;
};

// Draws paths from a restriction of the space (sampler.exclude) with another sampler and
// maps them to the full space's options.
class ShrunkSampler : public WrappingSampler {
 public:
  ShrunkSampler(std::unique_ptr<PathSampler> inner, std::shared_ptr<const RestrictedSpace> space)
      : WrappingSampler(std::move(inner)), space_(std::move(space)) {}
  std::vector<Architecture> Sample(int64_t step) override {
    std::vector<Architecture> paths = inner_->Sample(step);
    for (Architecture& a : paths) a = space_->ToFull(a);
    return paths;
  }
  void Observe(int64_t step, const Architecture& arch, double loss) override {
    absl::StatusOr<Architecture> shrunk = space_->FromFull(arch);
    if (shrunk.ok()) inner_->Observe(step, *shrunk, loss);
  }

 private:
  std::shared_ptr<const RestrictedSpace> space_;
};

absl::StatusOr<std::unique_ptr<PathSampler>> CreateUnrestrictedSampler(
    std::shared_ptr<const SearchSpace> space, const SamplerConfig& config, uint64_t seed);

// The kind's sampler, over the space without sampler.exclude's options when given.
absl::StatusOr<std::unique_ptr<PathSampler>> CreateShrunkSampler(std::shared_ptr<const SearchSpace> space,
                                                                 const SamplerConfig& config, uint64_t seed) {
  if (config.exclude.empty()) return CreateUnrestrictedSampler(space, config, seed);
  if (config.kind == "fixed") {
    return absl::InvalidArgumentError("sampler.exclude: not with the fixed sampler (it trains one path)");
  }
  absl::StatusOr<std::shared_ptr<const RestrictedSpace>> shrunk =
      RestrictedSpace::Excluding(space, config.exclude, "sampler.exclude");
  if (!shrunk.ok()) return shrunk.status();
  absl::StatusOr<std::unique_ptr<PathSampler>> inner = CreateUnrestrictedSampler(*shrunk, config, seed);
  if (!inner.ok()) return inner.status();
  return std::unique_ptr<PathSampler>(new ShrunkSampler(*std::move(inner), *std::move(shrunk)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PathSampler>> CreateSampler(
    std::shared_ptr<const SearchSpace> space, const SamplerConfig& config, uint64_t seed) {
  if (config.restrict_gene < 0 && config.restrict_option < 0) return CreateShrunkSampler(space, config, seed);
  const int genes = static_cast<int>(space->genes().size());
  if (config.restrict_gene < 0 || config.restrict_gene >= genes) {
    return absl::InvalidArgumentError(absl::StrCat("sampler.restrict.gene: must be in [0, ", genes - 1, "], got ",
                                                   config.restrict_gene));
  }
  const int options = static_cast<int>(space->genes()[config.restrict_gene].options.size());
  if (config.restrict_option < 0 || config.restrict_option >= options) {
    return absl::InvalidArgumentError(absl::StrCat("sampler.restrict.option: gene ", config.restrict_gene,
                                                   " has options 0-", options - 1, ", got ", config.restrict_option));
  }
  if (config.kind == "fixed") {
    return absl::InvalidArgumentError("sampler.restrict: not with the fixed sampler (it trains one path)");
  }
  const std::string& fixed = space->genes()[config.restrict_gene].options[config.restrict_option];
  if (std::find(config.exclude.begin(), config.exclude.end(), fixed) != config.exclude.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.restrict.option: ", fixed, " is one of the excluded options (sampler.exclude)"));
  }
  absl::StatusOr<std::unique_ptr<PathSampler>> inner = CreateShrunkSampler(space, config, seed);
  if (!inner.ok()) return inner.status();
  return std::unique_ptr<PathSampler>(
      new RestrictedSampler(*std::move(inner), config.restrict_gene, config.restrict_option));
}

ComplexityBins::ComplexityBins(std::shared_ptr<const SearchSpace> space, int num_bins)
    : space_(std::move(space)) {
  const int64_t lo = space_->MinFlops().cost.flops, hi = space_->MaxFlops().cost.flops + 1;
  for (int b = 0; b < num_bins; ++b) {
    lower_.push_back(lo + (hi - lo) * b / num_bins);
    upper_.push_back(lo + (hi - lo) * (b + 1) / num_bins);
  }
  empty_.assign(num_bins, false);
  const std::optional<uint64_t> size = space_->ExactSize();
  if (size.has_value() && *size <= kMaxEnumerated) {
    members_.resize(num_bins);
    Architecture arch{std::vector<int>(space_->genes().size(), 0)};
    for (uint64_t code = 0; code < *size; ++code) {
      uint64_t rest = code;
      for (size_t g = 0; g < arch.genes.size(); ++g) {
        const uint64_t n = space_->genes()[g].options.size();
        arch.genes[g] = static_cast<int>(rest % n);
        rest /= n;
      }
      members_[BinOf(space_->Cost(arch).flops)].push_back(arch);
    }
    for (int b = 0; b < num_bins; ++b) empty_[b] = members_[b].empty();
  } else {
    Rng rng(0xb1a5);
    for (int b = 0; b < num_bins; ++b) {
      bool found = false;
      for (int attempt = 0; attempt < 3 && !found; ++attempt) Generate(b, rng, &found);
      empty_[b] = !found;
    }
  }
}

int ComplexityBins::BinOf(int64_t flops) const {
  for (int b = 0; b < num_bins(); ++b) {
    if (flops < upper_[b]) return b;
  }
  return num_bins() - 1;
}

Architecture ComplexityBins::Generate(int bin, Rng& rng, bool* in_bin) const {
  if (!members_.empty()) {
    if (in_bin != nullptr) *in_bin = !members_[bin].empty();
    if (!members_[bin].empty()) return members_[bin][rng.UniformInt(members_[bin].size())];
    // An empty bin: the nearest non-empty one.
    for (int d = 1; d < num_bins(); ++d) {
      for (int b : {bin - d, bin + d}) {
        if (b >= 0 && b < num_bins() && !members_[b].empty()) {
          return members_[b][rng.UniformInt(members_[b].size())];
        }
      }
    }
  }
  const int64_t lo = lower_[bin], hi = upper_[bin];
  Architecture best = space_->Sample(rng);
  int64_t best_distance = DistanceToBin(space_->Cost(best).flops, lo, hi);
  for (int t = 1; t < kUniformTries && best_distance > 0; ++t) {
    Architecture a = space_->Sample(rng);
    const int64_t d = DistanceToBin(space_->Cost(a).flops, lo, hi);
    if (d < best_distance) {
      best = std::move(a);
      best_distance = d;
    }
  }
  // Greedy single-gene repair from the closest draw.
  Architecture current = best;
  for (int move = 0; move < kRepairMoves && best_distance > 0; ++move) {
    const size_t g = rng.UniformInt(space_->genes().size());
    const int options = static_cast<int>(space_->genes()[g].options.size());
    std::vector<int> best_options;
    int64_t best_here = INT64_MAX;
    for (int o = 0; o < options; ++o) {
      current.genes[g] = o;
      const int64_t d = DistanceToBin(space_->Cost(current).flops, lo, hi);
      if (d < best_here) {
        best_here = d;
        best_options = {o};
      } else if (d == best_here) {
        best_options.push_back(o);
      }
    }
    current.genes[g] = best_options[rng.UniformInt(best_options.size())];
    if (best_here < best_distance) {
      best = current;
      best_distance = best_here;
    }
  }
  if (in_bin != nullptr) *in_bin = best_distance == 0;
  return best;
}

namespace {
absl::StatusOr<std::unique_ptr<PathSampler>> CreateUnrestrictedSampler(
    std::shared_ptr<const SearchSpace> space, const SamplerConfig& config, uint64_t seed) {
  if (config.num_bins < 1 || config.num_bins > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.num_bins: must be in [1, 1000], got ", config.num_bins));
  }
  if (config.kind == "uniform") return std::unique_ptr<PathSampler>(new UniformSampler(space, seed));
  if (config.kind == "fixed") {
    if (config.arch.empty()) return absl::InvalidArgumentError("sampler.arch: required by the fixed sampler");
    absl::StatusOr<Architecture> arch = space->Parse(config.arch);
    if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat("sampler.arch: ", arch.status().message()));
    return std::unique_ptr<PathSampler>(new FixedSampler(*std::move(arch)));
  }
  if (config.kind == "flops_uniform") {
    return std::unique_ptr<PathSampler>(new FlopsUniformSampler(space, config.num_bins, seed));
  }
  if (config.kind == "shifted") {
    if (config.update_every < 1) {
      return absl::InvalidArgumentError("sampler.update_every: must be at least 1");
    }
    if (!(config.loss_ema >= 0 && config.loss_ema < 1)) {
      return absl::InvalidArgumentError("sampler.loss_ema: must be in [0, 1)");
    }
    if (!(config.temperature > 0)) {
      return absl::InvalidArgumentError("sampler.temperature: must be positive");
    }
    if (!(config.min_probability >= 0 && config.min_probability <= 1)) {
      return absl::InvalidArgumentError("sampler.min_probability: must be in [0, 1]");
    }
    return std::unique_ptr<PathSampler>(new ShiftedSampler(space, config, seed));
  }
  if (config.kind == "sandwich") {
    if (config.sandwich_random < 0 || config.sandwich_random > 16) {
      return absl::InvalidArgumentError("sampler.sandwich_random: must be in [0, 16]");
    }
    return std::unique_ptr<PathSampler>(new SandwichSampler(space, config.sandwich_random, seed));
  }
  if (config.kind == "fair") return std::unique_ptr<PathSampler>(new FairSampler(space, seed));
  return absl::InvalidArgumentError(absl::StrCat(
      "sampler.kind: '", config.kind, "' is not one of uniform, flops_uniform, shifted, sandwich, fair"));
}
}  // namespace

}  // namespace nas::supernet
