// Prints the largest absolute difference between the learnable parameters of two
// checkpoints (BN running statistics excluded: they are per process in data-parallel
// training) and exits 0 when it is at most TOLERANCE. Used by distributed_test.sh.
//   checkpoint_diff A.nasckpt B.nasckpt TOLERANCE
#include <cstdlib>
#include <functional>
#include <iostream>
#include <sstream>

#include <torch/torch.h>

#include "supernet/checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: checkpoint_diff A B TOLERANCE\n";
    return 2;
  }
  auto a = nas::supernet::ReadCheckpoint(argv[1]);
  auto b = nas::supernet::ReadCheckpoint(argv[2]);
  if (!a.ok() || !b.ok()) {
    std::cerr << (a.ok() ? b.status() : a.status()) << "\n";
    return 2;
  }
  torch::serialize::InputArchive ia, ib;
  std::istringstream sa(a->model), sb(b->model);
  ia.load_from(sa);
  ib.load_from(sb);
  double max_diff = 0;
  size_t compared = 0;
  bool mismatch = false;
  // Archives nest one level per submodule.
  std::function<void(torch::serialize::InputArchive&, torch::serialize::InputArchive&, const std::string&)> walk =
      [&](torch::serialize::InputArchive& x, torch::serialize::InputArchive& y, const std::string& prefix) {
        for (const std::string& key : x.keys()) {
          const std::string name = prefix + key;
          torch::Tensor tx, ty;
          if (x.try_read(key, tx)) {
            if (name.find("running_") != std::string::npos) continue;
            if (!y.try_read(key, ty) || !tx.sizes().equals(ty.sizes())) {
              std::cerr << "parameter " << name << " differs in presence or shape\n";
              mismatch = true;
              continue;
            }
            max_diff = std::max(max_diff, (tx - ty).abs().max().item<double>());
            ++compared;
            continue;
          }
          torch::serialize::InputArchive sx, sy;
          if (x.try_read(key, sx) && y.try_read(key, sy)) walk(sx, sy, name + ".");
        }
      };
  walk(ia, ib, "");
  if (mismatch) return 1;
  std::cout << "compared " << compared << " parameters; max |diff| " << max_diff << "\n";
  return compared > 0 && max_diff <= std::atof(argv[3]) ? 0 : 1;
}
