#include "nas/engine/job_manager.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/message_differencer.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nas/engine/finetune_job.h"
#include "nas/engine/job_threads.h"
#include "nas/engine/progress.h"
#include "nas/engine/search_job.h"
#include "nas/engine/training_job.h"
#include "supernet/file_util.h"

namespace nas::engine {
namespace {

double NowUnix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A job's progress, written into its record (and so to its watchers). Training steps
// are recorded at the config's log_every, as metrics.jsonl records them.
class JobProgress : public ProgressSink {
 public:
  JobProgress(v1::Job* job, std::mutex* mu, std::function<void(const v1::Job&)> update)
      : job_(job), mu_(mu), update_(std::move(update)) {}
  void Message(const std::string& line) override {
    std::lock_guard<std::mutex> lock(*mu_);
    job_->set_progress(line);
    Store();
  }
  void Search(const v1::SearchProgress& progress) override {
    std::lock_guard<std::mutex> lock(*mu_);
    *job_->mutable_search_progress() = progress;
    job_->set_progress(FormatSearchProgress(progress));
    Store();
  }
  void Training(const v1::TrainingProgress& progress, bool log_line) override {
    if (!log_line) return;
    std::lock_guard<std::mutex> lock(*mu_);
    *job_->mutable_training_progress() = progress;
    job_->set_progress(FormatTrainingProgress(progress));
    Store();
  }

 private:
  void Store() {
    job_->set_updated_unix(NowUnix());
    update_(*job_);
  }
  v1::Job* job_;
  std::mutex* mu_;
  std::function<void(const v1::Job&)> update_;
};

// Runs a job's body so that no exception leaves the worker: out of memory and any other
// exception end the job (FAILED with the reason), not the server.
absl::Status Guarded(const std::function<absl::Status()>& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while running the job");
  } catch (const std::exception& e) {
    // The first line only (LibTorch's errors go on with a backtrace).
    const std::string what = e.what();
    return absl::InternalError(absl::StrCat("the job failed: ", what.substr(0, what.find('\n'))));
  } catch (...) {
    return absl::InternalError("the job failed with an unknown exception");
  }
}

// A result file's text for the job record: as is up to `limit` bytes, else without the
// (long) history, which stays in the file. A large file is parsed as a stream that drops
// the history's elements as they are read, so memory stays small whatever its size.
std::string BoundedResult(const std::string& file, int64_t limit) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return "";
  if (static_cast<int64_t>(size) <= limit) {
    absl::StatusOr<std::string> text = ReadFileBytes(file);
    return text.ok() ? *text : "";
  }
  std::ifstream in(file, std::ios::binary);
  size_t history_length = 0;
  bool in_history = false;
  const nlohmann::json::parser_callback_t skip_history = [&](int depth, nlohmann::json::parse_event_t event,
                                                             nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (depth == 1 && event == Event::key) in_history = parsed == "history";
    if (!in_history) return true;
    if (depth == 2 && (event == Event::object_start || event == Event::value)) ++history_length;
    return depth <= 1;  // An empty array: none of the history's elements is kept.
  };
  nlohmann::json j = nlohmann::json::parse(in, skip_history, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "";
  j.erase("history");
  j["history_omitted"] = history_length;
  j["result_file"] = file;
  std::string bounded = j.dump(2);
  if (static_cast<int64_t>(bounded.size()) > limit) {
    // Still too large (a huge front): keep the summary fields only.
    nlohmann::json small = {{"result_file", file}, {"truncated", true}};
    if (j.contains("pareto_front") && j["pareto_front"].is_array()) small["front_omitted"] = j["pareto_front"].size();
    for (const char* key : {"best", "evaluator", "algorithm", "budget", "seed", "evaluations", "history_omitted"}) {
      if (j.contains(key)) small[key] = j[key];
    }
    bounded = small.dump(2);
  }
  return bounded;
}

}  // namespace

bool IsFinal(v1::Job::State state) {
  return state == v1::Job::SUCCEEDED || state == v1::Job::FAILED || state == v1::Job::CANCELLED;
}

absl::Status ValidateJobManagerOptions(const JobManagerOptions& options) {
  if (options.max_running < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--max-jobs: must be at least 1, got ", options.max_running));
  }
  if (options.max_queued < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--max-queued: must be at least 0, got ", options.max_queued));
  }
  if (options.max_crash_restarts < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-crash-restarts: must be at least 0, got ", options.max_crash_restarts));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(JobManagerOptions options) {
  if (absl::Status s = ValidateJobManagerOptions(options); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir + "/jobs", ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("--data-dir ", options.data_dir, ": ", ec.message()));
  std::unique_ptr<JobManager> m(new JobManager(std::move(options)));
  auto store = JobStore::Open(m->options_.data_dir + "/jobs.sqlite");
  if (!store.ok()) return store.status();
  m->store_ = *std::move(store);
  auto jobs = m->store_->List();
  if (!jobs.ok()) return jobs.status();
  // Unfinished jobs of an earlier run go back in the queue, in their original order. A
  // job still RUNNING was running when the server stopped without shutting down (killed,
  // out of memory): restarted a bounded number of times, so that a job that takes the
  // server down cannot do it forever.
  for (v1::Job& job : *jobs) {
    if (IsFinal(job.state())) continue;
    job.set_updated_unix(NowUnix());
    if (job.state() == v1::Job::RUNNING) {
      job.set_crash_restarts(job.crash_restarts() + 1);
      if (job.crash_restarts() > m->options_.max_crash_restarts) {
        job.set_state(v1::Job::FAILED);
        job.set_error(absl::StrFormat(
            "the server stopped unexpectedly %d times while running this job (killed or out of memory); not "
            "restarted again (--max-crash-restarts %d)",
            job.crash_restarts(), m->options_.max_crash_restarts));
        if (absl::Status s = m->store_->Put(job); !s.ok()) return s;
        continue;
      }
    }
    job.set_state(v1::Job::QUEUED);
    job.set_progress(absl::StrCat("resuming after a server restart; ", job.progress()));
    if (absl::Status s = m->store_->Put(job); !s.ok()) return s;
    m->queue_.push_back(job.id());
  }
  for (int i = 0; i < m->options_.max_running; ++i) m->workers_.emplace_back([p = m.get()] { p->Worker(); });
  return m;
}

JobManager::~JobManager() { Shutdown(); }

void JobManager::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_ && workers_.empty()) return;
    shutting_down_ = true;
    for (auto& [id, running] : running_) {
      running->cancel = true;
      if (running->stop_training) running->stop_training();
    }
  }
  queue_cv_.notify_all();
  change_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

absl::Status JobManager::Update(const v1::Job& job) {
  absl::Status s = store_->Put(job);
  change_cv_.notify_all();
  return s;
}

absl::StatusOr<v1::Job> JobManager::Submit(v1::Job job) {
  std::unique_lock<std::mutex> lock(mu_);
  if (shutting_down_) return absl::UnavailableError("the server is shutting down");
  if (!job.request_id().empty()) {
    auto existing = store_->FindByRequestId(job.request_id());
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return **existing;
  }
  const int idle_workers = options_.max_running - static_cast<int>(running_.size());
  if (static_cast<int>(queue_.size()) >= options_.max_queued + std::max(0, idle_workers)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the job queue is full (%d running, %d queued; limit %d queued)", running_.size(), queue_.size(),
        options_.max_queued));
  }
  job.set_state(v1::Job::QUEUED);
  job.set_created_unix(NowUnix());
  job.set_updated_unix(job.created_unix());
  auto inserted = store_->Insert(std::move(job), [&](v1::Job& j, const std::string& id) {
    j.set_id(id);
    j.set_output_dir(absl::StrCat(options_.data_dir, "/jobs/", id));
  });
  if (!inserted.ok()) return inserted.status();
  job = *std::move(inserted);
  change_cv_.notify_all();
  queue_.push_back(job.id());
  queue_cv_.notify_one();
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& id) const {
  auto job = store_->Get(id);
  if (!job.ok()) return job.status();
  if (!job->has_value()) return absl::NotFoundError(absl::StrCat("id: no job '", id, "'"));
  return **job;
}

absl::StatusOr<std::vector<v1::Job>> JobManager::List() const { return store_->List(); }

absl::StatusOr<v1::Job> JobManager::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto job = Get(id);
  if (!job.ok()) return job.status();
  if (IsFinal(job->state())) return *job;
  if (auto it = running_.find(id); it != running_.end()) {
    it->second->cancel = true;
    if (it->second->stop_training) it->second->stop_training();
    job->set_progress(absl::StrCat("cancelling; ", job->progress()));
  } else {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    job->set_state(v1::Job::CANCELLED);
  }
  job->set_updated_unix(NowUnix());
  if (absl::Status s = Update(*job); !s.ok()) return s;
  return *job;
}

absl::StatusOr<v1::Job> JobManager::WaitForChange(const std::string& id, const v1::Job& last,
                                                  absl::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    auto job = Get(id);
    if (!job.ok()) return job.status();
    if (!google::protobuf::util::MessageDifferencer::Equals(*job, last) || shutting_down_) return job;
    if (change_cv_.wait_until(lock, deadline) == std::cv_status::timeout) return Get(id);
  }
}

void JobManager::Worker() {
  while (true) {
    std::string id;
    {
      std::unique_lock<std::mutex> lock(mu_);
      queue_cv_.wait(lock, [&] { return shutting_down_ || !queue_.empty(); });
      if (shutting_down_) return;
      id = queue_.front();
      queue_.pop_front();
      running_[id] = std::make_shared<Running>();
    }
    absl::StatusOr<v1::Job> job = Get(id);
    // On a thread of its own, whose OpenMP team ends with the job (see RunOnOwnThread).
    if (job.ok()) RunOnOwnThread(options_.threads, [&] { Execute(*std::move(job)); });
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(id);
  }
}

void JobManager::Execute(v1::Job job) {
  std::shared_ptr<Running> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = running_[job.id()];
  }
  job.set_state(v1::Job::RUNNING);
  job.set_updated_unix(NowUnix());
  Update(job).IgnoreError();
  std::mutex job_mu;  // Guards `job` between the progress sink and this thread.
  JobProgress progress(&job, &job_mu, [this](const v1::Job& j) { Update(j).IgnoreError(); });
  absl::Status status;
  std::string result_file;
  v1::SearchResult search_result;
  v1::TrainingResult training_result;
  v1::FineTuneResult finetune_result;
  const auto register_stop = [&](std::function<void()> stop) {
    std::lock_guard<std::mutex> lock(mu_);
    const bool stop_now = stop && running->cancel;  // Cancelled while starting up.
    running->stop_training = std::move(stop);
    if (stop_now) running->stop_training();
  };
  if (job.kind() == "finetune") {
    const v1::FineTuneSpec& spec = job.finetune();
    FineTuneJob f;
    f.checkpoint = spec.checkpoint();
    f.arch = spec.arch();
    if (!spec.config().empty()) f.config_path = options_.config_dir + "/" + spec.config();
    f.steps = spec.steps();
    f.from_scratch = spec.from_scratch();
    f.verify_images = spec.verify_images();
    f.out_dir = job.output_dir();
    f.resume = std::filesystem::exists(f.out_dir + "/checkpoint.nasckpt");
    f.register_stop = register_stop;
    f.cancelled = [running] { return running->cancel.load(); };
    if (!running->cancel) {
      status = Guarded([&] {
        absl::StatusOr<v1::FineTuneResult> r = RunFineTuneJob(f, progress);
        if (!r.ok()) return r.status();
        finetune_result = *std::move(r);
        return absl::OkStatus();
      });
    }
    result_file = f.out_dir + "/summary.json";
  } else if (job.kind() == "search") {
    SearchJobEnv env;
    env.archive = options_.data_dir + "/evaluations.sqlite";
    env.out_dir = job.output_dir();
    env.should_stop = [running] { return running->cancel.load(); };
    status = Guarded([&] {
      absl::StatusOr<v1::SearchResult> r = RunSearchJob(job.search(), env, progress);
      if (!r.ok()) return r.status();
      search_result = *std::move(r);
      return absl::OkStatus();
    });
    result_file = env.out_dir + "/result.json";
  } else {
    const v1::TrainingSpec& spec = job.training();
    TrainingJob t;
    t.config_path = options_.config_dir + "/" + spec.config();
    t.out_dir = job.output_dir();
    t.resume = std::filesystem::exists(t.out_dir + "/checkpoint.nasckpt");
    t.steps = spec.steps();
    t.batch_size = spec.batch_size();
    t.register_stop = register_stop;
    if (!running->cancel) {
      status = Guarded([&] {
        absl::StatusOr<v1::TrainingResult> r = RunTrainingJob(t, progress);
        if (!r.ok()) return r.status();
        training_result = *std::move(r);
        return absl::OkStatus();
      });
    }
    result_file = t.out_dir + "/summary.json";
  }
  std::lock_guard<std::mutex> lock(job_mu);
  bool shutting_down;
  {
    std::lock_guard<std::mutex> manager_lock(mu_);
    shutting_down = shutting_down_;
  }
  if (running->cancel && shutting_down) {
    // Unfinished: the next start resumes it.
    job.set_state(v1::Job::QUEUED);
    job.set_progress(absl::StrCat("interrupted by shutdown; ", job.progress()));
  } else if (!status.ok()) {
    job.set_state(v1::Job::FAILED);
    job.set_error(std::string(status.message()));
  } else {
    job.set_result_json(BoundedResult(result_file, options_.max_result_bytes));
    if (job.kind() == "search") {
      *job.mutable_search_result() = std::move(search_result);
    } else if (job.kind() == "finetune") {
      *job.mutable_finetune_result() = std::move(finetune_result);
    } else {
      *job.mutable_training_result() = std::move(training_result);
    }
    job.set_state(running->cancel ? v1::Job::CANCELLED : v1::Job::SUCCEEDED);
  }
  job.set_updated_unix(NowUnix());
  Update(job).IgnoreError();
}

}  // namespace nas::engine
