#pragma once

// Reads the inputs and outputs of an ONNX model (names, element types,
// shapes) straight from the protobuf wire format. The engine does not expose
// them, and these few fields do not justify a protobuf dependency.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "serve/tensor.hpp"

namespace skiff::serve {

// A node of the main graph, for errors that name the operator and node.
struct OnnxNode {
  std::string name;
  std::string opType;
  std::string domain;  // "" is the default domain, ai.onnx
};

struct OnnxGraph {
  Signature signature;
  std::vector<OnnxNode> nodes;
  std::map<std::string, int64_t> opsets;  // domain ("" for ai.onnx) -> opset version
};

// Parses a serialized onnx.ModelProto. Graph inputs that are initializers
// (constants, in models of IR version < 4) are left out. Throws skiff::Error
// naming `where` when the bytes are not a model.
OnnxGraph readOnnxGraph(std::string_view bytes, const std::string& where);
Signature readOnnxSignature(std::string_view bytes, const std::string& where);

}  // namespace skiff::serve
