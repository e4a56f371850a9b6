// What the HTTP/2 codec (h2_connection.h, towards clients) and the HTTP/2 upstream client
// (h2_upstream.h) share around libnghttp2.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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

// What both sides set up a session with: callbacks for a header field, a whole frame, DATA
// payload and a stream's end, and options where flow-control credit goes back only when the
// application says so (nghttp2_session_consume: as the other side takes the bytes), so a
// stream holds at most its window of unread body.
struct Http2Setup {
  std::unique_ptr<nghttp2_session_callbacks, Http2CallbacksDeleter> callbacks;
  std::unique_ptr<nghttp2_option, Http2OptionDeleter> option;
};
inline Http2Setup NewHttp2Setup(nghttp2_on_header_callback on_header,
                                nghttp2_on_frame_recv_callback on_frame,
                                nghttp2_on_data_chunk_recv_callback on_data,
                                nghttp2_on_stream_close_callback on_close) {
  Http2Setup setup;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  setup.callbacks.reset(callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  setup.option.reset(option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  return setup;
}

// Fields HPACK must not put in its dynamic table (RFC 7541 7.1.3): credentials, which must not
// share a compression context with what others send, and a request id, which is new in every
// message: indexing it would only evict useful entries and cost both ends an insertion and an
// eviction per message. Names are lower case, as HTTP/2 sends them.
inline bool NeverIndexed(std::string_view name) {
  return name == "x-request-id" || name == "authorization" || name == "proxy-authorization" ||
         name == "cookie" || name == "set-cookie";
}

// nghttp2's view of the first `count` fields of a header list: pointers into `fields`, which
// must outlive it (nghttp2 copies them when a frame is submitted).
inline std::vector<nghttp2_nv> NameValues(std::vector<std::pair<std::string, std::string>>& fields,
                                          std::size_t count) {
  std::vector<nghttp2_nv> list;
  list.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto& [name, value] = fields[i];
    const uint8_t flags = NeverIndexed(name) ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
    list.push_back({reinterpret_cast<uint8_t*>(name.data()),
                    reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(), flags});
  }
  return list;
}

}  // namespace ciap
