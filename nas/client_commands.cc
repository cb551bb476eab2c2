#include "nas/client_commands.h"

#include <filesystem>
#include <iostream>
#include <memory>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "nas/engine/progress.h"
#include "proto/nas.grpc.pb.h"
#include "search/constraints.h"
#include "supernet/file_util.h"
#include "supernet/search_space.h"

namespace nas::service {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), absl::StrCat("server: ", s.error_message()));
}

absl::StatusOr<std::unique_ptr<v1::NasService::Stub>> Connect(const ClientOptions& client) {
  if (client.server.empty()) return absl::InvalidArgumentError("--server: required (host:port)");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!client.tls_ca.empty()) {
    auto ca = ReadFileBytes(client.tls_ca);
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ca;
    credentials = grpc::SslCredentials(ssl);
  }
  return v1::NasService::NewStub(grpc::CreateChannel(client.server, credentials));
}

std::unique_ptr<grpc::ClientContext> Context(const ClientOptions& client) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!client.token.empty()) context->AddMetadata("authorization", "Bearer " + client.token);
  return context;
}

namespace {

std::string StateName(v1::Job::State s) { return v1::Job::State_Name(s); }

}  // namespace

void AddClientFlags(CLI::App* command, ClientOptions* client, bool required) {
  CLI::Option* o = command->add_option("--server", client->server, "host:port of a `nas serve` server");
  if (required) o->required();
  command->add_option("--token", client->token, "Bearer token the server requires (or $NAS_TOKEN)")
      ->envname("NAS_TOKEN");
  command->add_option("--tls-ca", client->tls_ca, "PEM CA certificate of a TLS server");
}

void AddClientCommands(Commands& commands) {
  auto client = std::make_shared<ClientOptions>();
  auto job_id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* jobs_cmd = commands.app().add_subcommand("jobs", "List a server's jobs");
  AddClientFlags(jobs_cmd, client.get(), true);
  jobs_cmd->add_flag("--json", *json, "Print JSON instead of text");
  CLI::App* watch_cmd = commands.app().add_subcommand("watch", "Follow a server job's progress until it ends");
  watch_cmd->add_option("job", *job_id, "Job id")->required();
  AddClientFlags(watch_cmd, client.get(), true);
  CLI::App* cancel_cmd = commands.app().add_subcommand(
      "cancel", "Cancel a server job (running jobs stop after the current step or generation)");
  cancel_cmd->add_option("job", *job_id, "Job id")->required();
  AddClientFlags(cancel_cmd, client.get(), true);
  commands.On(jobs_cmd, [client, json] { return RunListJobs(*client, *json, std::cout); });
  commands.On(watch_cmd, [client, job_id] { return RunWatchJob(*client, *job_id, std::cout, std::cerr); });
  commands.On(cancel_cmd, [client, job_id] { return RunCancelJob(*client, *job_id, std::cout); });
}

absl::Status RunListJobs(const ClientOptions& client, bool json, std::ostream& out) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  // Every page, in creation order.
  std::vector<v1::Job> jobs;
  v1::ListJobsRequest request;
  request.set_page_size(1000);
  do {
    v1::ListJobsResponse response;
    auto context = Context(client);
    if (absl::Status s = FromGrpc((*stub)->ListJobs(context.get(), request, &response)); !s.ok()) return s;
    jobs.insert(jobs.end(), response.jobs().begin(), response.jobs().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  nlohmann::json j = nlohmann::json::array();
  for (const v1::Job& job : jobs) {
    if (json) {
      j.push_back({{"id", job.id()}, {"kind", job.kind()}, {"state", StateName(job.state())},
                   {"progress", job.progress()}, {"error", job.error()}, {"output_dir", job.output_dir()}});
    } else {
      out << absl::StrFormat("%s  %-8s  %-9s  %s\n", job.id(), job.kind(), StateName(job.state()),
                             job.error().empty() ? job.progress() : job.error());
    }
  }
  if (json) out << j.dump(2) << "\n";
  if (!json && jobs.empty()) out << "no jobs\n";
  return absl::OkStatus();
}

absl::Status RunWatchJob(const ClientOptions& client, const std::string& id, std::ostream& out, std::ostream& log) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  v1::WatchJobRequest request;
  request.set_id(id);
  auto context = Context(client);
  auto reader = (*stub)->WatchJob(context.get(), request);
  v1::JobEvent event;
  std::string last_progress;
  v1::Job job;
  while (reader->Read(&event)) {
    job = event.job();
    if (job.progress() != last_progress && !job.progress().empty()) {
      // The server's progress line (the same text the local command prints).
      log << job.id() << ": " << job.progress() << "\n";
      last_progress = job.progress();
    }
  }
  if (absl::Status s = FromGrpc(reader->Finish()); !s.ok()) return s;
  out << absl::StrFormat("%s %s: %s\n", job.id(), job.kind(), StateName(job.state()));
  if (job.state() == v1::Job::FAILED) return absl::AbortedError(absl::StrCat(job.id(), " failed: ", job.error()));
  if (job.has_search_result()) {
    const v1::SearchResult& r = job.search_result();
    std::string metric = "accuracy";
    if (r.objectives_size() > 0) {
      absl::StatusOr<search::Objective> first = search::ParseObjective(r.objectives(0));
      if (first.ok()) metric = first->metric;
    }
    out << absl::StrFormat("%d evaluations (%d paid, %d from the archive) in %.1f s; Pareto front of %d\n",
                           r.evaluations(), r.paid_evaluations(), r.archive_hits(), r.seconds(),
                           r.pareto_front_size() + r.pareto_front_omitted());
    out << "best: " << engine::DescribeEvaluation(r.best(), metric) << "\n";
    out << "best arch: " << r.best().arch() << "\n";
  } else if (job.has_finetune_result()) {
    const v1::FineTuneResult& r = job.finetune_result();
    if (r.has_bundle()) {
      out << absl::StrFormat("fine-tuned %s for %d steps: test accuracy %.2f %% on %d images%s\n", r.arch(),
                             r.training().steps(), r.bundle().test_accuracy(), r.bundle().test_images(),
                             r.has_inherited_test_accuracy()
                                 ? absl::StrFormat(" (inherited weights: %.2f %%)", r.inherited_test_accuracy())
                                 : std::string(" (from scratch)"));
      out << engine::DescribeBundle(r.bundle());
      out << "bundle: " << r.bundle().output_dir() << "\n";
    } else {
      out << absl::StrFormat("stopped at step %d/%d\n", r.training().steps(), r.training().total_steps());
    }
  } else if (job.has_training_result()) {
    const v1::TrainingResult& r = job.training_result();
    out << absl::StrFormat("%s at step %d/%d; median %.0f images/s; loss %.4f, train accuracy %.3f\n",
                           r.finished() ? "finished" : "stopped", r.steps(), r.total_steps(),
                           r.median_images_per_second(), r.final_loss_ema(), r.final_accuracy_ema());
    out << "checkpoint: " << r.checkpoint() << "\n";
  } else if (!job.result_json().empty()) {
    // A job a server of an earlier version finished: only its JSON result.
    nlohmann::json r = nlohmann::json::parse(job.result_json(), nullptr, false);
    if (r.is_object() && r.contains("best") && r["best"].contains("arch")) {
      out << "best: " << r["best"].dump() << "\n";
      out << "best arch: " << r["best"]["arch"].get<std::string>() << "\n";
    } else if (r.is_object() && r.contains("checkpoint")) {
      out << "checkpoint: " << r["checkpoint"].get<std::string>() << "\n";
    }
  }
  out << "files: " << job.output_dir() << "\n";
  return absl::OkStatus();
}

absl::Status RunCancelJob(const ClientOptions& client, const std::string& id, std::ostream& out) {
  auto stub = Connect(client);
  if (!stub.ok()) return stub.status();
  v1::CancelJobRequest request;
  request.set_id(id);
  v1::Job job;
  auto context = Context(client);
  if (absl::Status s = FromGrpc((*stub)->CancelJob(context.get(), request, &job)); !s.ok()) return s;
  out << absl::StrFormat("%s: %s%s\n", job.id(), StateName(job.state()),
                         job.state() == v1::Job::RUNNING ? " (stops after the current step or generation)" : "");
  return absl::OkStatus();
}

}  // namespace nas::service
