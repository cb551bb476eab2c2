#ifndef NAS_SUPERNET_EXPORT_H_
#define NAS_SUPERNET_EXPORT_H_

#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "supernet/architecture.h"
#include "supernet/trained_supernet.h"

namespace nas::supernet {

struct ExportOptions {
  int64_t batch_size = 1;       // The traced module's batch size (fixed: see docs).
  int64_t verify_images = 1000; // Test images the reloaded export is scored on (0: none).
  // Polled between the export's steps and batches; true abandons the export (Cancelled)
  // before the bundle is put in place, so nothing is written.
  std::function<bool()> cancelled;
};

// Writes a deployment bundle for `arch` into `dir`:
//  - subnet.pt: the stand-alone subnet as TorchScript (forward(x) -> logits), with the
//    BN statistics recalibrated for it; torch::jit::load (C++) and torch.jit.load
//    (Python) read it;
//  - bn_stats.pt: those statistics (a list of mean, var tensors per BN layer, in order);
//  - subnet.json: space, architecture, checkpoint, input shape and normalization, cost,
//    the check below and the export's test accuracy.
// The bundle is reloaded and its outputs compared with the supernet path's on real
// validation images (max_abs_diff in subnet.json; an error above 1e-4). Files are
// written atomically. Returns subnet.json's contents.
absl::StatusOr<nlohmann::json> ExportSubnet(const TrainedSupernet& trained, const Architecture& arch,
                                            const std::string& dir, const ExportOptions& options);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_EXPORT_H_
