#pragma once

// The part of ONNX Runtime's C API that skiff calls, declared here because
// onnxruntime-node ships the library without its header and Debian has no
// onnxruntime package. The reference for every type and for the order of
// the function table is include/onnxruntime/core/session/onnxruntime_c_api.h
// in the microsoft/onnxruntime repository. OrtApi only ever grows at its end,
// so a table declared up to the last entry skiff calls fits every library
// that answers GetApi(kOrtApiVersion); the static_asserts below pin each
// entry's slot to the header's.

#include <cstddef>
#include <cstdint>

extern "C" {

// Opaque handles.
struct OrtEnv;
struct OrtStatus;
struct OrtMemoryInfo;
struct OrtSession;
struct OrtValue;
struct OrtRunOptions;
struct OrtTypeInfo;
struct OrtTensorTypeAndShapeInfo;
struct OrtSessionOptions;
struct OrtThreadingOptions;
struct OrtAllocator;  // used through the API only, never its members
struct OrtCUDAProviderOptionsV2;

enum ONNXTensorElementDataType {
  ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED = 0,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 = 2,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8 = 3,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16 = 4,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16 = 5,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 = 6,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 = 7,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING = 8,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL = 9,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 = 10,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE = 11,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32 = 12,
  ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64 = 13,
};

enum ONNXType {
  ONNX_TYPE_UNKNOWN = 0,
  ONNX_TYPE_TENSOR = 1,
  ONNX_TYPE_SEQUENCE = 2,
  ONNX_TYPE_MAP = 3,
  ONNX_TYPE_OPAQUE = 4,
  ONNX_TYPE_SPARSETENSOR = 5,
  ONNX_TYPE_OPTIONAL = 6,
};

enum OrtLoggingLevel {
  ORT_LOGGING_LEVEL_VERBOSE = 0,
  ORT_LOGGING_LEVEL_INFO = 1,
  ORT_LOGGING_LEVEL_WARNING = 2,
  ORT_LOGGING_LEVEL_ERROR = 3,
  ORT_LOGGING_LEVEL_FATAL = 4,
};

enum OrtErrorCode {
  ORT_OK = 0,
  ORT_FAIL = 1,
  ORT_INVALID_ARGUMENT = 2,
  ORT_NO_SUCHFILE = 3,
  ORT_NO_MODEL = 4,
  ORT_ENGINE_ERROR = 5,
  ORT_RUNTIME_EXCEPTION = 6,
  ORT_INVALID_PROTOBUF = 7,
  ORT_MODEL_LOADED = 8,
  ORT_NOT_IMPLEMENTED = 9,
  ORT_INVALID_GRAPH = 10,
  ORT_EP_FAIL = 11,
};

enum GraphOptimizationLevel {
  ORT_DISABLE_ALL = 0,
  ORT_ENABLE_BASIC = 1,
  ORT_ENABLE_EXTENDED = 2,
  ORT_ENABLE_ALL = 99,
};

enum ExecutionMode { ORT_SEQUENTIAL = 0, ORT_PARALLEL = 1 };
enum OrtAllocatorType { OrtDeviceAllocator = 0, OrtArenaAllocator = 1 };
enum OrtMemType { OrtMemTypeDefault = 0 };

using OrtLoggingFunction = void (*)(void* param, OrtLoggingLevel severity, const char* category,
                                    const char* log_id, const char* code_location,
                                    const char* message);

// Version 15 (ONNX Runtime 1.15) holds every entry skiff calls.
inline constexpr uint32_t kOrtApiVersion = 15;

struct OrtApi {
  const void* unused_0;
  OrtErrorCode (*GetErrorCode)(const OrtStatus* status);
  const char* (*GetErrorMessage)(const OrtStatus* status);
  const void* unused_3_6[4];  // entries skiff does not call
  OrtStatus* (*CreateSession)(const OrtEnv* env, const char* model_path,
                              const OrtSessionOptions* options, OrtSession** out);
  const void* unused_8;
  OrtStatus* (*Run)(OrtSession* session, const OrtRunOptions* run_options,
                    const char* const* input_names, const OrtValue* const* inputs,
                    size_t input_count, const char* const* output_names, size_t output_count,
                    OrtValue** outputs);
  OrtStatus* (*CreateSessionOptions)(OrtSessionOptions** out);
  const void* unused_11_12[2];  // entries skiff does not call
  OrtStatus* (*SetSessionExecutionMode)(OrtSessionOptions* options, ExecutionMode mode);
  const void* unused_14_17[4];  // entries skiff does not call
  OrtStatus* (*EnableCpuMemArena)(OrtSessionOptions* options);
  OrtStatus* (*DisableCpuMemArena)(OrtSessionOptions* options);
  const void* unused_20_22[3];  // entries skiff does not call
  OrtStatus* (*SetSessionGraphOptimizationLevel)(OrtSessionOptions* options,
                                                 GraphOptimizationLevel level);
  OrtStatus* (*SetIntraOpNumThreads)(OrtSessionOptions* options, int threads);
  OrtStatus* (*SetInterOpNumThreads)(OrtSessionOptions* options, int threads);
  const void* unused_26_29[4];  // entries skiff does not call
  OrtStatus* (*SessionGetInputCount)(const OrtSession* session, size_t* out);
  OrtStatus* (*SessionGetOutputCount)(const OrtSession* session, size_t* out);
  const void* unused_32;
  OrtStatus* (*SessionGetInputTypeInfo)(const OrtSession* session, size_t index, OrtTypeInfo** out);
  OrtStatus* (*SessionGetOutputTypeInfo)(const OrtSession* session, size_t index,
                                         OrtTypeInfo** out);
  const void* unused_35_47[13];  // entries skiff does not call
  OrtStatus* (*CreateTensorAsOrtValue)(OrtAllocator* allocator, const int64_t* shape, size_t rank,
                                       ONNXTensorElementDataType type, OrtValue** out);
  OrtStatus* (*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo* info, void* data, size_t bytes,
                                               const int64_t* shape, size_t rank,
                                               ONNXTensorElementDataType type, OrtValue** out);
  const void* unused_50;
  OrtStatus* (*GetTensorMutableData)(OrtValue* value, void** out);
  const void* unused_52;
  OrtStatus* (*GetStringTensorDataLength)(const OrtValue* value, size_t* bytes);
  OrtStatus* (*GetStringTensorContent)(const OrtValue* value, void* content, size_t bytes,
                                       size_t* offsets, size_t count);
  const void* unused_55;
  OrtStatus* (*GetOnnxTypeFromTypeInfo)(const OrtTypeInfo* info, ONNXType* out);
  const void* unused_57_59[3];  // entries skiff does not call
  OrtStatus* (*GetTensorElementType)(const OrtTensorTypeAndShapeInfo* info,
                                     ONNXTensorElementDataType* out);
  OrtStatus* (*GetDimensionsCount)(const OrtTensorTypeAndShapeInfo* info, size_t* out);
  OrtStatus* (*GetDimensions)(const OrtTensorTypeAndShapeInfo* info, int64_t* dimensions,
                              size_t rank);
  const void* unused_63;
  OrtStatus* (*GetTensorShapeElementCount)(const OrtTensorTypeAndShapeInfo* info, size_t* out);
  OrtStatus* (*GetTensorTypeAndShape)(const OrtValue* value, OrtTensorTypeAndShapeInfo** out);
  const void* unused_66_68[3];  // entries skiff does not call
  OrtStatus* (*CreateCpuMemoryInfo)(OrtAllocatorType type, OrtMemType memory, OrtMemoryInfo** out);
  const void* unused_70_77[8];  // entries skiff does not call
  OrtStatus* (*GetAllocatorWithDefaultOptions)(OrtAllocator** out);
  const void* unused_79_91[13];  // entries skiff does not call
  void (*ReleaseEnv)(OrtEnv* object);
  void (*ReleaseStatus)(OrtStatus* object);
  void (*ReleaseMemoryInfo)(OrtMemoryInfo* object);
  void (*ReleaseSession)(OrtSession* object);
  void (*ReleaseValue)(OrtValue* object);
  const void* unused_97;
  void (*ReleaseTypeInfo)(OrtTypeInfo* object);
  void (*ReleaseTensorTypeAndShapeInfo)(OrtTensorTypeAndShapeInfo* object);
  void (*ReleaseSessionOptions)(OrtSessionOptions* object);
  const void* unused_101_119[19];  // entries skiff does not call
  OrtStatus* (*DisablePerSessionThreads)(OrtSessionOptions* options);
  OrtStatus* (*CreateThreadingOptions)(OrtThreadingOptions** out);
  void (*ReleaseThreadingOptions)(OrtThreadingOptions* object);
  const void* unused_123_129[7];  // entries skiff does not call
  OrtStatus* (*AddSessionConfigEntry)(OrtSessionOptions* options, const char* key,
                                      const char* value);
  const void* unused_131_146[16];  // entries skiff does not call
  OrtStatus* (*SetGlobalIntraOpNumThreads)(OrtThreadingOptions* options, int threads);
  OrtStatus* (*SetGlobalInterOpNumThreads)(OrtThreadingOptions* options, int threads);
  OrtStatus* (*SetGlobalSpinControl)(OrtThreadingOptions* options, int allow_spinning);
  const void* unused_150;
  OrtStatus* (*CreateEnvWithCustomLoggerAndGlobalThreadPools)(
      OrtLoggingFunction log, void* log_param, OrtLoggingLevel level, const char* log_id,
      const OrtThreadingOptions* threading, OrtEnv** out);
  const void* unused_152_203[52];  // entries skiff does not call
  OrtStatus* (*SessionOptionsAppendExecutionProvider_CUDA_V2)(OrtSessionOptions* options,
                                                              const OrtCUDAProviderOptionsV2* cuda);
  OrtStatus* (*CreateCUDAProviderOptions)(OrtCUDAProviderOptionsV2** out);
  OrtStatus* (*UpdateCUDAProviderOptions)(OrtCUDAProviderOptionsV2* cuda, const char* const* keys,
                                          const char* const* values, size_t count);
  const void* unused_207;
  void (*ReleaseCUDAProviderOptions)(OrtCUDAProviderOptionsV2* object);
  const void* unused_209_251[43];  // entries skiff does not call
  OrtStatus* (*GetResizedStringTensorElementBuffer)(OrtValue* value, size_t index, size_t bytes,
                                                    char** buffer);
};

struct OrtApiBase {
  const OrtApi* (*GetApi)(uint32_t version);
  const char* (*GetVersionString)();
};

}  // extern "C"

static_assert(offsetof(OrtApi, GetErrorCode) == 1 * sizeof(void*));
static_assert(offsetof(OrtApi, GetErrorMessage) == 2 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateSession) == 7 * sizeof(void*));
static_assert(offsetof(OrtApi, Run) == 9 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateSessionOptions) == 10 * sizeof(void*));
static_assert(offsetof(OrtApi, SetSessionExecutionMode) == 13 * sizeof(void*));
static_assert(offsetof(OrtApi, EnableCpuMemArena) == 18 * sizeof(void*));
static_assert(offsetof(OrtApi, DisableCpuMemArena) == 19 * sizeof(void*));
static_assert(offsetof(OrtApi, SetSessionGraphOptimizationLevel) == 23 * sizeof(void*));
static_assert(offsetof(OrtApi, SetIntraOpNumThreads) == 24 * sizeof(void*));
static_assert(offsetof(OrtApi, SetInterOpNumThreads) == 25 * sizeof(void*));
static_assert(offsetof(OrtApi, SessionGetInputCount) == 30 * sizeof(void*));
static_assert(offsetof(OrtApi, SessionGetOutputCount) == 31 * sizeof(void*));
static_assert(offsetof(OrtApi, SessionGetInputTypeInfo) == 33 * sizeof(void*));
static_assert(offsetof(OrtApi, SessionGetOutputTypeInfo) == 34 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateTensorAsOrtValue) == 48 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateTensorWithDataAsOrtValue) == 49 * sizeof(void*));
static_assert(offsetof(OrtApi, GetTensorMutableData) == 51 * sizeof(void*));
static_assert(offsetof(OrtApi, GetStringTensorDataLength) == 53 * sizeof(void*));
static_assert(offsetof(OrtApi, GetStringTensorContent) == 54 * sizeof(void*));
static_assert(offsetof(OrtApi, GetOnnxTypeFromTypeInfo) == 56 * sizeof(void*));
static_assert(offsetof(OrtApi, GetTensorElementType) == 60 * sizeof(void*));
static_assert(offsetof(OrtApi, GetDimensionsCount) == 61 * sizeof(void*));
static_assert(offsetof(OrtApi, GetDimensions) == 62 * sizeof(void*));
static_assert(offsetof(OrtApi, GetTensorShapeElementCount) == 64 * sizeof(void*));
static_assert(offsetof(OrtApi, GetTensorTypeAndShape) == 65 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateCpuMemoryInfo) == 69 * sizeof(void*));
static_assert(offsetof(OrtApi, GetAllocatorWithDefaultOptions) == 78 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseEnv) == 92 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseStatus) == 93 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseMemoryInfo) == 94 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseSession) == 95 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseValue) == 96 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseTypeInfo) == 98 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseTensorTypeAndShapeInfo) == 99 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseSessionOptions) == 100 * sizeof(void*));
static_assert(offsetof(OrtApi, DisablePerSessionThreads) == 120 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateThreadingOptions) == 121 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseThreadingOptions) == 122 * sizeof(void*));
static_assert(offsetof(OrtApi, AddSessionConfigEntry) == 130 * sizeof(void*));
static_assert(offsetof(OrtApi, SetGlobalIntraOpNumThreads) == 147 * sizeof(void*));
static_assert(offsetof(OrtApi, SetGlobalInterOpNumThreads) == 148 * sizeof(void*));
static_assert(offsetof(OrtApi, SetGlobalSpinControl) == 149 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateEnvWithCustomLoggerAndGlobalThreadPools) ==
              151 * sizeof(void*));
static_assert(offsetof(OrtApi, SessionOptionsAppendExecutionProvider_CUDA_V2) ==
              204 * sizeof(void*));
static_assert(offsetof(OrtApi, CreateCUDAProviderOptions) == 205 * sizeof(void*));
static_assert(offsetof(OrtApi, UpdateCUDAProviderOptions) == 206 * sizeof(void*));
static_assert(offsetof(OrtApi, ReleaseCUDAProviderOptions) == 208 * sizeof(void*));
static_assert(offsetof(OrtApi, GetResizedStringTensorElementBuffer) == 252 * sizeof(void*));
