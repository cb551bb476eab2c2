#ifndef NAS_NAS_TRAIN_COMMANDS_H_
#define NAS_NAS_TRAIN_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nas/cli.h"
#include "supernet/search_space.h"

namespace nas::service {

// `nas train`: trains a supernet from a training config.
struct TrainCommandOptions {
  std::string config;
  std::string out;      // Default: runs/<config file stem>.
  bool resume = false;
  std::string init_from;  // A fresh run starts from this checkpoint's weights.
  int threads = 0;
  int64_t steps = 0;    // Overrides training.steps when positive.
  int64_t batch_size = 0;  // Overrides training.batch_size when positive.
  int64_t stop_after = -1;
  bool json = false;
  // Data-parallel training: --nproc N starts N local ranks (docs/distributed.md); with
  // RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set this process is one rank.
  int nproc = 1;
  int micro_batches = 1;
  int dist_timeout_s = 60;          // Bound on rendezvous and on each collective.
  std::vector<std::string> args;    // This program's command line, for --nproc.
};
absl::Status RunTrain(const TrainCommandOptions& options, std::ostream& out, std::ostream& log);

// `nas eval`: inherited-weight accuracy of architectures after BN recalibration.
struct EvalCommandOptions {
  std::string checkpoint;
  std::vector<std::string> archs;  // Strings, or "largest" / "smallest".
  int64_t random = 0;              // Also evaluate this many uniformly drawn archs.
  uint64_t seed = 0;
  std::string split = "val";       // val | test | both
  int threads = 0;
  bool json = false;
};
absl::Status RunEval(const EvalCommandOptions& options, std::ostream& out);

// `nas export`: a deployment bundle (TorchScript and ONNX subnet, BN statistics,
// metadata) of one architecture of a trained supernet; see supernet/export.h.
struct ExportCommandOptions {
  std::string checkpoint;
  std::string arch;  // String, or "largest" / "smallest".
  std::string out;
  std::string format = "all";  // "all" (TorchScript and ONNX) or "torchscript".
  bool force = false;
  int64_t batch_size = 64;
  int64_t verify_images = 1000;
  int threads = 0;
  bool json = false;
  bool int8 = false;    // Post-training quantization of every searched layer to 8 bits.
  std::string qengine;  // Quantized engine ("onednn", "qnnpack"; empty: the fastest).
};
absl::Status RunExport(const ExportCommandOptions& options, std::ostream& out);

// `nas finetune`: trains the stand-alone subnet of one architecture of a trained supernet
// and writes its deployment bundle (see engine/finetune_job.h).
struct FineTuneCommandOptions {
  std::string checkpoint;
  std::string arch;
  std::string config;  // Fine-tuning YAML; default: the supernet's own training sections.
  std::string out;
  bool from_scratch = false;
  bool resume = false;
  int64_t steps = 0;
  int64_t stop_after = -1;
  int64_t verify_images = 0;  // 0: all test images.
  int threads = 0;
  bool json = false;
};
absl::Status RunFineTune(const FineTuneCommandOptions& options, std::ostream& out, std::ostream& log);

struct FewShotCommandOptions {
  std::string checkpoint;
  int gene = 0;
  int64_t steps = 0;
  double lr = 0;
  std::string out;
  int64_t stop_after = -1;
  int threads = 0;
};
absl::Status RunFewShot(const FewShotCommandOptions& options, std::ostream& out, std::ostream& log);

// Parses --arch: an architecture string of `space`, or "largest" / "smallest" (by FLOPs).
absl::StatusOr<supernet::Architecture> ParseArchOrExtreme(const supernet::SearchSpace& space,
                                                         const std::string& text);

// Declares `nas train`, `nas eval` and `nas export` (train and export also with --server).
void AddTrainCommands(Commands& commands);

}  // namespace nas::service

#endif  // NAS_NAS_TRAIN_COMMANDS_H_
