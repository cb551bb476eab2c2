#include "supernet/datasets.h"

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <map>

#include <tbb/parallel_for.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "supernet/file_util.h"

namespace nas::supernet {
namespace {

const std::vector<std::string> kCifarClasses = {"airplane", "automobile", "bird", "cat", "deer",
                                                "dog",      "frog",       "horse", "ship", "truck"};

absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string out;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof(buffer))) > 0) out.append(buffer, n);
  int err = 0;
  const char* message = gzerror(f, &err);
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) {
    return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data: ", message));
  }
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct JpegErrorManager {
  jpeg_error_mgr base;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

absl::StatusOr<torch::Tensor> DecodeJpeg(const std::string& bytes, int64_t channels,
                                         const std::string& what) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = JpegErrorExit;
  torch::Tensor hwc;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad JPEG: ", err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  const int64_t h = cinfo.output_height, w = cinfo.output_width, c = cinfo.output_components;
  hwc = torch::empty({h, w, c}, torch::kUInt8);
  uint8_t* data = hwc.data_ptr<uint8_t>();
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = data + static_cast<int64_t>(cinfo.output_scanline) * w * c;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return hwc.permute({2, 0, 1}).contiguous();
}

absl::StatusOr<torch::Tensor> DecodePng(const std::string& bytes, int64_t channels,
                                        const std::string& what) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad PNG: ", image.message));
  }
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  torch::Tensor hwc = torch::empty({image.height, image.width, channels}, torch::kUInt8);
  if (!png_image_finish_read(&image, nullptr, hwc.data_ptr<uint8_t>(), 0, nullptr)) {
    png_image_free(&image);
    return absl::InvalidArgumentError(absl::StrCat(what, ": bad PNG: ", image.message));
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

// Serializes a dataset into the cache format: magic, shapes, class names, labels,
// pixels, CRC-32 of everything before it.
std::string SerializeDataset(const ImageDataset& d) {
  std::string out = "NASIMG01";
  auto put64 = [&out](int64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
  put64(d.size());
  put64(d.channels());
  put64(d.height());
  put64(d.width());
  put64(static_cast<int64_t>(d.class_names.size()));
  for (const std::string& name : d.class_names) {
    put64(static_cast<int64_t>(name.size()));
    out += name;
  }
  out.append(reinterpret_cast<const char*>(d.labels.data_ptr<int64_t>()), d.size() * 8);
  out.append(reinterpret_cast<const char*>(d.images.data_ptr<uint8_t>()), d.images.numel());
  const uint32_t crc = Crc32(out);
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return out;
}

absl::StatusOr<ImageDataset> DeserializeDataset(const std::string& bytes, const std::string& path) {
  auto corrupt = [&path](const std::string& why) {
    return absl::DataLossError(absl::StrCat(path, ": corrupt dataset cache (", why,
                                            "); delete it to rebuild"));
  };
  if (bytes.size() < 8 + 5 * 8 + 4 || bytes.compare(0, 8, "NASIMG01") != 0) return corrupt("bad header");
  uint32_t crc;
  std::memcpy(&crc, bytes.data() + bytes.size() - 4, 4);
  if (Crc32(absl::string_view(bytes.data(), bytes.size() - 4)) != crc) return corrupt("checksum mismatch");
  size_t pos = 8;
  auto get64 = [&]() {
    int64_t v;
    std::memcpy(&v, bytes.data() + pos, 8);
    pos += 8;
    return v;
  };
  ImageDataset d;
  const int64_t n = get64(), c = get64(), h = get64(), w = get64(), classes = get64();
  for (int64_t i = 0; i < classes; ++i) {
    const int64_t len = get64();
    d.class_names.push_back(bytes.substr(pos, len));
    pos += len;
  }
  if (pos + n * 8 + n * c * h * w + 4 != bytes.size()) return corrupt("wrong size");
  d.labels = torch::empty({n}, torch::kInt64);
  std::memcpy(d.labels.data_ptr<int64_t>(), bytes.data() + pos, n * 8);
  pos += n * 8;
  d.images = torch::empty({n, c, h, w}, torch::kUInt8);
  std::memcpy(d.images.data_ptr<uint8_t>(), bytes.data() + pos, n * c * h * w);
  return d;
}

void SetCifarNormalization(ImageDataset& d) {
  d.mean = {0.4914f, 0.4822f, 0.4465f};
  d.std = {0.2470f, 0.2435f, 0.2616f};
}

}  // namespace

absl::StatusOr<torch::Tensor> DecodeImage(const std::string& bytes, int64_t channels,
                                          const std::string& what) {
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8) {
    return DecodeJpeg(bytes, channels, what);
  }
  if (bytes.size() >= 8 && bytes.compare(1, 3, "PNG") == 0) return DecodePng(bytes, channels, what);
  return absl::InvalidArgumentError(absl::StrCat(what, ": not a JPEG or PNG image"));
}

absl::StatusOr<ImageDataset> LoadFashionMnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte.gz");
  const std::string labels_path = absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte.gz");
  absl::StatusOr<std::string> images = ReadGzip(images_path);
  if (!images.ok()) return images.status();
  absl::StatusOr<std::string> labels = ReadGzip(labels_path);
  if (!labels.ok()) return labels.status();
  if (images->size() < 16 || BigEndian32(*images, 0) != 0x803) {
    return absl::DataLossError(absl::StrCat(images_path, ": not an IDX image file"));
  }
  if (labels->size() < 8 || BigEndian32(*labels, 0) != 0x801) {
    return absl::DataLossError(absl::StrCat(labels_path, ": not an IDX label file"));
  }
  const int64_t n = BigEndian32(*images, 4), h = BigEndian32(*images, 8), w = BigEndian32(*images, 12);
  if (static_cast<int64_t>(BigEndian32(*labels, 4)) != n ||
      static_cast<int64_t>(images->size()) != 16 + n * h * w ||
      static_cast<int64_t>(labels->size()) != 8 + n) {
    return absl::DataLossError(absl::StrCat(images_path, ": sizes of images and labels disagree"));
  }
  ImageDataset d;
  d.name = "fashion_mnist";
  d.images = torch::empty({n, 1, h, w}, torch::kUInt8);
  std::memcpy(d.images.data_ptr<uint8_t>(), images->data() + 16, n * h * w);
  d.labels = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) d.labels[i] = static_cast<int64_t>(static_cast<uint8_t>((*labels)[8 + i]));
  d.class_names = {"t-shirt", "trouser", "pullover", "dress", "coat",
                   "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
  d.mean = {0.2860f};
  d.std = {0.3530f};
  return d;
}

absl::StatusOr<ImageDataset> LoadCifar10(const std::string& archive, const std::string& cache_dir,
                                         bool train) {
  const std::string split = train ? "train" : "test";
  const std::string cache = absl::StrCat(cache_dir, "/cifar10-", split, ".nasimg");
  if (std::filesystem::exists(cache)) {
    absl::StatusOr<std::string> bytes = ReadFileBytes(cache);
    if (!bytes.ok()) return bytes.status();
    absl::StatusOr<ImageDataset> d = DeserializeDataset(*bytes, cache);
    if (!d.ok()) return d.status();
    d->name = "cifar10";
    SetCifarNormalization(*d);
    return d;
  }
  gzFile f = gzopen(archive.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(archive, ": cannot open"));
  // Walk the tar stream: 512-byte headers, each followed by its data padded to 512.
  struct Entry {
    std::string path;
    int label;
    std::string bytes;
  };
  std::vector<Entry> entries;
  const std::string wanted = absl::StrCat("cifar10/", split, "/");
  char header[512];
  while (true) {
    const int got = gzread(f, header, 512);
    if (got == 0) break;
    if (got != 512) {
      gzclose(f);
      return absl::DataLossError(absl::StrCat(archive, ": truncated tar header"));
    }
    if (header[0] == '\0') break;  // End-of-archive block.
    std::string name(header, strnlen(header, 100));
    const std::string prefix(header + 345, strnlen(header + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    const int64_t size = std::strtoll(std::string(header + 124, 12).c_str(), nullptr, 8);
    const int64_t padded = (size + 511) / 512 * 512;
    std::string data(padded, '\0');
    if (padded > 0 && gzread(f, data.data(), static_cast<unsigned>(padded)) != padded) {
      gzclose(f);
      return absl::DataLossError(absl::StrCat(archive, ": truncated at ", name));
    }
    const char type = header[156];
    if ((type != '0' && type != '\0') || !absl::StartsWith(name, wanted) ||
        !absl::EndsWith(name, ".jpg")) {
      continue;
    }
    const std::vector<std::string> parts = absl::StrSplit(name.substr(wanted.size()), '/');
    auto it = std::find(kCifarClasses.begin(), kCifarClasses.end(), parts[0]);
    if (parts.size() != 2 || it == kCifarClasses.end()) {
      gzclose(f);
      return absl::DataLossError(absl::StrCat(archive, ": unexpected entry ", name));
    }
    data.resize(size);
    entries.push_back(Entry{name, static_cast<int>(it - kCifarClasses.begin()), std::move(data)});
  }
  gzclose(f);
  if (entries.empty()) {
    return absl::DataLossError(absl::StrCat(archive, ": no ", wanted, "*.jpg entries"));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  const int64_t n = static_cast<int64_t>(entries.size());
  ImageDataset d;
  d.name = "cifar10";
  d.class_names = kCifarClasses;
  d.images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  d.labels = torch::empty({n}, torch::kInt64);
  std::vector<absl::Status> errors(n);
  tbb::parallel_for(int64_t{0}, n, [&](int64_t i) {
    absl::StatusOr<torch::Tensor> image = DecodeJpeg(entries[i].bytes, 3, entries[i].path);
    if (!image.ok()) {
      errors[i] = image.status();
    } else if (image->size(1) != 32 || image->size(2) != 32) {
      errors[i] = absl::DataLossError(absl::StrCat(entries[i].path, ": not 32x32"));
    } else {
      d.images[i].copy_(*image);
    }
  });
  for (const absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  int64_t* labels = d.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) labels[i] = entries[i].label;
  if (absl::Status s = WriteFileAtomically(cache, SerializeDataset(d)); !s.ok()) return s;
  SetCifarNormalization(d);
  return d;
}

absl::StatusOr<ImageDataset> LoadImageFolder(const std::string& dir, int64_t size,
                                             int64_t channels) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  if (channels != 1 && channels != 3) {
    return absl::InvalidArgumentError(absl::StrCat("channels: must be 1 or 3, got ", channels));
  }
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  }
  std::sort(classes.begin(), classes.end());
  if (classes.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": needs at least two class sub-folders, found ", classes.size()));
  }
  std::vector<std::pair<std::string, int>> files;
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / classes[c])) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() &&
          (absl::EqualsIgnoreCase(ext, ".jpg") || absl::EqualsIgnoreCase(ext, ".jpeg") ||
           absl::EqualsIgnoreCase(ext, ".png"))) {
        names.push_back(entry.path().string());
      }
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) files.emplace_back(name, static_cast<int>(c));
  }
  if (files.empty()) return absl::InvalidArgumentError(absl::StrCat(dir, ": no JPEG or PNG images"));
  const int64_t n = static_cast<int64_t>(files.size());
  ImageDataset d;
  d.name = "image_folder";
  d.class_names = classes;
  d.images = torch::empty({n, channels, size, size}, torch::kUInt8);
  d.labels = torch::empty({n}, torch::kInt64);
  std::vector<absl::Status> errors(n);
  tbb::parallel_for(int64_t{0}, n, [&](int64_t i) {
    absl::StatusOr<std::string> bytes = ReadFileBytes(files[i].first);
    if (!bytes.ok()) {
      errors[i] = bytes.status();
      return;
    }
    absl::StatusOr<torch::Tensor> image = DecodeImage(*bytes, channels, files[i].first);
    if (!image.ok()) {
      errors[i] = image.status();
      return;
    }
    torch::Tensor img = *image;
    if (img.size(1) != size || img.size(2) != size) {
      img = torch::upsample_bilinear2d(img.unsqueeze(0).to(torch::kFloat32), {size, size},
                                       /*align_corners=*/false)
                .squeeze(0)
                .round()
                .clamp(0, 255)
                .to(torch::kUInt8);
    }
    d.images[i].copy_(img);
  });
  for (const absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  int64_t* labels = d.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) labels[i] = files[i].second;
  // Statistics of the folder itself.
  torch::Tensor f = d.images.to(torch::kFloat32) / 255.0;
  for (int64_t c = 0; c < channels; ++c) {
    d.mean.push_back(f.select(1, c).mean().item<float>());
    d.std.push_back(std::max(1e-3f, f.select(1, c).std().item<float>()));
  }
  return d;
}

}  // namespace nas::supernet
