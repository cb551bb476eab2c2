#ifndef NAS_SUPERNET_FEW_SHOT_H_
#define NAS_SUPERNET_FEW_SHOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nas::supernet {

// A few-shot supernet (Few-shot NAS, Zhao et al. 2021): a trained one-shot supernet split
// on one gene into one sub-supernet per option of that gene, each starting from the
// one-shot weights and trained further on the paths that have that option. An
// architecture is evaluated by the sub-supernet of its option. Stored as a folder with
// `fewshot.json` (this manifest) and one training run per option (option_<k>/).
struct FewShotManifest {
  struct Child {
    int option = 0;
    std::string option_name;
    std::string checkpoint;  // Absolute once read (stored relative to the folder).
  };
  std::string parent;  // The one-shot supernet's checkpoint it was split from.
  int gene = 0;
  std::string gene_name;
  int64_t steps = 0;            // Training steps of each sub-supernet.
  double lr = 0;                // Their initial learning rate.
  std::vector<Child> children;  // One per option of `gene`, in option order.
};

constexpr char kFewShotManifestName[] = "fewshot.json";
// Written when a split starts; the manifest appears only when every sub-supernet is done.
constexpr char kFewShotRequestName[] = "fewshot_request.json";

// Why a folder given where a checkpoint file is expected is not one, for the error
// message: an unfinished few-shot split (how to finish it), a training run's folder (its
// checkpoint file), or neither.
std::string DescribeNonCheckpointFolder(const std::string& folder);

// True when `path` is a few-shot manifest or a folder that holds one.
bool IsFewShotPath(const std::string& path);
// Reads the manifest at `path` (the file or its folder); checks that it names one child
// per option, in order, and that their checkpoints exist. Errors name the field.
absl::StatusOr<FewShotManifest> ReadFewShotManifest(const std::string& path);
// Writes `manifest` atomically as `folder`/fewshot.json (checkpoints stored relative to
// `folder` when they are inside it).
absl::Status WriteFewShotManifest(const std::string& folder, const FewShotManifest& manifest);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_FEW_SHOT_H_
