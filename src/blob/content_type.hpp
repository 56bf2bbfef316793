#pragma once

// Content-Type of a blob from its name's extension, as azcopy, the az CLI and
// blobfuse2 set it, so that browsers and CDNs serving the blob get it right.

#include <string>
#include <string_view>

namespace skiff::blob {

// The media type for `name`'s extension from /etc/mime.types (Debian's
// media-types; case-insensitive), "application/octet-stream" when unknown.
std::string contentTypeOf(std::string_view name);

}  // namespace skiff::blob
