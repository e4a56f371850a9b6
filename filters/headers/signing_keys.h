// ciap's assertion signing keys (top-level `assertion.signing_keys`): PEM files of EC P-256 or
// Ed25519 private keys. The first key signs; every key is published in the JWKS, so an upstream
// keeps verifying assertions signed by a key that is still listed after the next one took over.
//
// Each file is watched like a secret file (checked at most once a second, re-read when it
// changes), so replacing a key file rotates the key without a restart; a file that becomes
// unusable keeps the keys read last (and is logged), rather than stop signing. Editing the list
// itself is a config reload. Thread-safe: readers take the current ring without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/headers/secret_file.h"
#include "jose/jws_signer.h"

namespace ciap::headers {

class SigningKeys {
 public:
  // The keys as the files hold them now; an error names the file and what is wrong with it.
  struct Ring {
    std::vector<jose::JwsSigner> signers;  // signers[0] signs
    std::string jwks;                      // {"keys":[...]}, every key, in the listed order
    uint64_t generation = 0;               // changes whenever the keys do
  };

  static std::expected<std::shared_ptr<SigningKeys>, std::string> Load(
      const std::vector<std::string>& paths);

  // The current keys, re-read first if a file changed (at most once a second). Any thread.
  std::shared_ptr<const Ring> Current();

  explicit SigningKeys(std::vector<std::shared_ptr<SecretFile>> files) : files_(std::move(files)) {}

 private:
  // The ring made from the files' current contents, or an error naming the file.
  std::expected<std::shared_ptr<const Ring>, std::string> Build(
      const std::vector<std::shared_ptr<const std::string>>& contents, uint64_t generation) const;

  std::vector<std::shared_ptr<SecretFile>> files_;
  static constexpr int64_t kCheckIntervalMs = 1000;
  std::atomic<std::shared_ptr<const Ring>> ring_;
  std::atomic<int64_t> next_check_ms_{0};  // steady clock
  std::mutex rebuild_mutex_;
  std::vector<std::shared_ptr<const std::string>> built_from_;  // under rebuild_mutex_
};

}  // namespace ciap::headers
