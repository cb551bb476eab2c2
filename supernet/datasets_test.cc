// Dataset loading (Fashion-MNIST, CIFAR-10 JPEG archive, image folders) and batches.
#include "supernet/datasets.h"

#include <png.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "supernet/data_loader.h"
#include "supernet/file_util.h"
#include "tests/test_paths.h"

namespace nas::supernet {
namespace {

using ::testing::HasSubstr;

TEST(DatasetsTest, FashionMnistLoads) {
  absl::StatusOr<ImageDataset> test = LoadFashionMnist("/usr/share/datasets/fashion-mnist", false);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test->labels.min().item<int64_t>(), 0);
  EXPECT_EQ(test->labels.max().item<int64_t>(), 9);
  // Fashion-MNIST's test set has 1,000 images per class.
  EXPECT_EQ(test->labels.eq(3).sum().item<int64_t>(), 1000);
  EXPECT_EQ(LoadFashionMnist("/no/such/dir", false).status().code(), absl::StatusCode::kNotFound);
}

TEST(DatasetsTest, Cifar10TestSplitDecodesAndCaches) {
  const std::string cache = nas::testing::FreshTempDir("cifar_cache");
  const std::string archive = nas::testing::SharedDataDir() + "/cifar10-jpeg.tar.gz";
  absl::StatusOr<ImageDataset> first = LoadCifar10(archive, cache, /*train=*/false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
  EXPECT_EQ(first->labels.eq(9).sum().item<int64_t>(), 1000);
  // Real photographs: the mean pixel is near CIFAR-10's published mean (~0.47 * 255).
  const double mean = first->images.to(torch::kFloat32).mean().item<double>() / 255.0;
  EXPECT_NEAR(mean, 0.47, 0.03);
  absl::StatusOr<ImageDataset> cached = LoadCifar10("/archive/not/needed", cache, false);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_TRUE(torch::equal(cached->images, first->images));
  EXPECT_TRUE(torch::equal(cached->labels, first->labels));
  // A damaged cache file is reported, not trusted.
  const std::string file = cache + "/cifar10-test.nasimg";
  std::string bytes = *ReadFileBytes(file);
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(file, bytes).ok());
  EXPECT_THAT(std::string(LoadCifar10(archive, cache, false).status().message()),
              HasSubstr("checksum mismatch"));
}

void WritePng(const std::string& path, int size, uint8_t value) {
  std::vector<uint8_t> pixels(size * size * 3, value);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = size;
  image.height = size;
  image.format = PNG_FORMAT_RGB;
  ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr));
}

TEST(DatasetsTest, ImageFolderReadsClassesAndResizes) {
  const std::string dir = nas::testing::FreshTempDir("folder");
  std::filesystem::create_directories(dir + "/cats");
  std::filesystem::create_directories(dir + "/dogs");
  WritePng(dir + "/cats/a.png", 16, 10);
  WritePng(dir + "/cats/b.png", 32, 20);
  WritePng(dir + "/dogs/c.png", 8, 200);
  absl::StatusOr<ImageDataset> d = LoadImageFolder(dir, 16, 3);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->class_names, (std::vector<std::string>{"cats", "dogs"}));
  EXPECT_EQ(d->images.sizes(), (std::vector<int64_t>{3, 3, 16, 16}));
  EXPECT_EQ(d->labels[2].item<int64_t>(), 1);
  EXPECT_EQ(d->images[2].min().item<uint8_t>(), 200);
  WriteFileAtomically(dir + "/dogs/broken.png", "\x89PNG garbage").IgnoreError();
  EXPECT_THAT(std::string(LoadImageFolder(dir, 16, 3).status().message()), HasSubstr("broken.png"));
}

TEST(DataLoaderTest, BatchesAreDeterministicAndAugmented) {
  auto data = std::make_shared<const ImageDataset>(
      *LoadFashionMnist("/usr/share/datasets/fashion-mnist", false));
  std::vector<int64_t> train, validation;
  SplitIndices(data->size(), 1000, 0, 0, &train, &validation);
  EXPECT_EQ(train.size(), 9000u);
  EXPECT_EQ(validation.size(), 1000u);
  std::vector<int64_t> limited, validation2;
  SplitIndices(data->size(), 1000, 500, 0, &limited, &validation2);
  EXPECT_EQ(limited.size(), 500u);
  EXPECT_EQ(validation2, validation);
  AugmentOptions augment;
  augment.random_crop = true;
  augment.horizontal_flip = true;
  BatchLoader loader(data, train, 64, augment, true, 9);
  EXPECT_EQ(loader.batches_per_epoch(), 9000 / 64);
  const Batch a = loader.Get(2, 5), b = loader.Get(2, 5), c = loader.Get(3, 5);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_FALSE(torch::equal(a.images, c.images));
  BatchLoader plain(data, train, 64, AugmentOptions{}, true, 9);
  const Batch p = plain.Get(2, 5);
  EXPECT_TRUE(torch::equal(p.labels, a.labels));
  EXPECT_FALSE(torch::equal(p.images, a.images));
  // Normalization: roughly zero mean and unit deviation without augmentation.
  EXPECT_NEAR(p.images.mean().item<double>(), 0.0, 0.15);
  EXPECT_NEAR(p.images.std().item<double>(), 1.0, 0.15);
  Prefetcher prefetcher(loader, 10, 13);
  for (int64_t step = 10; step < 13; ++step) {
    const Batch got = prefetcher.Next();
    EXPECT_TRUE(torch::equal(got.images, loader.Get(step / loader.batches_per_epoch(),
                                                    step % loader.batches_per_epoch()).images));
  }
}

}  // namespace
}  // namespace nas::supernet
