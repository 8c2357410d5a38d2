#pragma once
// Which endpoint stored each Responses API response: a later call that names it
// (previous_response_id, GET/DELETE /v1/responses/{id}, cancel, input_items) must reach that
// endpoint, the only one that has it. Bounded: the oldest pins are forgotten first, and pins
// live in this process only (they do not survive a restart).
//
// Every client shares the upstream's key, so the upstream cannot tell one client's stored
// responses from another's: each pin remembers which key created the response, and only that
// key may name it.
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fulcrum::net {

class ResponsePins {
 public:
  explicit ResponsePins(std::size_t capacity = 100'000) : capacity_(capacity) {}

  struct Pin {
    std::string endpoint;  // its name: indexes change with a reload
    std::string owner;     // the key id that created it ("anonymous" without keys)
    // The alias the client asked for, and the one whose target served it (the same, or a
    // tier's, a route fallback's, a soft budget's downgrade): a follow-up asking for the same
    // alias is served through the same one again.
    std::string asked;
    std::string served;
  };

  // Safe from any thread.
  void pin(std::string_view response_id, Pin pin);
  // The pin, for its owner only: to anyone else the response does not exist.
  std::optional<Pin> find(std::string_view response_id, std::string_view owner) const;
  void forget(std::string_view response_id);
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;  // taken once per Responses API call, never per chat request
  struct Entry {
    Pin pin;
    std::list<std::string>::iterator age;  // its place in order_, so forget() removes both
  };
  std::unordered_map<std::string, Entry> pins_;  // by response id
  std::list<std::string> order_;                 // ids, oldest first
};

}  // namespace fulcrum::net
