#pragma once

// Reads the inputs and outputs of an ONNX model (names, element types,
// shapes) straight from the protobuf wire format. The engine does not expose
// them, and these few fields do not justify a protobuf dependency.

#include <string_view>

#include "serve/tensor.hpp"

namespace skiff::serve {

// Parses a serialized onnx.ModelProto. Graph inputs that are initializers
// (constants, in models of IR version < 4) are left out. Throws skiff::Error
// naming `where` when the bytes are not a model.
Signature readOnnxSignature(std::string_view bytes, const std::string& where);

}  // namespace skiff::serve
