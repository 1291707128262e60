// NetGraph -> onnx::ModelProto (Debian's libonnx), checked, serialised.
#include "l2face/deploy/onnx_writer.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <stdexcept>

namespace l2face::deploy {
namespace {

void setAttribute(::onnx::NodeProto& n, const Attribute& a) {
  ::onnx::AttributeProto* p = n.add_attribute();
  p->set_name(a.name);
  switch (a.kind) {
    case Attribute::Kind::kInt:
      p->set_type(::onnx::AttributeProto::INT);
      p->set_i(a.i);
      break;
    case Attribute::Kind::kInts:
      p->set_type(::onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
      break;
    case Attribute::Kind::kFloat:
      p->set_type(::onnx::AttributeProto::FLOAT);
      p->set_f(a.f);
      break;
  }
}

void addNode(::onnx::GraphProto& g, const Node& node) {
  ::onnx::NodeProto* n = g.add_node();
  n->set_op_type(node.op);
  n->set_name(node.name);
  if (!node.module.empty()) n->set_doc_string(node.module);
  for (const std::string& i : node.inputs) n->add_input(i);
  for (const std::string& o : node.outputs) n->add_output(o);
  for (const Attribute& a : node.attributes) setAttribute(*n, a);
}

// Float32 little-endian raw data (x86-64 and aarch64 hosts are little-endian).
void addInitializer(::onnx::GraphProto& g, const Initializer& init) {
  ::onnx::TensorProto* t = g.add_initializer();
  t->set_name(init.name);
  t->set_data_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : init.weight.dims) t->add_dims(d);
  std::string raw(init.weight.values.size() * sizeof(float), '\0');
  if (!raw.empty()) std::memcpy(raw.data(), init.weight.values.data(), raw.size());
  t->set_raw_data(std::move(raw));
}

// A float32 tensor value; dims of -1 are the dynamic batch "N".
void setValue(::onnx::ValueInfoProto& v, const char* name, const std::vector<int64_t>& dims) {
  v.set_name(name);
  ::onnx::TypeProto_Tensor* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    ::onnx::TensorShapeProto_Dimension* dim = t->mutable_shape()->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

::onnx::ModelProto buildModel(const NetGraph& graph, const ModelInfo& info) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("l2face");
  m.set_doc_string(info.doc);
  ::onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(NetGraph::kOpset);
  for (const auto& [key, value] : info.metadata) {
    ::onnx::StringStringEntryProto* e = m.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
  }
  ::onnx::GraphProto* g = m.mutable_graph();
  g->set_name(info.graph_name);
  setValue(*g->add_input(), NetGraph::inputName(), graph.inputDims());
  setValue(*g->add_output(), NetGraph::outputName(), {-1, graph.outputDim()});
  for (const Node& n : graph.nodes()) addNode(*g, n);
  for (const Initializer& i : graph.initializers()) addInitializer(*g, i);
  return m;
}

// The checker, then shape inference that throws on any node's error or a type mismatch; the
// declared output N × d must agree with the inferred one.
void check(::onnx::ModelProto& m) {
  try {
    ::onnx::checker::check_model(m);
    ::onnx::shape_inference::InferShapes(m, ::onnx::OpSchemaRegistry::Instance(),
                                         ::onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("the ONNX model fails its check: ") + e.what());
  }
  m.mutable_graph()->clear_value_info();  // inferred shapes of inner values: not kept
}

}  // namespace

std::string onnxModelBytes(const NetGraph& graph, const ModelInfo& info) {
  ::onnx::ModelProto m = buildModel(graph, info);
  check(m);
  std::string bytes;
  if (!m.SerializeToString(&bytes)) {
    throw std::runtime_error("cannot serialise the ONNX model (over protobuf's 2 GiB limit?)");
  }
  return bytes;
}

}  // namespace l2face::deploy
