#ifndef NAS_SUPERNET_DATASETS_H_
#define NAS_SUPERNET_DATASETS_H_

#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"

namespace nas::supernet {

// A labelled image set held in memory as bytes: images uint8 [N, C, H, W], labels
// int64 [N]. Immutable after loading; shared read-only by loaders and evaluators.
struct ImageDataset {
  std::string name;
  torch::Tensor images;
  torch::Tensor labels;
  std::vector<std::string> class_names;
  // Per-channel normalization applied by the loaders: (x / 255 - mean) / std.
  std::vector<float> mean;
  std::vector<float> std;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

// Fashion-MNIST from its four gzipped IDX files (Debian's dataset-fashion-mnist puts
// them in /usr/share/datasets/fashion-mnist).
absl::StatusOr<ImageDataset> LoadFashionMnist(const std::string& dir, bool train);

// CIFAR-10 from the JPEG tarball (cifar10/{train,test}/<class>/NNNN.jpg). Decoded once
// (libjpeg-turbo, in parallel) into a checksummed tensor file in `cache_dir`, which
// later loads reuse.
absl::StatusOr<ImageDataset> LoadCifar10(const std::string& archive, const std::string& cache_dir,
                                         bool train);

// A folder with one sub-folder per class holding JPEG or PNG images. Classes are the
// sub-folder names, sorted. Images are converted to `channels` (1 or 3) and resized
// (bilinear) to size x size when they differ.
absl::StatusOr<ImageDataset> LoadImageFolder(const std::string& dir, int64_t size,
                                             int64_t channels);

// Decodes one JPEG or PNG image (by its magic bytes) to uint8 [C, H, W] with
// `channels` channels. Errors name `what`.
absl::StatusOr<torch::Tensor> DecodeImage(const std::string& bytes, int64_t channels,
                                          const std::string& what);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_DATASETS_H_
