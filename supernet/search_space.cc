#include "supernet/search_space.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nas::supernet {
namespace {

// Largest cost-group table the space will build (nb201's one cell group has 5^6).
constexpr size_t kMaxGroupTableSize = 1 << 20;

bool Better(const CostSummary& a, const CostSummary& b, CostMetric metric, bool maximize) {
  for (CostMetric m : {metric, CostMetric::kFlops, CostMetric::kParams, CostMetric::kBitOps,
                       CostMetric::kSizeBytes}) {
    const int64_t va = CostValue(a, m), vb = CostValue(b, m);
    if (va != vb) return maximize ? va > vb : va < vb;
  }
  return false;
}

constexpr CostMetric kCostMetrics[] = {CostMetric::kFlops, CostMetric::kParams,
                                       CostMetric::kBitOps, CostMetric::kSizeBytes};

}  // namespace

CostSummary& CostSummary::operator+=(const CostSummary& other) {
  flops += other.flops;
  params += other.params;
  bitops += other.bitops;
  size_bytes += other.size_bytes;
  return *this;
}

void CostSummary::Add(const PlanBlock& block) {
  flops += block.Flops();
  params += block.Params();
  bitops += block.BitOps();
  size_bytes += block.SizeBytes();
}

int64_t CostValue(const CostSummary& cost, CostMetric metric) {
  switch (metric) {
    case CostMetric::kFlops:
      return cost.flops;
    case CostMetric::kParams:
      return cost.params;
    case CostMetric::kBitOps:
      return cost.bitops;
    case CostMetric::kSizeBytes:
      return cost.size_bytes;
  }
  return 0;
}

absl::string_view SpaceKindName(SpaceKind kind) {
  switch (kind) {
    case SpaceKind::kShuffleNetOneShot:
      return "shufflenet_oneshot";
    case SpaceKind::kMobileNetV2Macro:
      return "mobilenetv2_macro";
    case SpaceKind::kNb201:
      return "nb201";
  }
  return "unknown";
}

SearchSpace::SearchSpace(std::string name, SpaceKind kind, std::string source,
                         int64_t input_size, int64_t input_channels, int64_t num_classes)
    : name_(std::move(name)),
      kind_(kind),
      source_(std::move(source)),
      input_size_(input_size),
      input_channels_(input_channels),
      num_classes_(num_classes) {}

absl::Status SearchSpace::Finish() {
  const int num_groups = static_cast<int>(group_names_.size());
  group_tables_.assign(num_groups, GroupTable{});
  for (int i = 0; i < static_cast<int>(genes_.size()); ++i) {
    const int g = genes_[i].group;
    if (g < 0 || g >= num_groups || genes_[i].options.empty()) {
      return absl::InternalError(absl::StrCat(source_, ": gene ", genes_[i].name,
                                              " has no options or a bad cost group"));
    }
    group_tables_[g].gene_indices.push_back(i);
  }

  Architecture base{std::vector<int>(genes_.size(), 0)};
  const NetworkPlan base_plan = BuildPlan(base);
  fixed_cost_ = {};
  for (const PlanBlock& block : base_plan.blocks) {
    if (block.group < 0) fixed_cost_.Add(block);
  }

  for (int g = 0; g < num_groups; ++g) {
    GroupTable& table = group_tables_[g];
    size_t size = 1;
    for (int gi : table.gene_indices) {
      size *= genes_[gi].options.size();
      if (size > kMaxGroupTableSize) {
        return absl::InvalidArgumentError(absl::StrCat(
            source_, ": cost group ", group_names_[g], " has too many combinations"));
      }
    }
    table.costs.resize(size);
    Architecture arch = base;
    for (size_t code = 0; code < size; ++code) {
      size_t rest = code;
      for (int gi : table.gene_indices) {
        const size_t n = genes_[gi].options.size();
        arch.genes[gi] = static_cast<int>(rest % n);
        rest /= n;
      }
      CostSummary cost;
      for (const PlanBlock& block : BuildPlan(arch).blocks) {
        if (block.group == g) cost.Add(block);
      }
      table.costs[code] = cost;
    }
  }

  for (CostMetric metric : kCostMetrics) {
    min_[static_cast<int>(metric)] = FindExtreme(metric, /*maximize=*/false);
    max_[static_cast<int>(metric)] = FindExtreme(metric, /*maximize=*/true);
  }
  return absl::OkStatus();
}

size_t SearchSpace::GroupCode(const Architecture& arch, const GroupTable& table) const {
  size_t code = 0, radix = 1;
  for (int gi : table.gene_indices) {
    code += static_cast<size_t>(arch.genes[gi]) * radix;
    radix *= genes_[gi].options.size();
  }
  return code;
}

SearchSpace::Extreme SearchSpace::FindExtreme(CostMetric metric, bool maximize) const {
  Extreme result{Architecture{std::vector<int>(genes_.size(), 0)}, fixed_cost_};
  for (const GroupTable& table : group_tables_) {
    size_t best = 0;
    for (size_t code = 1; code < table.costs.size(); ++code) {
      if (Better(table.costs[code], table.costs[best], metric, maximize)) best = code;
    }
    size_t rest = best;
    for (int gi : table.gene_indices) {
      const size_t n = genes_[gi].options.size();
      result.arch.genes[gi] = static_cast<int>(rest % n);
      rest /= n;
    }
    result.cost += table.costs[best];
  }
  return result;
}

CostSummary SearchSpace::Cost(const Architecture& arch) const {
  CostSummary total = fixed_cost_;
  for (const GroupTable& table : group_tables_) {
    total += table.costs[GroupCode(arch, table)];
  }
  return total;
}

CostSummary SearchSpace::GroupCost(const Architecture& arch, int group) const {
  const GroupTable& table = group_tables_.at(group);
  return table.costs[GroupCode(arch, table)];
}

absl::Status SearchSpace::Validate(const Architecture& arch) const {
  if (arch.genes.size() != genes_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("architecture of space '", name_,
                                                   "' must have ", genes_.size(),
                                                   " genes, got ", arch.genes.size()));
  }
  for (size_t i = 0; i < genes_.size(); ++i) {
    const int n = static_cast<int>(genes_[i].options.size());
    if (arch.genes[i] < 0 || arch.genes[i] >= n) {
      return absl::InvalidArgumentError(absl::StrCat(genes_[i].name, ": option index ",
                                                     arch.genes[i], " is out of range [0, ",
                                                     n, ")"));
    }
  }
  return absl::OkStatus();
}

std::optional<uint64_t> SearchSpace::ExactSize() const {
  uint64_t size = 1;
  for (const Gene& gene : genes_) {
    const uint64_t n = gene.options.size();
    if (size > std::numeric_limits<uint64_t>::max() / n) return std::nullopt;
    size *= n;
  }
  return size;
}

double SearchSpace::Log10Size() const {
  double total = 0;
  for (const Gene& gene : genes_) total += std::log10(static_cast<double>(gene.options.size()));
  return total;
}

Architecture SearchSpace::Sample(Rng& rng) const {
  Architecture arch;
  arch.genes.reserve(genes_.size());
  for (const Gene& gene : genes_) {
    arch.genes.push_back(static_cast<int>(rng.UniformInt(gene.options.size())));
  }
  return arch;
}

Architecture SearchSpace::MutateOne(const Architecture& arch, Rng& rng) const {
  std::vector<int> mutable_genes;
  for (size_t i = 0; i < genes_.size(); ++i) {
    if (genes_[i].options.size() > 1) mutable_genes.push_back(static_cast<int>(i));
  }
  Architecture child = arch;
  if (mutable_genes.empty()) return child;
  const int i = mutable_genes[rng.UniformInt(mutable_genes.size())];
  const uint64_t n = genes_[i].options.size();
  // Draw among the n - 1 other options.
  const int shift = 1 + static_cast<int>(rng.UniformInt(n - 1));
  child.genes[i] = static_cast<int>((child.genes[i] + shift) % n);
  return child;
}

Architecture SearchSpace::Mutate(const Architecture& arch, double per_gene_probability,
                                 Rng& rng) const {
  Architecture child = arch;
  for (size_t i = 0; i < genes_.size(); ++i) {
    const uint64_t n = genes_[i].options.size();
    if (n < 2 || !rng.Bernoulli(per_gene_probability)) continue;
    const int shift = 1 + static_cast<int>(rng.UniformInt(n - 1));
    child.genes[i] = static_cast<int>((child.genes[i] + shift) % n);
  }
  return child;
}

Architecture SearchSpace::Crossover(const Architecture& a, const Architecture& b,
                                   Rng& rng) const {
  Architecture child = a;
  for (size_t i = 0; i < child.genes.size() && i < b.genes.size(); ++i) {
    if (rng.Bernoulli(0.5)) child.genes[i] = b.genes[i];
  }
  return child;
}

absl::StatusOr<int> ParseOption(const Gene& gene, absl::string_view token,
                                absl::string_view field) {
  for (size_t i = 0; i < gene.options.size(); ++i) {
    if (gene.options[i] == token) return static_cast<int>(i);
  }
  int index = 0;
  const bool all_digits =
      !token.empty() && token.size() <= 9 &&
      std::all_of(token.begin(), token.end(), [](char c) { return absl::ascii_isdigit(c); });
  if (all_digits && absl::SimpleAtoi(token, &index) && index >= 0 &&
      index < static_cast<int>(gene.options.size())) {
    return index;
  }
  std::string shown(token.substr(0, 40));
  if (token.size() > 40) shown += "...";
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": '", absl::CHexEscape(shown), "' is not one of ",
      absl::StrJoin(gene.options, ", "), " (or an index 0-", gene.options.size() - 1, ")"));
}

RestrictedSpace::RestrictedSpace(std::shared_ptr<const SearchSpace> full)
    : SearchSpace(full->name(), full->kind(), full->source(), full->input_size(), full->input_channels(),
                  full->num_classes()),
      full_(std::move(full)) {}

absl::StatusOr<std::shared_ptr<const RestrictedSpace>> RestrictedSpace::Create(std::shared_ptr<const SearchSpace> full,
                                                                               std::vector<std::vector<int>> keep) {
  if (keep.size() != full->genes().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a restriction of '", full->name(), "' needs ", full->genes().size(), " genes, got ", keep.size()));
  }
  std::shared_ptr<RestrictedSpace> space(new RestrictedSpace(full));
  for (size_t g = 0; g < keep.size(); ++g) {
    const Gene& gene = full->genes()[g];
    if (keep[g].empty()) return absl::InvalidArgumentError(absl::StrCat(gene.name, ": no option left"));
    Gene restricted{gene.name, {}, gene.group};
    for (size_t k = 0; k < keep[g].size(); ++k) {
      const int o = keep[g][k];
      if (o < 0 || o >= static_cast<int>(gene.options.size()) || (k > 0 && o <= keep[g][k - 1])) {
        return absl::InvalidArgumentError(absl::StrCat(gene.name, ": option indices must be ascending in [0, ",
                                                       gene.options.size() - 1, "]"));
      }
      restricted.options.push_back(gene.options[o]);
    }
    space->genes_.push_back(std::move(restricted));
  }
  space->group_names_ = full->group_names();
  space->keep_ = std::move(keep);
  if (absl::Status s = space->Finish(); !s.ok()) return s;
  return std::shared_ptr<const RestrictedSpace>(std::move(space));
}

absl::StatusOr<std::shared_ptr<const RestrictedSpace>> RestrictedSpace::Excluding(
    std::shared_ptr<const SearchSpace> full, const std::vector<std::string>& excluded, const std::string& field) {
  std::vector<std::vector<int>> keep(full->genes().size());
  for (const std::string& name : excluded) {
    const bool somewhere = std::any_of(full->genes().begin(), full->genes().end(), [&](const Gene& g) {
      return std::find(g.options.begin(), g.options.end(), name) != g.options.end();
    });
    if (!somewhere) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", name, "' is not an option of any gene of space '", full->name(), "'"));
    }
  }
  for (size_t g = 0; g < keep.size(); ++g) {
    const Gene& gene = full->genes()[g];
    for (size_t o = 0; o < gene.options.size(); ++o) {
      if (std::find(excluded.begin(), excluded.end(), gene.options[o]) == excluded.end()) {
        keep[g].push_back(static_cast<int>(o));
      }
    }
    if (keep[g].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": leaves gene ", gene.name, " without options"));
    }
  }
  return Create(std::move(full), std::move(keep));
}

Architecture RestrictedSpace::ToFull(const Architecture& arch) const {
  Architecture out = arch;
  for (size_t g = 0; g < out.genes.size(); ++g) out.genes[g] = keep_[g][static_cast<size_t>(arch.genes[g])];
  return out;
}

std::string RestrictedSpace::Format(const Architecture& arch) const { return full_->Format(ToFull(arch)); }

absl::StatusOr<Architecture> RestrictedSpace::FromFull(const Architecture& full_arch) const {
  Architecture out = full_arch;
  for (size_t g = 0; g < out.genes.size(); ++g) {
    auto it = std::find(keep_[g].begin(), keep_[g].end(), full_arch.genes[g]);
    if (it == keep_[g].end()) {
      return absl::InvalidArgumentError(absl::StrCat(genes_[g].name, ": ",
                                                     full_->genes()[g].options[full_arch.genes[g]],
                                                     " is not in this restriction of '", name(), "'"));
    }
    out.genes[g] = static_cast<int>(it - keep_[g].begin());
  }
  return out;
}

absl::StatusOr<Architecture> RestrictedSpace::Parse(absl::string_view text) const {
  absl::StatusOr<Architecture> full = full_->Parse(text);
  if (!full.ok()) return full.status();
  return FromFull(*full);
}

NetworkPlan RestrictedSpace::BuildPlan(const Architecture& arch) const { return full_->BuildPlan(ToFull(arch)); }

}  // namespace nas::supernet
