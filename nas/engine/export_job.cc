#include "nas/engine/export_job.h"

#include "absl/strings/str_cat.h"

namespace nas::engine {

absl::StatusOr<supernet::Architecture> ParseArchOrExtreme(const supernet::SearchSpace& space,
                                                         const std::string& text, const std::string& field) {
  if (text == "largest") return space.MaxFlops().arch;
  if (text == "smallest") return space.MinFlops().arch;
  absl::StatusOr<supernet::Architecture> arch = space.Parse(text);
  if (!arch.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", arch.status().message()));
  return arch;
}

absl::StatusOr<v1::ExportSubnetResponse> RunExportJob(const supernet::TrainedSupernet& trained,
                                                      const supernet::Architecture& arch, const std::string& dir,
                                                      const supernet::ExportOptions& options) {
  absl::StatusOr<nlohmann::json> j = supernet::ExportSubnet(trained, arch, dir, options);
  if (!j.ok()) return j.status();
  v1::ExportSubnetResponse r;
  r.set_output_dir(dir);
  for (const auto& f : (*j)["files"]) r.add_files(f.get<std::string>());
  r.set_max_abs_diff((*j)["check"]["max_abs_diff_vs_supernet_path"].get<double>());
  r.set_test_accuracy((*j)["test_accuracy"].get<double>());
  r.set_flops((*j)["flops"].get<int64_t>());
  r.set_params((*j)["params"].get<int64_t>());
  r.set_space((*j)["space"].get<std::string>());
  r.set_arch((*j)["arch"].get<std::string>());
  r.set_test_images((*j)["test_images"].get<int64_t>());
  r.set_seconds((*j)["seconds"].get<double>());
  r.set_bn_fold_max_abs_diff((*j)["check"]["max_abs_diff_folded_vs_unfolded"].get<double>());
  for (const auto& b : (*j)["check"]["batch_sizes"]) r.add_batch_sizes_checked(b.get<int64_t>());
  if (j->contains("onnx")) {
    r.set_onnx(true);
    r.set_onnx_max_abs_diff((*j)["onnx"]["max_abs_diff_vs_torchscript"].get<double>());
    r.set_onnx_test_accuracy((*j)["onnx"]["test_accuracy"].get<double>());
  }
  if (const nlohmann::json& latency = (*j)["latency"]; latency.is_object()) {
    r.set_latency_ms(latency.value("torchscript_ms", 0.0));
    r.set_onnx_latency_ms(latency.value("onnx_opencv_ms", 0.0));
  }
  r.set_bitops((*j)["bitops"].get<int64_t>());
  r.set_size_bytes((*j)["size_bytes"].get<int64_t>());
  if (j->contains("quantization")) {
    const nlohmann::json& q = (*j)["quantization"];
    r.set_quantized(true);
    r.set_quantized_engine(q["engine"].get<std::string>());
    r.set_integer_convolutions(q["integer_convolutions"].get<int>());
    r.set_fake_quant_top1_agreement(q["check_vs_fake_quant_path"]["top1_agreement"].get<double>());
    r.set_float32_test_accuracy(q["float32_test_accuracy"].get<double>());
    if (const nlohmann::json& latency = (*j)["latency"]; latency.is_object()) {
      r.set_float32_latency_ms(latency.value("float32_torchscript_ms", 0.0));
    }
  }
  r.set_metadata_json(j->dump(2));
  return r;
}

}  // namespace nas::engine
