#include "search/evaluator_spec.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace nas::search {
namespace {

// The names of supernet/zero_cost.h (this library stays free of LibTorch).
const char* const kProxies[] = {"synflow", "naswot", "jacob_cov", "grad_norm", "snip", "swap", "meco", "meco_all", "zico"};

absl::Status ParseZc(const std::string& body, const std::string& where, EvaluatorItem* item) {
  item->kind = EvaluatorItem::Kind::kZeroCost;
  const size_t colon = body.find(':');
  item->proxy = body.substr(0, colon);
  if (colon != std::string::npos) item->path = body.substr(colon + 1);
  for (const char* p : kProxies) {
    if (item->proxy == p) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": unknown zero-cost proxy '", item->proxy, "' (one of ",
                                                 absl::StrJoin(kProxies, ", "), ")"));
}

}  // namespace

bool IsModelEvaluatorSpec(const std::string& spec) {
  return absl::StartsWith(spec, "zc:") || absl::StartsWith(spec, "combo:");
}

absl::StatusOr<EvaluatorSpec> ParseEvaluatorSpec(const std::string& spec, const std::string& field) {
  EvaluatorSpec out;
  if (absl::StartsWith(spec, "zc:")) {
    EvaluatorItem item;
    if (absl::Status s = ParseZc(spec.substr(3), field, &item); !s.ok()) return s;
    if (item.path.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", spec, "' needs a training config: zc:PROXY:CONFIG (its space and data)"));
    }
    out.items.push_back(item);
    return out;
  }
  if (!absl::StartsWith(spec, "combo:")) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", spec, "' is not zc:PROXY:CONFIG or combo:ITEMS"));
  }
  out.combo = true;
  bool have_checkpoint = false;
  for (absl::string_view piece : absl::StrSplit(spec.substr(6), '+')) {
    std::string text(piece);
    const std::string where = absl::StrCat(field, ": item '", text, "'");
    if (absl::StartsWith(text, "ref=")) {
      if (!absl::SimpleAtoi(text.substr(4), &out.reference) || out.reference < 2 || out.reference > 100000) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ref= needs an integer in [2, 100000]"));
      }
      continue;
    }
    EvaluatorItem item;
    if (const size_t star = text.rfind('*'); star != std::string::npos) {
      if (!absl::SimpleAtod(text.substr(star + 1), &item.weight) || !(item.weight > 0) || item.weight > 1e6) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": the weight after '*' must be a positive number"));
      }
      text = text.substr(0, star);
    }
    if (absl::StartsWith(text, "supernet:") || absl::StartsWith(text, "supernet_loss:") ||
        absl::StartsWith(text, "supernet@") || absl::StartsWith(text, "supernet_loss@")) {
      const bool loss = absl::StartsWith(text, "supernet_loss");
      item.kind = loss ? EvaluatorItem::Kind::kSupernetLoss : EvaluatorItem::Kind::kSupernet;
      const size_t colon = text.find(':');
      const size_t name_end = loss ? 13 : 8;
      if (colon == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": needs a checkpoint path (", text.substr(0, name_end),
                                                       "[@CELLS]:CHECKPOINT)"));
      }
      if (colon > name_end) {  // "@K": cells repeated to K per stage.
        const std::string cells = text.substr(name_end + 1, colon - name_end - 1);
        if (!absl::SimpleAtoi(cells, &item.cells_per_stage) || item.cells_per_stage < 1 || item.cells_per_stage > 64) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": '@", cells, "' must give the cells per stage, an integer in [1, 64]"));
        }
      }
      item.path = text.substr(colon + 1);
      if (item.path.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": needs a checkpoint path"));
      have_checkpoint = true;
    } else if (absl::StartsWith(text, "zc:")) {
      if (absl::Status s = ParseZc(text.substr(3), where, &item); !s.ok()) return s;
    } else if (text == "flops") {
      item.kind = EvaluatorItem::Kind::kFlops;
    } else if (text == "params") {
      item.kind = EvaluatorItem::Kind::kParams;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": not one of supernet[@CELLS]:CKPT, supernet_loss[@CELLS]:CKPT, zc:PROXY[:CONFIG], flops, params, ref=N"));
    }
    out.items.push_back(item);
  }
  if (out.items.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": combo: lists no items"));
  for (const EvaluatorItem& item : out.items) {
    if (item.kind == EvaluatorItem::Kind::kZeroCost && item.path.empty() && !have_checkpoint) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": item 'zc:", item.proxy,
                                                     "' needs :CONFIG when the combo has no supernet checkpoint"));
    }
  }
  bool has_model = false;
  for (const EvaluatorItem& item : out.items) {
    has_model |= item.kind != EvaluatorItem::Kind::kFlops && item.kind != EvaluatorItem::Kind::kParams;
  }
  if (!has_model) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": combo: needs at least one supernet or zc item (flops/params alone need no evaluator)"));
  }
  return out;
}

std::string EvaluatorSpec::Format() const {
  std::string s;
  for (const EvaluatorItem& item : items) {
    std::string t;
    switch (item.kind) {
      case EvaluatorItem::Kind::kSupernet:
      case EvaluatorItem::Kind::kSupernetLoss:
        t = item.kind == EvaluatorItem::Kind::kSupernet ? "supernet" : "supernet_loss";
        if (item.cells_per_stage > 0) absl::StrAppend(&t, "@", item.cells_per_stage);
        t += ":" + item.path;
        break;
      case EvaluatorItem::Kind::kZeroCost: t = "zc:" + item.proxy + (item.path.empty() ? "" : ":" + item.path); break;
      case EvaluatorItem::Kind::kFlops: t = "flops"; break;
      case EvaluatorItem::Kind::kParams: t = "params"; break;
    }
    if (item.weight != 1) t += absl::StrFormat("*%g", item.weight);
    s += (s.empty() ? "" : "+") + t;
  }
  if (!combo) return "zc:" + items[0].proxy + ":" + items[0].path;
  if (reference != 100) s += absl::StrCat("+ref=", reference);
  return "combo:" + s;
}

}  // namespace nas::search
