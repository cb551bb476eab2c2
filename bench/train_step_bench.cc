// Time of one supernet training step (uniformly sampled path: forward, cross-entropy,
// backward, SGD with momentum) on random data of the config's input shape, for memory
// format variants measured alternately in rounds; prints the median ms per step and
// images/s of each.
//
//   bazel-bin/bench/train_step_bench --config configs/train_cifar10_nb201_proxy.yaml [--threads 1]
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "supernet/random.h"
#include "supernet/supernet.h"
#include "supernet/train_config.h"

int main(int argc, char** argv) {
  CLI::App app{"Supernet training-step time by memory format"};
  std::string config_path, variants_text = "contiguous,channels_last";
  int threads = 1, steps = 20, rounds = 3;
  int64_t batch = 0;
  app.add_option("--config", config_path, "Training config")->required();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--steps", steps, "Timed steps per variant and round")->capture_default_str();
  app.add_option("--rounds", rounds)->capture_default_str();
  app.add_option("--batch", batch, "Batch size (default: the config's)");
  app.add_option("--variants", variants_text)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto config = nas::supernet::LoadTrainConfig(config_path);
  if (!config.ok()) {
    std::cerr << config.status() << "\n";
    return 1;
  }
  torch::set_num_threads(threads);
  if (batch <= 0) batch = config->training.batch_size;
  const auto& space = *config->space;
  std::map<std::string, std::vector<double>> ms;
  const std::vector<std::string> variants = absl::StrSplit(variants_text, ',');
  for (int round = 0; round < rounds; ++round) {
    for (const std::string& variant : variants) {
      const bool cl = variant == "channels_last";
      torch::manual_seed(0);
      nas::supernet::Supernet net = nas::supernet::CreateSupernet(config->space, config->supernet);
      net->train();
      std::vector<torch::Tensor> params = net->parameters();
      if (cl) {
        for (torch::Tensor& p : params) {
          if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
        }
      }
      torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.01).momentum(0.9));
      torch::Tensor x = torch::randn({batch, space.input_channels(), space.input_size(), space.input_size()});
      if (cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      const torch::Tensor y = torch::randint(0, space.num_classes(), {batch}, torch::kLong);
      nas::Rng rng(1);
      for (int s = 0; s < steps + 3; ++s) {
        const nas::supernet::Architecture arch = space.Sample(rng);
        const auto t0 = std::chrono::steady_clock::now();
        for (torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
        nas::supernet::ForwardContext ctx;
        ctx.mode = nas::supernet::BnMode::kTrain;
        torch::Tensor loss = torch::nn::functional::cross_entropy(net->Forward(x, arch, ctx), y);
        loss.backward();
        sgd.step();
        if (s >= 3) ms[variant].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    }
  }
  std::cout << absl::StrFormat("%s, batch %d, %d threads, %d steps x %d rounds per variant (same paths)\n",
                               config_path, batch, threads, steps, rounds);
  for (const std::string& v : variants) {
    std::vector<double> t = ms[v];
    std::sort(t.begin(), t.end());
    const double median = t[t.size() / 2];
    std::cout << absl::StrFormat("%-15s median %.1f ms/step, %.0f images/s\n", v, median, 1000.0 * batch / median);
  }
  return 0;
}
