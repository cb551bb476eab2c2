#ifndef NAS_SUPERNET_SEARCH_SPACE_H_
#define NAS_SUPERNET_SEARCH_SPACE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "supernet/architecture.h"
#include "supernet/network_plan.h"
#include "supernet/random.h"

namespace nas::supernet {

// One searchable dimension: a layer's block type, a layer's channel scale, an edge's op.
struct Gene {
  std::string name;                  // e.g. "layers[3].block", "edge[2<-1]".
  std::vector<std::string> options;  // Canonical option names, in index order.
  int group = 0;                     // Cost group (see SearchSpace).
};

struct CostSummary {
  int64_t flops = 0;       // Multiply-accumulates for one input; see docs/cost_model.md.
  int64_t params = 0;      // Learnable parameters.
  int64_t bitops = 0;      // Weight MACs x weight bits x activation bits, for one input.
  int64_t size_bytes = 0;  // Learnable parameters in bytes at their bit-widths.

  CostSummary& operator+=(const CostSummary& other);
  // Adds one plan block's costs.
  void Add(const PlanBlock& block);
};

// The analytic costs a search can bound or optimize.
enum class CostMetric { kFlops, kParams, kBitOps, kSizeBytes };
int64_t CostValue(const CostSummary& cost, CostMetric metric);

enum class SpaceKind { kShuffleNetOneShot, kMobileNetV2Macro, kNb201 };

// Returns the YAML `type` value of a kind ("shufflenet_oneshot", ...).
absl::string_view SpaceKindName(SpaceKind kind);

// A search space: a fixed network skeleton plus a list of genes, each choosing one of
// its options. Immutable after construction and therefore thread-safe.
//
// Costs are additive over "cost groups": every gene belongs to one group (a layer, or
// for nb201 the one cell genotype shared by all cells), and a group's FLOPs and params
// depend only on its own genes. The space tabulates each group's cost once, so Cost()
// is a handful of lookups, and exact extremes are found group by group.
class SearchSpace {
 public:
  virtual ~SearchSpace() = default;

  const std::string& name() const { return name_; }
  SpaceKind kind() const { return kind_; }
  // Where the space was loaded from (a file path), used in messages.
  const std::string& source() const { return source_; }
  int64_t input_size() const { return input_size_; }
  int64_t input_channels() const { return input_channels_; }
  int64_t num_classes() const { return num_classes_; }
  const std::vector<Gene>& genes() const { return genes_; }
  const std::vector<std::string>& group_names() const { return group_names_; }

  // Architectures ---------------------------------------------------------------
  // Returns OK when `arch` has one valid option index per gene; otherwise an
  // InvalidArgument error that names the gene.
  absl::Status Validate(const Architecture& arch) const;
  // Returns the canonical string of a valid architecture (Parse(Format(a)) == a).
  virtual std::string Format(const Architecture& arch) const = 0;
  // Parses an architecture string; errors name the offending layer/edge and field.
  virtual absl::StatusOr<Architecture> Parse(absl::string_view text) const = 0;
  // Architectures with equal keys build networks that compute the same function with the
  // same weights (the supernet's forward, so inherited-weight evaluations agree exactly),
  // e.g. NB201 cells that differ only on edges no path to the output uses. The key need
  // not be an architecture of this space. Default: `arch` itself.
  virtual Architecture FunctionKey(const Architecture& arch) const { return arch; }

  // Number of architectures, when it fits in 64 bits.
  std::optional<uint64_t> ExactSize() const;
  double Log10Size() const;

  // Draws every gene uniformly.
  Architecture Sample(Rng& rng) const;
  // Changes exactly one gene (chosen uniformly among genes with more than one option)
  // to a different option.
  Architecture MutateOne(const Architecture& arch, Rng& rng) const;
  // Changes each gene with probability `per_gene_probability` to a different option.
  Architecture Mutate(const Architecture& arch, double per_gene_probability, Rng& rng) const;
  // Uniform crossover: each gene comes from `a` or `b` with probability 1/2.
  Architecture Crossover(const Architecture& a, const Architecture& b, Rng& rng) const;

  // Costs -------------------------------------------------------------------------
  // Returns the primitives of the stand-alone network of `arch` (which must be valid).
  virtual NetworkPlan BuildPlan(const Architecture& arch) const = 0;
  // Exact FLOPs and params of `arch` (valid), from the per-group tables.
  CostSummary Cost(const Architecture& arch) const;
  // Exact cost of the fixed skeleton (everything no gene decides).
  CostSummary FixedCost() const { return fixed_cost_; }
  // Exact cost contributed by one cost group of `arch`.
  CostSummary GroupCost(const Architecture& arch, int group) const;

  struct Extreme {
    Architecture arch;
    CostSummary cost;
  };
  // Architectures of smallest/largest cost (ties broken by FLOPs, then params).
  const Extreme& Min(CostMetric metric) const { return min_[static_cast<int>(metric)]; }
  const Extreme& Max(CostMetric metric) const { return max_[static_cast<int>(metric)]; }
  const Extreme& MinFlops() const { return Min(CostMetric::kFlops); }
  const Extreme& MaxFlops() const { return Max(CostMetric::kFlops); }
  const Extreme& MinParams() const { return Min(CostMetric::kParams); }
  const Extreme& MaxParams() const { return Max(CostMetric::kParams); }

 protected:
  SearchSpace(std::string name, SpaceKind kind, std::string source, int64_t input_size,
              int64_t input_channels, int64_t num_classes);

  // Called by subclasses once genes_ and group_names_ are set and BuildPlan works:
  // tabulates group costs and extremes.
  absl::Status Finish();

  std::vector<Gene> genes_;
  std::vector<std::string> group_names_;

 private:
  struct GroupTable {
    std::vector<int> gene_indices;
    std::vector<CostSummary> costs;  // Indexed by the mixed-radix code of the genes.
  };
  size_t GroupCode(const Architecture& arch, const GroupTable& table) const;
  Extreme FindExtreme(CostMetric metric, bool maximize) const;

  std::string name_;
  SpaceKind kind_;
  std::string source_;
  int64_t input_size_;
  int64_t input_channels_;
  int64_t num_classes_;
  std::vector<GroupTable> group_tables_;
  CostSummary fixed_cost_;
  Extreme min_[4], max_[4];  // Indexed by CostMetric.
};

// Loads a search space from a YAML file. Errors name the file, line and field.
absl::StatusOr<std::shared_ptr<const SearchSpace>> LoadSearchSpace(const std::string& path);
// Same, from YAML text; `source` names it in errors.
absl::StatusOr<std::shared_ptr<const SearchSpace>> ParseSearchSpace(const std::string& yaml,
                                                                   const std::string& source);

// Parses an option token: the option's canonical name, or its index as a decimal.
// `field` names the gene in the error.
absl::StatusOr<int> ParseOption(const Gene& gene, absl::string_view token,
                                absl::string_view field);

// A restriction of another space: the same genes, each keeping a subset of its options
// (e.g. a supernet's training space with some operations shrunk away). Architectures of
// the restriction index its options; ToFull maps them to the full space's, whose
// architecture strings, network plans and costs they share.
class RestrictedSpace : public SearchSpace {
 public:
  // `keep[g]`: the full space's option indices gene g keeps (ascending, at least one).
  // Errors name the gene.
  static absl::StatusOr<std::shared_ptr<const RestrictedSpace>> Create(std::shared_ptr<const SearchSpace> full,
                                                                        std::vector<std::vector<int>> keep);
  // `full` without the options named in `excluded` (in every gene that has them). Errors
  // name `field` and an excluded name no gene has, or a gene left without options.
  static absl::StatusOr<std::shared_ptr<const RestrictedSpace>> Excluding(std::shared_ptr<const SearchSpace> full,
                                                                           const std::vector<std::string>& excluded,
                                                                           const std::string& field);
  Architecture ToFull(const Architecture& arch) const;
  // The inverse; an error names the first gene whose option this restriction lacks.
  absl::StatusOr<Architecture> FromFull(const Architecture& full_arch) const;
  const SearchSpace& full() const { return *full_; }
  std::string Format(const Architecture& arch) const override;
  absl::StatusOr<Architecture> Parse(absl::string_view text) const override;
  // The full space's key of ToFull(arch).
  Architecture FunctionKey(const Architecture& arch) const override { return full_->FunctionKey(ToFull(arch)); }
  NetworkPlan BuildPlan(const Architecture& arch) const override;

 private:
  explicit RestrictedSpace(std::shared_ptr<const SearchSpace> full);
  std::shared_ptr<const SearchSpace> full_;
  std::vector<std::vector<int>> keep_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SEARCH_SPACE_H_
