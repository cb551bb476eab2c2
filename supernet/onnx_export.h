#ifndef NAS_SUPERNET_ONNX_EXPORT_H_
#define NAS_SUPERNET_ONNX_EXPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/jit/ir/ir.h>
#include <torch/torch.h>

#include "absl/status/statusor.h"

namespace nas::supernet {

// ONNX opset of the exports. 10 is the newest whose Clip (ReLU6) and Gemm the ONNX
// importer of Debian's OpenCV 4.6 reads (it rejects opset 11's Clip with min/max inputs).
inline constexpr int64_t kOnnxOpset = 10;

struct OnnxExportOptions {
  std::string graph_name = "subnet";
  std::string input_name = "input";
  std::string output_name = "logits";
  std::string batch_dim = "batch";  // The input's and output's first dimension is dynamic.
  std::string doc;                  // Stored as the model's doc_string.
};

// Writes an inference graph (TraceInference's, usually after FoldBatchNorm) as an ONNX
// model: one float input [batch, C, H, W] with a symbolic batch, one output [batch,
// classes], weights as initializers. The model passes the ONNX checker and ONNX's strict
// shape inference; the error names the first node it cannot express. Returns the
// serialized ModelProto.
absl::StatusOr<std::string> GraphToOnnx(const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<int64_t>& input_shape,
                                        const OnnxExportOptions& options);

// Runs an ONNX model with OpenCV's DNN module, an inference engine that shares no code
// with LibTorch; used to check the exports.
class OpenCvOnnxRunner {
 public:
  static absl::StatusOr<std::unique_ptr<OpenCvOnnxRunner>> Load(const std::string& model_bytes);
  ~OpenCvOnnxRunner();
  // x: a float [N, C, H, W] batch (any N); returns the model's first output.
  absl::StatusOr<torch::Tensor> Run(const torch::Tensor& x);
  // "OpenCV 4.6.0 DNN".
  static std::string Describe();

 private:
  struct Impl;
  explicit OpenCvOnnxRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_ONNX_EXPORT_H_
