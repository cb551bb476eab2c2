// Runs the fuzz entry point over every file in the corpus directories given as arguments
// (or $NAS_FUZZ_CORPUS), then over seeded random inputs, so the target stays buildable
// and its known inputs stay harmless with the default compiler.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> dirs(argv + 1, argv + argc);
  size_t files = 0;
  for (const std::string& dir : dirs) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++files;
    }
  }
  std::mt19937_64 rng(20261129);
  const int random_inputs = 20000;
  for (int i = 0; i < random_inputs; ++i) {
    std::string bytes(rng() % 256, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 256);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::cout << "ran " << files << " corpus inputs and " << random_inputs << " random inputs\n";
  return files == 0 ? 1 : 0;  // An empty corpus means the test lost its inputs.
}
