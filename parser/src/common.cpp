// Names, statuses and the factory shared by both parser implementations.
#include <array>
#include <stdexcept>

#include "anvil/parser/parser.hpp"
#include "internal.hpp"

namespace anvil::parser {

namespace {

struct ErrorInfo {
  Error error;
  int status;
  std::string_view code;
};

constexpr std::array kErrors = {
    ErrorInfo{Error::none, 0, "none"},
    ErrorInfo{Error::incomplete, 400, "incomplete"},
    ErrorInfo{Error::bad_method, 400, "bad_method"},
    ErrorInfo{Error::bad_request_line, 400, "bad_request_line"},
    ErrorInfo{Error::bad_target, 400, "bad_target"},
    ErrorInfo{Error::bad_version, 400, "bad_version"},
    ErrorInfo{Error::bad_status_line, 400, "bad_status_line"},
    ErrorInfo{Error::bad_line_ending, 400, "bad_line_ending"},
    ErrorInfo{Error::obs_fold, 400, "obs_fold"},
    ErrorInfo{Error::bad_field_name, 400, "bad_field_name"},
    ErrorInfo{Error::bad_field_value, 400, "bad_field_value"},
    ErrorInfo{Error::bad_content_length, 400, "bad_content_length"},
    ErrorInfo{Error::conflicting_content_length, 400, "conflicting_content_length"},
    ErrorInfo{Error::content_length_and_transfer_encoding, 400,
              "content_length_and_transfer_encoding"},
    ErrorInfo{Error::bad_transfer_encoding, 400, "bad_transfer_encoding"},
    ErrorInfo{Error::transfer_encoding_http10, 400, "transfer_encoding_http10"},
    ErrorInfo{Error::missing_host, 400, "missing_host"},
    ErrorInfo{Error::multiple_host, 400, "multiple_host"},
    ErrorInfo{Error::bad_chunk_size, 400, "bad_chunk_size"},
    ErrorInfo{Error::bad_chunk_extension, 400, "bad_chunk_extension"},
    ErrorInfo{Error::bad_chunk_end, 400, "bad_chunk_end"},
    ErrorInfo{Error::forbidden_trailer, 400, "forbidden_trailer"},
    ErrorInfo{Error::connect_with_content, 400, "connect_with_content"},
    ErrorInfo{Error::request_line_too_long, 414, "request_line_too_long"},
    ErrorInfo{Error::header_too_large, 431, "header_too_large"},
    ErrorInfo{Error::too_many_fields, 431, "too_many_fields"},
    ErrorInfo{Error::body_too_large, 413, "body_too_large"},
    ErrorInfo{Error::unknown_transfer_coding, 501, "unknown_transfer_coding"},
    ErrorInfo{Error::unsupported_version, 505, "unsupported_version"},
};

const ErrorInfo& info(Error e) noexcept {
  // The table is in enum order; checked once at compile time below.
  return kErrors[static_cast<std::size_t>(e)];
}

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < kErrors.size(); ++i) {
    if (static_cast<std::size_t>(kErrors[i].error) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order());
static_assert(kErrors.size() == static_cast<std::size_t>(Error::unsupported_version) + 1);

constexpr std::array kKinds = {ParserKind::llhttp, ParserKind::fast, ParserKind::http_parser};

}  // namespace

int status_of(Error e) noexcept { return info(e).status; }

std::string_view code_of(Error e) noexcept { return info(e).code; }

std::string_view name_of(ParserKind k) noexcept {
  switch (k) {
    case ParserKind::llhttp:
      return "llhttp";
    case ParserKind::fast:
      return "fast";
    case ParserKind::http_parser:
      return "http-parser";
  }
  return "unknown";
}

std::string_view name_of(TargetForm f) noexcept {
  switch (f) {
    case TargetForm::origin:
      return "origin";
    case TargetForm::absolute:
      return "absolute";
    case TargetForm::authority:
      return "authority";
    case TargetForm::asterisk:
      return "asterisk";
  }
  return "unknown";
}

std::optional<ParserKind> parser_kind_from_name(std::string_view name) noexcept {
  for (ParserKind k : kKinds) {
    if (name_of(k) == name) return k;
  }
  return std::nullopt;
}

std::span<const ParserKind> all_parser_kinds() noexcept { return kKinds; }

std::string parser_kind_names() {
  std::string names;
  for (ParserKind k : kKinds) {
    if (!names.empty()) names += '|';
    names += name_of(k);
  }
  return names;
}

Parser::Parser(ParserKind kind, Mode mode, const Limits& limits)
    : kind_(kind), mode_(mode), limits_(limits) {
  if (limits.request_line == 0 || limits.header_bytes == 0 || limits.fields == 0 ||
      limits.chunk_extension == 0) {
    throw std::invalid_argument("parser limits must be positive");
  }
  message_.fields.reserve(limits.fields);
  trailers_.reserve(limits.fields);
}

std::unique_ptr<Parser> make_parser(ParserKind kind, Mode mode, const Limits& limits) {
  switch (kind) {
    case ParserKind::llhttp:
      return detail::make_llhttp_parser(mode, limits);
    case ParserKind::fast:
      return detail::make_fast_parser(mode, limits);
    case ParserKind::http_parser:
      return detail::make_http_parser_parser(mode, limits);
  }
  throw std::invalid_argument("unknown parser kind");
}

}  // namespace anvil::parser
