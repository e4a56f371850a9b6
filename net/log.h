// JSON-lines logging: operational events on stderr, and the buffered access log.
//
// Operational events (startup, errors, reloads) are rare and written at once. Access-log lines
// are appended to a per-worker buffer and written in whole lines by the worker's ticker (or
// when the buffer fills), so the request path costs a string append, not a syscall.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>

namespace ciap {

class LogField {
 public:
  LogField(std::string_view key, std::string_view value) : key_(key), string_(value) {}
  LogField(std::string_view key, const char* value) : key_(key), string_(value) {}
  LogField(std::string_view key, const std::string& value) : key_(key), string_(value) {}
  template <class T>
  requires std::is_integral_v<T> LogField(std::string_view key, T value)
      : key_(key), kind_(Kind::kInt), int_(value) {}
  LogField(std::string_view key, double value) : key_(key), kind_(Kind::kDouble), double_(value) {}

  void AppendTo(std::string& out) const;

 private:
  enum class Kind { kString, kInt, kDouble };
  std::string_view key_;
  Kind kind_ = Kind::kString;
  std::string_view string_;
  int64_t int_ = 0;
  double double_ = 0;
};

enum class LogLevel { kInfo, kWarning, kError };

// Writes {"time":…,"level":…,"msg":…,<fields>} as one line to stderr.
void LogEvent(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Appends `value` to `out` as the inside of a JSON string. Bytes >= 0x80 are escaped one by
// one, so the line stays valid UTF-8 whatever a client sent.
void AppendJsonEscaped(std::string& out, std::string_view value);

// "2026-11-23T05:50:57.123Z"
void AppendRfc3339Now(std::string& out);

// Appends `{"time":"<now>","type":"<type>"` : the opening every access and audit line shares.
void AppendLogLineStart(std::string& out, std::string_view type);

// Appends `,"name":"value"` with the value escaped.
void AppendJsonField(std::string& out, std::string_view name, std::string_view value);

// Where access-log lines go. Thread-safe; each Write is one write(2) of whole lines.
class LogSink {
 public:
  // "stdout", "stderr", "off" or a file path (created if missing, appended to).
  static std::unique_ptr<LogSink> Open(const std::string& target, std::string* error);
  ~LogSink();

  bool enabled() const { return fd_ >= 0; }
  void Write(std::string_view data);

 private:
  explicit LogSink(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
  std::mutex mutex_;
};

// One worker's access-log buffer.
class AccessLogBuffer {
 public:
  static constexpr std::size_t kFlushBytes = 64 * 1024;

  explicit AccessLogBuffer(LogSink* sink) : sink_(sink) {}
  ~AccessLogBuffer() { Flush(); }

  bool enabled() const { return sink_ != nullptr && sink_->enabled(); }
  // The line under construction; call Commit() after appending one full line.
  std::string& buffer() { return buffer_; }
  void Commit() {
    if (buffer_.size() >= kFlushBytes) Flush();
  }
  void Flush();

 private:
  LogSink* sink_;
  std::string buffer_;
};

}  // namespace ciap
