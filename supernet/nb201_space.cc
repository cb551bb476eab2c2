#include "supernet/nb201_space.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace nas::supernet {
namespace {

constexpr Nb201Op kAllOps[] = {Nb201Op::kNone, Nb201Op::kSkipConnect, Nb201Op::kConv1x1,
                               Nb201Op::kConv3x3, Nb201Op::kAvgPool3x3};
constexpr int kEdgeTo[] = {1, 2, 2, 3, 3, 3};
constexpr int kEdgeFrom[] = {0, 0, 1, 0, 1, 2};

}  // namespace

absl::string_view Nb201OpName(Nb201Op op) {
  switch (op) {
    case Nb201Op::kNone:
      return "none";
    case Nb201Op::kSkipConnect:
      return "skip_connect";
    case Nb201Op::kConv1x1:
      return "nor_conv_1x1";
    case Nb201Op::kConv3x3:
      return "nor_conv_3x3";
    case Nb201Op::kAvgPool3x3:
      return "avg_pool_3x3";
  }
  return "unknown";
}

int Nb201Space::EdgeTo(int edge) { return kEdgeTo[edge]; }
int Nb201Space::EdgeFrom(int edge) { return kEdgeFrom[edge]; }

absl::StatusOr<std::shared_ptr<const Nb201Space>> Nb201Space::FromConfig(
    const ConfigNode& root, const std::string& source) {
  if (absl::Status s = root.ExpectKeys(
          {"name", "type", "input", "num_classes"},
          {"description", "stem_channels", "cells_per_stage", "num_stages", "ops"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> name = root["name"].String();
  if (!name.ok()) return name.status();
  const ConfigNode input = root["input"];
  if (absl::Status s = input.ExpectKeys({"size", "channels"}, {}); !s.ok()) return s;
  absl::StatusOr<int64_t> size = input["size"].Int(1, 4096);
  if (!size.ok()) return size.status();
  absl::StatusOr<int64_t> channels = input["channels"].Int(1, 64);
  if (!channels.ok()) return channels.status();
  absl::StatusOr<int64_t> classes = root["num_classes"].Int(2, 100000);
  if (!classes.ok()) return classes.status();

  std::shared_ptr<Nb201Space> space(new Nb201Space(*name, source, *size, *channels, *classes));
  absl::StatusOr<int64_t> v = root.IntOr("stem_channels", 16, 1, 4096);
  if (!v.ok()) return v.status();
  space->stem_channels_ = *v;
  if (v = root.IntOr("cells_per_stage", 5, 1, 64); !v.ok()) return v.status();
  space->cells_per_stage_ = static_cast<int>(*v);
  if (v = root.IntOr("num_stages", 3, 1, 6); !v.ok()) return v.status();
  space->num_stages_ = static_cast<int>(*v);
  const int64_t divisor = int64_t{1} << (space->num_stages_ - 1);
  if (*size % divisor != 0) {
    return input["size"].Error(absl::StrCat(*size, " must be divisible by ", divisor,
                                            " (one halving per reduction block)"));
  }

  if (root.Has("ops")) {
    absl::StatusOr<std::vector<ConfigNode>> items = root["ops"].Items();
    if (!items.ok()) return items.status();
    for (const ConfigNode& item : *items) {
      absl::StatusOr<std::string> op_name = item.String();
      if (!op_name.ok()) return op_name.status();
      bool found = false;
      for (Nb201Op op : kAllOps) {
        if (Nb201OpName(op) != *op_name) continue;
        for (Nb201Op existing : space->ops_) {
          if (existing == op) return item.Error(absl::StrCat("'", *op_name, "' is listed twice"));
        }
        space->ops_.push_back(op);
        found = true;
      }
      if (!found) {
        return item.Error(absl::StrCat(
            "'", *op_name,
            "' is not one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"));
      }
    }
  } else {
    space->ops_.assign(std::begin(kAllOps), std::end(kAllOps));
  }

  std::vector<std::string> op_names;
  for (Nb201Op op : space->ops_) op_names.emplace_back(Nb201OpName(op));
  space->group_names_ = {"cell"};
  for (int e = 0; e < kNumEdges; ++e) {
    space->genes_.push_back(
        Gene{absl::StrCat("edge[", kEdgeTo[e], "<-", kEdgeFrom[e], "]"), op_names, 0});
  }
  if (absl::Status s = space->Finish(); !s.ok()) return s;
  return std::shared_ptr<const Nb201Space>(std::move(space));
}

absl::StatusOr<std::shared_ptr<const Nb201Space>> Nb201Space::WithCellsPerStage(int cells_per_stage) const {
  if (cells_per_stage < 1 || cells_per_stage > 64) {
    return absl::InvalidArgumentError(absl::StrCat("cells per stage must be in [1, 64], got ", cells_per_stage));
  }
  std::shared_ptr<Nb201Space> space(new Nb201Space(name(), source(), input_size(), input_channels(), num_classes()));
  space->ops_ = ops_;
  space->stem_channels_ = stem_channels_;
  space->cells_per_stage_ = cells_per_stage;
  space->num_stages_ = num_stages_;
  space->group_names_ = group_names_;
  space->genes_ = genes_;
  if (absl::Status s = space->Finish(); !s.ok()) return s;
  return std::shared_ptr<const Nb201Space>(std::move(space));
}

Architecture Nb201Space::FunctionKey(const Architecture& arch) const {
  const auto none_it = std::find(ops_.begin(), ops_.end(), Nb201Op::kNone);
  if (none_it == ops_.end() || static_cast<int>(arch.genes.size()) < kNumEdges) return arch;
  const int none = static_cast<int>(none_it - ops_.begin());
  Architecture key = arch;
  auto op = [&](int e) { return ops_[key.genes[e]]; };
  auto weightless = [&](int e) { return op(e) == Nb201Op::kSkipConnect || op(e) == Nb201Op::kAvgPool3x3; };
  for (bool changed = true; changed;) {
    changed = false;
    // All zeros: no input adds anything but zeros (edges are ordered by their target).
    bool zero[kNumNodes] = {false, true, true, true};
    for (int e = 0; e < kNumEdges; ++e) {
      if (op(e) != Nb201Op::kNone && !(zero[kEdgeFrom[e]] && weightless(e))) zero[kEdgeTo[e]] = false;
    }
    // Used: some non-`none` edge leads on from it to a used node (the output is used).
    bool used[kNumNodes] = {true, false, false, true};
    for (int e = kNumEdges - 1; e >= 0; --e) {
      if (op(e) != Nb201Op::kNone && used[kEdgeTo[e]]) used[kEdgeFrom[e]] = true;
    }
    for (int e = 0; e < kNumEdges; ++e) {
      const bool adds_nothing = zero[kEdgeFrom[e]] && weightless(e);
      if (op(e) != Nb201Op::kNone && (adds_nothing || !used[kEdgeTo[e]])) {
        key.genes[e] = none;
        changed = true;
      }
    }
  }
  return key;
}

bool Nb201Space::IsConnected(const Architecture& arch) const {
  bool reached[kNumNodes] = {true, false, false, false};
  for (int e = 0; e < kNumEdges; ++e) {  // Edges are ordered by their target node.
    if (OpOf(arch, e) != Nb201Op::kNone && reached[kEdgeFrom[e]]) reached[kEdgeTo[e]] = true;
  }
  return reached[kNumNodes - 1];
}

std::string Nb201Space::Format(const Architecture& arch) const {
  std::string out;
  int e = 0;
  for (int node = 1; node < kNumNodes; ++node) {
    if (node > 1) out += "+";
    out += "|";
    for (int from = 0; from < node; ++from, ++e) {
      absl::StrAppend(&out, genes_[e].options[arch.genes[e]], "~", from, "|");
    }
  }
  return out;
}

absl::StatusOr<Architecture> Nb201Space::Parse(absl::string_view text) const {
  const std::vector<absl::string_view> nodes = absl::StrSplit(text, '+');
  if (nodes.size() != kNumNodes - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "arch: an nb201 cell string has ", kNumNodes - 1,
        " node groups separated by '+' (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|), got ",
        nodes.size()));
  }
  Architecture arch;
  int e = 0;
  for (int node = 1; node < kNumNodes; ++node) {
    absl::string_view group = nodes[node - 1];
    if (group.size() < 2 || group.front() != '|' || group.back() != '|') {
      return absl::InvalidArgumentError(
          absl::StrCat("arch: node ", node, ": expected '|op~0|...|' between '|' marks"));
    }
    group = group.substr(1, group.size() - 2);
    const std::vector<absl::string_view> edges = absl::StrSplit(group, '|');
    if (static_cast<int>(edges.size()) != node) {
      return absl::InvalidArgumentError(absl::StrCat("arch: node ", node, ": expected ", node,
                                                     " input edge(s), got ", edges.size()));
    }
    for (int from = 0; from < node; ++from, ++e) {
      const absl::string_view edge = edges[from];
      const size_t tilde = edge.rfind('~');
      const std::string expected_suffix = absl::StrCat("~", from);
      if (tilde == absl::string_view::npos || edge.substr(tilde) != expected_suffix) {
        return absl::InvalidArgumentError(absl::StrCat("arch: ", genes_[e].name,
                                                       ": expected 'op", expected_suffix, "'"));
      }
      absl::StatusOr<int> option =
          ParseOption(genes_[e], edge.substr(0, tilde), absl::StrCat("arch: ", genes_[e].name));
      if (!option.ok()) return option.status();
      arch.genes.push_back(*option);
    }
  }
  return arch;
}

NetworkPlan Nb201Space::BuildPlan(const Architecture& arch) const {
  NetworkPlan plan;
  int64_t c = stem_channels_;
  int64_t size = input_size();
  plan.blocks.push_back(PlanBlock{
      "stem", -1, {Conv(input_channels(), c, 3, 1, 1, size), BatchNorm(c)}});
  for (int stage = 0; stage < num_stages_; ++stage) {
    if (stage > 0) {
      const int64_t c_in = c;
      c *= 2;
      size /= 2;
      // ResNet basic block: ReLU-Conv-BN (stride 2), ReLU-Conv-BN, and a shortcut of
      // 2x2 average pooling then a 1x1 conv (no BN), as in NB201's ResNetBasicblock.
      plan.blocks.push_back(PlanBlock{absl::StrCat("reductions[", stage - 1, "]"),
                                      -1,
                                      {Conv(c_in, c, 3, 2, 1, size), BatchNorm(c),
                                       Conv(c, c, 3, 1, 1, size), BatchNorm(c),
                                       Conv(c_in, c, 1, 1, 1, size)}});
    }
    for (int i = 0; i < cells_per_stage_; ++i) {
      PlanBlock cell{absl::StrCat("cells[", stage * cells_per_stage_ + i, "]"), 0, {}};
      for (int e = 0; e < kNumEdges; ++e) {
        const Nb201Op op = OpOf(arch, e);
        if (op == Nb201Op::kConv1x1 || op == Nb201Op::kConv3x3) {
          const int64_t k = op == Nb201Op::kConv1x1 ? 1 : 3;
          cell.primitives.push_back(Conv(c, c, k, 1, 1, size));
          cell.primitives.push_back(BatchNorm(c));
        }
      }
      plan.blocks.push_back(std::move(cell));
    }
  }
  plan.blocks.push_back(
      PlanBlock{"head", -1, {BatchNorm(c), Linear(c, num_classes(), /*bias=*/true)}});
  return plan;
}

}  // namespace nas::supernet
