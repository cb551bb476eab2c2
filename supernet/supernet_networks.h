#ifndef NAS_SUPERNET_SUPERNET_NETWORKS_H_
#define NAS_SUPERNET_SUPERNET_NETWORKS_H_

// Internal: the concrete networks of each space type, behind CreateNetwork.

#include <optional>

#include "supernet/layered_space.h"
#include "supernet/supernet.h"

namespace nas::supernet {

// Builds the network of `space`: the full supernet when `only` is empty, else the
// stand-alone network of that one architecture.
Supernet CreateNetwork(std::shared_ptr<const SearchSpace> space, const SupernetOptions& options,
                       std::optional<Architecture> only);

// The head shared by the layer-wise spaces: 1x1 conv to head.channels + BN + ReLU
// (followed in Forward by global average pooling), and the linear classifier.
ConvBnStack MakeLayeredHead(const LayeredSpace& space, bool bn_affine);
Classifier MakeLayeredClassifier(const LayeredSpace& space);

Supernet CreateShuffleNetNetwork(std::shared_ptr<const SearchSpace> space,
                                 const SupernetOptions& options, std::optional<Architecture> only);
Supernet CreateMobileNetV2Network(std::shared_ptr<const SearchSpace> space,
                                  const SupernetOptions& options, std::optional<Architecture> only);
Supernet CreateNb201Network(std::shared_ptr<const SearchSpace> space,
                            const SupernetOptions& options, std::optional<Architecture> only);

}  // namespace nas::supernet

#endif  // NAS_SUPERNET_SUPERNET_NETWORKS_H_
