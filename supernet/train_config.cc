#include "supernet/train_config.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"
#include "supernet/file_util.h"
#include "supernet/yaml_config.h"

namespace nas::supernet {
namespace {

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

// The shared data folder: $NAS_SHARED_DATA, else ../shared/data beside the repository
// that holds the config (configs/ and bench/ sit at the repository root).
std::string SharedDataDir(const std::string& base_dir) {
  if (const char* env = std::getenv("NAS_SHARED_DATA"); env != nullptr && *env != '\0') return env;
  return Resolve(base_dir, "../../shared/data");
}

#define NAS_ASSIGN_OR_RETURN(lhs, expr)  \
  {                                      \
    auto _value = (expr);                \
    if (!_value.ok()) return _value.status(); \
    lhs = *_value;                       \
  }

absl::Status ReadDouble(const ConfigNode& node, const std::string& key, double min_value,
                        double max_value, double* out) {
  if (!node.Has(key)) return absl::OkStatus();
  absl::StatusOr<double> v = node[key].Double(min_value, max_value);
  if (!v.ok()) return v.status();
  *out = *v;
  return absl::OkStatus();
}

absl::Status ReadInt(const ConfigNode& node, const std::string& key, int64_t min_value,
                     int64_t max_value, int64_t* out) {
  absl::StatusOr<int64_t> v = node.IntOr(key, *out, min_value, max_value);
  if (!v.ok()) return v.status();
  *out = *v;
  return absl::OkStatus();
}

absl::Status ReadBool(const ConfigNode& node, const std::string& key, bool* out) {
  absl::StatusOr<bool> v = node.BoolOr(key, *out);
  if (!v.ok()) return v.status();
  *out = *v;
  return absl::OkStatus();
}

absl::Status ReadString(const ConfigNode& node, const std::string& key, std::string* out) {
  if (!node.Has(key)) return absl::OkStatus();
  absl::StatusOr<std::string> v = node[key].String();
  if (!v.ok()) return v.status();
  *out = *v;
  return absl::OkStatus();
}

absl::Status OneOf(const ConfigNode& node, const std::string& value,
                   const std::vector<std::string>& allowed) {
  for (const std::string& a : allowed) {
    if (a == value) return absl::OkStatus();
  }
  std::string list;
  for (const std::string& a : allowed) absl::StrAppend(&list, list.empty() ? "" : ", ", a);
  return node.Error(absl::StrCat("'", value, "' is not one of ", list));
}

}  // namespace

absl::StatusOr<TrainConfig> ParseTrainConfig(const std::string& yaml, const std::string& source,
                                             const std::string& base_dir,
                                             const std::string* space_yaml) {
  absl::StatusOr<ConfigNode> parsed = ConfigNode::Parse(yaml, source);
  if (!parsed.ok()) return parsed.status();
  const ConfigNode& root = *parsed;
  if (absl::Status s = root.ExpectKeys(
          {"space", "data"},
          {"description", "supernet", "training", "optimizer", "schedule", "sampler", "evaluation",
           "distillation", "shrink"});
      !s.ok()) {
    return s;
  }
  TrainConfig c;
  c.source = source;
  c.yaml = yaml;

  std::string space_path;
  if (absl::Status s = ReadString(root, "space", &space_path); !s.ok()) return s;
  if (space_yaml != nullptr) {
    c.space_yaml = *space_yaml;
  } else {
    absl::StatusOr<std::string> text = ReadTextFile(Resolve(base_dir, space_path));
    if (!text.ok()) return root["space"].Error(text.status().message());
    c.space_yaml = *text;
  }
  NAS_ASSIGN_OR_RETURN(c.space, ParseSearchSpace(c.space_yaml, space_path));

  if (root.Has("supernet")) {
    const ConfigNode n = root["supernet"];
    if (absl::Status s = n.ExpectKeys({}, {"bn_affine", "memory_format"}); !s.ok()) return s;
    if (absl::Status s = ReadBool(n, "bn_affine", &c.supernet.bn_affine); !s.ok()) return s;
    if (n.Has("memory_format")) {
      std::string format;
      if (absl::Status s = ReadString(n, "memory_format", &format); !s.ok()) return s;
      if (absl::Status s = OneOf(n["memory_format"], format, {"channels_last", "contiguous"}); !s.ok()) return s;
      c.supernet.channels_last = format == "channels_last";
    }
  }

  {
    const ConfigNode n = root["data"];
    if (absl::Status s = n.ExpectKeys({"dataset"}, {"path", "test_path", "cache_dir",
                                                    "validation_size", "train_limit", "augment"});
        !s.ok()) {
      return s;
    }
    DataConfig& d = c.data;
    if (absl::Status s = ReadString(n, "dataset", &d.dataset); !s.ok()) return s;
    if (absl::Status s = OneOf(n["dataset"], d.dataset, {"fashion_mnist", "cifar10", "image_folder"});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadString(n, "path", &d.path); !s.ok()) return s;
    if (absl::Status s = ReadString(n, "test_path", &d.test_path); !s.ok()) return s;
    if (absl::Status s = ReadString(n, "cache_dir", &d.cache_dir); !s.ok()) return s;
    if (d.path.empty()) {
      if (d.dataset == "fashion_mnist") d.path = "/usr/share/datasets/fashion-mnist";
      if (d.dataset == "cifar10") d.path = SharedDataDir(base_dir) + "/cifar10-jpeg.tar.gz";
      if (d.dataset == "image_folder") return n.Error("missing required key 'path' for image_folder");
    }
    d.path = Resolve(base_dir, d.path);
    d.test_path = Resolve(base_dir, d.test_path);
    d.cache_dir = d.cache_dir.empty() ? DefaultCacheDir() + "/datasets" : Resolve(base_dir, d.cache_dir);
    if (absl::Status s = ReadInt(n, "validation_size", 0, 10'000'000, &d.validation_size); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "train_limit", 0, 100'000'000, &d.train_limit); !s.ok()) return s;
    if (n.Has("augment")) {
      const ConfigNode a = n["augment"];
      if (absl::Status s = a.ExpectKeys({}, {"random_crop", "horizontal_flip", "padding"}); !s.ok()) return s;
      if (absl::Status s = ReadBool(a, "random_crop", &d.augment.random_crop); !s.ok()) return s;
      if (absl::Status s = ReadBool(a, "horizontal_flip", &d.augment.horizontal_flip); !s.ok()) return s;
      if (absl::Status s = ReadInt(a, "padding", 0, 64, &d.augment.padding); !s.ok()) return s;
    }
  }

  if (root.Has("training")) {
    const ConfigNode n = root["training"];
    if (absl::Status s = n.ExpectKeys({}, {"seed", "batch_size", "epochs", "steps",
                                           "checkpoint_every", "log_every"});
        !s.ok()) {
      return s;
    }
    TrainingConfig& t = c.training;
    int64_t seed = static_cast<int64_t>(t.seed);
    if (absl::Status s = ReadInt(n, "seed", 0, INT64_MAX, &seed); !s.ok()) return s;
    t.seed = static_cast<uint64_t>(seed);
    if (absl::Status s = ReadInt(n, "batch_size", 1, 65536, &t.batch_size); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "epochs", 1, 100000, &t.epochs); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "steps", 0, 1'000'000'000, &t.steps); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "checkpoint_every", 1, 1'000'000'000, &t.checkpoint_every); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "log_every", 1, 1'000'000'000, &t.log_every); !s.ok()) return s;
  }

  if (root.Has("optimizer")) {
    const ConfigNode n = root["optimizer"];
    if (absl::Status s = n.ExpectKeys({}, {"lr", "momentum", "nesterov", "weight_decay",
                                           "label_smoothing", "grad_clip_norm"});
        !s.ok()) {
      return s;
    }
    OptimizerConfig& o = c.optimizer;
    if (absl::Status s = ReadDouble(n, "lr", 1e-8, 100, &o.lr); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "momentum", 0, 0.999, &o.momentum); !s.ok()) return s;
    if (absl::Status s = ReadBool(n, "nesterov", &o.nesterov); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "weight_decay", 0, 1, &o.weight_decay); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "label_smoothing", 0, 0.99, &o.label_smoothing); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "grad_clip_norm", 0, 1e6, &o.grad_clip_norm); !s.ok()) return s;
    if (o.nesterov && o.momentum == 0) {
      return n["nesterov"].Error("nesterov needs momentum > 0");
    }
  }

  if (root.Has("schedule")) {
    const ConfigNode n = root["schedule"];
    if (absl::Status s = n.ExpectKeys({}, {"kind", "warmup_steps", "min_lr"}); !s.ok()) return s;
    ScheduleConfig& sc = c.schedule;
    if (absl::Status s = ReadString(n, "kind", &sc.kind); !s.ok()) return s;
    if (absl::Status s = OneOf(n["kind"], sc.kind, {"cosine", "linear", "constant"}); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "warmup_steps", 0, 1'000'000'000, &sc.warmup_steps); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "min_lr", 0, 100, &sc.min_lr); !s.ok()) return s;
  }

  if (root.Has("distillation")) {
    const ConfigNode n = root["distillation"];
    if (absl::Status s = n.ExpectKeys({"teacher"}, {"weight", "temperature", "momentum"}); !s.ok()) return s;
    DistillationConfig& d = c.distillation;
    if (absl::Status s = ReadString(n, "teacher", &d.teacher); !s.ok()) return s;
    if (absl::Status s = OneOf(n["teacher"], d.teacher, {"none", "largest", "same", "ensemble"}); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "weight", 0, 1, &d.weight); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "temperature", 0.01, 100, &d.temperature); !s.ok()) return s;
    if (n.Has("momentum") && d.teacher != "ensemble") {
      return n["momentum"].Error("only for teacher: ensemble");
    }
    if (absl::Status s = ReadDouble(n, "momentum", 0, 0.999, &d.momentum); !s.ok()) return s;
  }

  if (root.Has("sampler")) {
    const ConfigNode n = root["sampler"];
    if (absl::Status s = n.ExpectKeys({}, {"kind", "num_bins", "update_every", "loss_ema",
                                           "temperature", "min_probability", "sandwich_random", "arch", "restrict",
                                           "exclude"});
        !s.ok()) {
      return s;
    }
    SamplerConfig& sc = c.sampler;
    if (absl::Status s = ReadString(n, "kind", &sc.kind); !s.ok()) return s;
    if (absl::Status s =
            OneOf(n["kind"], sc.kind, {"uniform", "flops_uniform", "shifted", "sandwich", "fair", "fixed"});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadString(n, "arch", &sc.arch); !s.ok()) return s;
    if (sc.kind == "fixed") {
      if (sc.arch.empty()) return n.Error("sampler.arch: required by the fixed sampler");
      if (absl::StatusOr<Architecture> arch = c.space->Parse(sc.arch); !arch.ok()) {
        return n["arch"].Error(absl::StrCat("sampler.arch: ", arch.status().message()));
      }
    }
    int64_t v = sc.num_bins;
    if (absl::Status s = ReadInt(n, "num_bins", 1, 1000, &v); !s.ok()) return s;
    sc.num_bins = static_cast<int>(v);
    v = sc.update_every;
    if (absl::Status s = ReadInt(n, "update_every", 1, 1'000'000, &v); !s.ok()) return s;
    sc.update_every = static_cast<int>(v);
    v = sc.sandwich_random;
    if (absl::Status s = ReadInt(n, "sandwich_random", 0, 16, &v); !s.ok()) return s;
    sc.sandwich_random = static_cast<int>(v);
    if (absl::Status s = ReadDouble(n, "loss_ema", 0, 0.9999, &sc.loss_ema); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "temperature", 1e-3, 1e3, &sc.temperature); !s.ok()) return s;
    if (absl::Status s = ReadDouble(n, "min_probability", 0, 1, &sc.min_probability); !s.ok()) return s;
    if (n.Has("exclude")) {  // A shrunk space: options no path takes.
      const ConfigNode e = n["exclude"];
      absl::StatusOr<std::vector<ConfigNode>> items = e.Items();
      if (!items.ok()) return items.status();
      for (const ConfigNode& item : *items) {
        absl::StatusOr<std::string> name = item.String();
        if (!name.ok()) return name.status();
        sc.exclude.push_back(*name);
      }
      if (sc.kind == "fixed") return e.Error("sampler.exclude: not with the fixed sampler (it trains one path)");
      if (auto shrunk = RestrictedSpace::Excluding(c.space, sc.exclude, "sampler.exclude"); !shrunk.ok()) {
        return e.Error(std::string(shrunk.status().message()));
      }
    }
    if (n.Has("restrict")) {  // A few-shot sub-supernet: one gene fixed.
      const ConfigNode r = n["restrict"];
      if (absl::Status s = r.ExpectKeys({"gene", "option"}, {}); !s.ok()) return s;
      if (sc.kind == "fixed") return r.Error("sampler.restrict: not with the fixed sampler (it trains one path)");
      const int64_t genes = static_cast<int64_t>(c.space->genes().size());
      int64_t gene = 0, option = 0;
      if (absl::Status s = ReadInt(r, "gene", 0, genes - 1, &gene); !s.ok()) return s;
      const int64_t options = static_cast<int64_t>(c.space->genes()[gene].options.size());
      if (absl::Status s = ReadInt(r, "option", 0, options - 1, &option); !s.ok()) return s;
      sc.restrict_gene = static_cast<int>(gene);
      sc.restrict_option = static_cast<int>(option);
    }
  }

  if (root.Has("shrink")) {  // Search-space shrinking during training.
    const ConfigNode n = root["shrink"];
    if (absl::Status s = n.ExpectKeys({"at"}, {"drop", "score", "archs", "images", "calibration_batches"}); !s.ok()) {
      return s;
    }
    ShrinkConfig& sh = c.shrink;
    if (absl::Status s = ReadDouble(n, "at", 1e-6, 1 - 1e-6, &sh.at); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "drop", 1, 1000, &sh.drop); !s.ok()) return s;
    if (absl::Status s = ReadString(n, "score", &sh.score); !s.ok()) return s;
    if (absl::Status s = ValidateScoreMethod(sh.score, "shrink.score"); !s.ok()) return n["score"].Error(std::string(s.message()));
    if (absl::Status s = ReadInt(n, "archs", 2, 100000, &sh.archs); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "images", 0, int64_t{1} << 40, &sh.images); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "calibration_batches", 0, 100000, &sh.calibration_batches); !s.ok()) return s;
    if (c.sampler.kind == "fixed") return n.Error("shrink: not with the fixed sampler (it trains one path)");
    if (c.sampler.restrict_gene >= 0) {
      return n.Error("shrink: not with sampler.restrict (a few-shot sub-supernet trains on its parent's space)");
    }
  }

  if (root.Has("evaluation")) {
    const ConfigNode n = root["evaluation"];
    if (absl::Status s = n.ExpectKeys({}, {"calibration_batches", "calibration_batch_size", "batch_size", "max_images"});
        !s.ok()) {
      return s;
    }
    EvaluationConfig& e = c.evaluation;
    if (absl::Status s = ReadInt(n, "calibration_batches", 0, 100000, &e.calibration_batches); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "calibration_batch_size", 1, 65536, &e.calibration_batch_size); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "batch_size", 1, 65536, &e.batch_size); !s.ok()) return s;
    if (absl::Status s = ReadInt(n, "max_images", 0, int64_t{1} << 40, &e.max_images); !s.ok()) return s;
  }
  return c;
}

absl::StatusOr<TrainConfig> LoadTrainConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  // Absolute, so that a checkpoint's recorded config location works from any directory.
  const std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
  return ParseTrainConfig(*text, absolute.string(), absolute.parent_path().string());
}

absl::StatusOr<DataSplits> LoadData(const TrainConfig& config) {
  const DataConfig& d = config.data;
  absl::StatusOr<ImageDataset> train, test;
  if (d.dataset == "fashion_mnist") {
    train = LoadFashionMnist(d.path, true);
    if (train.ok()) test = LoadFashionMnist(d.path, false);
  } else if (d.dataset == "cifar10") {
    train = LoadCifar10(d.path, d.cache_dir, true);
    if (train.ok()) test = LoadCifar10(d.path, d.cache_dir, false);
  } else {
    const SearchSpace& s = *config.space;
    train = LoadImageFolder(d.path, s.input_size(), s.input_channels());
    if (train.ok() && !d.test_path.empty()) {
      test = LoadImageFolder(d.test_path, s.input_size(), s.input_channels());
    } else {
      test = train;
    }
  }
  if (!train.ok()) return train.status();
  if (!test.ok()) return test.status();
  const SearchSpace& space = *config.space;
  if (train->channels() != space.input_channels() || train->height() != space.input_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source, ": data: ", d.dataset, " images are ", train->channels(), "x",
        train->height(), "x", train->width(), " but space '", space.name(), "' expects input ",
        space.input_channels(), "x", space.input_size(), "x", space.input_size()));
  }
  if (static_cast<int64_t>(train->class_names.size()) > space.num_classes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.source, ": data: ", train->class_names.size(), " classes but space '",
        space.name(), "' has num_classes ", space.num_classes()));
  }
  DataSplits splits;
  const int64_t n = train->size();
  if (d.validation_size >= n) {
    return absl::InvalidArgumentError(absl::StrCat(config.source, ": data.validation_size: ",
                                                   d.validation_size, " leaves no training images (",
                                                   n, " in all)"));
  }
  SplitIndices(n, d.validation_size, d.train_limit, config.training.seed, &splits.train_indices,
               &splits.validation_indices);
  splits.train_set = std::make_shared<const ImageDataset>(*std::move(train));
  splits.test_set = std::make_shared<const ImageDataset>(*std::move(test));
  return splits;
}

namespace {
// Parses a config derived from a checkpoint's (`base_source` locates relative paths).
absl::StatusOr<TrainConfig> ParseDerivedConfig(const YAML::Node& config, const std::string& source,
                                               const std::string& base_source, const std::string& space_yaml) {
  YAML::Emitter out;
  out << config;
  std::string dir = std::filesystem::path(base_source).parent_path().string();
  return ParseTrainConfig(out.c_str(), source, dir.empty() ? "." : dir, &space_yaml);
}
}  // namespace

absl::StatusOr<TrainConfig> MakeFineTuneConfig(const std::string& base_yaml, const std::string& base_source,
                                               const std::string& space_yaml, const std::string& overrides_yaml,
                                               const std::string& overrides_source, const std::string& arch) {
  YAML::Node base, overrides;
  try {
    base = YAML::Load(base_yaml);
    overrides = overrides_yaml.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(overrides_yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(overrides_source, ": ", e.what()));
  }
  if (!overrides.IsMap() && !overrides.IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(overrides_source, ": expected a mapping of sections"));
  }
  // The supernet's own distillation (e.g. self-distillation) is not the fine-tuning's: only
  // the fine-tuning config's applies.
  base.remove("distillation");
  for (const auto& entry : overrides) {
    const std::string key = entry.first.as<std::string>();
    if (key == "training" || key == "optimizer" || key == "schedule" || key == "description" ||
        key == "distillation") {
      base[key] = entry.second;
    } else if (key == "data" || key == "evaluation") {
      if (!entry.second.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat(overrides_source, ": ", key, ": expected a mapping"));
      }
      for (const auto& field : entry.second) base[key][field.first.as<std::string>()] = field.second;
    } else if (key == "space" || key == "supernet" || key == "sampler") {
      return absl::InvalidArgumentError(absl::StrCat(
          overrides_source, ": ", key, ": fine-tuning keeps the supernet's ", key,
          key == "sampler" ? " (the fixed path of the architecture)" : ""));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          overrides_source, ": ", key, ": unknown section (training, optimizer, schedule, distillation, data, evaluation)"));
    }
  }
  base.remove("shrink");  // One fixed path: nothing to shrink.
  YAML::Node sampler(YAML::NodeType::Map);
  sampler["kind"] = "fixed";
  sampler["arch"] = arch;
  base["sampler"] = sampler;
  return ParseDerivedConfig(base, overrides_source.empty() ? base_source : overrides_source, base_source,
                            space_yaml);
}

absl::StatusOr<TrainConfig> MakeSubSupernetConfig(const std::string& base_yaml, const std::string& base_source,
                                                  const std::string& space_yaml, int gene, int option,
                                                  int64_t steps, double lr) {
  YAML::Node base;
  try {
    base = YAML::Load(base_yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(base_source, ": ", e.what()));
  }
  if (steps < 1) return absl::InvalidArgumentError(absl::StrCat("steps: must be at least 1, got ", steps));
  if (!base["sampler"] || !base["sampler"].IsMap()) base["sampler"] = YAML::Node(YAML::NodeType::Map);
  YAML::Node restrict(YAML::NodeType::Map);
  restrict["gene"] = gene;
  restrict["option"] = option;
  base["sampler"]["restrict"] = restrict;
  base.remove("shrink");  // Sub-supernets train on; they do not shrink again.
  base["training"]["steps"] = steps;
  if (lr > 0) base["optimizer"]["lr"] = lr;
  base["schedule"]["warmup_steps"] = 0;
  return ParseDerivedConfig(base, base_source, base_source, space_yaml);
}

}  // namespace nas::supernet
