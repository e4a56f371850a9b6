// See log.h.
#include "net/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>

namespace ciap {
namespace {

std::mutex& StderrMutex() {
  static std::mutex mutex;
  return mutex;
}

void WriteFully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report a failing log; dropping the line is all we can do
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
}

void AppendRfc3339Now(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = ms / 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        static_cast<int>(ms % 1000));
  out.append(buf, static_cast<std::size_t>(n));
}

void LogField::AppendTo(std::string& out) const {
  out += ",\"";
  AppendJsonEscaped(out, key_);
  out += "\":";
  switch (kind_) {
    case Kind::kString:
      out.push_back('"');
      AppendJsonEscaped(out, string_);
      out.push_back('"');
      break;
    case Kind::kInt:
      out += std::to_string(int_);
      break;
    case Kind::kDouble: {
      char buf[32];
      int n = std::snprintf(buf, sizeof buf, "%.3f", double_);
      out.append(buf, static_cast<std::size_t>(n));
      break;
    }
  }
}

void LogEvent(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  std::string line = "{\"time\":\"";
  AppendRfc3339Now(line);
  line += "\",\"level\":\"";
  line += level == LogLevel::kInfo ? "info" : level == LogLevel::kWarning ? "warning" : "error";
  line += "\",\"msg\":\"";
  AppendJsonEscaped(line, msg);
  line.push_back('"');
  for (const LogField& field : fields) field.AppendTo(line);
  line += "}\n";
  std::lock_guard lock(StderrMutex());
  WriteFully(STDERR_FILENO, line);
}

std::unique_ptr<LogSink> LogSink::Open(const std::string& target, std::string* error) {
  if (target == "off") return std::unique_ptr<LogSink>(new LogSink(-1, false));
  if (target == "stdout") return std::unique_ptr<LogSink>(new LogSink(STDOUT_FILENO, false));
  if (target == "stderr") return std::unique_ptr<LogSink>(new LogSink(STDERR_FILENO, false));
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = "cannot open access log " + target + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<LogSink>(new LogSink(fd, true));
}

LogSink::~LogSink() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void LogSink::Write(std::string_view data) {
  if (fd_ < 0) return;
  std::lock_guard lock(mutex_);
  WriteFully(fd_, data);
}

void AccessLogBuffer::Flush() {
  if (buffer_.empty()) return;
  if (sink_ != nullptr) sink_->Write(buffer_);
  buffer_.clear();
}

void AppendLogLineStart(std::string& out, std::string_view type) {
  out.append("{\"time\":\"");
  AppendRfc3339Now(out);
  out.append("\",\"type\":\"");
  out.append(type);
  out.push_back('"');
}

void AppendJsonField(std::string& out, std::string_view name, std::string_view value) {
  out.append(",\"");
  out.append(name);
  out.append("\":\"");
  AppendJsonEscaped(out, value);
  out.push_back('"');
}

}  // namespace ciap
