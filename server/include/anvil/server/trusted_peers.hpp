// --forwarded-allow-ips: the peers (proxies) whose X-Forwarded-* and Forwarded
// headers are believed. gunicorn's option: "*" for every peer, else a comma-
// separated list of addresses or networks (10.0.0.0/8, fd00::/8).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

namespace anvil::server {

class TrustedPeers {
 public:
  // 127.0.0.1, the default (gunicorn's).
  TrustedPeers();
  // nullopt, with the offending item in `bad`, for a list that does not parse.
  static std::optional<TrustedPeers> parse(std::string_view list, std::string* bad = nullptr);
  // An address as text ("10.0.0.1", "::1", "::ffff:10.0.0.1"); false for
  // anything that is not an address.
  bool trusts(std::string_view address) const;
  bool trusts(const boost::asio::ip::address& address) const;
  bool all() const noexcept { return all_; }

 private:
  bool all_ = false;
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

// An IP address as sent in X-Forwarded-For or Forwarded's for= ("10.0.0.1",
// "10.0.0.1:4711", "[2001:db8::1]:4711", "2001:db8::1"); nullopt otherwise.
struct ForwardedNode {
  boost::asio::ip::address address;
  std::string port;  // "" when none was given
};
std::optional<ForwardedNode> parse_forwarded_node(std::string_view text);

}  // namespace anvil::server
