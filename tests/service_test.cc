// End to end: a real server on a free loopback port and a real gRPC client. Train a tiny
// supernet, search (table and supernet evaluators), watch, cancel, bounded queue, bad
// requests, a client that disconnects mid-stream, restart and resume, authentication.
#include <chrono>
#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "absl/strings/match.h"
#include "nas/engine/job_store.h"
#include "nas/service.h"
#include "proto/grpc_health.grpc.pb.h"
#include "proto/nas.grpc.pb.h"
#include "supernet/file_util.h"
#include "supernet/search_space.h"
#include "tests/test_paths.h"

namespace nas::service {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr char kTinySpace[] = R"(name: tiny
type: shufflenet_oneshot
input: {size: 28, channels: 1}
num_classes: 10
stem: {channels: 8, kernel_size: 3, stride: 2}
stages:
  - {layers: 2, channels: 16, stride: 2}
head: {channels: 32}
)";

constexpr char kTinyTrain[] = R"(space: tiny.yaml
data: {dataset: fashion_mnist, validation_size: 64, train_limit: 128}
training: {seed: 1, batch_size: 32, steps: 6, checkpoint_every: 3, log_every: 1}
evaluation: {calibration_batches: 1, calibration_batch_size: 32, batch_size: 64}
)";

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = nas::testing::FreshTempDir("service");
    options_.data_dir = root_ + "/data";
    options_.config_dir = root_ + "/configs";
    options_.port = 0;
    options_.threads = 1;
    options_.max_running = 1;
    options_.max_queued = 1;
    options_.allowed_dirs = {nas::testing::SharedDataDir()};
    fs::create_directories(options_.config_dir);
    fs::copy_file("configs/nb201.yaml", options_.config_dir + "/nb201.yaml");
    ASSERT_TRUE(WriteFileAtomically(options_.config_dir + "/tiny.yaml", kTinySpace).ok());
    ASSERT_TRUE(WriteFileAtomically(options_.config_dir + "/train_tiny.yaml", kTinyTrain).ok());
    StartServer();
  }

  void StartServer() {
    auto server = NasServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::NasService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline = absl::Seconds(60)) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoSeconds(deadline));
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
    return context;
  }

  // Watches a job to its end; returns the last event's job.
  v1::Job Watch(const std::string& id, int* events = nullptr) {
    v1::WatchJobRequest request;
    request.set_id(id);
    auto context = Context(absl::Seconds(120));
    auto reader = stub_->WatchJob(context.get(), request);
    v1::JobEvent event;
    v1::Job last;
    int n = 0;
    while (reader->Read(&event)) {
      last = event.job();
      ++n;
    }
    EXPECT_TRUE(reader->Finish().ok());
    if (events) *events = n;
    return last;
  }

  v1::Job StartTraining(int64_t steps, const std::string& request_id = "") {
    v1::StartTrainingRequest request;
    request.set_request_id(request_id);
    request.mutable_spec()->set_config("train_tiny.yaml");
    request.mutable_spec()->set_steps(steps);
    v1::Job job;
    auto context = Context();
    const grpc::Status s = stub_->StartTraining(context.get(), request, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }

  grpc::Status Search(const v1::SearchSpec& spec, v1::Job* job, const std::string& request_id = "") {
    v1::StartSearchRequest request;
    request.set_request_id(request_id);
    *request.mutable_spec() = spec;
    auto context = Context();
    return stub_->StartSearch(context.get(), request, job);
  }

  v1::SearchSpec TableSearch() {
    v1::SearchSpec spec;
    spec.set_space("nb201");
    spec.set_evaluator("table:" + nas::testing::SharedDataDir() + "/nb201_test_acc_200ep.csv");
    spec.set_budget(30);
    spec.set_population(10);
    spec.add_constraints("flops<=100M");
    return spec;
  }

  std::string root_;
  ServerOptions options_;
  std::string token_;
  std::unique_ptr<NasServer> server_;
  std::unique_ptr<v1::NasService::Stub> stub_;
};

TEST_F(ServiceTest, HealthServiceAnswersAsGenericClientsAskIt) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  auto check = [&](const std::string& service, grpc::health::v1::HealthCheckResponse* response) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    auto context = Context();
    return health->Check(context.get(), request, response);
  };
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(check("", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(check("nas.v1.NasService", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("no.such.Service", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, DescribeAndEvaluateWithFieldNamedErrors) {
  v1::DescribeSpaceRequest describe;
  describe.set_space("nb201");
  v1::SpaceDescription description;
  ASSERT_TRUE(stub_->DescribeSpace(Context().get(), describe, &description).ok());
  EXPECT_EQ(description.genes_size(), 6);
  describe.set_space("nope");
  grpc::Status s = stub_->DescribeSpace(Context().get(), describe, &description);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("space: unknown space 'nope'"));

  v1::EvaluateArchitectureRequest request;
  v1::EvaluateArchitectureResponse response;
  s = stub_->EvaluateArchitecture(Context().get(), request, &response);
  EXPECT_THAT(s.error_message(), HasSubstr("architecture.space: required"));
  request.mutable_architecture()->set_space("nb201");
  request.mutable_architecture()->set_arch("|nor_conv_3x3~0|");
  s = stub_->EvaluateArchitecture(Context().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("architecture.arch"));
  const std::string arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
  request.mutable_architecture()->set_arch(arch);
  ASSERT_TRUE(stub_->EvaluateArchitecture(Context().get(), request, &response).ok());
  auto space = supernet::LoadSearchSpace("configs/nb201.yaml");
  EXPECT_EQ(response.cost().flops(), (*space)->Cost(*(*space)->Parse(arch)).flops);
  EXPECT_FALSE(response.has_accuracy());
  EXPECT_TRUE(response.latency_ms().empty());
  // Latency from a per-architecture table in the data directory.
  ASSERT_TRUE(WriteFileAtomically(options_.data_dir + "/lat.csv", "arch,cpu,phone\n" + arch + ",1.5,12.25\n").ok());
  request.set_latency("table:lat.csv");
  ASSERT_TRUE(stub_->EvaluateArchitecture(Context().get(), request, &response).ok());
  EXPECT_EQ(response.latency_ms().at("cpu"), 1.5);
  EXPECT_EQ(response.latency_ms().at("phone"), 12.25);
  request.set_latency("lut:../../../etc/passwd");
  s = stub_->EvaluateArchitecture(Context().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  request.set_latency("bogus");
  s = stub_->EvaluateArchitecture(Context().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("latency: 'bogus'"));
  request.clear_latency();
  request.set_checkpoint("../../../etc/passwd");
  s = stub_->EvaluateArchitecture(Context().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
}

TEST_F(ServiceTest, SearchJobsAreValidatedWatchedAndIdempotent) {
  v1::Job job;
  v1::SearchSpec bad = TableSearch();
  bad.set_budget(-5);
  grpc::Status s = Search(bad, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.budget"));
  bad = TableSearch();
  bad.set_algorithm("magic");
  EXPECT_THAT(Search(bad, &job).error_message(), HasSubstr("spec.algorithm: 'magic'"));
  bad = TableSearch();
  bad.add_constraints("flops=<3");
  EXPECT_THAT(Search(bad, &job).error_message(), HasSubstr("spec.constraints"));
  bad = TableSearch();
  bad.set_evaluator("table:/etc/passwd");
  EXPECT_EQ(Search(bad, &job).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  bad = TableSearch();
  bad.clear_space();
  EXPECT_THAT(Search(bad, &job).error_message(), HasSubstr("spec.space: required"));

  ASSERT_TRUE(Search(TableSearch(), &job, "request-1").ok());
  v1::Job again;
  ASSERT_TRUE(Search(TableSearch(), &again, "request-1").ok());
  EXPECT_EQ(again.id(), job.id()) << "a repeated request id made a second job";
  // Typed progress: every generation's event carries it, evaluated counts only grow.
  {
    v1::WatchJobRequest request;
    request.set_id(job.id());
    auto context = Context(absl::Seconds(120));
    auto reader = stub_->WatchJob(context.get(), request);
    v1::JobEvent event;
    int64_t last_evaluated = 0;
    int typed = 0;
    while (reader->Read(&event)) {
      const v1::SearchProgress& p = event.job().search_progress();
      if (p.evaluated() == 0) continue;
      ++typed;
      EXPECT_GE(p.evaluated(), last_evaluated);
      EXPECT_EQ(p.budget(), 30);
      EXPECT_EQ(p.metric(), "accuracy");
      EXPECT_TRUE(p.best().has_accuracy());
      EXPECT_LE(p.best().flops(), 100'000'000);
      last_evaluated = p.evaluated();
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_GE(typed, 1);
    EXPECT_EQ(last_evaluated, 30);
  }
  int events = 0;
  const v1::Job done = Watch(job.id(), &events);
  EXPECT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error();
  EXPECT_GE(events, 1);
  EXPECT_THAT(done.result_json(), HasSubstr("\"best\""));
  EXPECT_TRUE(fs::exists(done.output_dir() + "/plot.svg"));
  // The typed result says what result.json says.
  const v1::SearchResult& r = done.search_result();
  EXPECT_EQ(r.space(), "nb201");
  EXPECT_EQ(r.evaluations(), 30);
  EXPECT_TRUE(r.finished());
  EXPECT_TRUE(r.best().has_accuracy());
  EXPECT_THAT(done.result_json(), HasSubstr(r.best().arch()));
  ASSERT_GE(r.pareto_front_size(), 1);
  EXPECT_EQ(r.pareto_front_objectives_size(), 2);
  double best_on_front = 0;
  for (const v1::Evaluation& e : r.pareto_front()) best_on_front = std::max(best_on_front, e.accuracy());
  EXPECT_DOUBLE_EQ(best_on_front, r.best().accuracy());  // The most accurate is on the front.
  EXPECT_EQ(r.result_file(), done.output_dir() + "/result.json");
  // An identical search pays nothing: the server shares one evaluation archive.
  ASSERT_TRUE(Search(TableSearch(), &job, "request-2").ok());
  EXPECT_THAT(Watch(job.id()).result_json(), HasSubstr("\"paid_evaluations\": 0"));
}

TEST_F(ServiceTest, TrainThenSearchTheSupernetThenEvaluateWithIt) {
  const v1::Job trained = Watch(StartTraining(6).id());
  ASSERT_EQ(trained.state(), v1::Job::SUCCEEDED) << trained.error();
  // Typed training progress (log_every 1: the last step's) and result.
  EXPECT_EQ(trained.training_progress().step(), 6);
  EXPECT_EQ(trained.training_progress().total_steps(), 6);
  EXPECT_GT(trained.training_progress().images_per_second(), 0);
  EXPECT_TRUE(trained.training_result().finished());
  EXPECT_EQ(trained.training_result().steps(), 6);
  EXPECT_EQ(trained.training_result().threads(), 1);  // The server's --threads, per job.
  EXPECT_EQ(trained.training_result().checkpoint(), trained.output_dir() + "/checkpoint.nasckpt");
  const std::string checkpoint = "jobs/" + trained.id() + "/checkpoint.nasckpt";  // Relative to the data dir.

  // Fine-tuning one architecture: a job like the others, ending with a bundle.
  {
    v1::StartFineTuneRequest request;
    request.mutable_spec()->set_checkpoint(checkpoint);
    request.mutable_spec()->set_arch("largest");
    request.mutable_spec()->set_steps(2);
    request.mutable_spec()->set_verify_images(64);
    v1::Job job;
    request.mutable_spec()->set_arch("bogus");
    grpc::Status bad = stub_->StartFineTune(Context().get(), request, &job);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(bad.error_message(), HasSubstr("spec.arch"));
    request.mutable_spec()->set_arch("largest");
    request.mutable_spec()->set_config("train_tiny.yaml");  // Has a space: not a fine-tuning config.
    bad = stub_->StartFineTune(Context().get(), request, &job);
    EXPECT_THAT(bad.error_message(), HasSubstr("spec.config"));
    request.mutable_spec()->clear_config();
    const grpc::Status s = stub_->StartFineTune(Context().get(), request, &job);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const v1::Job tuned = Watch(job.id());
    ASSERT_EQ(tuned.state(), v1::Job::SUCCEEDED) << tuned.error();
    const v1::FineTuneResult& r = tuned.finetune_result();
    EXPECT_EQ(r.training().steps(), 2);
    EXPECT_TRUE(r.has_inherited_test_accuracy());
    EXPECT_EQ(r.bundle().test_images(), 64);
    EXPECT_TRUE(fs::exists(tuned.output_dir() + "/bundle/subnet.pt"));
    EXPECT_EQ(tuned.training_progress().step(), 2);
  }
  v1::SearchSpec spec;
  spec.set_evaluator("supernet:" + checkpoint);
  spec.set_algorithm("random");
  spec.set_budget(3);
  v1::Job job;
  ASSERT_TRUE(Search(spec, &job).ok());
  const v1::Job searched = Watch(job.id());
  EXPECT_EQ(searched.state(), v1::Job::SUCCEEDED) << searched.error();
  // The tiny space's 16 architectures are all in the combination's reference sample: the
  // reference start covers them for free, and the 5 best are re-ranked (the default).
  EXPECT_THAT(searched.result_json(), HasSubstr("\"prescored_evaluations\": 16"));
  EXPECT_THAT(searched.result_json(), HasSubstr("\"rerank_top\": 5"));
  EXPECT_EQ(searched.search_result().rerank_top(), 5);
  // By default the supernet is combined with label-free signals; spec.combine is checked.
  EXPECT_THAT(searched.result_json(), HasSubstr("\"evaluator\": \"combo:supernet_loss["));
  spec.set_combine("zc:fisher");
  grpc::Status bad = Search(spec, &job);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("spec.combine"));

  v1::EvaluateArchitectureRequest request;
  request.mutable_architecture()->set_space("tiny");
  request.mutable_architecture()->set_arch("shuffle3x3,xception");
  request.set_checkpoint(checkpoint);
  v1::EvaluateArchitectureResponse response;
  const grpc::Status s = stub_->EvaluateArchitecture(Context().get(), request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(response.has_accuracy());
  EXPECT_GE(response.accuracy(), 0);
  EXPECT_LE(response.accuracy(), 100);

  // 6. A checkpoint replaced at the same path is loaded again, not served from the cache
  // with the old weights: evaluated at one path, the accuracy follows the file.
  const v1::Job other = Watch(StartTraining(2).id());
  ASSERT_EQ(other.state(), v1::Job::SUCCEEDED) << other.error();
  const auto accuracy_at = [&](const std::string& path) {
    v1::EvaluateArchitectureRequest r = request;
    r.set_checkpoint(path);
    v1::EvaluateArchitectureResponse out;
    const grpc::Status st = stub_->EvaluateArchitecture(Context().get(), r, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out.accuracy();
  };
  const double first = accuracy_at(checkpoint);
  const double second = accuracy_at("jobs/" + other.id() + "/checkpoint.nasckpt");
  ASSERT_NE(first, second);  // 6 and 2 training steps: different weights.
  const std::string shared_path = options_.data_dir + "/current.nasckpt";
  fs::copy_file(options_.data_dir + "/" + checkpoint, shared_path);
  EXPECT_EQ(accuracy_at("current.nasckpt"), first);
  fs::copy_file(other.output_dir() + "/checkpoint.nasckpt", shared_path + ".new");
  fs::rename(shared_path + ".new", shared_path);
  EXPECT_EQ(accuracy_at("current.nasckpt"), second);

  // Export: a TorchScript bundle whose outputs equal the supernet path's; reloadable here.
  v1::ExportSubnetRequest export_request;
  *export_request.mutable_architecture() = request.architecture();
  export_request.set_checkpoint(checkpoint);
  export_request.set_name("../escape");
  v1::ExportSubnetResponse exported;
  grpc::Status es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  EXPECT_EQ(es.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(es.error_message(), HasSubstr("name:"));
  export_request.set_name("tiny-best");
  export_request.set_batch_size(4);
  es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  ASSERT_TRUE(es.ok()) << es.error_message();
  EXPECT_LE(exported.max_abs_diff(), 1e-5);
  EXPECT_LE(exported.bn_fold_max_abs_diff(), 1e-5);
  EXPECT_THAT(exported.batch_sizes_checked(), ::testing::ElementsAre(int64_t{1}, int64_t{7}, int64_t{64}));
  EXPECT_TRUE(exported.onnx());
  EXPECT_LE(exported.onnx_max_abs_diff(), 1e-4);
  EXPECT_EQ(exported.onnx_test_accuracy(), exported.test_accuracy());
  EXPECT_GT(exported.latency_ms(), 0);
  EXPECT_TRUE(fs::exists(exported.output_dir() + "/subnet.onnx"));
  EXPECT_EQ(exported.output_dir(), options_.data_dir + "/exports/tiny-best");
  // The name is taken: replaced only with force.
  es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  EXPECT_EQ(es.error_code(), grpc::StatusCode::ALREADY_EXISTS) << es.error_message();
  export_request.set_force(true);
  export_request.set_skip_onnx(true);
  es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  ASSERT_TRUE(es.ok()) << es.error_message();
  EXPECT_FALSE(exported.onnx());
  EXPECT_FALSE(fs::exists(exported.output_dir() + "/subnet.onnx"));
  export_request.set_force(false);
  export_request.set_skip_onnx(false);
  torch::jit::Module module = torch::jit::load(exported.output_dir() + "/subnet.pt");
  const torch::Tensor logits = module.forward({torch::zeros({4, 1, 28, 28})}).toTensor();
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, 10}));
  EXPECT_THAT(exported.metadata_json(), HasSubstr("\"arch\": \"shuffle3x3,xception\""));
  // It runs at any batch size (the channel shuffle keeps the batch dynamic), and a
  // sample's logits do not depend on the batch it is in.
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({64, 1, 28, 28});
  for (int64_t b : {1, 7, 64}) {
    const torch::Tensor y = module.forward({x.narrow(0, 0, b)}).toTensor();
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{b, 10}));
    EXPECT_TRUE(torch::allclose(y.narrow(0, 0, 1), module.forward({x.narrow(0, 0, 1)}).toTensor(), 1e-5, 1e-5));
  }

  // The space may be left out (the checkpoint's), the arch may be largest / smallest, and a
  // bad arch names the field.
  export_request.mutable_architecture()->clear_space();
  export_request.mutable_architecture()->set_arch("shuffle3x3,nonsense");
  es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  EXPECT_EQ(es.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(es.error_message(), HasSubstr("architecture.arch: "));
  export_request.mutable_architecture()->set_arch("smallest");
  export_request.set_name("tiny-smallest");
  es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  ASSERT_TRUE(es.ok()) << es.error_message();
  EXPECT_LE(exported.max_abs_diff(), 1e-5);

  // 5. An export whose client gave up (a 20 ms deadline) is abandoned: nothing is written.
  export_request.set_name("abandoned");
  {
    grpc::ClientContext short_context;
    short_context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(20));
    EXPECT_EQ(stub_->ExportSubnet(&short_context, export_request, &exported).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  export_request.set_name("after-abandoned");  // Runs after the abandoned one (one export at a time).
  es = stub_->ExportSubnet(Context().get(), export_request, &exported);
  ASSERT_TRUE(es.ok()) << es.error_message();
  EXPECT_FALSE(fs::exists(options_.data_dir + "/exports/abandoned"));
}

TEST_F(ServiceTest, CancelQueueBoundDisconnectAndRestartResume) {
  const v1::Job running = StartTraining(1'000'000);
  // Wait until it runs.
  for (int i = 0; i < 200; ++i) {
    v1::GetJobRequest get;
    get.set_id(running.id());
    v1::Job j;
    ASSERT_TRUE(stub_->GetJob(Context().get(), get, &j).ok());
    if (j.state() == v1::Job::RUNNING && !j.progress().empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const v1::Job queued = StartTraining(10);
  v1::StartTrainingRequest over;
  over.mutable_spec()->set_config("train_tiny.yaml");
  v1::Job ignored;
  grpc::Status s = stub_->StartTraining(Context().get(), over, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  over.mutable_spec()->set_config("../../etc/passwd");
  EXPECT_EQ(stub_->StartTraining(Context().get(), over, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A client that walks away from a stream: the server keeps serving.
  {
    v1::WatchJobRequest request;
    request.set_id(running.id());
    auto context = Context();
    auto reader = stub_->WatchJob(context.get(), request);
    v1::JobEvent event;
    ASSERT_TRUE(reader->Read(&event));
    context->TryCancel();
    while (reader->Read(&event)) {
    }
    reader->Finish();
  }

  v1::CancelJobRequest cancel;
  cancel.set_id(queued.id());
  v1::Job cancelled;
  ASSERT_TRUE(stub_->CancelJob(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::Job::CANCELLED);

  // Restart while the long job runs: it checkpoints, and the new server resumes it.
  server_->Shutdown();
  server_.reset();
  StartServer();
  v1::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).ok());
  ASSERT_EQ(list.jobs_size(), 2);
  EXPECT_EQ(list.jobs(0).id(), running.id());
  EXPECT_EQ(list.jobs(1).state(), v1::Job::CANCELLED);
  EXPECT_TRUE(fs::exists(running.output_dir() + "/checkpoint.nasckpt"));
  // The first run has stopped: any later change of the progress line is the resumed run's.
  const std::string progress_at_restart = list.jobs(0).progress();
  v1::Job resumed;
  for (int i = 0; i < 200; ++i) {
    v1::GetJobRequest get;
    get.set_id(running.id());
    ASSERT_TRUE(stub_->GetJob(Context().get(), get, &resumed).ok());
    // The resumed run's own progress (the record keeps the last line of the first run
    // until the new run reports).
    if (resumed.state() == v1::Job::RUNNING && absl::StrContains(resumed.progress(), "step") &&
        resumed.progress() != progress_at_restart) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(resumed.state(), v1::Job::RUNNING);
  cancel.set_id(running.id());
  ASSERT_TRUE(stub_->CancelJob(Context().get(), cancel, &cancelled).ok());
  const v1::Job final_job = Watch(running.id());
  EXPECT_EQ(final_job.state(), v1::Job::CANCELLED);
  EXPECT_THAT(final_job.result_json(), HasSubstr("\"resumed_from_step\": "));
  EXPECT_THAT(final_job.result_json(), ::testing::Not(HasSubstr("\"resumed_from_step\": 0,")));
}

TEST_F(ServiceTest, TokenAndRemoteBinding) {
  server_->Shutdown();
  server_.reset();
  options_.token = "s3cret";
  StartServer();
  v1::ListJobsResponse list;
  EXPECT_EQ(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // 8. Health answers only with the token too.
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest health_request;
  grpc::health::v1::HealthCheckResponse health_response;
  EXPECT_EQ(health->Check(Context().get(), health_request, &health_response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  token_ = "s3cret";
  EXPECT_TRUE(stub_->ListJobs(Context().get(), v1::ListJobsRequest(), &list).ok());
  ASSERT_TRUE(health->Check(Context().get(), health_request, &health_response).ok());
  EXPECT_EQ(health_response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  ServerOptions remote = options_;
  remote.host = "0.0.0.0";
  remote.data_dir = root_ + "/other";
  auto refused = NasServer::Start(remote);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("needs --tls-cert/--tls-key and --token"));
}


// Reliability: each test below replays a failure found by probing the server (issue
// "A server that no request can take down"), numbered as there.

// 2. Startup errors end with a message, never a crash of a half-built server.
TEST_F(ServiceTest, StartupErrorsAreMessagesAndOneServerPerDataDirAndPort) {
  ServerOptions bad = options_;
  bad.max_running = 0;
  EXPECT_THAT(std::string(NasServer::Start(bad).status().message()), HasSubstr("--max-jobs"));
  bad = options_;
  bad.data_dir = root_ + "/a_file";
  ASSERT_TRUE(WriteFileAtomically(bad.data_dir, "x").ok());
  EXPECT_THAT(std::string(NasServer::Start(bad).status().message()), HasSubstr("not a directory"));
  bad = options_;
  bad.data_dir = root_ + "/tls";
  bad.tls_cert = root_ + "/missing.pem";
  bad.tls_key = root_ + "/missing.key";
  EXPECT_THAT(std::string(NasServer::Start(bad).status().message()), HasSubstr("--tls-cert"));
  bad = options_;
  bad.data_dir = root_ + "/corrupt";
  fs::create_directories(bad.data_dir);
  ASSERT_TRUE(WriteFileAtomically(bad.data_dir + "/jobs.sqlite", std::string(4096, 'z')).ok());
  const absl::Status corrupt = NasServer::Start(bad).status();
  EXPECT_FALSE(corrupt.ok());
  EXPECT_THAT(std::string(corrupt.message()), HasSubstr("jobs.sqlite"));

  // 3. A second server on the same data directory, or on a port in use, is refused.
  ServerOptions second = options_;
  const absl::Status locked = NasServer::Start(second).status();
  EXPECT_EQ(locked.code(), absl::StatusCode::kFailedPrecondition) << locked;
  EXPECT_THAT(std::string(locked.message()), HasSubstr("another nas serve is using it"));
  second.data_dir = root_ + "/second";
  second.port = server_->port();
  const absl::Status port_in_use = NasServer::Start(second).status();
  EXPECT_FALSE(port_in_use.ok());
  EXPECT_THAT(std::string(port_in_use.message()), HasSubstr("cannot listen"));
  // Once the first server is gone, its data directory is free again.
  server_->Shutdown();
  server_.reset();
  StartServer();
}

// 1, 5 and 8. Requests that could exhaust the server or could never run are refused at
// submission, naming the field and the limit; messages stay small.
TEST_F(ServiceTest, LimitsAndImpossibleRequestsAreRefusedAtSubmission) {
  v1::Job job;
  v1::SearchSpec spec = TableSearch();
  spec.set_budget(options_.limits.max_budget + 1);
  grpc::Status s = Search(spec, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.budget"));
  spec = TableSearch();
  for (int i = 0; i < 160000; ++i) spec.add_constraints("flops<=100M");
  s = Search(spec, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.constraints: 160001 entries; at most 64"));

  v1::SearchSpec cost;
  cost.set_space("nb201");
  cost.set_evaluator("cost");
  s = Search(cost, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cost evaluator has no accuracy"));
  cost.add_objectives("accuracy");
  EXPECT_THAT(Search(cost, &job).error_message(), HasSubstr("'accuracy' needs an accuracy evaluator"));
  spec = TableSearch();
  spec.add_constraints("flops<=1");
  s = Search(spec, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("flops<=1 cannot be met"));
  spec = TableSearch();
  spec.add_constraints("latency@cpu<=3ms");
  EXPECT_THAT(Search(spec, &job).error_message(), HasSubstr("needs a latency model (spec.latency)"));

  // 4. Huge fields: INVALID_ARGUMENT with a bounded message, not a transport error.
  spec = TableSearch();
  spec.set_evaluator("table:" + std::string(200000, 'x'));
  s = Search(spec, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(s.error_message().size(), 1200u);
  s = Search(TableSearch(), &job, std::string(10000, 'r'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("request_id: 10000 bytes; at most 128"));

  // 6. Training batch sizes are bounded.
  v1::StartTrainingRequest train;
  train.mutable_spec()->set_config("train_tiny.yaml");
  train.mutable_spec()->set_batch_size(65536);
  s = stub_->StartTraining(Context().get(), train, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.batch_size: must be in [0, 4096]"));
}

// 4. Listing is paged; a large result is stored without its history.
TEST_F(ServiceTest, PagedListingAndBoundedResults) {
  server_->Shutdown();
  server_.reset();
  options_.max_result_bytes = 4096;
  options_.max_queued = 8;
  StartServer();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    v1::SearchSpec spec;
    spec.set_space("nb201");
    spec.set_evaluator("cost");
    spec.add_objectives("max:flops");
    spec.set_budget(300);
    spec.set_seed(i);
    v1::Job job;
    ASSERT_TRUE(Search(spec, &job).ok());
    ids.push_back(job.id());
  }
  const v1::Job done = Watch(ids.back());
  ASSERT_EQ(done.state(), v1::Job::SUCCEEDED) << done.error();
  EXPECT_LE(done.result_json().size(), 4096u) << done.result_json().substr(0, 2000);
  EXPECT_THAT(done.result_json(), HasSubstr("\"history_omitted\": 300"));
  EXPECT_THAT(done.result_json(), HasSubstr("result.json"));
  EXPECT_TRUE(fs::file_size(done.output_dir() + "/result.json") > 4096u);

  std::vector<std::string> listed;
  v1::ListJobsRequest request;
  request.set_page_size(2);
  int pages = 0;
  do {
    v1::ListJobsResponse page;
    ASSERT_TRUE(stub_->ListJobs(Context().get(), request, &page).ok());
    EXPECT_LE(page.jobs_size(), 2);
    for (const v1::Job& j : page.jobs()) listed.push_back(j.id());
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(listed, ids);
  EXPECT_EQ(pages, 3);
  // Filtered by state and kind; listings carry no results.
  v1::ListJobsRequest succeeded;
  succeeded.set_state(v1::Job::SUCCEEDED);
  succeeded.set_kind("search");
  v1::ListJobsResponse finished;
  ASSERT_TRUE(stub_->ListJobs(Context().get(), succeeded, &finished).ok());
  ASSERT_GE(finished.jobs_size(), 1);
  EXPECT_EQ(finished.jobs(finished.jobs_size() - 1).id(), ids.back());
  for (const v1::Job& j : finished.jobs()) {
    EXPECT_EQ(j.state(), v1::Job::SUCCEEDED);
    EXPECT_FALSE(j.has_search_result());
    EXPECT_TRUE(j.result_json().empty());
  }
  succeeded.set_kind("training");
  ASSERT_TRUE(stub_->ListJobs(Context().get(), succeeded, &finished).ok());
  EXPECT_EQ(finished.jobs_size(), 0);
  succeeded.set_kind("bogus");
  EXPECT_THAT(stub_->ListJobs(Context().get(), succeeded, &finished).error_message(), HasSubstr("kind:"));
  request.set_page_token("not-a-token");
  v1::ListJobsResponse ignored;
  EXPECT_EQ(stub_->ListJobs(Context().get(), request, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // 3. Ids continue after a restart and never repeat.
  server_->Shutdown();
  server_.reset();
  StartServer();
  v1::Job next;
  v1::SearchSpec spec;
  spec.set_space("nb201");
  spec.set_evaluator("cost");
  spec.add_objectives("max:flops");
  spec.set_budget(5);
  ASSERT_TRUE(Search(spec, &next).ok());
  EXPECT_EQ(next.id(), "job-000006");
}

// 1. A job that was running when the server died is restarted a bounded number of times.
TEST_F(ServiceTest, AJobThatKeepsKillingTheServerEndsFailed) {
  server_->Shutdown();
  server_.reset();
  {
    auto store = nas::engine::JobStore::Open(options_.data_dir + "/jobs.sqlite");
    ASSERT_TRUE(store.ok()) << store.status();
    for (int crashes : {0, options_.max_crash_restarts}) {
      v1::Job job;
      job.set_kind("search");
      job.set_state(v1::Job::RUNNING);  // As a kill -9 leaves it.
      job.set_crash_restarts(crashes);
      *job.mutable_search() = TableSearch();
      job.mutable_search()->set_space(options_.config_dir + "/nb201.yaml");  // As validation stores it.
      ASSERT_TRUE((*store)->Insert(job, [](v1::Job& j, const std::string& id) { j.set_id(id); }).ok());
    }
  }
  StartServer();
  v1::GetJobRequest get;
  v1::Job first, second;
  get.set_id("job-000001");
  ASSERT_TRUE(stub_->GetJob(Context().get(), get, &first).ok());
  EXPECT_EQ(first.crash_restarts(), 1);
  EXPECT_EQ(Watch(first.id()).state(), v1::Job::SUCCEEDED);
  get.set_id("job-000002");
  ASSERT_TRUE(stub_->GetJob(Context().get(), get, &second).ok());
  EXPECT_EQ(second.state(), v1::Job::FAILED);
  EXPECT_THAT(second.error(), HasSubstr("stopped unexpectedly 3 times"));
}

// 6. Watch streams are bounded; on shutdown a watcher gets a last event and the stream ends.
TEST_F(ServiceTest, WatchersAreBoundedAndEndOnShutdown) {
  server_->Shutdown();
  server_.reset();
  options_.max_watchers = 2;
  StartServer();
  const v1::Job running = StartTraining(1'000'000);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::JobEvent>>> readers;
  v1::WatchJobRequest request;
  request.set_id(running.id());
  v1::JobEvent event;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(Context());
    readers.push_back(stub_->WatchJob(contexts.back().get(), request));
    ASSERT_TRUE(readers.back()->Read(&event));
  }
  auto context = Context();
  auto third = stub_->WatchJob(context.get(), request);
  EXPECT_FALSE(third->Read(&event));
  const grpc::Status refused = third->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("at most 2"));

  std::thread stopper([&] { server_->Shutdown(std::chrono::milliseconds(3000)); });
  for (auto& reader : readers) {
    while (reader->Read(&event)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  stopper.join();
  server_.reset();
}

}  // namespace
}  // namespace nas::service
