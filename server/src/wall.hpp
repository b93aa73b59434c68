// The wall around every completion handler (accept, read, write, timers,
// posted callbacks): nothing thrown inside one leaves it (STYLE.md habit 12).
// A failure ends the one thing it belongs to, through on_failure, which is
// itself walled: a second failure while handling the first is swallowed.
#pragma once

#include <exception>
#include <string_view>

namespace anvil::server {

template <typename Body, typename OnFailure>
void contain(Body&& body, OnFailure&& on_failure) noexcept {
  std::string_view what;
  try {
    body();
    return;
  } catch (const std::exception& e) {
    try {
      on_failure(std::string_view(e.what()));
    } catch (...) {
    }
    return;
  } catch (...) {
    what = "an exception that is not a std::exception";
  }
  try {
    on_failure(what);
  } catch (...) {
  }
}

}  // namespace anvil::server
