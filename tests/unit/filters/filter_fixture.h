// What the filter unit tests share: a config parsed from YAML text, a filter built from it as
// the chain builds it (through the registration table, with the filter's service prepared
// offline), and one request with its context.
#pragma once

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <boost/beast/http/fields.hpp>
#include <memory>
#include <string>

#include "config/loader.h"
#include "filters/api/caller.h"
#include "filters/api/chain.h"
#include "filters/registry.h"

namespace ciap::testing {

// The registration row of `name`.
inline const FilterRegistration& Registration(std::string_view name) {
  for (const FilterRegistration& r : FilterRegistry()) {
    if (r.name == name) return r;
  }
  ADD_FAILURE() << "no filter " << name;
  std::abort();
}

// One filter of one listener, built from a config as `ciap run` builds it.
class BuiltFilter {
 public:
  BuiltFilter(std::string_view name, const std::string& yaml, OfflineInputs offline = {})
      : offline_(std::move(offline)) {
    auto parsed = config::ParseConfig(
        yaml, "test.yaml", [](const std::string&) { return std::optional<std::string>(); });
    if (!parsed) {
      ADD_FAILURE() << parsed.error()[0].ToString();
      return;
    }
    config_ = *parsed;
    const FilterRegistration& registration = Registration(name);
    if (registration.make_service) {
      service_ = registration.make_service(ServiceEnv{.metrics = &registry_, .offline = &offline_});
      auto prepared = service_->Prepare(*config_);
      if (!prepared) {
        ADD_FAILURE() << prepared.error();
        return;
      }
      prepared_ = *prepared;
    }
    auto filter = registration.build(config_->listeners.front(),
                                     FilterEnv{*config_, registry_, prepared_.get()});
    if (!filter) {
      ADD_FAILURE() << filter.error();
      return;
    }
    filter_ = std::move(*filter);
  }

  const Filter& operator*() const { return *filter_; }
  const Filter* operator->() const { return filter_.get(); }
  const config::Config& config() const { return *config_; }
  prometheus::Registry& registry() { return registry_; }

 private:
  OfflineInputs offline_;
  prometheus::Registry registry_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<FilterService> service_;
  std::shared_ptr<const PreparedState> prepared_;
  std::unique_ptr<Filter> filter_;
};

// A request on route `route_index` of the first listener.
struct TestRequest {
  explicit TestRequest(std::size_t route_index, std::string path = "/x") : path(std::move(path)) {
    context.listener = "l";
    context.route_index = route_index;
    context.request_id = "test";
  }
  Request request() { return Request{headers, method, host, path, query}; }

  boost::beast::http::fields headers;
  std::string method = "GET";
  std::string host = "ci.test";
  std::string path;
  std::string query;
  RequestContext context;
};

// A caller as the identity filter would establish it.
inline std::shared_ptr<const Caller> MakeCaller(std::string provider, std::string_view claims) {
  auto document = jose::ParseStrictJsonDocument(claims);
  EXPECT_TRUE(document.has_value()) << claims;
  auto caller = std::make_shared<Caller>();
  caller->provider = std::move(provider);
  caller->claims_document = std::move(*document);
  if (const auto* sub = caller->claims().if_contains("sub"); sub && sub->is_string()) {
    caller->subject = std::string(sub->as_string());
  }
  return caller;
}

}  // namespace ciap::testing
