// See secret_file.h.
#include "filters/headers/secret_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "net/log.h"

namespace ciap::headers {
namespace {

constexpr int64_t kCheckIntervalMs = 1000;
constexpr std::size_t kMaxSecretBytes = 64 * 1024;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool SecretFile::Load(std::string* error) {
  std::lock_guard lock(reload_mutex_);
  next_check_ms_ = NowMs() + kCheckIntervalMs;
  return ReadIfChanged(error);
}

bool SecretFile::ReadIfChanged(std::string* error) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    *error = "cannot read secret " + path_ + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = "cannot read secret " + path_ + ": " +
             (S_ISDIR(st.st_mode) ? std::strerror(EISDIR) : "not a regular file");
    return false;
  }
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (value_.load() && st.st_ino == inode_ && st.st_size == size_ && mtime_ns == mtime_ns_) {
    return true;
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretBytes) {
    *error = "secret " + path_ + " is larger than 64 KiB";
    return false;
  }
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    *error = "cannot read secret " + path_ + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream contents;
  contents << in.rdbuf();
  std::string value = contents.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  // An empty credential is never the one meant (a file truncated while it is rewritten, a
  // Secret without the key): inject nothing rather than "Bearer ".
  if (value.empty()) {
    *error = "secret " + path_ + " is empty";
    return false;
  }
  for (char c : value) {
    if (multi_line_) break;
    // A header value must not be able to end its line or carry NUL.
    if (c == '\r' || c == '\n' || c == '\0') {
      *error = "secret " + path_ + " contains a line break or NUL";
      return false;
    }
  }
  inode_ = st.st_ino;
  size_ = st.st_size;
  mtime_ns_ = mtime_ns;
  value_.store(std::make_shared<const std::string>(std::move(value)));
  return true;
}

std::shared_ptr<const std::string> SecretFile::Value() {
  int64_t now = NowMs();
  if (now >= next_check_ms_.load(std::memory_order_relaxed)) {
    std::unique_lock lock(reload_mutex_, std::try_to_lock);
    if (lock.owns_lock() && now >= next_check_ms_.load(std::memory_order_relaxed)) {
      next_check_ms_ = now + kCheckIntervalMs;
      bool had_value = value_.load() != nullptr;
      std::string error;
      if (!ReadIfChanged(&error)) {
        // Rotation in progress or a broken mount: stop injecting rather than inject stale or
        // partial credentials, and say so (the path only, never the content).
        value_.store(nullptr);
        if (had_value) LogEvent(LogLevel::kError, "secret unavailable", {{"error", error}});
      } else if (!had_value) {
        LogEvent(LogLevel::kInfo, "secret available again", {{"path", path_}});
      }
    }
  }
  return value_.load();
}

}  // namespace ciap::headers
