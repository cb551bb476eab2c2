// libFuzzer target: random bytes as NasService requests into request validation, and as
// architecture strings, constraints and objectives into their parsers. Invariants checked
// besides "no crash": a validated request's paths lie under the allowed roots; an
// architecture that parses formats back to a string that parses to the same architecture.
//
// Built with clang by tests/fuzz/run_fuzzer.sh; tests/fuzz:request_fuzzer_regression runs
// the same entry point (built with the default compiler) over the corpus in every test run.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "nas/request_validation.h"
#include "search/constraints.h"
#include "search/metrics.h"

namespace {

const nas::service::RequestValidator& Validator() {
  // Spaces from configs/ (the runfiles or source tree), data under a scratch directory.
  static const auto* validator = [] {
    // Protobuf logs every string field with invalid UTF-8; random bytes are full of them.
    google::protobuf::SetLogHandler(nullptr);
    const char* configs = std::getenv("NAS_FUZZ_CONFIGS");
    const char* tmp = std::getenv("TEST_TMPDIR");
    return new nas::service::RequestValidator(std::string(tmp ? tmp : "/tmp") + "/nas_fuzz_data",
                                              configs ? configs : "configs", {});
  }();
  return *validator;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "invariant violated: " << what << "\n";
    std::abort();
  }
}

void FuzzArchitecture(const std::string& text) {
  for (const auto& [name, known] : Validator().spaces()) {
    auto arch = known.space->Parse(text);
    if (!arch.ok()) continue;
    Check(known.space->Validate(*arch).ok(), "a parsed architecture is valid");
    const std::string formatted = known.space->Format(*arch);
    auto again = known.space->Parse(formatted);
    Check(again.ok() && *again == *arch, "Parse(Format(a)) == a");
    (void)known.space->Cost(*arch);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const nas::service::RequestValidator& v = Validator();
  switch (selector % 6) {
    case 0: {
      nas::v1::SearchSpec spec;
      if (!spec.ParseFromString(rest)) return 0;
      const absl::Status s = v.ValidateSearch(&spec);
      if (s.ok()) Check(spec.evaluator() == "cost" || spec.evaluator().find(v.data_dir()) != std::string::npos ||
                            spec.evaluator().find("supernet:/") == 0 || spec.evaluator().find("table:/") == 0,
                        "validated evaluator path is confined");
      break;
    }
    case 1: {
      nas::v1::TrainingSpec spec;
      if (spec.ParseFromString(rest)) (void)v.ValidateTraining(spec);
      break;
    }
    case 2: {
      nas::v1::ExportSubnetRequest request;
      if (!request.ParseFromString(rest)) return 0;
      auto path = v.ValidateExport(request);
      if (path.ok()) Check(path->rfind("/", 0) == 0, "validated checkpoint path is absolute");
      break;
    }
    case 3: {
      nas::v1::EvaluateArchitectureRequest request;
      if (request.ParseFromString(rest)) (void)v.ParseArchitecture(request.architecture(), "architecture");
      break;
    }
    case 4:
      FuzzArchitecture(rest);
      break;
    case 5: {
      (void)nas::search::ParseConstraint(rest);
      (void)nas::search::ParseObjective(rest);
      (void)nas::search::ParseLatencySpec(rest, "latency");
      (void)nas::search::CheckAlgorithmName(rest, "algorithm");
      break;
    }
  }
  return 0;
}
