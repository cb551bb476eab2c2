#include "supernet/supernet.h"

#include "absl/strings/str_cat.h"
#include "supernet/nb201_space.h"
#include "supernet/supernet_networks.h"

namespace nas::supernet {

torch::Tensor SupernetImpl::forward(const torch::Tensor& x, const Architecture& arch) {
  ForwardContext ctx;
  ctx.mode = is_training() ? BnMode::kTrain : BnMode::kEval;
  return Forward(x, arch, ctx);
}

std::vector<torch::Tensor> SupernetImpl::PathParameters(const Architecture& arch) {
  std::vector<torch::Tensor> params;
  for (const PathPart& part : PathParts(arch)) {
    if (part.stack != nullptr) {
      for (const torch::Tensor& p : part.stack->ParametersAt(part.width)) params.push_back(p);
    }
    if (part.norm != nullptr && part.norm->affine()) {
      params.push_back(part.norm->weight);
      params.push_back(part.norm->bias);
    }
    if (part.classifier != nullptr) {
      params.push_back(part.classifier->weight);
      if (part.classifier->bias.defined()) params.push_back(part.classifier->bias);
    }
  }
  return params;
}

void SupernetImpl::CheckArchitecture(const Architecture& arch) const {
  TORCH_CHECK(!only_.has_value() || *only_ == arch,
              "this stand-alone network was built for architecture ", space_->Format(*only_),
              ", not ", space_->Format(arch));
}

ConvBnStack MakeLayeredHead(const LayeredSpace& space, bool bn_affine) {
  ConvUnit head;
  head.in_channels = space.layers().back().out_channels;
  head.out_channels = space.config().head.channels;
  head.activation = Activation::kRelu;
  return ConvBnStack(std::vector<ConvUnit>{head}, std::vector<int64_t>{}, bn_affine);
}

Classifier MakeLayeredClassifier(const LayeredSpace& space) {
  const LayeredConfig& c = space.config();
  return Classifier(c.head.channels, c.num_classes, c.head.classifier_bias);
}

void SupernetImpl::ApplyMemoryFormat() {
  const torch::MemoryFormat format =
      options_.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : parameters()) {
    if (p.dim() == 4 && !p.is_contiguous(format)) p.set_data(p.contiguous(format));
  }
}

Supernet CreateSupernet(std::shared_ptr<const SearchSpace> space, const SupernetOptions& options) {
  Supernet net = CreateNetwork(std::move(space), options, std::nullopt);
  net->ApplyMemoryFormat();
  return net;
}

absl::StatusOr<Supernet> ExtractSubnet(SupernetImpl& supernet, const Architecture& arch,
                                       const BnStatistics* stats) {
  if (absl::Status s = supernet.space().Validate(arch); !s.ok()) return s;
  if (supernet.restricted_to().has_value()) {
    return absl::FailedPreconditionError("cannot extract from a stand-alone network");
  }
  Supernet subnet = CreateNetwork(supernet.shared_space(), supernet.options(), arch);
  subnet->ApplyMemoryFormat();
  subnet->to(supernet.parameters().front().device());
  std::vector<PathPart> from = supernet.PathParts(arch);
  std::vector<PathPart> to = subnet->PathParts(arch);
  if (from.size() != to.size()) {
    return absl::InternalError(absl::StrCat("path has ", from.size(), " parts but subnet ",
                                            to.size()));
  }
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i].stack != nullptr) to[i].stack->CopyFrom(*from[i].stack, from[i].width, stats);
    if (from[i].norm != nullptr) to[i].norm->CopyFrom(*from[i].norm, stats);
    if (from[i].classifier != nullptr) to[i].classifier->CopyFrom(*from[i].classifier);
  }
  return subnet;
}

absl::StatusOr<Supernet> RepeatCells(SupernetImpl& trained, int cells_per_stage) {
  const auto* space = dynamic_cast<const Nb201Space*>(&trained.space());
  if (space == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("repeating cells needs a cell-based (nb201) space; ",
                                                   trained.space().name(), " is not one"));
  }
  if (trained.restricted_to().has_value()) {
    return absl::FailedPreconditionError("cannot repeat the cells of a stand-alone network");
  }
  absl::StatusOr<std::shared_ptr<const Nb201Space>> deep = space->WithCellsPerStage(cells_per_stage);
  if (!deep.ok()) return deep.status();
  Supernet net = CreateNetwork(*deep, trained.options(), std::nullopt);
  net->ApplyMemoryFormat();
  net->to(trained.parameters().front().device());
  // Cell modules are named "cells_<global index>_..." (nb201_supernet.cc).
  const int from_cells = space->cells_per_stage();
  auto source_name = [&](const std::string& name) {
    const std::string prefix = "cells_";
    if (name.rfind(prefix, 0) != 0) return name;
    const size_t end = name.find('_', prefix.size());
    const int j = std::stoi(name.substr(prefix.size(), end - prefix.size()));
    const int stage = j / cells_per_stage, i = j % cells_per_stage;
    return absl::StrCat(prefix, stage * from_cells + i * from_cells / cells_per_stage, name.substr(end));
  };
  torch::NoGradGuard no_grad;
  const auto params = trained.named_parameters(/*recurse=*/true);
  const auto buffers = trained.named_buffers(/*recurse=*/true);
  for (auto& p : net->named_parameters(true)) {
    const torch::Tensor* from = params.find(source_name(p.key()));
    if (from == nullptr) return absl::InternalError(absl::StrCat("repeating cells: no weight for ", p.key()));
    p.value().copy_(*from);
  }
  for (auto& b : net->named_buffers(true)) {
    const torch::Tensor* from = buffers.find(source_name(b.key()));
    if (from == nullptr) return absl::InternalError(absl::StrCat("repeating cells: no buffer for ", b.key()));
    b.value().copy_(*from);
  }
  net->eval();
  return net;
}

}  // namespace nas::supernet
