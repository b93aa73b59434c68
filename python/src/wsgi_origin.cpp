#include "wsgi_origin.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "anvil/parser/text.hpp"

namespace anvil::python {

namespace {

namespace text = parser::text;

// "name:port", "[v6]:port", "name" -> (name, port or ""). The brackets of an
// IPv6 literal stay: SCRIPT_NAME-style URL rebuilding puts the name back as is.
std::pair<std::string_view, std::string_view> split_host_port(std::string_view hp) {
  const std::size_t bracket = hp.rfind(']');
  const std::size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket))
    return {hp, {}};
  return {hp.substr(0, colon), hp.substr(colon + 1)};
}

// One hop of X-Forwarded-For or one element of Forwarded: the client's
// address as the proxy saw it, and (Forwarded only) the scheme it used.
struct Hop {
  std::string_view node;
  std::string_view proto;
};

// RFC 7239 §4: Forwarded = 1#forwarded-element, each a ';'-separated list of
// name=value pairs, a value a token or a quoted-string. Appends one Hop per
// element; quoted values are taken without their quotes (backslash escapes
// cannot occur in an address or a scheme, so they are not undone).
void forwarded_hops(std::string_view v, std::vector<Hop>& out) {
  Hop hop;
  bool any = false;
  std::size_t i = 0;
  while (i <= v.size()) {
    // One name=value pair, up to ';' or ',' outside quotes.
    std::size_t j = i;
    bool quoted = false;
    while (j < v.size() && (quoted || (v[j] != ';' && v[j] != ','))) {
      if (v[j] == '"') quoted = !quoted;
      if (v[j] == '\\' && quoted) ++j;
      ++j;
    }
    const std::string_view pair = text::trim_ows(v.substr(i, std::min(j, v.size()) - i));
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      const std::string_view name = text::trim_ows(pair.substr(0, eq));
      std::string_view value = text::trim_ows(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      if (text::iequals(name, "for")) hop.node = value;
      if (text::iequals(name, "proto")) hop.proto = value;
      any = true;
    }
    if (j >= v.size() || v[j] == ',') {
      if (any) out.push_back(hop);
      hop = Hop{};
      any = false;
    }
    i = j + 1;
  }
}

void list_hops(std::string_view v, std::vector<Hop>& out) {
  while (true) {
    const std::size_t comma = v.find(',');
    const std::string_view item = text::trim_ows(v.substr(0, comma));
    if (!item.empty()) out.push_back(Hop{item, {}});
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

// The hop that names the client: walking from the nearest proxy outwards,
// the first one whose address is not a trusted proxy (so a client cannot
// put an address of its choosing in front of the ones the proxies added);
// the farthest when all are trusted (gunicorn's rule under "*": the first).
const Hop* client_hop(const std::vector<Hop>& hops, const server::TrustedPeers& trusted) {
  for (std::size_t i = hops.size(); i-- > 0;) {
    const auto node = server::parse_forwarded_node(hops[i].node);
    if (!node || !trusted.trusts(node->address) || i == 0) return &hops[i];
  }
  return nullptr;
}

void apply_forwarded(const parser::Message& m, const server::TrustedPeers& trusted, Origin& o) {
  std::vector<Hop> forwarded, xff;
  std::string_view proto;
  for (const parser::Field& f : m.fields) {
    if (text::iequals(f.name, "forwarded")) {
      forwarded_hops(f.value, forwarded);
    } else if (text::iequals(f.name, "x-forwarded-for")) {
      list_hops(f.value, xff);
    } else if (text::iequals(f.name, "x-forwarded-proto")) {
      // The value our proxy set: the last of the list.
      const std::size_t comma = f.value.rfind(',');
      proto = text::trim_ows(comma == std::string_view::npos ? f.value : f.value.substr(comma + 1));
    }
  }
  // RFC 7239 replaces the X-Forwarded-* fields: when a proxy sent it, it wins.
  const Hop* hop = nullptr;
  if (!forwarded.empty()) {
    hop = client_hop(forwarded, trusted);
    proto = hop != nullptr ? hop->proto : std::string_view();
  } else if (!xff.empty()) {
    hop = client_hop(xff, trusted);
  }
  if (hop != nullptr) {
    if (auto node = server::parse_forwarded_node(hop->node)) {
      o.remote_addr = node->address.to_string();
      o.remote_port = node->port.empty() ? std::string("0") : node->port;
    }
  }
  if (text::iequals(proto, "https")) {
    o.https = true;
  } else if (text::iequals(proto, "http")) {
    o.https = false;
  }
}

void append_field(std::string& out, std::string_view s) {
  out.push_back('\n');
  out.append(s);
}

}  // namespace

std::string decimal(std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

Origin origin_of(const server::Exchange& ex, const OriginOptions& opts) {
  const parser::Message& m = ex.request();
  Origin o;
  std::string_view target = m.target;
  std::string_view scheme = "http";
  if (m.target_form == parser::TargetForm::absolute) {
    // RFC 9112 §3.2.2: the target's authority replaces Host; the path is
    // what follows it ("/" when there is none).
    const std::size_t colon = target.find(':');
    scheme = target.substr(0, colon);
    const std::size_t authority = colon + 3;
    const std::size_t end = std::min(target.find_first_of("/?", authority), target.size());
    o.host = target.substr(authority, end - authority);
    if (const std::size_t at = o.host.rfind('@'); at != std::string_view::npos)
      o.host.remove_prefix(at + 1);  // userinfo (RFC 9110 §4.2.4: not for http)
    target = end < target.size() ? target.substr(end) : std::string_view();
  } else if (m.target_form != parser::TargetForm::origin) {
    target = {};  // authority-form (CONNECT) and "*" (OPTIONS) have no path
  }
  const std::size_t q = target.find('?');
  o.path = target.substr(0, q);
  if (q != std::string_view::npos) o.query = target.substr(q + 1);
  if (m.target_form == parser::TargetForm::absolute && o.path.empty()) o.path = "/";
  // --root-path: a target under the prefix has it taken off PATH_INFO.
  const std::string_view root = opts.root_path;
  if (!root.empty() && o.path.starts_with(root) &&
      (o.path.size() == root.size() || o.path[root.size()] == '/')) {
    o.path.remove_prefix(root.size());
  }

  // SERVER_NAME/SERVER_PORT: the authority of an absolute-form target; over
  // a unix socket the Host field's (gunicorn's rule: else localhost, 80);
  // else the address and port the connection came in on.
  if (!o.host.empty() || ex.unix_socket()) {
    const std::string_view host = !o.host.empty() ? o.host : text::find_field(m.fields, "host");
    auto [name, port] = split_host_port(host);
    o.server_name.assign(name.empty() ? std::string_view("localhost") : name);
    o.server_port.assign(!port.empty()                    ? port
                         : text::iequals(scheme, "https") ? std::string_view("443")
                                                          : std::string_view("80"));
  } else {
    o.server_name.assign(ex.local_address());
    o.server_port = decimal(ex.local_port());
  }
  if (ex.unix_socket()) {
    o.remote_port = "0";
  } else {
    o.remote_addr.assign(ex.remote_address());
    o.remote_port = decimal(ex.remote_port());
  }
  // Forwarded fields count only from a trusted peer; a unix socket's peer
  // is on this host, and trusted, as in gunicorn.
  if (ex.unix_socket() || opts.forwarded_allow.trusts(ex.remote_address()))
    apply_forwarded(m, opts.forwarded_allow, o);
  return o;
}

// The request head for _pywsgi.make_dispatcher: "\n"-separated latin-1
// parts. RULES.md keeps CR, LF and NUL out of the method, target, names and
// values; a unix socket path is not among the parts, and forwarded addresses
// and ports are parsed ones.
std::string pack_request(const server::Exchange& ex, const OriginOptions& opts) {
  const parser::Message& m = ex.request();
  const Origin o = origin_of(ex, opts);
  std::string out;
  std::size_t size = m.method.size() + 2 * m.target.size() + 96;
  for (const parser::Field& f : m.fields) size += f.name.size() + f.value.size() + 2;
  out.reserve(size);
  out.append(m.method);
  append_field(out, m.target);
  append_field(out, o.path);
  append_field(out, o.query);
  out.append(m.version_minor == 0 ? "\n0" : "\n1");
  out.push_back('\n');
  if (m.body == parser::BodyKind::content_length) out.append(decimal(m.content_length));
  for (const std::string* part : {&o.server_name, &o.server_port, &o.remote_addr, &o.remote_port})
    append_field(out, *part);
  append_field(out, o.https ? "https" : "http");
  append_field(out, o.host);
  for (const parser::Field& f : m.fields) {
    append_field(out, f.name);
    append_field(out, f.value);
  }
  return out;
}

}  // namespace anvil::python
