// Where a request came from and what it was sent to, as environ tells a WSGI
// app; one reading for both WSGI paths (the C-API environ and the packed head
// of the Python-side path).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "anvil/server/handler.hpp"
#include "anvil/server/trusted_peers.hpp"

namespace anvil::python {

struct OriginOptions {
  std::string root_path;                 // --root-path: SCRIPT_NAME
  server::TrustedPeers forwarded_allow;  // --forwarded-allow-ips
};

struct Origin {
  std::string_view path;   // as sent (percent-encoded), the root path taken off
  std::string_view query;  // after the first '?', "" if none
  // Absolute-form (RFC 9112 §3.2.2): the target's authority, which replaces
  // Host (HTTP_HOST); "" otherwise.
  std::string_view host;
  std::string server_name, server_port;
  std::string remote_addr, remote_port;
  bool https = false;  // wsgi.url_scheme
};

// Reads the request's target, Host and, from a trusted peer, X-Forwarded-For,
// X-Forwarded-Proto and Forwarded (RFC 7239); the views point into the request.
Origin origin_of(const server::Exchange& ex, const OriginOptions& o);

// v in decimal (ports, lengths).
std::string decimal(std::uint64_t v);

// The request head as _pywsgi.make_dispatcher reads it: "method\ntarget\n
// path\nquery\nminor\ncontent_length\nserver_name\nserver_port\nremote_addr\n
// remote_port\nscheme\nhost" then "\nname\nvalue" per field (latin-1).
std::string pack_request(const server::Exchange& ex, const OriginOptions& o);

}  // namespace anvil::python
