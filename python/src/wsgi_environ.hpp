// environ (PEP 3333 "environ Variables") for both WSGI paths, from one
// reading of the request (origin_of, wsgi_origin.hpp):
//  * the C-API path: Environ::build() makes the dict;
//  * the Python-side and cffi paths: pack_request() (wsgi_origin.hpp, with
//    no Python in it, for libanvil_host too) makes the packed head from which
//    anvil/_pywsgi.py's dispatcher makes the same dict in Python (where the
//    language parts, the keys are written again: the file there says which).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pybind11/pybind11.h>

#include "anvil/server/handler.hpp"
#include "wsgi_origin.hpp"

namespace anvil::python {

namespace py = pybind11;

// A str with the code points of s's bytes (latin-1, PEP 3333's "native
// strings"). GIL held.
py::object latin1(std::string_view s);

// The C-API path's environ maker, one per worker: the fixed keys interned,
// the constant part of environ in a template dict, header names cached.
// Every call needs the GIL; clear() drops the Python references (the owner
// calls it under the GIL before it is destroyed).
class Environ {
 public:
  Environ(const OriginOptions& origin, bool multithread, bool multiprocess,
          py::handle file_wrapper);
  Environ(const Environ&) = delete;
  Environ& operator=(const Environ&) = delete;

  // A new environ dict for the exchange; wsgi.input is `input`.
  py::dict build(const server::Exchange& ex, py::handle input);
  void clear();

 private:
  struct HeaderKey {
    py::object key;       // null: the field is not put in environ
    bool cookie = false;  // repeated lines join with "; " (RFC 6265 §5.4)
  };
  struct CachedText {
    std::string text;
    py::object value;
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  const HeaderKey& header_key(std::string_view name);
  py::object method_object(std::string_view method);
  static py::object cached(CachedText& c, std::string_view text);

  const OriginOptions& origin_;
  py::object template_;
  // Interned keys and values.
  py::object k_method_, k_path_, k_query_, k_protocol_, k_server_name_, k_server_port_,
      k_remote_addr_, k_remote_port_, k_content_type_, k_content_length_, k_input_, k_raw_uri_,
      k_request_uri_, k_host_, k_url_scheme_;
  py::object https_, http11_, http10_, empty_;
  std::vector<std::pair<std::string, py::object>> methods_;
  std::unordered_map<std::string, HeaderKey, NameHash, std::equal_to<>> header_keys_;
  CachedText remote_addr_, server_name_, server_port_, remote_port_;
};

}  // namespace anvil::python
