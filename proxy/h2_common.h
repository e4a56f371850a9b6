// What the HTTP/2 codec (h2_connection.h, towards clients) and the HTTP/2 upstream client
// (h2_upstream.h) share around libnghttp2.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ciap {

struct Http2CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* callbacks) const {
    nghttp2_session_callbacks_del(callbacks);
  }
};
struct Http2OptionDeleter {
  void operator()(nghttp2_option* option) const { nghttp2_option_del(option); }
};

// nghttp2's view of the first `count` fields of a header list: pointers into `fields`, which
// must outlive it (nghttp2 copies them when a frame is submitted).
inline std::vector<nghttp2_nv> NameValues(std::vector<std::pair<std::string, std::string>>& fields,
                                          std::size_t count) {
  std::vector<nghttp2_nv> list;
  list.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto& [name, value] = fields[i];
    list.push_back({reinterpret_cast<uint8_t*>(name.data()),
                    reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE});
  }
  return list;
}

}  // namespace ciap
