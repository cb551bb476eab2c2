#include "supernet/network_plan.h"

namespace nas::supernet {

int64_t Primitive::Flops() const {
  // One add per output element for a bias.
  switch (kind) {
    case Kind::kConv2d:
      return Macs() + (bias ? out_channels * out_height * out_width : 0);
    case Kind::kLinear:
      return Macs() + (bias ? out_channels : 0);
    case Kind::kBatchNorm:
      return 0;
  }
  return 0;
}

int64_t Primitive::Params() const {
  switch (kind) {
    case Kind::kConv2d:
      return out_channels * kernel_size * kernel_size * (in_channels / groups) +
             (bias ? out_channels : 0);
    case Kind::kLinear:
      return in_channels * out_channels + (bias ? out_channels : 0);
    case Kind::kBatchNorm:
      return affine ? 2 * in_channels : 0;
  }
  return 0;
}

int64_t Primitive::Macs() const {
  switch (kind) {
    case Kind::kConv2d:
      return out_channels * out_height * out_width * kernel_size * kernel_size *
             (in_channels / groups);
    case Kind::kLinear:
      return in_channels * out_channels;
    case Kind::kBatchNorm:
      return 0;
  }
  return 0;
}

int64_t Primitive::BitOps() const {
  return Macs() * weight_bits * activation_bits;
}

int64_t Primitive::SizeBytes() const {
  if (kind == Kind::kBatchNorm) return 4 * Params();
  const int64_t biases = bias ? out_channels : 0;
  const int64_t weights = Params() - biases;
  return (weights * weight_bits + 7) / 8 + 4 * biases;
}

int64_t PlanBlock::Flops() const {
  int64_t total = 0;
  for (const Primitive& p : primitives) total += p.Flops();
  return total;
}

int64_t PlanBlock::Params() const {
  int64_t total = 0;
  for (const Primitive& p : primitives) total += p.Params();
  return total;
}

int64_t PlanBlock::BitOps() const {
  int64_t total = 0;
  for (const Primitive& p : primitives) total += p.BitOps();
  return total;
}

int64_t PlanBlock::SizeBytes() const {
  int64_t total = 0;
  for (const Primitive& p : primitives) total += p.SizeBytes();
  return total;
}

int64_t NetworkPlan::BitOps() const {
  int64_t total = 0;
  for (const PlanBlock& b : blocks) total += b.BitOps();
  return total;
}

int64_t NetworkPlan::SizeBytes() const {
  int64_t total = 0;
  for (const PlanBlock& b : blocks) total += b.SizeBytes();
  return total;
}

int64_t NetworkPlan::Flops() const {
  int64_t total = 0;
  for (const PlanBlock& b : blocks) total += b.Flops();
  return total;
}

int64_t NetworkPlan::Params() const {
  int64_t total = 0;
  for (const PlanBlock& b : blocks) total += b.Params();
  return total;
}

Primitive Conv(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
               int64_t stride, int64_t groups, int64_t out_size, bool bias) {
  Primitive p;
  p.kind = Primitive::Kind::kConv2d;
  p.in_channels = in_channels;
  p.out_channels = out_channels;
  p.kernel_size = kernel_size;
  p.stride = stride;
  p.groups = groups;
  p.out_height = out_size;
  p.out_width = out_size;
  p.bias = bias;
  return p;
}

Primitive BatchNorm(int64_t channels, bool affine) {
  Primitive p;
  p.kind = Primitive::Kind::kBatchNorm;
  p.in_channels = channels;
  p.out_channels = channels;
  p.affine = affine;
  return p;
}

Primitive Linear(int64_t in_features, int64_t out_features, bool bias) {
  Primitive p;
  p.kind = Primitive::Kind::kLinear;
  p.in_channels = in_features;
  p.out_channels = out_features;
  p.bias = bias;
  return p;
}

int64_t ConvOutputSize(int64_t in_size, int64_t kernel_size, int64_t stride) {
  const int64_t padding = kernel_size / 2;
  return (in_size + 2 * padding - kernel_size) / stride + 1;
}

}  // namespace nas::supernet
