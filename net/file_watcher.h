// Tells when any of a set of files may have changed: inotify on the files' directories (so an
// editor's write-and-rename and Kubernetes' ConfigMap/Secret `..data` symlink swap are seen as
// well as in-place writes), debounced, plus a slow poll as a safety net (a watched directory
// that is itself replaced, an inotify queue overflow). The callback only means "look again":
// the caller compares contents. Main thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "net/asio.h"

struct inotify_event;

namespace ciap {

class FileWatcher {
 public:
  FileWatcher(asio::io_context& io, std::function<void()> changed,
              std::chrono::milliseconds poll = std::chrono::seconds(5));
  ~FileWatcher();

  // Watches these files (replacing the previous set) and starts, if not running yet.
  void Watch(const std::vector<std::string>& files);
  void Stop();

 private:
  asio::awaitable<void> ReadEvents();
  asio::awaitable<void> Poll();
  void Changed();
  bool Relevant(const ::inotify_event& event) const;

  asio::io_context& io_;
  std::function<void()> changed_;
  std::chrono::milliseconds poll_;
  int fd_ = -1;
  std::unique_ptr<asio::posix::stream_descriptor> events_;
  struct Directory {
    int wd = -1;
    std::vector<std::string> names;  // the watched files in it
  };
  std::map<std::string, Directory> directories_;
  std::map<int, const Directory*> by_wd_;
  asio::steady_timer debounce_;
  asio::steady_timer poll_timer_;
  bool started_ = false;
  bool stopped_ = false;
  bool pending_ = false;
};

}  // namespace ciap
