#ifndef NAS_NAS_REQUEST_VALIDATION_H_
#define NAS_NAS_REQUEST_VALIDATION_H_

// Validation of NasService requests, apart from the service so that it can be tested and
// fuzzed without a server, LibTorch or gRPC (tests/fuzz/request_fuzzer.cc). Every error is
// InvalidArgument naming the field (or PermissionDenied for a path outside the allowed
// directories).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "supernet/search_space.h"

namespace nas::service {

// What one request may ask for; every limit is checked at submission and named in the
// error (RESOURCE_EXHAUSTED for sizes of work, INVALID_ARGUMENT for malformed fields).
struct RequestLimits {
  int64_t max_budget = 100'000;       // spec.budget of a search.
  int max_constraints = 64;           // spec.constraints entries (repeats are merged anyway).
  int max_initial_archs = 256;        // spec.initial_archs entries.
  int max_objectives = 8;
  int64_t max_batch_size = 4096;      // spec.batch_size of a training job.
  size_t max_request_id_bytes = 128;  // request_id.
  size_t max_field_bytes = 4096;      // Any other string field.
};

class RequestValidator {
 public:
  struct Space {
    std::shared_ptr<const supernet::SearchSpace> space;
    std::string path;
  };

  // Knows every search space YAML in `config_dir`; request paths must resolve under
  // `data_dir` or one of `allowed_dirs`.
  RequestValidator(std::string data_dir, std::string config_dir, std::vector<std::string> allowed_dirs,
                   RequestLimits limits = {});
  const RequestLimits& limits() const { return limits_; }

  // A client-chosen request id: at most limits().max_request_id_bytes, printable.
  absl::Status ValidateRequestId(const std::string& request_id) const;

  const std::string& data_dir() const { return data_dir_; }
  const std::string& config_dir() const { return config_dir_; }
  const std::map<std::string, Space>& spaces() const { return spaces_; }

  // A known space by name.
  absl::StatusOr<Space> FindSpace(const std::string& name, const std::string& field) const;
  // `path` (relative to the data directory, or absolute), resolved, if it lies under an
  // allowed directory and is an existing file; never a way out of them.
  absl::StatusOr<std::string> Confine(const std::string& path, const std::string& field) const;
  // An architecture message: its space must be known and its string parse.
  absl::StatusOr<supernet::Architecture> ParseArchitecture(const v1::Architecture& arch,
                                                           const std::string& field) const;

  // Checks a search spec and rewrites its paths to confined absolute ones.
  absl::Status ValidateSearch(v1::SearchSpec* spec) const;
  // Checks a training spec: a bare file name in the config directory, sane numbers.
  // (Whether the file is a valid training config is checked by the caller.)
  absl::Status ValidateTraining(const v1::TrainingSpec& spec) const;
  // Checks a fine-tuning spec and rewrites its checkpoint to the confined absolute path
  // (whether the config file is a valid fine-tuning config is checked by the caller).
  absl::Status ValidateFineTune(v1::FineTuneSpec* spec) const;
  // Checks an export request's name, batch size and checkpoint; returns the confined
  // checkpoint path.
  absl::StatusOr<std::string> ValidateExport(const v1::ExportSubnetRequest& request) const;

 private:
  absl::Status CheckFieldSize(const std::string& value, const std::string& field) const;

  std::string data_dir_, config_dir_;
  std::vector<std::string> roots_;
  RequestLimits limits_;
  std::map<std::string, Space> spaces_;
};

}  // namespace nas::service

#endif  // NAS_NAS_REQUEST_VALIDATION_H_
