// Opens N WatchJob streams on a running `nas serve` (one channel), reads each stream's
// first event, then reports how many were accepted and refused (RESOURCE_EXHAUSTED) and
// the server's thread count (from /proc) while they are all open.
//
//   bazel-bin/bench/watchers --server 127.0.0.1:PORT --job job-000001 --pid SERVER_PID [--n 2000]
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "proto/nas.grpc.pb.h"

namespace {

int Threads(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Many WatchJob streams against a running server"};
  std::string server, job;
  int pid = 0, n = 2000;
  app.add_option("--server", server, "host:port")->required();
  app.add_option("--job", job, "Job id to watch (a long-running one)")->required();
  app.add_option("--pid", pid, "The server's pid (for its thread count)")->required();
  app.add_option("--n", n, "Streams to open")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto stub = nas::v1::NasService::NewStub(grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  const int threads_before = Threads(pid);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<nas::v1::JobEvent>>> open;
  int accepted = 0, refused = 0, other = 0;
  nas::v1::WatchJobRequest request;
  request.set_id(job);
  for (int i = 0; i < n; ++i) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto reader = stub->WatchJob(context.get(), request);
    nas::v1::JobEvent event;
    if (reader->Read(&event)) {
      ++accepted;
      contexts.push_back(std::move(context));
      open.push_back(std::move(reader));
      continue;
    }
    const grpc::Status s = reader->Finish();
    (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ? refused : other)++;
  }
  const int threads_open = Threads(pid);
  // A GetJob while every stream is open: the server still answers.
  nas::v1::GetJobRequest get;
  get.set_id(job);
  nas::v1::Job got;
  grpc::ClientContext get_context;
  const auto t0 = std::chrono::steady_clock::now();
  const bool get_ok = stub->GetJob(&get_context, get, &got).ok();
  const double get_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (auto& c : contexts) c->TryCancel();
  for (auto& r : open) r->Finish();
  std::cout << "{\"streams\": " << n << ", \"accepted\": " << accepted << ", \"refused_resource_exhausted\": " << refused
            << ", \"other_errors\": " << other << ", \"server_threads_before\": " << threads_before
            << ", \"server_threads_with_streams_open\": " << threads_open << ", \"get_job_ok\": "
            << (get_ok ? "true" : "false") << ", \"get_job_ms\": " << get_ms << "}" << std::endl;
  return 0;
}
