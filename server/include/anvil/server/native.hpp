// Native C++ handlers served by `anvil-native` and `python3 -m anvil --native`:
// the no-Python baseline. hello: 200, "Hello, World!" (13 bytes, text/plain);
// echo: 200 with the request body (application/octet-stream); sleep (tests):
// GET /?ms=N answers "slept N ms in pid P" from a helper thread after N ms.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "anvil/server/handler.hpp"

namespace anvil::server {

// nullptr for an unknown name.
std::shared_ptr<Handler> make_native_handler(std::string_view name);
std::span<const std::string_view> native_handler_names() noexcept;

}  // namespace anvil::server
