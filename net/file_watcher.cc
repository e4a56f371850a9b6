// See file_watcher.h.
#include "net/file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>

#include "net/log.h"

namespace ciap {

namespace {
constexpr auto kDebounce = std::chrono::milliseconds(200);
constexpr uint32_t kMask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                           IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
}  // namespace

FileWatcher::FileWatcher(asio::io_context& io, std::function<void()> changed,
                         std::chrono::milliseconds poll)
    : io_(io), changed_(std::move(changed)), poll_(poll), debounce_(io), poll_timer_(io) {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    LogEvent(LogLevel::kWarning, "inotify unavailable; watching files by polling only",
             {{"error", std::string(std::strerror(errno))}});
    return;
  }
  events_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd_);
}

FileWatcher::~FileWatcher() { Stop(); }

void FileWatcher::Stop() {
  stopped_ = true;
  debounce_.cancel();
  poll_timer_.cancel();
  if (events_) {
    error_code ignored;
    events_->close(ignored);  // closes fd_
    events_.reset();
    fd_ = -1;
  }
}

void FileWatcher::Watch(const std::vector<std::string>& files) {
  // Each file's own directory, and when the path goes through symlinks (a ConfigMap's
  // `..data/`), the directory the file really is in too.
  std::map<std::string, Directory> directories;
  auto add = [&](const std::filesystem::path& path) {
    std::string directory = path.has_parent_path() ? path.parent_path().string() : ".";
    directories[directory].names.push_back(path.filename().string());
  };
  for (const std::string& file : files) {
    if (file.empty()) continue;
    std::filesystem::path path(file);
    add(path);
    std::error_code ec;
    std::filesystem::path real = std::filesystem::canonical(path, ec);
    if (!ec && real != path) add(real);
  }
  for (auto& [directory, entry] : directories) {
    auto existing = directories_.find(directory);
    if (existing != directories_.end() && existing->second.wd >= 0) {
      entry.wd = existing->second.wd;
    } else if (fd_ >= 0) {
      entry.wd = ::inotify_add_watch(fd_, directory.c_str(), kMask);
    }
  }
  for (const auto& [directory, entry] : directories_) {
    if (entry.wd >= 0 && !directories.contains(directory)) ::inotify_rm_watch(fd_, entry.wd);
  }
  directories_ = std::move(directories);
  by_wd_.clear();
  for (const auto& [directory, entry] : directories_) {
    if (entry.wd >= 0) by_wd_[entry.wd] = &entry;
  }
  if (!started_ && !stopped_) {
    started_ = true;
    if (events_) asio::co_spawn(io_, ReadEvents(), asio::detached);
    asio::co_spawn(io_, Poll(), asio::detached);
  }
}

bool FileWatcher::Relevant(const inotify_event& event) const {
  if (event.mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) return true;
  auto it = by_wd_.find(event.wd);
  if (it == by_wd_.end()) return false;
  std::string_view name = event.len > 0 ? std::string_view(event.name) : std::string_view();
  // Kubernetes swaps `..data` (and writes `..<timestamp>` directories) to update a volume.
  if (name.starts_with("..")) return true;
  for (const std::string& watched : it->second->names) {
    if (name == watched) return true;
  }
  return false;  // another file in the same directory (an access log, say)
}

void FileWatcher::Changed() {
  if (pending_ || stopped_) return;
  pending_ = true;  // one look after a burst of events (a ConfigMap update is several)
  debounce_.expires_after(kDebounce);
  debounce_.async_wait([this](error_code ec) {
    pending_ = false;
    if (!ec && !stopped_) changed_();
  });
}

asio::awaitable<void> FileWatcher::ReadEvents() {
  // On the heap: a coroutine frame does not honour alignas (GCC 12), and inotify_event needs
  // 4-byte alignment.
  auto storage = std::make_unique<inotify_event[]>(8192 / sizeof(inotify_event));
  char* buffer = reinterpret_cast<char*>(storage.get());
  const std::size_t buffer_size = 8192 / sizeof(inotify_event) * sizeof(inotify_event);
  while (!stopped_ && events_) {
    auto [ec, n] =
        co_await events_->async_read_some(asio::buffer(buffer, buffer_size), use_nothrow);
    if (ec) co_return;
    // Which watched file changed does not matter: the caller compares contents.
    for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      if (Relevant(*event)) {
        Changed();
        break;
      }
      at += sizeof(inotify_event) + event->len;
    }
  }
}

asio::awaitable<void> FileWatcher::Poll() {
  while (!stopped_) {
    poll_timer_.expires_after(poll_);
    auto [ec] = co_await poll_timer_.async_wait(use_nothrow);
    if (ec || stopped_) co_return;
    changed_();
  }
}

}  // namespace ciap
