// Load generator for NasService.EvaluateArchitecture (cost only) on loopback: starts a real
// server in-process, then N client threads (one channel each) call it. Two modes per N:
// paced at a fixed total rate (latency under a given load) and closed loop (as fast as
// possible: throughput). Prints throughput and p50/p99 latency.
//
//   bazel-bin/bench/grpc_load [--clients 1,4,16] [--rate 1000] [--seconds 5]
#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nas/service.h"
#include "proto/nas.grpc.pb.h"
#include "supernet/file_util.h"
#include "supernet/search_space.h"

namespace {

struct Result {
  double seconds = 0;
  std::vector<double> latencies_ms;
  int64_t errors = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// `rate` total requests per second (0: closed loop), for `seconds`.
Result Run(const std::string& target, int clients, double rate, double seconds,
           const std::vector<std::string>& archs) {
  std::vector<Result> per(clients);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);  // A connection per client.
      auto stub = nas::v1::NasService::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      const std::chrono::duration<double> interval(rate > 0 ? clients / rate : 0);
      auto next = start + std::chrono::duration<double>(rate > 0 ? c / rate : 0);
      for (int64_t i = 0;; ++i) {
        if (rate > 0) {
          std::this_thread::sleep_until(next);
          next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval);
        }
        const auto t0 = std::chrono::steady_clock::now();
        if (t0 >= end) break;
        nas::v1::EvaluateArchitectureRequest request;
        request.mutable_architecture()->set_space("nb201");
        request.mutable_architecture()->set_arch(archs[(i * clients + c) % archs.size()]);
        nas::v1::EvaluateArchitectureResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        const grpc::Status s = stub->EvaluateArchitecture(&context, request, &response);
        const auto t1 = std::chrono::steady_clock::now();
        if (!s.ok()) ++per[c].errors;
        per[c].latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Result& p : per) {
    r.latencies_ms.insert(r.latencies_ms.end(), p.latencies_ms.begin(), p.latencies_ms.end());
    r.errors += p.errors;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gRPC load generator against EvaluateArchitecture (cost only)"};
  std::string clients_text = "1,4,16";
  double rate = 1000, seconds = 5;
  app.add_option("--clients", clients_text, "Client counts to run")->capture_default_str();
  app.add_option("--rate", rate, "Total requests/s of the paced runs")->capture_default_str();
  app.add_option("--seconds", seconds, "Seconds per run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  nas::service::ServerOptions options;
  options.port = 0;
  options.data_dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/nas_grpc_load";
  options.config_dir = "configs";
  auto server = nas::service::NasServer::Start(options);
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    return 1;
  }
  auto space = nas::supernet::LoadSearchSpace("configs/nb201.yaml");
  nas::Rng rng(1);
  std::vector<std::string> archs;
  for (int i = 0; i < 1000; ++i) archs.push_back((*space)->Format((*space)->Sample(rng)));
  const std::string target = absl::StrFormat("127.0.0.1:%d", (*server)->port());
  std::cout << "| clients | mode | requests/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n";
  for (absl::string_view c : absl::StrSplit(clients_text, ',')) {
    const int clients = std::stoi(std::string(c));
    for (const double r : {rate, 0.0}) {
      const Result result = Run(target, clients, r, seconds, archs);
      std::cout << absl::StrFormat("| %d | %s | %.0f | %.3f | %.3f | %d |\n", clients,
                                   r > 0 ? absl::StrFormat("paced %.0f/s", r) : std::string("closed loop"),
                                   result.latencies_ms.size() / result.seconds, Percentile(result.latencies_ms, 0.5),
                                   Percentile(result.latencies_ms, 0.99), result.errors);
    }
  }
  (*server)->Shutdown();
  return 0;
}
