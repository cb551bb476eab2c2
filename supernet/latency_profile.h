#ifndef NAS_SUPERNET_LATENCY_PROFILE_H_
#define NAS_SUPERNET_LATENCY_PROFILE_H_

// Latency lookup tables: every (block, choice) of a search space measured on this machine
// inside real stand-alone subnets, and end-to-end measurements of extracted subnets.
// docs/latency.md describes the method and the file format.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "kernels/profiler.h"
#include "supernet/architecture.h"
#include "supernet/search_space.h"
#include "supernet/supernet.h"

namespace nas::supernet {

// One measured block: a fixed part of the skeleton ("stem", "head"; choice "") or one
// choice of a searchable block ("layers[3]", choice "shuffle5x5" or "xception:0.6": the
// options of the block's genes joined by ':').
struct LatencyEntry {
  std::string block;
  std::string choice;
  kernels::TimingStats stats;
};

struct LatencyBatchTable {
  int64_t batch_size = 1;
  std::vector<LatencyEntry> entries;
};

// The learned correction added to the table sum (see search/latency_predictor.h):
// predicted = sum + intercept + sum_k weights[k] * feature_k(arch).
struct LatencyCorrection {
  std::vector<std::string> features;
  std::vector<double> weights;
  double intercept = 0;
  double lambda = 0;       // Ridge penalty chosen by cross-validation.
  int samples = 0;         // End-to-end measurements it was fitted on.
  double cv_mape = 0;      // Cross-validated MAPE (%) of the corrected prediction.
  double cv_mape_sum = 0;  // The same for the plain table sum.
};

// A latency lookup table file ("nas-latency-lut/1", JSON).
struct LatencyLut {
  std::string space_name;
  std::string space_source;
  int64_t input_size = 0;
  std::string device = "cpu";  // The name searches use: latency@DEVICE.
  // Which statistic of the timed passes predictions use (kernels::StatisticValue).
  std::string statistic = "p10";
  std::string torch_device = "cpu";
  kernels::MachineInfo machine;
  int threads = 1;
  int warmup = 0;
  int runs = 0;
  int rounds = 0;
  uint64_t seed = 0;
  std::string created;  // UTC, ISO 8601.
  std::vector<LatencyBatchTable> tables;
  bool has_correction = false;
  LatencyCorrection correction;
  nlohmann::json validation;  // Held-out check written by `nas profile --holdout` (or null).
  // How a fitted table (bit-width spaces: FitAdditiveLatency) was made, or null for a
  // table of timed blocks.
  nlohmann::json fit;

  // The table of `batch_size`, or null.
  const LatencyBatchTable* Table(int64_t batch_size) const;
};

nlohmann::json LatencyLutToJson(const LatencyLut& lut);
// Errors name `source` and the bad field.
absl::StatusOr<LatencyLut> LatencyLutFromJson(const nlohmann::json& json, const std::string& source);
// Written atomically.
absl::Status SaveLatencyLut(const LatencyLut& lut, const std::string& path);
absl::StatusOr<LatencyLut> LoadLatencyLut(const std::string& path);

// Sets the genes `genes` (one cost group's, in gene order) of `arch` to the mixed-radix
// combination `code` (the first gene varies fastest); the inverse of a group code.
void SetGroupCombination(const SearchSpace& space, const std::vector<int>& genes, size_t code,
                         Architecture* arch);

// The mixed-radix combination code of genes `genes` in `arch` (the first gene varies
// fastest): the inverse of SetGroupCombination.
size_t GroupCombination(const SearchSpace& space, const std::vector<int>& genes, const Architecture& arch);

// The options of the genes of cost group `group` in `arch`, joined by ':'.
std::string GroupChoice(const SearchSpace& space, const Architecture& arch, int group);

// An additive latency model fitted to end-to-end times of networks:
// ms[n] ~ fixed_ms + sum over blocks g of group_ms[g][codes[n][g]], by least squares. The
// values of a block are only determined up to a shift into fixed_ms; each block's are
// shifted so its smallest is 0.
struct AdditiveLatencyFit {
  double fixed_ms = 0;
  std::vector<std::vector<double>> group_ms;  // [block][choice code]
  double mape = 0;  // In-sample mean absolute percentage error of the fit, in %.
};
// `combinations[g]`: the number of choices of block g; `codes[n][g]`: network n's choice
// of block g. Errors when a choice appears in no network or the networks are fewer than
// the free values (1 + sum of (combinations - 1)).
absl::StatusOr<AdditiveLatencyFit> FitAdditiveLatency(const std::vector<size_t>& combinations,
                                                       const std::vector<std::vector<size_t>>& codes,
                                                       const std::vector<double>& ms);

struct ProfileOptions {
  std::vector<int64_t> batch_sizes = {1};  // The first must be 1.
  int warmup = 5;    // Untimed passes per network and batch size.
  int runs = 20;     // Timed passes per network and batch size.
  int rounds = 3;    // Every choice of every block is measured in `rounds` networks.
  int threads = 1;   // LibTorch intra-op threads, fixed while measuring.
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  std::string device_name = "cpu";
  std::string statistic = "p10";  // Recorded in the table; see kernels::StatisticValue.
  // Called after each round of timed bursts with (done, total).
  std::function<void(int, int)> progress;
  // Polled between rounds; when it returns true profiling stops with Cancelled.
  std::function<bool()> should_stop;
};

// Measures every block of `supernet`'s space: builds `rounds` x (largest number of
// choices of any block) stand-alone subnets, extracted from `supernet`, in which every
// choice of every block appears once per round (random pairing, seeded), and times each
// block inside the full forward pass (batch of random inputs, inference mode). The
// networks are timed interleaved, in short bursts taking turns, so drift of the machine
// falls on all alike. Entries hold the statistics of all passes of all networks
// containing them. Blocks whose genes have more than 512 combinations (nb201's shared
// cell) cannot be tabulated: InvalidArgument.
//
// Spaces with bit-width genes are timed as they deploy: each network is converted to its
// integer-kernel module (QuantizeGraph, the engine SelectQuantizedEngine("") picks), which
// is one graph whose blocks cannot be timed apart. Their table is fitted instead
// (FitAdditiveLatency per statistic) to the end-to-end times of the networks, with rounds
// raised until there are at least twice as many networks as free values; the fixed part
// is stored on the first fixed block (stem), the other fixed blocks 0, and lut.fit
// describes the fit. Integer kernels run on the CPU only.
//
// `also_measure` architectures are timed end to end in the same batch-1 session,
// interleaved with the profiling networks (same passes), and their statistics stored in
// `measured`: the table and the measurements it is corrected and checked against then
// see the same machine conditions.
absl::StatusOr<LatencyLut> ProfileBlocks(SupernetImpl& supernet, const ProfileOptions& options,
                                         const std::vector<Architecture>& also_measure = {},
                                         std::vector<kernels::TimingStats>* measured = nullptr);

struct MeasureOptions {
  int64_t batch_size = 1;
  int warmup = 5;
  int runs = 30;
  int threads = 1;
  torch::Device device = torch::kCPU;
  std::function<void(int, int)> progress;  // After each round of bursts: (done, total).
  std::function<bool()> should_stop;       // Polled between rounds: Cancelled.
};

// End-to-end latencies of the stand-alone networks of `archs` extracted from `supernet`:
// `runs` timed forward passes each after `warmup`, inference mode, fixed thread count,
// the networks interleaved in short bursts as in ProfileBlocks. All networks are held
// at once. In bit-width spaces, the networks' integer-kernel modules (as ProfileBlocks).
absl::StatusOr<std::vector<kernels::TimingStats>> MeasureSubnetLatencies(
    SupernetImpl& supernet, const std::vector<Architecture>& archs, const MeasureOptions& options);
// The same for one architecture.
absl::StatusOr<kernels::TimingStats> MeasureSubnetLatency(SupernetImpl& supernet,
                                                          const Architecture& arch,
                                                          const MeasureOptions& options);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_LATENCY_PROFILE_H_
