#include "anvil/server/trusted_peers.hpp"

#include <charconv>

#include "anvil/parser/text.hpp"

namespace anvil::server {

namespace ip = boost::asio::ip;

namespace {

std::optional<ip::address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  ip::address a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  // An IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d.
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

TrustedPeers::TrustedPeers() { v4_.emplace_back(ip::make_address_v4("127.0.0.1"), 32); }

std::optional<TrustedPeers> TrustedPeers::parse(std::string_view list, std::string* bad) {
  TrustedPeers t;
  t.v4_.clear();
  auto fail = [&](std::string_view item) -> std::optional<TrustedPeers> {
    if (bad != nullptr) bad->assign(item);
    return std::nullopt;
  };
  if (parser::text::trim_ows(list).empty()) return fail(list);
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = parser::text::trim_ows(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item == "*") {
      t.all_ = true;
      continue;
    }
    const std::size_t slash = item.find('/');
    const auto address = parse_address(item.substr(0, slash));
    if (!address) return fail(item);
    unsigned prefix = address->is_v4() ? 32 : 128;
    if (slash != std::string_view::npos) {
      const std::string_view bits = item.substr(slash + 1);
      const auto r = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
      if (bits.empty() || r.ec != std::errc() || r.ptr != bits.data() + bits.size() ||
          prefix > (address->is_v4() ? 32u : 128u)) {
        return fail(item);
      }
    }
    if (address->is_v4()) {
      t.v4_.emplace_back(address->to_v4(), static_cast<unsigned short>(prefix));
    } else {
      t.v6_.emplace_back(address->to_v6(), static_cast<unsigned short>(prefix));
    }
  }
  return t;
}

bool TrustedPeers::trusts(const ip::address& a) const {
  if (all_) return true;
  if (a.is_v4()) {
    for (const auto& n : v4_) {
      if (ip::network_v4(a.to_v4(), n.prefix_length()).canonical() == n.canonical()) return true;
    }
    return false;
  }
  for (const auto& n : v6_) {
    if (ip::network_v6(a.to_v6(), n.prefix_length()).canonical() == n.canonical()) return true;
  }
  return false;
}

bool TrustedPeers::trusts(std::string_view address) const {
  if (all_) return true;
  const auto a = parse_address(address);
  return a && trusts(*a);
}

std::optional<ForwardedNode> parse_forwarded_node(std::string_view text) {
  std::string_view host = text, port;
  if (text.starts_with('[')) {  // RFC 7239 §6: "[" IPv6address "]" [ ":" port ]
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else if (const std::size_t colon = text.find(':');
             colon != std::string_view::npos &&
             text.find(':', colon + 1) == std::string_view::npos) {
    host = text.substr(0, colon);  // IPv4 with a port; an IPv6 address has several colons
    port = text.substr(colon + 1);
  }
  if (!port.empty()) {
    unsigned p = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), p);
    if (r.ec != std::errc() || r.ptr != port.data() + port.size() || p > 65535) return std::nullopt;
  } else if (text.ends_with(':')) {
    return std::nullopt;
  }
  const auto a = parse_address(host);
  if (!a) return std::nullopt;
  return ForwardedNode{*a, std::string(port)};
}

}  // namespace anvil::server
