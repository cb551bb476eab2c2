#ifndef NAS_NAS_ENGINE_EXPORT_JOB_H_
#define NAS_NAS_ENGINE_EXPORT_JOB_H_

#include <string>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "supernet/export.h"
#include "supernet/search_space.h"
#include "supernet/trained_supernet.h"

namespace nas::engine {

// An architecture string of `space`, or "largest" / "smallest" (by FLOPs); errors name
// `field`.
absl::StatusOr<supernet::Architecture> ParseArchOrExtreme(const supernet::SearchSpace& space,
                                                         const std::string& text, const std::string& field);

// Writes the deployment bundle of `arch` into `dir` (supernet/export.h) and returns what
// was written and checked.
absl::StatusOr<v1::ExportSubnetResponse> RunExportJob(const supernet::TrainedSupernet& trained,
                                                      const supernet::Architecture& arch, const std::string& dir,
                                                      const supernet::ExportOptions& options);

}  // namespace nas::engine

#endif  // NAS_NAS_ENGINE_EXPORT_JOB_H_
