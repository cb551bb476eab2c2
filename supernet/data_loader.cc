#include "supernet/data_loader.h"

#include <numeric>

#include <tbb/parallel_for.h>

#include "supernet/random.h"

namespace nas::supernet {
namespace {

void Shuffle(std::vector<int64_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.UniformInt(i)]);
}

}  // namespace

void SplitIndices(int64_t n, int64_t validation_size, int64_t train_limit, uint64_t seed,
                  std::vector<int64_t>* train, std::vector<int64_t>* validation) {
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  Rng rng = Rng(seed).Fork(0x5eed5117ULL);
  Shuffle(all, rng);
  validation_size = std::min(validation_size, n);
  validation->assign(all.begin(), all.begin() + validation_size);
  int64_t train_end = n;
  if (train_limit > 0) train_end = std::min(n, validation_size + train_limit);
  train->assign(all.begin() + validation_size, all.begin() + train_end);
  std::sort(validation->begin(), validation->end());
  std::sort(train->begin(), train->end());
}

BatchLoader::BatchLoader(std::shared_ptr<const ImageDataset> data, std::vector<int64_t> indices,
                         int64_t batch_size, AugmentOptions augment, bool shuffle, uint64_t seed)
    : data_(std::move(data)),
      indices_(std::move(indices)),
      batch_size_(batch_size),
      augment_(augment),
      shuffle_(shuffle),
      seed_(seed) {}

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = size();
  return shuffle_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::vector<int64_t> BatchLoader::Order(int64_t epoch) const {
  if (!shuffle_) return indices_;
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_epoch_ != epoch) {
    cached_order_ = indices_;
    Rng rng = Rng(seed_).Fork(static_cast<uint64_t>(epoch));
    Shuffle(cached_order_, rng);
    cached_epoch_ = epoch;
  }
  return cached_order_;
}

Batch BatchLoader::Get(int64_t epoch, int64_t batch) const {
  const std::vector<int64_t> order = Order(epoch);
  const int64_t begin = batch * batch_size_;
  const int64_t end = std::min<int64_t>(begin + batch_size_, static_cast<int64_t>(order.size()));
  const int64_t b = std::max<int64_t>(0, end - begin);
  const int64_t c = data_->channels(), h = data_->height(), w = data_->width();
  Batch out;
  out.images = torch::empty({b, c, h, w}, torch::kFloat32);
  out.labels = torch::empty({b}, torch::kInt64);
  out.indices = torch::empty({b}, torch::kInt64);
  const uint8_t* pixels = data_->images.data_ptr<uint8_t>();
  const int64_t* labels = data_->labels.data_ptr<int64_t>();
  float* dst_all = out.images.data_ptr<float>();
  int64_t* dst_labels = out.labels.data_ptr<int64_t>();
  int64_t* dst_indices = out.indices.data_ptr<int64_t>();
  const Rng base = Rng(seed_).Fork(0xa11a5e5ULL ^ static_cast<uint64_t>(epoch));
  tbb::parallel_for(int64_t{0}, b, [&](int64_t i) {
    const int64_t index = order[begin + i];
    dst_labels[i] = labels[index];
    dst_indices[i] = index;
    int64_t dy = 0, dx = 0;
    bool flip = false;
    if (augment_.random_crop || augment_.horizontal_flip) {
      Rng rng = base.Fork(static_cast<uint64_t>(begin + i));
      const int64_t p = augment_.padding;
      if (augment_.random_crop) {
        dy = static_cast<int64_t>(rng.UniformInt(2 * p + 1)) - p;
        dx = static_cast<int64_t>(rng.UniformInt(2 * p + 1)) - p;
      }
      if (augment_.horizontal_flip) flip = rng.Bernoulli(0.5);
    }
    const uint8_t* src = pixels + index * c * h * w;
    float* dst = dst_all + i * c * h * w;
    for (int64_t ch = 0; ch < c; ++ch) {
      const float scale = 1.0f / (255.0f * data_->std[ch]);
      const float shift = -data_->mean[ch] / data_->std[ch];
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y + dy;
        for (int64_t x = 0; x < w; ++x) {
          const int64_t cx = flip ? w - 1 - x : x;
          const int64_t sx = cx + dx;
          const float v = (sy >= 0 && sy < h && sx >= 0 && sx < w)
                              ? static_cast<float>(src[(ch * h + sy) * w + sx])
                              : 0.0f;
          dst[(ch * h + y) * w + x] = v * scale + shift;
        }
      }
    }
  });
  return out;
}

Prefetcher::Prefetcher(const BatchLoader& loader, int64_t first_step, int64_t last_step, int depth)
    : loader_(loader), depth_(depth) {
  worker_ = std::thread([this, first_step, last_step] {
    const int64_t per_epoch = loader_.batches_per_epoch();
    for (int64_t step = first_step; step < last_step; ++step) {
      Batch batch = loader_.Get(step / per_epoch, step % per_epoch);
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || static_cast<int>(ready_.size()) < depth_; });
      if (stop_) return;
      ready_.push_back(std::move(batch));
      cv_.notify_all();
    }
  });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

Batch Prefetcher::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !ready_.empty(); });
  Batch batch = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  return batch;
}

}  // namespace nas::supernet
