#ifndef NAS_SUPERNET_RANDOM_H_
#define NAS_SUPERNET_RANDOM_H_

#include <cstdint>

namespace nas {

// A small, explicitly seeded pseudo-random generator (xoshiro256**, seeded through
// splitmix64). Unlike std::uniform_int_distribution its draws are specified here, so a
// seed gives the same sequence with every compiler and standard library.
// Not thread-safe: give each thread its own Rng (see Fork()).
class Rng {
 public:
  explicit Rng(uint64_t seed);

  // Returns the next 64 random bits.
  uint64_t Next();
  // Returns an integer uniform in [0, n); n must be positive. Unbiased.
  uint64_t UniformInt(uint64_t n);
  // Returns a double uniform in [0, 1).
  double Uniform01();
  // Returns true with probability p.
  bool Bernoulli(double p) { return Uniform01() < p; }
  // Returns an independent generator derived from this one's seed and `stream`.
  Rng Fork(uint64_t stream) const;

 private:
  uint64_t seed_;
  uint64_t state_[4];
};

}  // namespace nas

#endif  // NAS_SUPERNET_RANDOM_H_
