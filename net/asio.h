// The one place that pulls in Asio, Beast and Asio's OpenSSL layer, with the aliases ciap uses.
// Kept in one header so that the precompiled header covers every data-plane translation unit.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ciap {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

// Expected conditions (EOF, timeouts, resets) come back as values, not exceptions.
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}  // namespace ciap
