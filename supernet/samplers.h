#ifndef NAS_SUPERNET_SAMPLERS_H_
#define NAS_SUPERNET_SAMPLERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "supernet/search_space.h"

namespace nas::supernet {

// Equal-width FLOPs bins over [min, max] FLOPs of a space, and a generator of
// architectures inside a requested bin. Thread-compatible (const methods are safe).
class ComplexityBins {
 public:
  ComplexityBins(std::shared_ptr<const SearchSpace> space, int num_bins);

  int num_bins() const { return static_cast<int>(lower_.size()); }
  int BinOf(int64_t flops) const;
  int64_t lower(int bin) const { return lower_[bin]; }
  int64_t upper(int bin) const { return upper_[bin]; }
  // False for a bin that no architecture reaches (known exactly for small spaces,
  // found by the bounded generator for large ones). Samplers never pick empty bins.
  bool empty(int bin) const { return empty_[bin]; }
  // Returns an architecture whose FLOPs fall in `bin`. Small spaces (at most 2^18
  // architectures) are enumerated once and the bin's members drawn uniformly. Large
  // spaces: up to 32 uniform draws, then at most 256 single-gene moves, each choosing
  // the option that brings the FLOPs closest to the bin; never an unbounded loop. If
  // the bin is not reached, returns the closest architecture found and sets *in_bin
  // (when given) to false.
  Architecture Generate(int bin, Rng& rng, bool* in_bin = nullptr) const;

 private:
  std::shared_ptr<const SearchSpace> space_;
  std::vector<int64_t> lower_, upper_;  // Bin b holds lower_[b] <= flops < upper_[b].
  std::vector<bool> empty_;
  std::vector<std::vector<Architecture>> members_;  // Small spaces only.
};

struct SamplerConfig {
  std::string kind = "uniform";  // uniform | flops_uniform | shifted | sandwich | fair | fixed
  int num_bins = 10;             // flops_uniform, shifted.
  // shifted: see docs/samplers.md.
  int update_every = 100;     // Steps between probability updates.
  double loss_ema = 0.9;      // Smoothing of each bin's tracked training loss.
  double temperature = 1.0;   // Softmax temperature over standardized improvements.
  double min_probability = 0.2;  // Share of the probability kept uniform (epsilon).
  int sandwich_random = 2;    // sandwich: random paths besides largest and smallest.
  std::string arch;           // fixed: the one architecture trained (fine-tuning a subnet).
  // A few-shot sub-supernet (any kind but fixed): every sampled path has gene
  // `restrict_gene` set to option `restrict_option` (after the kind's own draw, so the
  // other genes follow the kind's distribution). -1: no restriction.
  int restrict_gene = -1;
  int restrict_option = -1;
  // Options (by name, in every gene that has them) no sampled path takes: the kind draws
  // its paths from the space without them (a shrunk space; bins over its FLOPs).
  std::vector<std::string> exclude;
};

// Chooses the path(s) trained at each step. Sample(step) depends only on the seed,
// the step and the sampler's state (which Observe updates and SaveState captures), so
// equal seeds give equal paths in every process and a resumed run continues exactly.
class PathSampler {
 public:
  virtual ~PathSampler() = default;
  virtual std::string name() const = 0;
  virtual std::vector<Architecture> Sample(int64_t step) = 0;
  // Reports the training loss of `arch` at `step`.
  virtual void Observe(int64_t step, const Architecture& arch, double loss) {}
  // True when the first path of each step is a teacher whose soft labels the other
  // paths are distilled towards (sandwich rule).
  virtual bool distills() const { return false; }
  // True when the step's gradient is the sum over its paths (FairNAS), not the mean.
  virtual bool sums_paths() const { return false; }
  virtual nlohmann::json SaveState() const { return nlohmann::json::object(); }
  virtual absl::Status LoadState(const nlohmann::json& state) { return absl::OkStatus(); }
  // Current probability of each complexity bin (empty for samplers without bins).
  virtual std::vector<double> BinProbabilities() const { return {}; }
};

// Validates `config` (errors name the field as sampler.<field>) and builds the sampler.
absl::StatusOr<std::unique_ptr<PathSampler>> CreateSampler(
    std::shared_ptr<const SearchSpace> space, const SamplerConfig& config, uint64_t seed);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SAMPLERS_H_
