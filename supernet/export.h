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
  // Batch size of the export's checks and test scoring; the bundle itself runs at any
  // batch size (checked at 1, 7 and 64).
  int64_t batch_size = 64;
  int64_t verify_images = 1000;  // Test images the reloaded export is scored on (0: none).
  bool onnx = true;              // Also write subnet.onnx, checked with OpenCV DNN.
  // Replace a bundle already at `dir` (a directory holding anything but a bundle is never
  // replaced).
  bool force = false;
  int latency_runs = 30;  // Batch-1 latency measurements per runtime (0: none).
  // Post-training quantization: every searched layer of a layered space runs at 8-bit
  // weights and inputs, whatever the architecture's bit-width genes say.
  bool int8 = false;
  // Quantized engine of a quantized export ("onednn", "qnnpack"; empty: the fastest
  // available).
  std::string qengine;
  // Polled between the export's steps and batches; true abandons the export (Cancelled)
  // before the bundle is put in place, so nothing is written.
  std::function<bool()> cancelled;
};

// Writes a deployment bundle for `arch` into `dir`:
//  - subnet.pt: the stand-alone subnet as TorchScript (forward(x) -> logits, x a float
//    [N, C, H, W] batch of any N), BN statistics recalibrated for it and folded into the
//    convolutions; torch::jit::load (C++) and torch.jit.load (Python) read it;
//  - subnet.onnx (options.onnx): the same network as ONNX (opset 10, dynamic batch),
//    checked by the ONNX checker and run with OpenCV's DNN module;
//  - bn_stats.pt: the recalibrated statistics (mean, var tensors per BN layer, in order);
//  - subnet.json: space, architecture, checkpoint, input shape and normalization, class
//    names, cost, the checks below, test accuracy and batch-1 latency per runtime.
// Checks, on real images, each an error when it fails: the reloaded module against the
// supernet path (1e-4), the folded network against the unfolded one (1e-5), batches of
// 1, 7 and 64, and the ONNX model in OpenCV against the TorchScript module (1e-4); all
// relative to the largest logit when that exceeds 1. The bundle is built in a staging
// directory and put at `dir` in one step. Returns subnet.json's contents.
//
// An architecture with layers below 32 bits (or options.int8) is exported quantized:
// activation ranges are calibrated on the BN recalibration batches, and subnet.pt runs its
// convolutions with LibTorch's integer kernels (QuantizeGraph in supernet/quantized_graph.h;
// still a float batch in and float logits out). Its check is against the fake-quantized
// supernet path with the same static ranges on the check and test images: mean |logit
// difference| at most 0.05 of the largest logit (top-1 agreement reported). subnet.json
// adds "quantization" (engine, counts, the check, the test accuracy of the float network
// and of the fake-quantized path) and the float network's latency; no subnet.onnx is
// written.
absl::StatusOr<nlohmann::json> ExportSubnet(const TrainedSupernet& trained, const Architecture& arch,
                                            const std::string& dir, const ExportOptions& options);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_EXPORT_H_
