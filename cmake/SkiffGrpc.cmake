# gRPC services from .proto files (Debian's protobuf-compiler-grpc and
# libgrpc++-dev). skiff_grpc_library(NAME a.proto b.proto) makes a static
# library NAME of the generated messages and stubs; include them as
# "NAME/a.pb.h" and "NAME/a.grpc.pb.h". The generated headers come in as
# SYSTEM includes: protoc's output is not held to the project's warnings.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(SKIFF_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

function(skiff_grpc_library name)
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/generated")
  set(sources)
  foreach(proto IN LISTS ARGN)
    get_filename_component(proto_path "${proto}" ABSOLUTE)
    get_filename_component(proto_dir "${proto_path}" DIRECTORY)
    get_filename_component(stem "${proto}" NAME_WE)
    set(prefix "${out_dir}/${name}/${stem}")
    add_custom_command(
      OUTPUT "${prefix}.pb.cc" "${prefix}.pb.h" "${prefix}.grpc.pb.cc" "${prefix}.grpc.pb.h"
      COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}/${name}"
      COMMAND protobuf::protoc --proto_path=${proto_dir} --cpp_out=${out_dir}/${name}
              --grpc_out=${out_dir}/${name} --plugin=protoc-gen-grpc=${SKIFF_GRPC_CPP_PLUGIN}
              "${proto_path}"
      DEPENDS "${proto_path}" protobuf::protoc
      COMMENT "Generating gRPC code from ${proto}")
    list(APPEND sources "${prefix}.pb.cc" "${prefix}.grpc.pb.cc")
  endforeach()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} SYSTEM PUBLIC "${out_dir}")
  target_link_libraries(${name} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
endfunction()
