#pragma once

#include "http/request_error.hpp"

namespace skiff::serve {

using http::RequestError;

}  // namespace skiff::serve
