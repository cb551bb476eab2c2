#include "supernet/latency_profile.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <numeric>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "supernet/file_util.h"
#include "supernet/inference_graph.h"
#include "supernet/layered_space.h"
#include "supernet/quantized_graph.h"
#include "supernet/random.h"

namespace nas::supernet {
namespace {

constexpr char kFormat[] = "nas-latency-lut/1";
constexpr size_t kMaxChoicesPerBlock = 512;
// Fitted (bit-width) tables: profiling networks per free value of the additive model.
constexpr size_t kNetworksPerFreeValue = 3;

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json StatsToJson(const kernels::TimingStats& s) {
  return {{"median_ms", s.median_ms}, {"p10_ms", s.p10_ms}, {"mean_ms", s.mean_ms}, {"std_ms", s.std_ms},
          {"min_ms", s.min_ms},       {"max_ms", s.max_ms},   {"count", s.count}};
}

// Reads json[key] as T; errors name source and field.
template <typename T>
absl::StatusOr<T> Field(const nlohmann::json& json, const std::string& key,
                        const std::string& field, const std::string& source) {
  if (!json.is_object() || !json.contains(key)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": missing field ", field));
  }
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field ", field, " has the wrong type"));
  }
}

absl::StatusOr<double> Milliseconds(const nlohmann::json& json, const std::string& key,
                                    const std::string& field, const std::string& source) {
  absl::StatusOr<double> v = Field<double>(json, key, field, source);
  if (!v.ok()) return v.status();
  if (!std::isfinite(*v) || *v < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field ", field, " must be a finite number >= 0, got ", *v));
  }
  return *v;
}

// The genes of each cost group and the number of their option combinations.
struct GroupGenes {
  std::vector<int> genes;
  size_t combinations = 1;
};

std::vector<GroupGenes> GenesByGroup(const SearchSpace& space) {
  std::vector<GroupGenes> groups(space.group_names().size());
  for (size_t g = 0; g < space.genes().size(); ++g) {
    GroupGenes& group = groups[space.genes()[g].group];
    group.genes.push_back(static_cast<int>(g));
    group.combinations *= space.genes()[g].options.size();
  }
  return groups;
}

// Runs `fn` with every forward pass timed; on an asynchronous device each mark waits for
// the work queued so far.
struct TimedNetwork {
  Supernet net;  // Null in bit-width spaces, which time `integer` instead.
  // Bit-width spaces: the integer-kernel module (QuantizeGraph) that runs instead of net.
  std::optional<torch::jit::Module> integer;
  Architecture arch;
  torch::Tensor input;
  torch::Tensor probe;  // A one-element tensor on the device, read back to synchronize.
  bool synchronize = false;
};

void Synchronize(const TimedNetwork& t) {
  if (t.synchronize) (void)t.probe.add(0).cpu();
}

bool IsBitWidthSpace(const SearchSpace& space) {
  const auto* layered = dynamic_cast<const LayeredSpace*>(&space);
  return layered != nullptr && layered->HasPrecisionGenes();
}

// The deployable module of `arch` in a bit-width space, as nas export builds it: the
// stand-alone subnet with BatchNorm statistics recalibrated on seeded random batches (so
// activations, and the integer grids calibrated on them, have the scale of a trained
// network's), its float inference graph with BatchNorm folded, converted by QuantizeGraph
// with static activation ranges recorded on the same batches. The quantized engine must
// be selected.
absl::StatusOr<torch::jit::Module> IntegerModule(SupernetImpl& supernet, const Architecture& arch) {
  const SearchSpace& space = supernet.space();
  const int64_t c = space.input_channels(), hw = space.input_size();
  std::vector<torch::Tensor> batches;
  torch::manual_seed(1);
  for (int b = 0; b < 2; ++b) batches.push_back(torch::randn({16, c, hw, hw}));
  BnStatistics stats;
  QuantCalibration quant, float_trace;
  float_trace.mode = QuantCalibration::Mode::kFloat;
  absl::StatusOr<Supernet> net = absl::InternalError("not extracted");
  try {
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& x : batches) {
      ForwardContext ctx{BnMode::kCalibrate, &stats};
      supernet.Forward(x, arch, ctx);
    }
    net = ExtractSubnet(supernet, arch, &stats);
    if (!net.ok()) return net.status();
    (*net)->eval();
    for (const torch::Tensor& x : batches) {
      ForwardContext ctx;
      ctx.mode = BnMode::kEval;
      ctx.quant = &quant;
      (*net)->Forward(x, arch, ctx);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("calibrating ", space.Format(arch), ": ", e.what_without_backtrace()));
  }
  quant.mode = QuantCalibration::Mode::kApply;
  absl::StatusOr<std::shared_ptr<torch::jit::Graph>> graph =
      TraceInference(**net, arch, torch::zeros({2, c, hw, hw}), &float_trace);
  if (!graph.ok()) return graph.status();
  FoldBatchNorm(*graph);
  absl::StatusOr<QuantizedModule> q = QuantizeGraph(*graph, quant);
  if (!q.ok()) return q.status();
  return q->module;
}

absl::StatusOr<TimedNetwork> PrepareNetwork(SupernetImpl& supernet, const Architecture& arch,
                                            int64_t batch_size, const torch::Device& device) {
  const SearchSpace& space = supernet.space();
  TimedNetwork t;
  if (IsBitWidthSpace(space)) {
    if (!device.is_cpu()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "space '", space.name(), "' has bit-width genes: its integer kernels run on the CPU, not ", device.str()));
    }
    absl::StatusOr<torch::jit::Module> module = IntegerModule(supernet, arch);
    if (!module.ok()) return module.status();
    t.integer = *std::move(module);
  } else {
    absl::StatusOr<Supernet> net = ExtractSubnet(supernet, arch, nullptr);
    if (!net.ok()) return net.status();
    (*net)->to(device);
    (*net)->eval();
    t.net = *net;
  }
  t.arch = arch;
  torch::manual_seed(0);
  t.input = torch::randn({batch_size, space.input_channels(), space.input_size(), space.input_size()})
                .to(device);
  t.probe = torch::zeros({1}).to(device);
  t.synchronize = !device.is_cpu();
  return t;
}

// Times `runs` passes of each network. After `warmup` untimed passes each, the networks
// take turns in bursts of kBurst timed passes, each burst after one untimed pass (to warm
// the caches the previous network took), so slow drift of the machine's speed falls on
// all networks alike instead of on whichever was measured last.
constexpr int kBurst = 10;

absl::Status TimeInterleaved(std::vector<TimedNetwork>& nets, int warmup, int runs, int threads,
                             bool block_timing,
                             const std::function<void(size_t, const kernels::BlockTimer&)>& on_pass,
                             const std::function<void(int, int)>& progress,
                             const std::function<bool()>& should_stop) {
  kernels::ScopedThreads scoped_threads(threads);
  c10::InferenceMode inference;
  kernels::BlockTimer timer;
  ForwardContext ctx;
  ctx.mode = BnMode::kEval;
  ctx.timer = block_timing ? &timer : nullptr;
  auto pass = [&](TimedNetwork& t) {
    Synchronize(t);
    timer.Start();
    torch::Tensor y = t.integer ? t.integer->forward({t.input}).toTensor() : t.net->Forward(t.input, t.arch, ctx);
    Synchronize(t);
    timer.Finish();
  };
  for (TimedNetwork& t : nets) {
    for (int i = 0; i < warmup; ++i) pass(t);
  }
  const int bursts = (runs + kBurst - 1) / kBurst;
  for (int b = 0; b < bursts; ++b) {
    if (should_stop && should_stop()) return absl::CancelledError("profiling stopped");
    const int in_burst = std::min(kBurst, runs - b * kBurst);
    for (size_t k = 0; k < nets.size(); ++k) {
      // Alternate the order so no network always follows the same one.
      const size_t n = b % 2 == 0 ? k : nets.size() - 1 - k;
      pass(nets[n]);
      pass(nets[n]);
      for (int i = 0; i < in_burst; ++i) {
        pass(nets[n]);
        on_pass(n, timer);
      }
    }
    if (progress) progress(b + 1, bursts);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AdditiveLatencyFit> FitAdditiveLatency(const std::vector<size_t>& combinations,
                                                       const std::vector<std::vector<size_t>>& codes,
                                                       const std::vector<double>& ms) {
  if (codes.size() != ms.size() || ms.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("additive latency fit: ", codes.size(), " networks but ", ms.size(), " times"));
  }
  std::vector<size_t> offset(combinations.size());
  size_t columns = 1, free_values = 1;  // Column 0: the fixed part.
  for (size_t g = 0; g < combinations.size(); ++g) {
    offset[g] = columns;
    columns += combinations[g];
    free_values += combinations[g] - 1;
  }
  if (ms.size() < free_values) {
    return absl::InvalidArgumentError(absl::StrCat("additive latency fit: ", ms.size(), " networks for ",
                                                   free_values, " free values"));
  }
  const int64_t n = static_cast<int64_t>(ms.size()), p = static_cast<int64_t>(columns);
  torch::Tensor x = torch::zeros({n, p}, torch::kFloat64);
  torch::Tensor y = torch::tensor(ms, torch::kFloat64);
  std::vector<int64_t> seen(columns, 0);
  auto xa = x.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    if (codes[i].size() != combinations.size()) {
      return absl::InvalidArgumentError(absl::StrCat("additive latency fit: network ", i, " has ", codes[i].size(),
                                                     " blocks, expected ", combinations.size()));
    }
    xa[i][0] = 1;
    for (size_t g = 0; g < combinations.size(); ++g) {
      if (codes[i][g] >= combinations[g]) {
        return absl::InvalidArgumentError(absl::StrCat("additive latency fit: network ", i, " block ", g,
                                                       " has choice ", codes[i][g], " of ", combinations[g]));
      }
      xa[i][offset[g] + codes[i][g]] = 1;
      ++seen[offset[g] + codes[i][g]];
    }
  }
  for (size_t g = 0; g < combinations.size(); ++g) {
    for (size_t c = 0; c < combinations[g]; ++c) {
      if (seen[offset[g] + c] == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("additive latency fit: block ", g, " choice ", c, " is in no measured network"));
      }
    }
  }
  // Each block's indicator columns sum to the fixed column, so the least-squares solutions
  // form a family with the same predictions; a vanishing ridge on the choice terms picks
  // one, and the shift below makes every block's smallest value 0.
  torch::Tensor penalty = torch::full({p}, 1e-9 * static_cast<double>(n), torch::kFloat64);
  penalty[0] = 0;
  torch::Tensor beta = torch::linalg_solve(x.t().mm(x) + torch::diag(penalty), x.t().mv(y));
  auto b = beta.accessor<double, 1>();
  AdditiveLatencyFit fit;
  fit.fixed_ms = b[0];
  fit.group_ms.resize(combinations.size());
  for (size_t g = 0; g < combinations.size(); ++g) {
    double least = b[offset[g]];
    for (size_t c = 0; c < combinations[g]; ++c) least = std::min(least, b[offset[g] + c]);
    for (size_t c = 0; c < combinations[g]; ++c) fit.group_ms[g].push_back(b[offset[g] + c] - least);
    fit.fixed_ms += least;
  }
  double ape = 0;
  for (int64_t i = 0; i < n; ++i) {
    double predicted = fit.fixed_ms;
    for (size_t g = 0; g < combinations.size(); ++g) predicted += fit.group_ms[g][codes[i][g]];
    ape += std::abs(predicted - ms[i]) / std::max(ms[i], 1e-12);
  }
  fit.mape = 100.0 * ape / static_cast<double>(n);
  return fit;
}

namespace {

bool SamePrimitives(const std::vector<Primitive>& a, const std::vector<Primitive>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Primitive &x = a[i], &y = b[i];
    if (x.kind != y.kind || x.in_channels != y.in_channels || x.out_channels != y.out_channels ||
        x.kernel_size != y.kernel_size || x.stride != y.stride || x.groups != y.groups ||
        x.out_height != y.out_height || x.out_width != y.out_width || x.bias != y.bias || x.affine != y.affine ||
        x.weight_bits != y.weight_bits || x.activation_bits != y.activation_bits) {
      return false;
    }
  }
  return true;
}

// [group][choice code] -> class: choices of a block that build the same primitives (say an
// identity layer at any bit-width) in every one of the first few profiling networks share
// one class, and so one fitted value.
std::vector<std::vector<size_t>> BlockClasses(const SearchSpace& space, const std::vector<GroupGenes>& groups,
                                              const std::vector<Architecture>& archs) {
  const size_t bases = std::min<size_t>(archs.size(), 8);
  std::vector<std::vector<size_t>> class_of(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    // [code][base] -> the primitives of the blocks group g decides.
    std::vector<std::vector<std::vector<Primitive>>> built(groups[g].combinations);
    for (size_t code = 0; code < groups[g].combinations; ++code) {
      for (size_t b = 0; b < bases; ++b) {
        Architecture arch = archs[b];
        SetGroupCombination(space, groups[g].genes, code, &arch);
        std::vector<Primitive> prims;
        for (const PlanBlock& block : space.BuildPlan(arch).blocks) {
          if (block.group == static_cast<int>(g)) prims.insert(prims.end(), block.primitives.begin(), block.primitives.end());
        }
        built[code].push_back(std::move(prims));
      }
    }
    std::vector<size_t> representative;  // Class -> its first code.
    for (size_t code = 0; code < groups[g].combinations; ++code) {
      size_t k = 0;
      for (; k < representative.size(); ++k) {
        bool same = true;
        for (size_t b = 0; b < bases && same; ++b) same = SamePrimitives(built[code][b], built[representative[k]][b]);
        if (same) break;
      }
      if (k == representative.size()) representative.push_back(code);
      class_of[g].push_back(k);
    }
  }
  return class_of;
}

// The table of an integer space: FitAdditiveLatency once per statistic on the profiling
// networks' end-to-end times; each block's values on its entries, the fixed part on the
// first fixed block of the skeleton (the others 0). `report` gets each fit's in-sample
// MAPE and any negative fixed part, which is set to 0.
absl::StatusOr<std::vector<LatencyEntry>> FittedEntries(const SearchSpace& space,
                                                        const std::vector<GroupGenes>& groups,
                                                        const std::vector<Architecture>& archs,
                                                        std::vector<std::vector<double>>& network_ms, int runs,
                                                        nlohmann::json* report) {
  const std::vector<std::vector<size_t>> class_of = BlockClasses(space, groups, archs);
  std::vector<size_t> combinations;
  for (const std::vector<size_t>& c : class_of) combinations.push_back(*std::max_element(c.begin(), c.end()) + 1);
  std::vector<std::vector<size_t>> codes;
  for (const Architecture& arch : archs) {
    std::vector<size_t> code(groups.size(), 0);
    for (size_t g = 0; g < groups.size(); ++g) code[g] = class_of[g][GroupCombination(space, groups[g].genes, arch)];
    codes.push_back(std::move(code));
  }
  std::vector<kernels::TimingStats> stats;
  for (std::vector<double>& t : network_ms) stats.push_back(kernels::Summarize(std::move(t)));
  const std::vector<std::string> statistics = {"median", "p10", "mean", "min"};
  std::vector<AdditiveLatencyFit> fits;
  for (const std::string& statistic : statistics) {
    std::vector<double> ms;
    for (const kernels::TimingStats& s : stats) ms.push_back(kernels::StatisticValue(s, statistic));
    absl::StatusOr<AdditiveLatencyFit> fit = FitAdditiveLatency(combinations, codes, ms);
    if (!fit.ok()) return fit.status();
    if (!(fit->fixed_ms >= 0)) {
      // Noise larger than the fixed part (few passes on a busy machine): a table entry
      // cannot be negative, so the fixed part is set to 0 and the change recorded.
      (*report)["fixed_part_set_to_0_ms"][statistic] = fit->fixed_ms;
      fit->fixed_ms = 0;
    }
    (*report)["in_sample_mape_percent"][statistic] = fit->mape;
    fits.push_back(*std::move(fit));
  }
  auto entry = [&](const std::string& block, const std::string& choice, int count,
                   const std::function<double(const AdditiveLatencyFit&)>& value) {
    LatencyEntry e{block, choice, {}};
    e.stats.count = count;
    e.stats.median_ms = value(fits[0]);
    e.stats.p10_ms = value(fits[1]);
    e.stats.mean_ms = value(fits[2]);
    e.stats.min_ms = value(fits[3]);
    e.stats.max_ms = std::max({e.stats.median_ms, e.stats.p10_ms, e.stats.mean_ms, e.stats.min_ms});
    return e;
  };
  std::vector<LatencyEntry> entries;
  std::vector<bool> placed(groups.size(), false);
  bool fixed_placed = false;
  Architecture arch = archs.front();
  const int total = static_cast<int>(archs.size()) * runs;
  for (const PlanBlock& block : space.BuildPlan(arch).blocks) {
    if (block.group < 0) {
      const bool first = !fixed_placed;
      fixed_placed = true;
      entries.push_back(entry(block.name, "", total, [&](const AdditiveLatencyFit& f) { return first ? f.fixed_ms : 0.0; }));
      continue;
    }
    const size_t g = static_cast<size_t>(block.group);
    const bool first = !placed[g];
    placed[g] = true;
    for (size_t code = 0; code < groups[g].combinations; ++code) {
      SetGroupCombination(space, groups[g].genes, code, &arch);
      const size_t k = class_of[g][code];
      int count = 0;
      for (const std::vector<size_t>& c : codes) count += c[g] == k ? runs : 0;
      entries.push_back(entry(block.name, GroupChoice(space, arch, block.group), count,
                              [&](const AdditiveLatencyFit& f) { return first ? f.group_ms[g][k] : 0.0; }));
    }
  }
  return entries;
}

}  // namespace

const LatencyBatchTable* LatencyLut::Table(int64_t batch_size) const {
  for (const LatencyBatchTable& t : tables) {
    if (t.batch_size == batch_size) return &t;
  }
  return nullptr;
}

void SetGroupCombination(const SearchSpace& space, const std::vector<int>& genes, size_t code,
                         Architecture* arch) {
  for (int g : genes) {
    const size_t n = space.genes()[g].options.size();
    arch->genes[g] = static_cast<int>(code % n);
    code /= n;
  }
}

size_t GroupCombination(const SearchSpace& space, const std::vector<int>& genes, const Architecture& arch) {
  size_t code = 0, radix = 1;
  for (int g : genes) {
    code += static_cast<size_t>(arch.genes[g]) * radix;
    radix *= space.genes()[g].options.size();
  }
  return code;
}

std::string GroupChoice(const SearchSpace& space, const Architecture& arch, int group) {
  std::vector<std::string> options;
  for (size_t g = 0; g < space.genes().size(); ++g) {
    if (space.genes()[g].group == group) options.push_back(space.genes()[g].options[arch.genes[g]]);
  }
  return absl::StrJoin(options, ":");
}

nlohmann::json LatencyLutToJson(const LatencyLut& lut) {
  nlohmann::json tables = nlohmann::json::array();
  for (const LatencyBatchTable& t : lut.tables) {
    nlohmann::json entries = nlohmann::json::array();
    for (const LatencyEntry& e : t.entries) {
      nlohmann::json entry = StatsToJson(e.stats);
      entry["block"] = e.block;
      entry["choice"] = e.choice;
      entries.push_back(entry);
    }
    tables.push_back({{"batch_size", t.batch_size}, {"entries", entries}});
  }
  nlohmann::json json = {
      {"format", kFormat},
      {"space", {{"name", lut.space_name}, {"source", lut.space_source}, {"input_size", lut.input_size}}},
      {"device", lut.device},
      {"statistic", lut.statistic},
      {"measured_on",
       {{"torch_device", lut.torch_device},
        {"cpu_model", lut.machine.cpu_model},
        {"hostname", lut.machine.hostname},
        {"library", lut.machine.library_version},
        {"hardware_threads", lut.machine.hardware_threads},
        {"threads", lut.threads}}},
      {"protocol",
       {{"warmup", lut.warmup}, {"runs", lut.runs}, {"rounds", lut.rounds}, {"seed", lut.seed},
        {"created", lut.created}}},
      {"tables", tables},
  };
  if (lut.has_correction) {
    const LatencyCorrection& c = lut.correction;
    json["correction"] = {{"features", c.features}, {"weights", c.weights},
                          {"intercept", c.intercept}, {"lambda", c.lambda},
                          {"samples", c.samples},     {"cv_mape", c.cv_mape},
                          {"cv_mape_table_sum", c.cv_mape_sum}};
  }
  if (!lut.validation.is_null()) json["validation"] = lut.validation;
  if (!lut.fit.is_null()) json["fit"] = lut.fit;
  return json;
}

absl::StatusOr<LatencyLut> LatencyLutFromJson(const nlohmann::json& json, const std::string& source) {
  absl::StatusOr<std::string> format = Field<std::string>(json, "format", "format", source);
  if (!format.ok()) return format.status();
  if (*format != kFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": field format is \"", *format, "\"; expected \"", kFormat, "\""));
  }
  LatencyLut lut;
#define NAS_READ(target, type, object, key, field)                             \
  {                                                                           \
    absl::StatusOr<type> v = Field<type>(object, key, field, source);         \
    if (!v.ok()) return v.status();                                           \
    target = *v;                                                              \
  }
  if (!json.contains("space")) return absl::InvalidArgumentError(source + ": missing field space");
  NAS_READ(lut.space_name, std::string, json["space"], "name", "space.name");
  NAS_READ(lut.space_source, std::string, json["space"], "source", "space.source");
  NAS_READ(lut.input_size, int64_t, json["space"], "input_size", "space.input_size");
  NAS_READ(lut.device, std::string, json, "device", "device");
  if (lut.device.empty()) return absl::InvalidArgumentError(source + ": field device is empty");
  NAS_READ(lut.statistic, std::string, json, "statistic", "statistic");
  if (!kernels::IsLatencyStatistic(lut.statistic)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field statistic is '", lut.statistic,
                                                   "'; expected p10, median, min or mean"));
  }
  if (!json.contains("measured_on")) {
    return absl::InvalidArgumentError(source + ": missing field measured_on");
  }
  const nlohmann::json& on = json["measured_on"];
  NAS_READ(lut.torch_device, std::string, on, "torch_device", "measured_on.torch_device");
  NAS_READ(lut.machine.cpu_model, std::string, on, "cpu_model", "measured_on.cpu_model");
  NAS_READ(lut.machine.hostname, std::string, on, "hostname", "measured_on.hostname");
  NAS_READ(lut.machine.library_version, std::string, on, "library", "measured_on.library");
  NAS_READ(lut.machine.hardware_threads, int, on, "hardware_threads", "measured_on.hardware_threads");
  NAS_READ(lut.threads, int, on, "threads", "measured_on.threads");
  if (!json.contains("protocol")) return absl::InvalidArgumentError(source + ": missing field protocol");
  const nlohmann::json& p = json["protocol"];
  NAS_READ(lut.warmup, int, p, "warmup", "protocol.warmup");
  NAS_READ(lut.runs, int, p, "runs", "protocol.runs");
  NAS_READ(lut.rounds, int, p, "rounds", "protocol.rounds");
  NAS_READ(lut.seed, uint64_t, p, "seed", "protocol.seed");
  NAS_READ(lut.created, std::string, p, "created", "protocol.created");
  if (!json.contains("tables") || !json["tables"].is_array() || json["tables"].empty()) {
    return absl::InvalidArgumentError(source + ": field tables must be a non-empty array");
  }
  for (size_t i = 0; i < json["tables"].size(); ++i) {
    const nlohmann::json& t = json["tables"][i];
    const std::string tf = absl::StrCat("tables[", i, "]");
    LatencyBatchTable table;
    NAS_READ(table.batch_size, int64_t, t, "batch_size", tf + ".batch_size");
    if (table.batch_size < 1) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": field ", tf, ".batch_size must be >= 1"));
    }
    if (!t.contains("entries") || !t["entries"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": field ", tf, ".entries must be an array"));
    }
    for (size_t k = 0; k < t["entries"].size(); ++k) {
      const nlohmann::json& e = t["entries"][k];
      const std::string ef = absl::StrCat(tf, ".entries[", k, "]");
      LatencyEntry entry;
      NAS_READ(entry.block, std::string, e, "block", ef + ".block");
      NAS_READ(entry.choice, std::string, e, "choice", ef + ".choice");
      NAS_READ(entry.stats.count, int, e, "count", ef + ".count");
      for (auto [key, target] : {std::pair<const char*, double*>{"median_ms", &entry.stats.median_ms},
                                 {"p10_ms", &entry.stats.p10_ms},
                                 {"mean_ms", &entry.stats.mean_ms}, {"std_ms", &entry.stats.std_ms},
                                 {"min_ms", &entry.stats.min_ms}, {"max_ms", &entry.stats.max_ms}}) {
        absl::StatusOr<double> v = Milliseconds(e, key, absl::StrCat(ef, ".", key), source);
        if (!v.ok()) return v.status();
        *target = *v;
      }
      table.entries.push_back(std::move(entry));
    }
    lut.tables.push_back(std::move(table));
  }
  if (json.contains("correction")) {
    const nlohmann::json& c = json["correction"];
    lut.has_correction = true;
    NAS_READ(lut.correction.features, std::vector<std::string>, c, "features", "correction.features");
    NAS_READ(lut.correction.weights, std::vector<double>, c, "weights", "correction.weights");
    NAS_READ(lut.correction.intercept, double, c, "intercept", "correction.intercept");
    NAS_READ(lut.correction.lambda, double, c, "lambda", "correction.lambda");
    NAS_READ(lut.correction.samples, int, c, "samples", "correction.samples");
    NAS_READ(lut.correction.cv_mape, double, c, "cv_mape", "correction.cv_mape");
    NAS_READ(lut.correction.cv_mape_sum, double, c, "cv_mape_table_sum", "correction.cv_mape_table_sum");
    if (lut.correction.features.size() != lut.correction.weights.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": correction.features has ", lut.correction.features.size(),
                       " names but correction.weights ", lut.correction.weights.size(), " values"));
    }
    for (double w : lut.correction.weights) {
      if (!std::isfinite(w)) {
        return absl::InvalidArgumentError(source + ": correction.weights holds a non-finite value");
      }
    }
  }
#undef NAS_READ
  if (json.contains("validation")) lut.validation = json["validation"];
  if (json.contains("fit")) lut.fit = json["fit"];
  return lut;
}

absl::Status SaveLatencyLut(const LatencyLut& lut, const std::string& path) {
  return WriteFileAtomically(path, LatencyLutToJson(lut).dump(1) + "\n");
}

absl::StatusOr<LatencyLut> LoadLatencyLut(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(*bytes);
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON (", e.what(), ")"));
  }
  return LatencyLutFromJson(json, path);
}

absl::StatusOr<LatencyLut> ProfileBlocks(SupernetImpl& supernet, const ProfileOptions& options,
                                         const std::vector<Architecture>& also_measure,
                                         std::vector<kernels::TimingStats>* measured) {
  const SearchSpace& space = supernet.space();
  const bool integer = IsBitWidthSpace(space);
  if (options.batch_sizes.empty() || options.batch_sizes[0] != 1) {
    return absl::InvalidArgumentError("batch sizes: the first must be 1");
  }
  for (int64_t b : options.batch_sizes) {
    if (b < 1 || b > 4096) {
      return absl::InvalidArgumentError(absl::StrCat("batch size: must be in [1, 4096], got ", b));
    }
  }
  if (!kernels::IsLatencyStatistic(options.statistic)) {
    return absl::InvalidArgumentError(
        absl::StrCat("statistic: '", options.statistic, "' is not p10, median, min or mean"));
  }
  if (options.runs < 1 || options.warmup < 0 || options.rounds < 1 || options.threads < 1) {
    return absl::InvalidArgumentError("runs, rounds and threads must be >= 1 and warmup >= 0");
  }
  const std::vector<GroupGenes> groups = GenesByGroup(space);
  size_t networks_per_round = 1;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].combinations > kMaxChoicesPerBlock) {
      return absl::InvalidArgumentError(absl::StrCat(
          "space ", space.name(), ": block ", space.group_names()[g], " has ",
          groups[g].combinations, " choices (its genes are shared or combined); a block lookup "
          "table needs at most ", kMaxChoicesPerBlock,
          ". Use a per-architecture latency table (CSV) for this space."));
    }
    networks_per_round = std::max(networks_per_round, groups[g].combinations);
  }
  // Integer modules are one graph: their blocks cannot be timed one by one, so the table is
  // fitted to end-to-end times (FitAdditiveLatency), on at least kNetworksPerFreeValue
  // networks per free value (counting every choice; choices building the same block then
  // share one).
  int rounds = options.rounds;
  if (integer) {
    size_t unknowns = 1;
    for (const GroupGenes& g : groups) unknowns += g.combinations - 1;
    rounds = std::max<int>(rounds, static_cast<int>((kNetworksPerFreeValue * unknowns + networks_per_round - 1) /
                                                    networks_per_round));
  }

  // The profiling architectures: in each round, each group's choices in a random order,
  // cycled up to the round's length, so every choice of every block appears.
  Rng rng(options.seed);
  std::vector<Architecture> archs;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::vector<size_t>> orders(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      orders[g].resize(groups[g].combinations);
      std::iota(orders[g].begin(), orders[g].end(), 0);
      for (size_t i = orders[g].size(); i > 1; --i) {  // Fisher-Yates with the spec'd Rng.
        std::swap(orders[g][i - 1], orders[g][rng.UniformInt(i)]);
      }
    }
    for (size_t j = 0; j < networks_per_round; ++j) {
      Architecture arch;
      arch.genes.assign(space.genes().size(), 0);
      for (size_t g = 0; g < groups.size(); ++g) {
        SetGroupCombination(space, groups[g].genes, orders[g][j % orders[g].size()], &arch);
      }
      archs.push_back(std::move(arch));
    }
  }

  // Block name -> cost group, from the skeleton.
  std::map<std::string, int> block_group;
  for (const PlanBlock& b : space.BuildPlan(archs.front()).blocks) block_group[b.name] = b.group;

  std::string engine;
  if (integer) {
    absl::StatusOr<std::string> selected = SelectQuantizedEngine("");
    if (!selected.ok()) return selected.status();
    engine = *selected;
  }
  // [batch index][(block, choice)] -> samples.
  std::vector<std::map<std::pair<std::string, std::string>, std::vector<double>>> samples(
      options.batch_sizes.size());
  // Integer spaces: [batch index][profiling network] -> end-to-end times.
  std::vector<std::vector<std::vector<double>>> network_ms(options.batch_sizes.size(),
                                                           std::vector<std::vector<double>>(archs.size()));
  for (size_t bi = 0; bi < options.batch_sizes.size(); ++bi) {
    // At batch 1 the architectures to measure end to end join the session: every
    // network takes turns with the others, so the table and the end-to-end figures are
    // measured under the same conditions, whatever the machine's speed does meanwhile.
    std::vector<Architecture> session = archs;
    if (bi == 0) session.insert(session.end(), also_measure.begin(), also_measure.end());
    std::vector<TimedNetwork> nets;
    for (const Architecture& arch : session) {
      absl::StatusOr<TimedNetwork> t =
          PrepareNetwork(supernet, arch, options.batch_sizes[bi], options.device);
      if (!t.ok()) return t.status();
      nets.push_back(*std::move(t));
    }
    std::vector<std::vector<double>> totals(also_measure.size());
    auto on_pass = [&](size_t n, const kernels::BlockTimer& timer) {
      if (n >= archs.size()) {
        totals[n - archs.size()].push_back(timer.total_ms());
        return;
      }
      if (integer) {
        network_ms[bi][n].push_back(timer.total_ms());
        return;
      }
      for (const auto& [block, ms] : timer.intervals()) {
        auto it = block_group.find(block);
        const int group = it == block_group.end() ? -1 : it->second;
        const std::string choice = group < 0 ? "" : GroupChoice(space, archs[n], group);
        samples[bi][{block, choice}].push_back(ms);
      }
    };
    auto progress = [&](int done, int total) {
      if (options.progress) options.progress(static_cast<int>(bi) * total + done,
                                             static_cast<int>(options.batch_sizes.size()) * total);
    };
    if (absl::Status s = TimeInterleaved(nets, options.warmup, options.runs, options.threads,
                                         /*block_timing=*/!integer, on_pass, progress, options.should_stop);
        !s.ok()) {
      return s;
    }
    if (bi == 0 && measured != nullptr) {
      measured->clear();
      for (std::vector<double>& t : totals) measured->push_back(kernels::Summarize(std::move(t)));
    }
  }

  LatencyLut lut;
  lut.space_name = space.name();
  lut.space_source = space.source();
  lut.input_size = space.input_size();
  lut.device = options.device_name;
  lut.statistic = options.statistic;
  lut.torch_device = options.device.str();
  lut.machine = kernels::DescribeMachine();
  lut.threads = options.threads;
  lut.warmup = options.warmup;
  lut.runs = options.runs;
  lut.rounds = rounds;
  lut.seed = options.seed;
  lut.created = UtcNow();
  if (integer) {
    lut.fit = {{"method", "additive least squares on end-to-end times of integer-kernel modules"},
               {"quantized_engine", engine},
               {"networks", archs.size()}};
  }
  for (size_t bi = 0; bi < options.batch_sizes.size(); ++bi) {
    LatencyBatchTable table;
    table.batch_size = options.batch_sizes[bi];
    if (integer) {
      nlohmann::json report;
      absl::StatusOr<std::vector<LatencyEntry>> entries =
          FittedEntries(space, groups, archs, network_ms[bi], options.runs, &report);
      for (auto& [key, value] : report.items()) lut.fit[key][std::to_string(table.batch_size)] = value;
      if (!entries.ok()) return entries.status();
      table.entries = *std::move(entries);
    }
    for (auto& [key, values] : samples[bi]) {
      table.entries.push_back(LatencyEntry{key.first, key.second, kernels::Summarize(values)});
    }
    lut.tables.push_back(std::move(table));
  }
  return lut;
}

absl::StatusOr<std::vector<kernels::TimingStats>> MeasureSubnetLatencies(
    SupernetImpl& supernet, const std::vector<Architecture>& archs, const MeasureOptions& options) {
  if (options.runs < 1 || options.warmup < 0 || options.threads < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError("runs, threads and batch size must be >= 1 and warmup >= 0");
  }
  if (IsBitWidthSpace(supernet.space())) {
    if (absl::StatusOr<std::string> engine = SelectQuantizedEngine(""); !engine.ok()) return engine.status();
  }
  std::vector<TimedNetwork> nets;
  for (const Architecture& arch : archs) {
    absl::StatusOr<TimedNetwork> t = PrepareNetwork(supernet, arch, options.batch_size, options.device);
    if (!t.ok()) return t.status();
    nets.push_back(*std::move(t));
  }
  std::vector<std::vector<double>> ms(archs.size());
  auto on_pass = [&](size_t n, const kernels::BlockTimer& timer) { ms[n].push_back(timer.total_ms()); };
  if (absl::Status s = TimeInterleaved(nets, options.warmup, options.runs, options.threads,
                                       /*block_timing=*/false, on_pass, options.progress,
                                       options.should_stop);
      !s.ok()) {
    return s;
  }
  std::vector<kernels::TimingStats> stats;
  for (std::vector<double>& m : ms) stats.push_back(kernels::Summarize(std::move(m)));
  return stats;
}

absl::StatusOr<kernels::TimingStats> MeasureSubnetLatency(SupernetImpl& supernet,
                                                          const Architecture& arch,
                                                          const MeasureOptions& options) {
  absl::StatusOr<std::vector<kernels::TimingStats>> stats = MeasureSubnetLatencies(supernet, {arch}, options);
  if (!stats.ok()) return stats.status();
  return stats->front();
}

}  // namespace nas::supernet
