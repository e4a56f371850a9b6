// See signing_keys.h.
#include "filters/headers/signing_keys.h"

#include <boost/json.hpp>
#include <chrono>

#include "net/log.h"

namespace ciap::headers {

std::expected<std::shared_ptr<SigningKeys>, std::string> SigningKeys::Load(
    const std::vector<std::string>& paths) {
  std::vector<std::shared_ptr<SecretFile>> files;
  std::vector<std::shared_ptr<const std::string>> contents;
  for (const std::string& path : paths) {
    auto file = std::make_shared<SecretFile>(path, /*multi_line=*/true);
    std::string error;
    if (!file->Load(&error)) return std::unexpected("assertion signing key: " + error);
    contents.push_back(file->Value());
    files.push_back(std::move(file));
  }
  auto keys = std::make_shared<SigningKeys>(std::move(files));
  auto ring = keys->Build(contents, 1);
  if (!ring) return std::unexpected(ring.error());
  keys->ring_.store(*ring);
  keys->built_from_ = std::move(contents);
  return keys;
}

std::expected<std::shared_ptr<const SigningKeys::Ring>, std::string> SigningKeys::Build(
    const std::vector<std::shared_ptr<const std::string>>& contents, uint64_t generation) const {
  auto ring = std::make_shared<Ring>();
  ring->generation = generation;
  boost::json::array keys;
  for (std::size_t i = 0; i < contents.size(); ++i) {
    const std::string& path = files_[i]->path();
    if (!contents[i]) return std::unexpected("assertion signing key " + path + " is unusable");
    auto signer = jose::JwsSigner::FromPem(*contents[i]);
    if (!signer) return std::unexpected("assertion signing key " + path + ": " + signer.error());
    if (signer->algorithm() != jose::Algorithm::kEs256 &&
        signer->algorithm() != jose::Algorithm::kEdDsa) {
      return std::unexpected("assertion signing key " + path +
                             ": an assertion key must be EC P-256 (ES256) or Ed25519 (EdDSA)");
    }
    keys.push_back(signer->PublicJwk());
    ring->signers.push_back(std::move(*signer));
  }
  ring->jwks = boost::json::serialize(boost::json::object{{"keys", std::move(keys)}});
  return ring;
}

std::shared_ptr<const SigningKeys::Ring> SigningKeys::Current() {
  // The files are looked at once a second at most; in between, the ring is all there is.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (now < next_check_ms_.load(std::memory_order_relaxed)) return ring_.load();
  next_check_ms_.store(now + kCheckIntervalMs, std::memory_order_relaxed);
  std::vector<std::shared_ptr<const std::string>> contents;
  contents.reserve(files_.size());
  bool changed = false;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    contents.push_back(files_[i]->Value());  // stats the file at most once a second
  }
  std::shared_ptr<const Ring> ring = ring_.load();
  std::unique_lock lock(rebuild_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return ring;  // another thread is rebuilding; use the keys until then
  for (std::size_t i = 0; i < contents.size(); ++i) {
    if (contents[i] && contents[i] != built_from_[i]) changed = true;
  }
  if (!changed) return ring;
  // A file that became unusable keeps its last key (its Value() is null: not a change).
  for (std::size_t i = 0; i < contents.size(); ++i) {
    if (!contents[i]) contents[i] = built_from_[i];
  }
  auto rebuilt = Build(contents, ring->generation + 1);
  built_from_ = contents;
  if (!rebuilt) {
    LogEvent(LogLevel::kError, "assertion signing keys not changed", {{"error", rebuilt.error()}});
    return ring;
  }
  ring_.store(*rebuilt);
  LogEvent(LogLevel::kInfo, "assertion signing keys re-read",
           {{"signing_kid", (*rebuilt)->signers[0].kid()},
            {"keys", std::to_string((*rebuilt)->signers.size())}});
  return *rebuilt;
}

}  // namespace ciap::headers
