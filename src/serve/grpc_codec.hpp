#pragma once

// Tensors to and from the messages of KServe v2 over gRPC. Pure functions:
// every malformed message becomes a RequestError(400), never a crash.

#include <vector>

#include "serve/request_error.hpp"
#include "serve/tensor.hpp"
#include "skiff_serve_proto/grpc_predict_v2.pb.h"

namespace skiff::serve {

// The request's inputs, from typed `contents` or from `raw_input_contents`
// (one entry per input, as the binary tensor extension lays elements out).
std::vector<Tensor> decodeInputs(const inference::ModelInferRequest& request);

// Appends `outputs` to `response`: as raw_output_contents when `raw`, or when
// an output has a type without a typed field (FP16); else as typed contents.
void encodeOutputs(const std::vector<Tensor>& outputs, bool raw,
                   inference::ModelInferResponse& response);

// Tensors back from a response, typed or raw (for clients and tests).
std::vector<Tensor> decodeOutputs(const inference::ModelInferResponse& response);

}  // namespace skiff::serve
