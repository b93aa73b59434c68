#include "wsgi_environ.hpp"

#include "anvil/parser/text.hpp"

namespace anvil::python {

namespace {

// Header names seen by one worker are cached; past this many distinct names
// the keys are built per request, so a client cannot grow the cache.
constexpr std::size_t kHeaderKeyCacheSize = 256;

py::object intern(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PEP 3333 / CGI (RFC 3875 §4.1.5): PATH_INFO is the decoded path; bytes map
// to code points one to one (latin-1). A '%' not followed by two hex digits
// stays as it is, as gunicorn and wsgiref leave it.
py::object decode_path(std::string_view path) {
  if (path.find('%') == std::string_view::npos) return latin1(path);
  std::string out;
  out.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const int hi = hex_value(path[i + 1]);
      const int lo = hex_value(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(path[i]);
  }
  return latin1(out);
}

using parser::text::iequals;

}  // namespace

py::object latin1(std::string_view s) {
  PyObject* o = PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

// --- the C-API path's environ ------------------------------------------------

Environ::Environ(const OriginOptions& origin, bool multithread, bool multiprocess,
                 py::handle file_wrapper)
    : origin_(origin) {
  k_method_ = intern("REQUEST_METHOD");
  k_path_ = intern("PATH_INFO");
  k_query_ = intern("QUERY_STRING");
  k_protocol_ = intern("SERVER_PROTOCOL");
  k_server_name_ = intern("SERVER_NAME");
  k_server_port_ = intern("SERVER_PORT");
  k_remote_addr_ = intern("REMOTE_ADDR");
  k_remote_port_ = intern("REMOTE_PORT");
  k_content_type_ = intern("CONTENT_TYPE");
  k_content_length_ = intern("CONTENT_LENGTH");
  k_input_ = intern("wsgi.input");
  k_raw_uri_ = intern("RAW_URI");
  k_request_uri_ = intern("REQUEST_URI");
  k_host_ = intern("HTTP_HOST");
  k_url_scheme_ = intern("wsgi.url_scheme");
  https_ = intern("https");
  http11_ = intern("HTTP/1.1");
  http10_ = intern("HTTP/1.0");
  empty_ = intern("");
  for (const char* m : {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    methods_.emplace_back(m, intern(m));
  }
  py::dict t;
  py::module_ sys = py::module_::import("sys");
  t[intern("SCRIPT_NAME")] = latin1(origin.root_path);
  t[k_query_] = empty_;
  t[intern("SERVER_SOFTWARE")] = intern("anvil");
  t[intern("wsgi.version")] = py::make_tuple(1, 0);
  t[k_url_scheme_] = intern("http");
  t[intern("wsgi.errors")] = sys.attr("stderr");
  t[intern("wsgi.multithread")] = py::bool_(multithread);
  t[intern("wsgi.multiprocess")] = py::bool_(multiprocess);
  t[intern("wsgi.run_once")] = py::bool_(false);
  t[intern("wsgi.input_terminated")] = py::bool_(true);
  t[intern("wsgi.file_wrapper")] = py::reinterpret_borrow<py::object>(file_wrapper);
  template_ = std::move(t);
}

void Environ::clear() {
  header_keys_.clear();
  methods_.clear();
  for (auto* c : {&remote_addr_, &server_name_, &server_port_, &remote_port_})
    c->value = py::object();
  k_method_ = k_path_ = k_query_ = k_protocol_ = k_server_name_ = k_server_port_ = k_remote_addr_ =
      k_remote_port_ = k_content_type_ = k_content_length_ = k_input_ = k_raw_uri_ =
          k_request_uri_ = k_host_ = k_url_scheme_ = py::object();
  https_ = http11_ = http10_ = empty_ = template_ = py::object();
}

py::object Environ::cached(CachedText& c, std::string_view text) {
  if (!c.value || c.text != text) {
    c.value = latin1(text);
    c.text.assign(text);
  }
  return c.value;
}

py::object Environ::method_object(std::string_view method) {
  for (const auto& [name, obj] : methods_) {
    if (name == method) return obj;
  }
  return latin1(method);
}

const Environ::HeaderKey& Environ::header_key(std::string_view name) {
  if (auto it = header_keys_.find(name); it != header_keys_.end()) return it->second;
  HeaderKey k;
  if (iequals(name, "content-type")) {
    k.key = k_content_type_;
  } else if (iequals(name, "cookie")) {
    k.key = intern("HTTP_COOKIE");
    k.cookie = true;
  } else if (iequals(name, "content-length")) {
    // CONTENT_LENGTH comes from the parsed length (repeated equal values are one).
  } else if (name.find('_') == std::string_view::npos) {
    // gunicorn drops names with '_': "X_Forwarded_For" would otherwise spoof
    // the HTTP_X_FORWARDED_FOR of a proxy's "X-Forwarded-For".
    std::string key = "HTTP_";
    key.reserve(5 + name.size());
    for (char c : name)
      key.push_back(c == '-' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
    k.key = intern(key.c_str());
  }
  if (header_keys_.size() >= kHeaderKeyCacheSize) {
    static_assert(kHeaderKeyCacheSize > 0);
    header_keys_.erase(header_keys_.begin());
  }
  return header_keys_.emplace(std::string(name), std::move(k)).first->second;
}

py::dict Environ::build(const server::Exchange& ex, py::handle input) {
  const parser::Message& m = ex.request();
  py::dict env = py::reinterpret_steal<py::dict>(PyDict_Copy(template_.ptr()));
  if (!env) throw py::error_already_set();
  PyObject* e = env.ptr();
  auto set = [e](const py::object& k, const py::object& v) {
    if (PyDict_SetItem(e, k.ptr(), v.ptr()) != 0) throw py::error_already_set();
  };
  set(k_method_, method_object(m.method));

  const Origin o = origin_of(ex, origin_);
  set(k_path_, decode_path(o.path));
  if (!o.query.empty()) set(k_query_, latin1(o.query));
  // The target as sent, so that an app can tell %2F from / (gunicorn's keys).
  const py::object raw_uri = latin1(m.target);
  set(k_raw_uri_, raw_uri);
  set(k_request_uri_, raw_uri);
  set(k_protocol_, m.version_minor == 0 ? http10_ : http11_);
  set(k_server_name_, cached(server_name_, o.server_name));
  set(k_server_port_, cached(server_port_, o.server_port));
  set(k_remote_addr_, o.remote_addr.empty() ? empty_ : cached(remote_addr_, o.remote_addr));
  set(k_remote_port_, cached(remote_port_, o.remote_port));
  if (o.https) set(k_url_scheme_, https_);
  if (m.body == parser::BodyKind::content_length)
    set(k_content_length_, latin1(decimal(m.content_length)));

  for (const parser::Field& f : m.fields) {
    const HeaderKey& hk = header_key(f.name);
    if (!hk.key) continue;
    py::object value = latin1(f.value);
    PyObject* old = PyDict_GetItemWithError(e, hk.key.ptr());  // borrowed
    if (old == nullptr) {
      if (PyErr_Occurred() != nullptr) throw py::error_already_set();
      set(hk.key, value);
      continue;
    }
    // RFC 9110 §5.3: repeated fields combine into one comma-separated list;
    // Cookie is the exception, joined with "; " (RFC 6265 §5.4).
    py::object joined = py::reinterpret_steal<py::object>(
        PyUnicode_FromFormat(hk.cookie ? "%U; %U" : "%U,%U", old, value.ptr()));
    if (!joined) throw py::error_already_set();
    set(hk.key, joined);
  }
  // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
  if (!o.host.empty()) set(k_host_, latin1(o.host));

  if (PyDict_SetItem(e, k_input_.ptr(), input.ptr()) != 0) throw py::error_already_set();
  return env;
}

}  // namespace anvil::python
