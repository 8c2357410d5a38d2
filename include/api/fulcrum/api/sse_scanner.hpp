#pragma once
// Splits a server-sent-events byte stream into whole events, however the bytes were cut into
// reads. Events are handed out verbatim (terminators included), so relaying them in order
// reproduces the upstream stream byte for byte.
#include <cstring>
#include <string>
#include <string_view>

namespace fulcrum::api {

class SseScanner {
 public:
  // Calls on_event(std::string_view) for each event completed by `bytes`. The view is valid
  // only during the call.
  template <class OnEvent>
  void feed(std::string_view bytes, OnEvent&& on_event) {
    std::size_t event_start = 0;  // start of the current event within `bytes`
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      const void* hit = std::memchr(bytes.data() + pos, '\n', bytes.size() - pos);
      if (hit == nullptr) {
        line_length_ += visible_length(bytes.substr(pos));
        break;
      }
      const std::size_t newline = static_cast<const char*>(hit) - bytes.data();
      line_length_ += visible_length(bytes.substr(pos, newline - pos));
      pos = newline + 1;
      if (line_length_ != 0) {
        line_length_ = 0;
        continue;
      }
      // An empty line ends the event.
      if (pending_.empty()) {
        on_event(bytes.substr(event_start, pos - event_start));
      } else {
        pending_.append(bytes.data() + event_start, pos - event_start);
        on_event(std::string_view(pending_));
        pending_.clear();
      }
      event_start = pos;
    }
    pending_.append(bytes.data() + event_start, bytes.size() - event_start);
  }

  // Bytes of an event not yet terminated (e.g. a stream cut mid-event).
  std::string_view remainder() const { return pending_; }

 private:
  // A '\r' right before '\n' belongs to the line terminator.
  static std::size_t visible_length(std::string_view segment) {
    std::size_t n = 0;
    for (char c : segment) n += c != '\r';
    return n;
  }

  std::string pending_;
  std::size_t line_length_ = 0;
};

// The event's data: its "data:" lines' values joined with '\n' (one optional space after the
// colon removed), per the SSE specification. Appends to `out`; returns false when none.
bool sse_data(std::string_view event, std::string& out);

}  // namespace fulcrum::api
