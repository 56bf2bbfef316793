#pragma once

// Feeds one input through every request parser of skiff serve, as the fuzz
// target and the corpus regression test both do. Bad input may only end in
// RequestError or skiff::Error; anything else (a crash, another exception) is a bug.

#include <string_view>

#include "common/error.hpp"
#include "serve/model_version.hpp"
#include "serve/onnx_signature.hpp"
#include "serve/protocol.hpp"

namespace skiff::serve::fuzzing {

inline const Signature& oneInput() {
  static const Signature signature{{{"input", "FP32", {-1, 4}}},
                                   {{"probabilities", "FP32", {-1, 3}}}};
  return signature;
}

inline const Signature& twoInputs() {
  static const Signature signature{{{"a", "FP32", {-1, 2}}, {"b", "FP32", {-1, 2}}},
                                   {{"sum", "FP32", {-1, 2}}}};
  return signature;
}

// Every other type the protocols carry: integers, BOOL, BYTES, FP16.
inline const Signature& typedInputs() {
  static const Signature signature{{{"ids", "INT64", {-1, 3}},
                                    {"mask", "BOOL", {-1, 3}},
                                    {"text", "BYTES", {-1}},
                                    {"half", "FP16", {-1, 2}},
                                    {"small", "UINT8", {-1, 2}}},
                                   {{"label", "INT64", {-1}}}};
  return signature;
}

// Runs the parsers; returns how many accepted the input.
inline int exerciseParsers(std::string_view input) {
  int accepted = 0;
  // The binary extension: the JSON header ends at the first "}\n" when there is one.
  const size_t split = input.find("}\n");
  const std::optional<size_t> headerLengths[] = {
      std::nullopt, split == std::string_view::npos ? std::optional<size_t>(input.size() / 2)
                                                    : std::optional<size_t>(split + 1)};
  for (const Signature* signature : {&oneInput(), &twoInputs(), &typedInputs()}) {
    for (const auto& headerLength : headerLengths) {
      try {
        KServeRequest request = parseKServeInfer(input, headerLength, *signature);
        const std::vector<Tensor> checked = checkInputs(*signature, request.inputs, 8);
        encodeKServeInfer(request, "m", 1, checked);
        ++accepted;
      } catch (const RequestError&) {
      }
    }
    try {
      TfRequest request = parseTfPredict(input, *signature);
      const std::vector<Tensor> checked = checkInputs(*signature, request.inputs, 8);
      encodeTfPredict(request, checked);
      ++accepted;
    } catch (const RequestError&) {
    }
  }
  try {
    readOnnxGraph(input, "fuzz");
    ++accepted;
  } catch (const Error&) {
  }
  return accepted;
}

}  // namespace skiff::serve::fuzzing
