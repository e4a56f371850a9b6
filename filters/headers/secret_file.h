// A credential kept in a file (typically a Kubernetes Secret mount), for injection into
// upstream requests. Read once at startup; afterwards checked at most once a second and
// re-read when it changes (stat follows the symlink Kubernetes swaps on rotation). Thread-safe:
// readers take the current value without locks; one request a second pays for the stat.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

namespace ciap::headers {

class SecretFile {
 public:
  // `multi_line`: the file is a document (a PEM key), not a header value, and may hold line
  // breaks; only its trailing line breaks are removed.
  explicit SecretFile(std::string path, bool multi_line = false)
      : path_(std::move(path)), multi_line_(multi_line) {}

  // Loads the file now; an error names the file and the reason (never the content).
  bool Load(std::string* error);
  // The current value (trailing newlines removed), or null when the file became unusable
  // (missing, unreadable, empty, too large, or holding a line break).
  std::shared_ptr<const std::string> Value();

  const std::string& path() const { return path_; }

 private:
  bool ReadIfChanged(std::string* error);

  std::string path_;
  bool multi_line_ = false;
  std::atomic<std::shared_ptr<const std::string>> value_;
  std::atomic<int64_t> next_check_ms_{0};
  std::mutex reload_mutex_;
  // What the last read saw, to tell a changed file from an unchanged one.
  ino_t inode_ = 0;
  off_t size_ = -1;
  int64_t mtime_ns_ = 0;
};

}  // namespace ciap::headers
