// Private to anvil_parser: the constructors behind make_parser().
#pragma once

#include <memory>

#include "anvil/parser/parser.hpp"

namespace anvil::parser::detail {

std::unique_ptr<Parser> make_llhttp_parser(Mode mode, const Limits& limits);
std::unique_ptr<Parser> make_fast_parser(Mode mode, const Limits& limits);
std::unique_ptr<Parser> make_http_parser_parser(Mode mode, const Limits& limits);

}  // namespace anvil::parser::detail
