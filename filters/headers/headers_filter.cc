// See headers_filter.h.
#include "filters/headers/headers_filter.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <cctype>

#include "config/text.h"
#include "filters/api/caller.h"
#include "filters/headers/headers_service.h"

namespace ciap::headers {
namespace {

// Claim values come from the token's issuer, not from us: percent-encode control bytes (and
// '%' itself) so a claim can never end a header line or smuggle another header.
std::string SafeHeaderValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '%') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace

std::expected<std::vector<HeadersFilter::Part>, std::string> HeadersFilter::ParseValue(
    const std::string& value, std::map<std::string, std::shared_ptr<SecretFile>>& secrets) {
  std::vector<Part> parts;
  auto literal = [&](std::string_view text) {
    if (text.empty()) return;
    if (parts.empty() || parts.back().kind != Part::Kind::kLiteral) parts.emplace_back();
    parts.back().text.append(text);
  };
  std::size_t i = 0;
  while (i < value.size()) {
    if (value.compare(i, 3, "$${") == 0) {
      literal("${");
      i += 3;
      continue;
    }
    bool secret = value.compare(i, 9, "${secret:") == 0;
    bool claim = value.compare(i, 8, "${claim:") == 0;
    if (!secret && !claim) {
      literal(std::string_view(value).substr(i, 1));
      ++i;
      continue;
    }
    std::size_t start = i + (secret ? 9 : 8);
    std::size_t close = value.find('}', start);
    if (close == std::string::npos || close == start) {
      return std::unexpected("unterminated or empty ${" + std::string(secret ? "secret" : "claim") +
                             ":} in a header value");
    }
    Part part;
    part.kind = secret ? Part::Kind::kSecret : Part::Kind::kClaim;
    part.text = value.substr(start, close - start);
    if (secret) {
      auto& file = secrets[part.text];
      if (!file) {
        file = std::make_shared<SecretFile>(part.text);
        std::string error;
        if (!file->Load(&error)) return std::unexpected(error);
      }
      part.secret = file;
    }
    parts.push_back(std::move(part));
    i = close + 1;
  }
  return parts;
}

std::expected<std::unique_ptr<Filter>, std::string> HeadersFilter::Create(
    const config::ListenerConfig& listener, const FilterEnv& env) {
  auto filter = std::make_unique<HeadersFilter>();
  const auto* state = static_cast<const HeadersState*>(env.prepared);
  const std::vector<std::shared_ptr<CredentialSource>>* sources = nullptr;
  if (state != nullptr) {
    auto it = state->credentials.find(listener.name);
    if (it != state->credentials.end()) sources = &it->second;
  }
  for (const config::ListenerConfig& any : env.config.listeners) {
    for (const config::RouteConfig& route : any.routes) {
      if (!route.request_headers.assertion) continue;
      std::string name = config::LowerCopy(route.request_headers.assertion->header);
      if (std::find(filter->assertion_headers_.begin(), filter->assertion_headers_.end(), name) ==
          filter->assertion_headers_.end()) {
        filter->assertion_headers_.push_back(std::move(name));
      }
    }
  }
  std::map<std::string, std::shared_ptr<SecretFile>> secrets;  // one reader per file
  for (std::size_t index = 0; index < listener.routes.size(); ++index) {
    const config::RouteConfig& route = listener.routes[index];
    RouteOps ops;
    for (const std::string& name : route.request_headers.remove)
      ops.remove.push_back(config::LowerCopy(name));
    for (const config::HeaderValue& header : route.request_headers.set) {
      auto parts = ParseValue(header.value, secrets);
      if (!parts) {
        return std::unexpected("listener " + listener.name + ", route " + route.name + ", header " +
                               header.name + ": " + parts.error());
      }
      ops.set.push_back(SetHeader{header.name, std::move(*parts)});
    }
    ops.identity = route.request_headers.identity;
    // Offline (`ciap check`) there are no keys and no sources: the filter is not run there.
    if (route.request_headers.assertion && env.config.assertion && state && state->keys) {
      ops.assertion = std::make_unique<AssertionIssuer>(
          *env.config.assertion, *route.request_headers.assertion, route.name, state->keys);
    }
    if (route.credentials && sources != nullptr && index < sources->size()) {
      ops.credentials = (*sources)[index];
    }
    filter->routes_.push_back(std::move(ops));
  }
  return filter;
}

Decision HeadersFilter::OnRequest(Request& request, RequestContext& context) const {
  auto& fields = request.headers;
  if (context.route_index >= routes_.size()) return Decision::Continue();
  for (const std::string& name : assertion_headers_) fields.erase(name);
  const RouteOps& ops = routes_[context.route_index];
  for (const std::string& name : ops.remove) fields.erase(name);
  for (const SetHeader& header : ops.set) {
    if (header.parts.size() == 1 && header.parts[0].kind == Part::Kind::kLiteral) {
      fields.set(header.name, header.parts[0].text);
      continue;
    }
    std::string value;
    for (const Part& part : header.parts) {
      switch (part.kind) {
        case Part::Kind::kLiteral:
          value.append(part.text);
          break;
        case Part::Kind::kSecret: {
          std::shared_ptr<const std::string> secret = part.secret->Value();
          // Never forward a request without the credential the route promised.
          if (!secret) {
            return Decision::Respond(boost::beast::http::status::service_unavailable,
                                     "secret_unavailable");
          }
          value.append(*secret);
          break;
        }
        case Part::Kind::kClaim: {
          const boost::json::value* claim =
              context.caller ? context.caller->claims().if_contains(part.text) : nullptr;
          if (claim == nullptr) break;
          value.append(claim->is_string() ? SafeHeaderValue(claim->as_string())
                                          : SafeHeaderValue(boost::json::serialize(*claim)));
          break;
        }
      }
    }
    fields.set(header.name, value);
  }
  if (ops.identity && context.caller) {
    fields.set("x-ciap-provider", SafeHeaderValue(context.caller->provider));
    fields.set("x-ciap-subject", SafeHeaderValue(context.caller->subject));
    if (!context.groups.empty()) {
      std::string groups;
      for (std::string_view group : context.groups) {
        if (!groups.empty()) groups.push_back(',');
        groups.append(group);
      }
      fields.set("x-ciap-groups", SafeHeaderValue(groups));
    }
  }
  if (ops.assertion && context.caller) {
    std::shared_ptr<const std::string> jws = ops.assertion->For(context.caller, context.groups);
    if (!jws) {
      return Decision::Respond(boost::beast::http::status::service_unavailable,
                               "assertion_unavailable");
    }
    fields.set(ops.assertion->header(), *jws);
  }
  if (ops.credentials) {
    std::shared_ptr<const std::string> value = ops.credentials->Current();
    if (!value) return Decision::Suspend();  // the first mint, or the credential ran out
    fields.set(ops.credentials->config().header, *value);
  }
  return Decision::Continue();
}

boost::asio::awaitable<Decision> HeadersFilter::OnRequestAsync(Request& request,
                                                               RequestContext& context) const {
  const RouteOps& ops = routes_[context.route_index];
  std::shared_ptr<const std::string> value = co_await ops.credentials->Obtain();
  // Never forward a request without the credential the route promised.
  if (!value) {
    co_return Decision::Respond(boost::beast::http::status::service_unavailable,
                                "credentials_unavailable");
  }
  request.headers.set(ops.credentials->config().header, *value);
  co_return Decision::Continue();
}

}  // namespace ciap::headers
