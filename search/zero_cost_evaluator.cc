#include "search/zero_cost_evaluator.h"

#include <algorithm>
#include <atomic>

#include <chrono>
#include <map>
#include <mutex>
#include <ostream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "search/supernet_evaluator.h"
#include "supernet/file_util.h"
#include "supernet/trained_supernet.h"

namespace nas::search {
namespace {

// Supernet construction draws from torch's global generator.
std::mutex& InitMutex() {
  static std::mutex mu;
  return mu;
}

// The last results of a supernet's evaluations, so that two items reading the same
// evaluation (accuracy and loss) of an architecture evaluate it once. Bounded: cleared
// when it holds kMaxEntries.
class SupernetMemo {
 public:
  absl::StatusOr<supernet::EvalResult> Evaluate(const SupernetEvaluator& sn, const supernet::Architecture& a) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = results_.find(a);
      if (it != results_.end()) return it->second;
    }
    absl::StatusOr<supernet::EvalResult> r = sn.Evaluate(a);
    if (!r.ok()) return r.status();
    std::lock_guard<std::mutex> lock(mu_);
    if (results_.size() >= kMaxEntries) results_.clear();
    results_.emplace(a, *r);
    return r;
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::mutex mu_;
  std::unordered_map<supernet::Architecture, supernet::EvalResult, supernet::ArchitectureHash> results_;
};

// `score` with its values kept in `archive` under `key` (the item's identity): looked up
// first, stored after. An archive error only costs the caching, never the value.
// `hits` counts the values read from the archive.
std::function<absl::StatusOr<double>(const supernet::Architecture&)> Archived(
    EvaluationArchive* archive, std::string key, std::shared_ptr<const supernet::SearchSpace> space,
    std::shared_ptr<std::atomic<int64_t>> hits, std::function<absl::StatusOr<double>(const supernet::Architecture&)> score) {
  if (archive == nullptr) return score;
  return [archive, key = std::move(key), space, hits, score = std::move(score)](
             const supernet::Architecture& a) -> absl::StatusOr<double> {
    const std::string arch = space->Format(a);
    absl::StatusOr<std::optional<double>> kept = archive->Lookup(key, space->name(), arch);
    if (kept.ok() && kept->has_value()) {
      ++*hits;
      return **kept;
    }
    const auto started = std::chrono::steady_clock::now();
    absl::StatusOr<double> v = score(a);
    if (v.ok()) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      (void)archive->Insert({EvaluationArchive::Record{key, space->name(), arch, *v, seconds}});
    }
    return v;
  };
}

}  // namespace

std::string ZeroCostOptions::IdSuffix() const {
  std::string suffix = absl::StrFormat(":b%d:s%d", batch_size, seed);
  if (repeats != 1) absl::StrAppendFormat(&suffix, ":r%d", repeats);
  return suffix;
}

absl::StatusOr<double> ZeroCostEnsemble::Score(supernet::ZeroCostProxy proxy,
                                               const supernet::Architecture& arch) const {
  double sum = 0;
  for (const auto& draw : draws_) {
    absl::StatusOr<double> s = draw->Score(proxy, arch);
    if (!s.ok()) return s.status();
    sum += *s;
  }
  return sum / static_cast<double>(draws_.size());
}

absl::StatusOr<std::shared_ptr<const ZeroCostEnsemble>> MakeZeroCostScorer(const supernet::TrainConfig& config,
                                                                           const supernet::DataSplits& data,
                                                                           torch::Device device,
                                                                           const ZeroCostOptions& options) {
  if (options.batch_size < 2 || options.batch_size > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("zero-cost batch size must be in [2, 4096], got ", options.batch_size));
  }
  if (options.repeats < 1 || options.repeats > kMaxZeroCostRepeats) {
    return absl::InvalidArgumentError(
        absl::StrCat("zero-cost repeats must be in [1, ", kMaxZeroCostRepeats, "], got ", options.repeats));
  }
  if (static_cast<int64_t>(data.train_indices.size()) < options.batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("zero-cost proxies need ", options.batch_size,
                                                   " training images; the data has ", data.train_indices.size()));
  }
  std::vector<std::shared_ptr<const supernet::ZeroCostScorer>> draws;
  for (int i = 0; i < options.repeats; ++i) {
    const uint64_t seed = options.seed + static_cast<uint64_t>(i);
    supernet::Supernet net;
    {
      std::lock_guard<std::mutex> lock(InitMutex());
      torch::manual_seed(seed);
      net = supernet::CreateSupernet(config.space, config.supernet);
    }
    net->to(device);
    net->eval();
    supernet::BatchLoader loader(data.train_set, data.train_indices, options.batch_size, supernet::AugmentOptions{},
                                 /*shuffle=*/true, seed ^ 0x2e20c057ULL);
    supernet::Batch batch = loader.Get(0, 0);
    try {
      draws.push_back(std::make_shared<supernet::ZeroCostScorer>(net, batch.images.to(device),
                                                                 batch.labels.to(device), device));
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("zero-cost scorer: ", e.what_without_backtrace()));
    }
  }
  return std::shared_ptr<const ZeroCostEnsemble>(std::make_shared<ZeroCostEnsemble>(std::move(draws)));
}

absl::StatusOr<LoadedEvaluator> LoadModelEvaluator(const std::string& spec_text, const std::string& field,
                                                   torch::Device device, const ModelEvaluatorOptions& options,
                                                   std::ostream& log) {
  absl::StatusOr<EvaluatorSpec> spec = ParseEvaluatorSpec(spec_text, field);
  if (!spec.ok()) return spec.status();
  LoadedEvaluator out;
  auto same_space = [&](const std::shared_ptr<const supernet::SearchSpace>& space,
                        const std::string& source) -> absl::Status {
    if (out.space == nullptr) {
      out.space = space;
      return absl::OkStatus();
    }
    if (space->name() != out.space->name()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", source, " is over space '", space->name(),
                                                     "' but another item over '", out.space->name(), "'"));
    }
    return absl::OkStatus();
  };
  // Supernets by checkpoint (loaded once each), then zero-cost scorers by config.
  using Supernets = std::map<std::string, std::shared_ptr<SupernetEvaluator>>;
  Supernets supernets, rerank_supernets;  // The latter on rerank_images.
  std::map<std::string, std::shared_ptr<const ZeroCostEnsemble>> scorers;
  std::string default_config;  // The first checkpoint's, for zc items without one.
  std::map<std::string, std::string> zc_sources;  // Scorer key -> identity of its network and images.
  for (const EvaluatorItem& item : spec->items) {
    if (item.kind != EvaluatorItem::Kind::kSupernet && item.kind != EvaluatorItem::Kind::kSupernetLoss) continue;
    if (supernets.count(item.path)) continue;
    SupernetEvaluator::Options eo;
    eo.calibration_batches = options.calibration_batches;
    eo.max_images = options.eval_images;
    log << "loading supernet " << item.path << " and its data...\n";
    auto loaded = SupernetEvaluator::Load(item.path, device, eo);
    if (!loaded.ok()) return absl::Status(loaded.status().code(), absl::StrCat(field, ": ", loaded.status().message()));
    if (absl::Status s = same_space((*loaded)->trained().config.space, item.path); !s.ok()) return s;
    if (default_config.empty()) default_config = item.path;
    for (const std::string& option : (*loaded)->trained().config.sampler.exclude) {
      if (std::find(out.untrained_options.begin(), out.untrained_options.end(), option) == out.untrained_options.end()) {
        out.untrained_options.push_back(option);
      }
    }
    supernets[item.path] = std::shared_ptr<SupernetEvaluator>(std::move(*loaded));
    if (options.rerank_images >= 0) {
      rerank_supernets[item.path] = supernets[item.path]->WithImages(options.rerank_images);
    }
  }
  // Items with cells repeated (supernet_loss@K): derived from their checkpoint's evaluator.
  const auto supernet_key = [](const EvaluatorItem& item) {
    return item.cells_per_stage > 0 ? absl::StrCat(item.path, "@", item.cells_per_stage) : item.path;
  };
  for (const EvaluatorItem& item : spec->items) {
    if (item.kind != EvaluatorItem::Kind::kSupernet && item.kind != EvaluatorItem::Kind::kSupernetLoss) continue;
    const std::string key = supernet_key(item);
    if (item.cells_per_stage == 0 || supernets.count(key)) continue;
    auto deep = supernets.at(item.path)->WithCellsPerStage(item.cells_per_stage);
    if (!deep.ok()) return absl::Status(deep.status().code(), absl::StrCat(field, ": ", deep.status().message()));
    supernets[key] = std::shared_ptr<SupernetEvaluator>(std::move(*deep));
    if (options.rerank_images >= 0) rerank_supernets[key] = supernets[key]->WithImages(options.rerank_images);
  }
  if (options.rerank_images >= 0 && (supernets.empty() || !spec->combo)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rerank_top: the evaluator has no supernet item to evaluate on more images (", spec_text, ")"));
  }
  for (const EvaluatorItem& item : spec->items) {
    if (item.kind != EvaluatorItem::Kind::kZeroCost) continue;
    const std::string key = item.path.empty() ? default_config : item.path;
    if (scorers.count(key)) continue;
    const auto started = std::chrono::steady_clock::now();
    absl::StatusOr<std::shared_ptr<const ZeroCostEnsemble>> scorer;
    if (item.path.empty()) {
      const supernet::TrainedSupernet& trained = supernets.at(default_config)->trained();
      scorer = MakeZeroCostScorer(trained.config, trained.data, device, options.zero_cost);
    } else {
      absl::StatusOr<supernet::TrainConfig> config = supernet::LoadTrainConfig(item.path);
      if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat(field, ": ", config.status().message()));
      if (absl::Status s = same_space(config->space, item.path); !s.ok()) return s;
      log << "loading the data of " << item.path << " for zero-cost proxies...\n";
      absl::StatusOr<supernet::DataSplits> data = supernet::LoadData(*config);
      if (!data.ok()) return absl::Status(data.status().code(), absl::StrCat(field, ": ", data.status().message()));
      scorer = MakeZeroCostScorer(*config, *data, device, options.zero_cost);
    }
    if (!scorer.ok()) return absl::Status(scorer.status().code(), absl::StrCat(field, ": ", scorer.status().message()));
    log << absl::StrFormat("zero-cost scorer ready (%d images, seed %d, %d draw(s), %.1f s)\n",
                           options.zero_cost.batch_size, options.zero_cost.seed, options.zero_cost.repeats,
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    scorers[key] = *scorer;
    if (item.path.empty()) {
      zc_sources[key] = supernets.at(default_config)->id();
    } else {
      absl::StatusOr<std::string> hash = FileHash(item.path);
      if (!hash.ok()) return absl::Status(hash.status().code(), absl::StrCat(field, ": ", hash.status().message()));
      zc_sources[key] = "config:" + *hash;
    }
  }
  const std::string zc_suffix = options.zero_cost.IdSuffix();
  if (!spec->combo) {
    const EvaluatorItem& item = spec->items[0];
    absl::StatusOr<supernet::ZeroCostProxy> proxy = supernet::ParseZeroCostProxy(item.proxy);
    if (!proxy.ok()) return proxy.status();
    out.evaluator = std::make_unique<ZeroCostEvaluator>(scorers.at(item.path), *proxy,
                                                        absl::StrCat("zc:", item.proxy, ":", out.space->name(), zc_suffix));
    return out;
  }
  // A combination: one component per item, scored with `nets`; `id` its identity.
  std::string id;
  auto archive_hits = std::make_shared<std::atomic<int64_t>>(0);  // Item scores read from options.archive.
  const auto make_components = [&](const Supernets& nets) -> absl::StatusOr<std::vector<ScoreComponent>> {
    std::map<std::string, std::shared_ptr<SupernetMemo>> memos;
    std::vector<ScoreComponent> components;
    id = "combo:";
    for (const EvaluatorItem& item : spec->items) {
      ScoreComponent c;
      c.weight = item.weight;
      switch (item.kind) {
        case EvaluatorItem::Kind::kSupernet:
        case EvaluatorItem::Kind::kSupernetLoss: {
          const std::string key = supernet_key(item);
          std::shared_ptr<SupernetEvaluator> sn = nets.at(key);
          const bool loss = item.kind == EvaluatorItem::Kind::kSupernetLoss;
          c.name = loss ? "supernet_loss" : "supernet";
          if (item.cells_per_stage > 0) absl::StrAppend(&c.name, "@", item.cells_per_stage);
          absl::StrAppend(&id, c.name, "[", sn->id(), "]");
          // supernet and supernet_loss of one network share one evaluation per architecture.
          std::shared_ptr<SupernetMemo> memo = memos[key];
          if (memo == nullptr) memo = memos[key] = std::make_shared<SupernetMemo>();
          c.score = Archived(options.archive, absl::StrCat("item:", c.name, "[", sn->id(), "]"), out.space, archive_hits,
                             [sn, memo, loss](const supernet::Architecture& a) -> absl::StatusOr<double> {
                               absl::StatusOr<supernet::EvalResult> r = memo->Evaluate(*sn, a);
                               if (!r.ok()) return r.status();
                               return loss ? -r->loss : 100.0 * r->accuracy;
                             });
          break;
        }
        case EvaluatorItem::Kind::kZeroCost: {
          absl::StatusOr<supernet::ZeroCostProxy> proxy = supernet::ParseZeroCostProxy(item.proxy);
          if (!proxy.ok()) return proxy.status();
          const std::string source = item.path.empty() ? default_config : item.path;
          std::shared_ptr<const ZeroCostEnsemble> scorer = scorers.at(source);
          c.name = "zc:" + item.proxy;
          absl::StrAppend(&id, c.name, zc_suffix);
          const supernet::ZeroCostProxy p = *proxy;
          // Keyed by what the untrained network and images come from: the checkpoint (its
          // hash) or the config file's bytes.
          c.score = Archived(options.archive, absl::StrCat("item:", c.name, zc_suffix, "[", zc_sources.at(source), "]"),
                             out.space, archive_hits,
                             [scorer, p](const supernet::Architecture& a) { return scorer->Score(p, a); });
          break;
        }
        case EvaluatorItem::Kind::kFlops:
        case EvaluatorItem::Kind::kParams: {
          const bool flops = item.kind == EvaluatorItem::Kind::kFlops;
          c.name = flops ? "flops" : "params";
          absl::StrAppend(&id, c.name);
          std::shared_ptr<const supernet::SearchSpace> space = out.space;
          c.score = [space, flops](const supernet::Architecture& a) -> absl::StatusOr<double> {
            const supernet::CostSummary cost = space->Cost(a);
            return static_cast<double>(flops ? cost.flops : cost.params);
          };
          break;
        }
      }
      if (item.weight != 1) absl::StrAppendFormat(&id, "*%g", item.weight);
      id += "+";
      components.push_back(std::move(c));
    }
    // ":tails": percentiles past the reference range keep their order (CombinedEvaluator).
    absl::StrAppendFormat(&id, "ref%d:s%d:tails", spec->reference, options.reference_seed);
    return components;
  };
  absl::StatusOr<std::vector<ScoreComponent>> components = make_components(supernets);
  if (!components.ok()) return components.status();
  const auto started = std::chrono::steady_clock::now();
  log << "scoring the combination's reference sample (" << spec->reference << " random architectures)...\n";
  // A progress line about every tenth of the sample: scoring it can take minutes.
  const int step = std::max(1, spec->reference / 10);
  auto combined = CombinedEvaluator::Create(
      out.space, *std::move(components), spec->reference, options.reference_seed, id, options.should_stop,
      [&](int scored, int total) {
        if (scored % step != 0 || scored == total) return;
        log << absl::StrFormat("reference sample: %d/%d architectures scored (%.0f s)\n", scored, total,
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())
            << std::flush;
      });
  if (!combined.ok()) return absl::Status(combined.status().code(), absl::StrCat(field, ": ", combined.status().message()));
  log << absl::StrFormat("reference sample scored in %.1f s", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (options.archive != nullptr) {
    log << absl::StrFormat(" (%d item scores from the archive %s)", archive_hits->load(), options.archive->path());
  }
  log << "\n";
  if (options.rerank_images >= 0) {
    absl::StatusOr<std::vector<ScoreComponent>> precise = make_components(rerank_supernets);
    if (!precise.ok()) return precise.status();
    auto rerank = (*combined)->WithComponents(*std::move(precise), id);
    if (!rerank.ok()) return rerank.status();
    out.rerank = *std::move(rerank);
  }
  out.evaluator = *std::move(combined);
  return out;
}

}  // namespace nas::search
