#include "supernet/distributed.h"

#include <cstdlib>

#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nas::supernet {

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {

absl::StatusOr<int> IntFromEnvironment(const char* name, int fallback, int min, int max) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  int v = 0;
  if (!absl::SimpleAtoi(value, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variable ", name, "='", value, "' must be an integer in [", min, ", ", max, "]"));
  }
  return v;
}

}  // namespace

absl::StatusOr<DistributedOptions> DistributedOptionsFromEnvironment() {
  DistributedOptions o;
  absl::StatusOr<int> world = IntFromEnvironment("WORLD_SIZE", 1, 1, 4096);
  if (!world.ok()) return world.status();
  o.world_size = *world;
  absl::StatusOr<int> rank = IntFromEnvironment("RANK", 0, 0, o.world_size - 1);
  if (!rank.ok()) return rank.status();
  o.rank = *rank;
  absl::StatusOr<int> port = IntFromEnvironment("MASTER_PORT", 29500, 1, 65535);
  if (!port.ok()) return port.status();
  o.master_port = *port;
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') o.master_addr = addr;
  return o;
}

absl::StatusOr<std::unique_ptr<Distributed>> Distributed::Connect(const DistributedOptions& options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", options.rank, " is outside world size ", options.world_size));
  }
  std::unique_ptr<Distributed> d(new Distributed(options));
  d->impl_ = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = options.world_size;
    store_options.waitWorkers = true;
    store_options.timeout = options.timeout;
    d->impl_->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
    auto group_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    // The network interface: $GLOO_SOCKET_IFNAME as in PyTorch; loopback when the master
    // is local; else the one this host's name resolves to.
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    if (interface != nullptr && *interface != '\0') {
      group_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (options.master_addr == "127.0.0.1" || options.master_addr == "localhost") {
      group_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      group_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    d->impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(d->impl_->store, options.rank,
                                                                  options.world_size, group_options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", options.rank, " of ", options.world_size,
                                               ": cannot join the process group at ", options.master_addr, ":",
                                               options.master_port, " within ", options.timeout.count(),
                                               " ms: ", e.what()));
  }
  return d;
}

Distributed::Distributed(DistributedOptions options) : options_(std::move(options)) {}
Distributed::~Distributed() = default;

namespace {

absl::Status Failed(int rank, const char* what, const std::exception& e) {
  return absl::UnavailableError(absl::StrCat("rank ", rank, ": ", what,
                                             " failed (a peer process died, hung or lost its connection): ",
                                             e.what()));
}

}  // namespace

absl::Status Distributed::AverageGradients(const std::vector<torch::Tensor>& params, size_t bucket_bytes) {
  if (world_size() == 1) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  }
  size_t start = 0;
  try {
    while (start < grads.size()) {
      size_t end = start, bytes = 0;
      while (end < grads.size() && (end == start || bytes + grads[end].nbytes() <= bucket_bytes)) {
        bytes += grads[end].nbytes();
        ++end;
      }
      std::vector<torch::Tensor> flat_parts;
      for (size_t i = start; i < end; ++i) flat_parts.push_back(grads[i].reshape({-1}));
      std::vector<torch::Tensor> bucket = {torch::cat(flat_parts)};
      impl_->group->allreduce(bucket)->wait();
      bucket[0].div_(world_size());
      int64_t offset = 0;
      for (size_t i = start; i < end; ++i) {
        const int64_t n = grads[i].numel();
        grads[i].copy_(bucket[0].narrow(0, offset, n).view_as(grads[i]));
        offset += n;
      }
      start = end;
    }
  } catch (const std::exception& e) {
    return Failed(rank(), "gradient all-reduce", e);
  }
  return absl::OkStatus();
}

absl::Status Distributed::AverageValues(std::vector<double>* values) {
  if (world_size() == 1 || values->empty()) return absl::OkStatus();
  std::vector<torch::Tensor> t = {torch::tensor(*values, torch::kFloat64)};
  try {
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& e) {
    return Failed(rank(), "all-reduce", e);
  }
  for (size_t i = 0; i < values->size(); ++i) (*values)[i] = t[0][i].item<double>() / world_size();
  return absl::OkStatus();
}

absl::Status Distributed::Broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  if (world_size() == 1 || tensors.empty()) return absl::OkStatus();
  torch::NoGradGuard no_grad;
  try {
    std::vector<torch::Tensor> parts;
    for (const torch::Tensor& t : tensors) parts.push_back(t.reshape({-1}).to(torch::kFloat64));
    std::vector<torch::Tensor> flat = {torch::cat(parts)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    impl_->group->broadcast(flat, options)->wait();
    int64_t offset = 0;
    for (const torch::Tensor& t : tensors) {
      const int64_t n = t.numel();
      t.copy_(flat[0].narrow(0, offset, n).view_as(t).to(t.dtype()));
      offset += n;
    }
  } catch (const std::exception& e) {
    return Failed(rank(), "broadcast", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> Distributed::GatherStrided(const std::vector<double>& local, size_t count) {
  if (world_size() == 1) return local;
  // Every rank contributes a full-length vector holding its own items, zeros elsewhere;
  // a sum all-reduce then assembles all of them on every rank.
  torch::Tensor full = torch::zeros({static_cast<int64_t>(count)}, torch::kFloat64);
  for (size_t k = 0; k < local.size(); ++k) {
    const size_t item = rank() + k * world_size();
    if (item < count) full[item] = local[k];
  }
  std::vector<torch::Tensor> t = {full};
  try {
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& e) {
    return Failed(rank(), "gather", e);
  }
  std::vector<double> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = t[0][i].item<double>();
  return out;
}

absl::Status Distributed::Barrier() {
  if (world_size() == 1) return absl::OkStatus();
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    return Failed(rank(), "barrier", e);
  }
  return absl::OkStatus();
}

}  // namespace nas::supernet
