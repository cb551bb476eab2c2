#include "supernet/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <torch/csrc/jit/ir/constants.h>

#include <limits>
#include <optional>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nas::supernet {
namespace {

using torch::jit::Node;
using torch::jit::Value;

c10::Symbol Aten(const char* name) { return c10::Symbol::aten(name); }

// Translates one TorchScript inference graph node by node.
class OnnxWriter {
 public:
  OnnxWriter(onnx::GraphProto* graph) : graph_(graph) {}

  void Bind(const Value* v, std::string name) { names_[v] = std::move(name); }

  // The ONNX name of a tensor input: a value computed earlier, or a constant tensor
  // (stored once as an initializer).
  absl::StatusOr<std::string> Tensor(Value* v) {
    if (auto it = names_.find(v); it != names_.end()) return it->second;
    c10::optional<c10::IValue> iv = torch::jit::toIValue(v);
    if (!iv.has_value() || !iv->isTensor()) {
      return absl::UnimplementedError(absl::StrCat("input %", v->debugName(), " of ", v->node()->kind().toQualString(),
                                                   " is neither computed nor a constant tensor"));
    }
    const std::string name = absl::StrCat("const_", constants_++);
    AddInitializer(name, iv->toTensor());
    names_[v] = name;
    return name;
  }

  // A new initializer from a tensor (float32 or int64).
  std::string Initializer(const torch::Tensor& t) {
    const std::string name = absl::StrCat("const_", constants_++);
    AddInitializer(name, t);
    return name;
  }

  // Adds a node with one new output (node->output(0)); returns it for attributes.
  onnx::NodeProto* AddNode(const std::string& op, const std::vector<std::string>& inputs) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(absl::StrCat(op, "_", graph_->node_size()));
    for (const std::string& in : inputs) node->add_input(in);
    node->add_output(absl::StrCat("t", values_++));
    return node;
  }

  // Adds a node whose single output is the graph value `out`.
  onnx::NodeProto* Add(const std::string& op, const std::vector<std::string>& inputs, const Value* out) {
    onnx::NodeProto* node = AddNode(op, inputs);
    names_[out] = node->output(0);
    return node;
  }

  // Maps `out` to the same ONNX value as `in` (no-ops such as contiguous()).
  absl::Status Alias(Value* in, const Value* out) {
    absl::StatusOr<std::string> name = Tensor(in);
    if (!name.ok()) return name.status();
    names_[out] = *name;
    return absl::OkStatus();
  }

 private:
  void AddInitializer(const std::string& name, const torch::Tensor& source) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    const torch::Tensor c = source.scalar_type() == torch::kLong ? source.contiguous()
                                                                  : source.to(torch::kFloat).contiguous();
    t->set_data_type(c.scalar_type() == torch::kLong ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
    for (int64_t d : c.sizes()) t->add_dims(d);
    t->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
  }

  onnx::GraphProto* graph_;
  std::unordered_map<const Value*, std::string> names_;
  int constants_ = 0;
  int values_ = 0;
};

void IntsAttr(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void IntAttr(onnx::NodeProto* node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void FloatAttr(onnx::NodeProto* node, const std::string& name, double value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(value));
}

c10::optional<std::vector<int64_t>> IntList(Value* v) {
  if (c10::optional<c10::IValue> iv = torch::jit::toIValue(v); iv.has_value() && iv->isIntList()) {
    return iv->toIntVector();
  }
  if (v->node()->kind() != c10::prim::ListConstruct) return c10::nullopt;
  std::vector<int64_t> out;
  for (Value* in : v->node()->inputs()) {
    c10::optional<int64_t> i = torch::jit::constant_as<int64_t>(in);
    if (!i.has_value()) return c10::nullopt;
    out.push_back(*i);
  }
  return out;
}

// A constant number (int or float) as a double.
c10::optional<double> Number(const Value* v) {
  c10::optional<c10::IValue> iv = torch::jit::toIValue(v);
  if (!iv.has_value()) return c10::nullopt;
  if (iv->isDouble()) return iv->toDouble();
  if (iv->isInt()) return static_cast<double>(iv->toInt());
  return c10::nullopt;
}

// [h, w] pads/strides of a 2-D op; a single value means both.
std::vector<int64_t> Pair(std::vector<int64_t> v) {
  if (v.size() == 1) v.push_back(v[0]);
  return v;
}

absl::Status Unsupported(const Node* n, const std::string& why) {
  return absl::UnimplementedError(
      absl::StrCat("ONNX export: ", n->kind().toQualString(), " (", why, ") is not supported"));
}

// Emits the ONNX node(s) of one graph node.
absl::Status Convert(Node* n, OnnxWriter& w) {
  const c10::Symbol k = n->kind();
  auto in = [&](size_t i) { return w.Tensor(n->input(i)); };
  if (k == c10::prim::Constant || k == c10::prim::ListConstruct) return absl::OkStatus();  // Read by users.
  if (k == Aten("contiguous") || k == Aten("clone") || k == Aten("detach") || k == Aten("dropout")) {
    return w.Alias(n->input(0), n->output());
  }
  if (k == Aten("conv2d") || k == Aten("_convolution")) {
    const bool full = k == Aten("_convolution");
    if (full && torch::jit::constant_as<bool>(n->input(6)).value_or(true)) return Unsupported(n, "transposed");
    c10::optional<std::vector<int64_t>> stride = IntList(n->input(3)), padding = IntList(n->input(4)),
                                        dilation = IntList(n->input(5));
    c10::optional<int64_t> groups = torch::jit::constant_as<int64_t>(n->input(full ? 8 : 6));
    if (!stride || !padding || !dilation || !groups) return Unsupported(n, "non-constant arguments");
    absl::StatusOr<std::string> x = in(0), weight = in(1);
    if (!x.ok()) return x.status();
    if (!weight.ok()) return weight.status();
    std::vector<std::string> inputs = {*x, *weight};
    if (!n->input(2)->type()->cast<c10::NoneType>()) {
      absl::StatusOr<std::string> bias = in(2);
      if (!bias.ok()) return bias.status();
      inputs.push_back(*bias);
    }
    const c10::optional<torch::Tensor> wt = torch::jit::constant_as<torch::Tensor>(n->input(1));
    if (!wt.has_value()) return Unsupported(n, "non-constant weight");
    onnx::NodeProto* node = w.Add("Conv", inputs, n->output());
    const std::vector<int64_t> p = Pair(*padding);
    IntsAttr(node, "kernel_shape", {wt->size(2), wt->size(3)});
    IntsAttr(node, "strides", Pair(*stride));
    IntsAttr(node, "pads", {p[0], p[1], p[0], p[1]});
    IntsAttr(node, "dilations", Pair(*dilation));
    IntAttr(node, "group", *groups);
    return absl::OkStatus();
  }
  if (k == Aten("batch_norm")) {
    c10::optional<bool> training = torch::jit::constant_as<bool>(n->input(5));
    c10::optional<double> eps = Number(n->input(7));
    c10::optional<torch::Tensor> mean = torch::jit::constant_as<torch::Tensor>(n->input(3));
    if (!training || *training || !eps || !mean) return Unsupported(n, "training mode or non-constant statistics");
    absl::StatusOr<std::string> x = in(0), m = in(3), v = in(4);
    if (!x.ok() || !m.ok() || !v.ok()) return !x.ok() ? x.status() : !m.ok() ? m.status() : v.status();
    const bool affine = !n->input(1)->type()->cast<c10::NoneType>();
    std::string scale = affine ? in(1).value_or("") : w.Initializer(torch::ones_like(*mean));
    std::string shift = affine ? in(2).value_or("") : w.Initializer(torch::zeros_like(*mean));
    if (scale.empty() || shift.empty()) return Unsupported(n, "non-constant affine parameters");
    onnx::NodeProto* node = w.Add("BatchNormalization", {*x, scale, shift, *m, *v}, n->output());
    FloatAttr(node, "epsilon", *eps);
    return absl::OkStatus();
  }
  if (k == Aten("relu") || k == Aten("relu_")) {
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    w.Add("Relu", {*x}, n->output());
    return absl::OkStatus();
  }
  if (k == Aten("hardtanh") || k == Aten("hardtanh_")) {
    c10::optional<double> lo = Number(n->input(1)), hi = Number(n->input(2));
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    if (!lo || !hi) return Unsupported(n, "non-constant bounds");
    onnx::NodeProto* node = w.Add("Clip", {*x}, n->output());
    FloatAttr(node, "min", *lo);
    FloatAttr(node, "max", *hi);
    return absl::OkStatus();
  }
  if (k == Aten("add") || k == Aten("add_")) {
    c10::optional<double> alpha = Number(n->input(2));
    if (!alpha.has_value() || *alpha != 1.0) return Unsupported(n, "alpha other than 1");
    absl::StatusOr<std::string> a = in(0), b = in(1);
    if (!a.ok() || !b.ok()) return !a.ok() ? a.status() : b.status();
    w.Add("Add", {*a, *b}, n->output());
    return absl::OkStatus();
  }
  if (k == Aten("zeros_like")) {
    // Zeros of the input's shape: input * 0 keeps the shape (and the dynamic batch).
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    w.Add("Mul", {*x, w.Initializer(torch::zeros({1}))}, n->output());
    return absl::OkStatus();
  }
  if (k == Aten("slice")) {
    c10::optional<int64_t> dim = torch::jit::constant_as<int64_t>(n->input(1));
    c10::optional<int64_t> start = torch::jit::constant_as<int64_t>(n->input(2));
    c10::optional<int64_t> end = torch::jit::constant_as<int64_t>(n->input(3));
    c10::optional<int64_t> step = torch::jit::constant_as<int64_t>(n->input(4));
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    if (!dim || !step) return Unsupported(n, "non-constant dimension or step");
    const int64_t s = start.value_or(0), e = end.value_or(std::numeric_limits<int64_t>::max());
    const auto vec = [&](int64_t v) { return w.Initializer(torch::tensor(std::vector<int64_t>{v}, torch::kLong)); };
    w.Add("Slice", {*x, vec(s), vec(e), vec(*dim), vec(*step)}, n->output());
    return absl::OkStatus();
  }
  if (k == Aten("cat")) {
    c10::optional<int64_t> dim = torch::jit::constant_as<int64_t>(n->input(1));
    Node* list = n->input(0)->node();
    if (!dim || list->kind() != c10::prim::ListConstruct) return Unsupported(n, "a non-literal list");
    std::vector<std::string> parts;
    for (Value* v : list->inputs()) {
      absl::StatusOr<std::string> p = w.Tensor(v);
      if (!p.ok()) return p.status();
      parts.push_back(*p);
    }
    IntAttr(w.Add("Concat", parts, n->output()), "axis", *dim);
    return absl::OkStatus();
  }
  if (k == Aten("avg_pool2d") || k == Aten("max_pool2d")) {
    const bool avg = k == Aten("avg_pool2d");
    c10::optional<std::vector<int64_t>> kernel = IntList(n->input(1)), stride = IntList(n->input(2)),
                                        padding = IntList(n->input(3));
    c10::optional<bool> ceil = torch::jit::constant_as<bool>(n->input(avg ? 4 : 5));
    if (!kernel || !stride || !padding || !ceil) return Unsupported(n, "non-constant arguments");
    if (stride->empty()) stride = kernel;
    if (avg && !n->input(6)->type()->cast<c10::NoneType>()) return Unsupported(n, "divisor_override");
    if (!avg) {
      c10::optional<std::vector<int64_t>> dilation = IntList(n->input(4));
      if (!dilation || Pair(*dilation) != std::vector<int64_t>{1, 1}) return Unsupported(n, "dilation");
    }
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    onnx::NodeProto* node = w.Add(avg ? "AveragePool" : "MaxPool", {*x}, n->output());
    const std::vector<int64_t> p = Pair(*padding);
    IntsAttr(node, "kernel_shape", Pair(*kernel));
    IntsAttr(node, "strides", Pair(*stride));
    IntsAttr(node, "pads", {p[0], p[1], p[0], p[1]});
    IntAttr(node, "ceil_mode", *ceil ? 1 : 0);
    if (avg) IntAttr(node, "count_include_pad", torch::jit::constant_as<bool>(n->input(5)).value_or(true) ? 1 : 0);
    return absl::OkStatus();
  }
  if (k == Aten("mean")) {
    c10::optional<std::vector<int64_t>> dims = IntList(n->input(1));
    c10::optional<bool> keep = torch::jit::constant_as<bool>(n->input(2));
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    if (!dims || !keep) return Unsupported(n, "non-constant dimensions");
    auto type = n->input(0)->type()->cast<c10::TensorType>();
    const c10::optional<size_t> rank = type ? type->dim() : c10::nullopt;
    if (rank == 4 && !*keep && (*dims == std::vector<int64_t>{2, 3} || *dims == std::vector<int64_t>{-2, -1})) {
      // Global average pooling, then [N, C, 1, 1] -> [N, C]: the form every runtime knows.
      const onnx::NodeProto* pooled = w.AddNode("GlobalAveragePool", {*x});
      IntAttr(w.Add("Flatten", {pooled->output(0)}, n->output()), "axis", 1);
      return absl::OkStatus();
    }
    onnx::NodeProto* node = w.Add("ReduceMean", {*x}, n->output());
    IntsAttr(node, "axes", *dims);
    IntAttr(node, "keepdims", *keep ? 1 : 0);
    return absl::OkStatus();
  }
  if (k == Aten("linear")) {
    absl::StatusOr<std::string> x = in(0), weight = in(1);
    if (!x.ok() || !weight.ok()) return !x.ok() ? x.status() : weight.status();
    std::string bias;
    if (n->input(2)->type()->cast<c10::NoneType>()) {
      c10::optional<torch::Tensor> wt = torch::jit::constant_as<torch::Tensor>(n->input(1));
      if (!wt.has_value()) return Unsupported(n, "non-constant weight");
      bias = w.Initializer(torch::zeros({wt->size(0)}));
    } else {
      absl::StatusOr<std::string> b = in(2);
      if (!b.ok()) return b.status();
      bias = *b;
    }
    IntAttr(w.Add("Gemm", {*x, *weight, bias}, n->output()), "transB", 1);
    return absl::OkStatus();
  }
  if (k == Aten("reshape") || k == Aten("view")) {
    c10::optional<std::vector<int64_t>> shape = IntList(n->input(1));
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    if (!shape) return Unsupported(n, "a non-constant shape");
    w.Add("Reshape", {*x, w.Initializer(torch::tensor(*shape, torch::kLong))}, n->output());
    return absl::OkStatus();
  }
  if (k == Aten("flatten")) {
    c10::optional<int64_t> start = torch::jit::constant_as<int64_t>(n->input(1));
    c10::optional<int64_t> end = torch::jit::constant_as<int64_t>(n->input(2));
    if (!start || !end || *end != -1) return Unsupported(n, "flattening other than [start, -1]");
    absl::StatusOr<std::string> x = in(0);
    if (!x.ok()) return x.status();
    IntAttr(w.Add("Flatten", {*x}, n->output()), "axis", *start);
    return absl::OkStatus();
  }
  return Unsupported(n, "no ONNX translation");
}

}  // namespace

absl::StatusOr<std::string> GraphToOnnx(const std::shared_ptr<torch::jit::Graph>& graph_in, const std::vector<int64_t>& input_shape,
                                        const OnnxExportOptions& options) {
  std::shared_ptr<torch::jit::Graph> graph = graph_in->copy();
  if (graph->inputs().size() != 1 || graph->outputs().size() != 1) {
    return absl::InvalidArgumentError("ONNX export: the graph must have one input and one output");
  }
  if (input_shape.size() != 4) return absl::InvalidArgumentError("ONNX export: the input must be [N, C, H, W]");
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION_2019_3_18);  // IR 5: the IR of opset 10.
  model.set_producer_name("supernet_nas");
  model.set_model_version(1);
  model.set_doc_string(options.doc);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(options.graph_name);

  auto add_io = [&](onnx::ValueInfoProto* info, const std::string& name, const std::vector<int64_t>& dims) {
    info->set_name(name);
    onnx::TypeProto_Tensor* t = info->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (size_t i = 0; i < dims.size(); ++i) {
      onnx::TensorShapeProto_Dimension* d = t->mutable_shape()->add_dim();
      if (i == 0) {
        d->set_dim_param(options.batch_dim);
      } else {
        d->set_dim_value(dims[i]);
      }
    }
  };
  add_io(g->add_input(), options.input_name, input_shape);

  OnnxWriter writer(g);
  writer.Bind(graph->inputs()[0], options.input_name);
  std::vector<Node*> nodes(graph->nodes().begin(), graph->nodes().end());
  for (Node* n : nodes) {
    if (absl::Status s = Convert(n, writer); !s.ok()) return s;
  }
  absl::StatusOr<std::string> result = writer.Tensor(graph->outputs()[0]);
  if (!result.ok()) return result.status();
  // The graph's output gets the public name through an Identity.
  onnx::NodeProto* out = g->add_node();
  out->set_op_type("Identity");
  out->set_name("output");
  out->add_input(*result);
  out->add_output(options.output_name);
  // The output's shape as traced ([N, classes]), with the batch made symbolic.
  std::vector<int64_t> output_shape = {0, 0};
  if (auto type = graph->outputs()[0]->type()->cast<c10::TensorType>()) {
    if (c10::optional<std::vector<int64_t>> sizes = type->sizes().concrete_sizes()) output_shape = *sizes;
  }
  if (output_shape.size() != 2 || output_shape[1] <= 0) {
    return absl::InternalError("ONNX export: the traced output is not [N, classes]");
  }
  add_io(g->add_output(), options.output_name, output_shape);

  try {
    onnx::checker::check_model(model);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("ONNX export: the ONNX checker rejected the model: ", e.what()));
  }
  // Shape inference must find [batch, classes] for the output.
  const onnx::TypeProto_Tensor& inferred = g->output(0).type().tensor_type();
  if (!inferred.has_shape() || inferred.shape().dim_size() != 2 || inferred.shape().dim(0).dim_param() != options.batch_dim) {
    return absl::InternalError(absl::StrCat("ONNX export: shape inference did not find a [", options.batch_dim,
                                            ", classes] output: ", inferred.ShortDebugString()));
  }
  // Intermediate shapes were only needed for the check.
  g->clear_value_info();
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return absl::InternalError("ONNX export: serializing the model failed");
  return bytes;
}

std::string OpenCvOnnxRunner::Describe() { return absl::StrCat("OpenCV ", cv::getVersionString(), " DNN"); }

struct OpenCvOnnxRunner::Impl {
  cv::dnn::Net net;
};

OpenCvOnnxRunner::OpenCvOnnxRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpenCvOnnxRunner::~OpenCvOnnxRunner() = default;

absl::StatusOr<std::unique_ptr<OpenCvOnnxRunner>> OpenCvOnnxRunner::Load(const std::string& model_bytes) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->net = cv::dnn::readNetFromONNX(model_bytes.data(), model_bytes.size());
    impl->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    impl->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("OpenCV DNN could not load the ONNX model: ", e.what()));
  }
  return std::unique_ptr<OpenCvOnnxRunner>(new OpenCvOnnxRunner(std::move(impl)));
}

absl::StatusOr<torch::Tensor> OpenCvOnnxRunner::Run(const torch::Tensor& x_in) {
  const torch::Tensor x = x_in.to(torch::kCPU, torch::kFloat).contiguous();
  if (x.dim() != 4) return absl::InvalidArgumentError("OpenCV DNN: the input must be [N, C, H, W]");
  const int sizes[4] = {static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                        static_cast<int>(x.size(3))};
  try {
    const cv::Mat blob(4, sizes, CV_32F, const_cast<float*>(x.data_ptr<float>()));
    impl_->net.setInput(blob);
    cv::Mat out = impl_->net.forward();
    std::vector<int64_t> shape;
    for (int i = 0; i < out.dims; ++i) shape.push_back(out.size[i]);
    if (!out.isContinuous() || out.type() != CV_32F) out = out.clone();
    return torch::from_blob(out.ptr<float>(), shape, torch::kFloat).clone();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("OpenCV DNN failed to run the ONNX model: ", e.what()));
  }
}

}  // namespace nas::supernet
