// Times one supernet training step (forward + backward of a sampled path) for a space
// at a batch size, in the default (NCHW) or channels-last memory format. For
// choosing kernels and layouts; prints the median of N steps in milliseconds.
// Usage: step_time CONFIG BATCH [channels_last] [threads]
#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "supernet/supernet.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: step_time CONFIG BATCH [channels_last] [threads]\n";
    return 2;
  }
  const bool channels_last = argc > 3 && std::string(argv[3]) == "channels_last";
  torch::set_num_threads(argc > 4 ? std::stoi(argv[4]) : 2);
  auto space = nas::supernet::LoadSearchSpace(argv[1]);
  if (!space.ok()) {
    std::cerr << space.status() << "\n";
    return 1;
  }
  const int64_t batch = std::stoll(argv[2]);
  torch::manual_seed(0);
  auto net = nas::supernet::CreateSupernet(*space, {});
  net->train();
  if (channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
  torch::Tensor x = torch::randn({batch, (*space)->input_channels(), (*space)->input_size(),
                                  (*space)->input_size()});
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor y = torch::randint(0, (*space)->num_classes(), {batch});
  nas::Rng rng(1);
  std::vector<double> ms;
  for (int i = 0; i < 25; ++i) {
    const auto arch = (*space)->Sample(rng);
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    const auto t0 = std::chrono::steady_clock::now();
    auto loss = torch::nn::functional::cross_entropy(net->forward(x, arch), y);
    loss.backward();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin() + 0, ms.end());
  std::cout << (channels_last ? "channels_last" : "nchw") << " batch " << batch << ": median "
            << ms[ms.size() / 2] << " ms/step\n";
  return 0;
}
