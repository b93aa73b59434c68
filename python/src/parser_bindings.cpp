// anvil._core.parser: both C++ parsers for a Python event loop (the cost
// ladder's step 2, "a Python loop with anvil's C++ parser").
//
// The binding owns the bytes: feed() appends to a buffer the C++ parser reads
// from, and every span it hands out is turned into a Python object before the
// buffer changes again. Python objects are built with the raw C API (tuples
// filled in place, latin-1 strings), because this is on the measured path:
// per request it creates the head tuple, one str per method/target/name/value,
// one tuple per field, the headers list and the message tuple; nothing else.
// The HTTP-version strings are created once per parser, not per request.
// Every function here runs with the GIL held (pybind11 calls hold it).
//
// PyPy reaches C++ through cpyext, where each object made in C costs about a
// microsecond (it is mirrored into PyPy's heap), so the tuple API costs tens
// of microseconds per request there. feed_packed() serves PyPy instead: all
// the messages completed by one call come back as one bytes object (a fixed
// header, span offsets, then the raw text; layout in anvil/parser.py,
// _unpack), which PyPy's JIT takes apart in Python cheaply.
#include "parser_bindings.hpp"

#include <Python.h>

#include <array>
#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pybind11/stl.h>

#include "anvil/parser/parser.hpp"

namespace anvil::python {

namespace py = pybind11;
namespace ap = anvil::parser;

namespace {

// Event numbers of next() / finish(); also exported to Python as constants.
enum PyEvent : int { kNeedMore = 0, kHead = 1, kBody = 2, kDone = 3, kEnd = 4, kError = 5 };

// The head tuple's size: a request's ends with its target form.
constexpr Py_ssize_t kResponseHeadSize = 9;
constexpr Py_ssize_t kRequestHeadSize = 10;

py::object steal_or_throw(PyObject* o) {
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

// Bytes of a bytes object or of anything with the buffer protocol.
class InputView {
 public:
  explicit InputView(py::handle data) {
    if (PyBytes_Check(data.ptr())) {
      view_ = std::string_view(PyBytes_AS_STRING(data.ptr()),
                               static_cast<std::size_t>(PyBytes_GET_SIZE(data.ptr())));
      return;
    }
    buffer_ = py::reinterpret_borrow<py::buffer>(data).request();
    view_ = std::string_view(static_cast<const char*>(buffer_->ptr),
                             static_cast<std::size_t>(buffer_->size * buffer_->itemsize));
  }
  std::string_view view() const noexcept { return view_; }

 private:
  std::optional<py::buffer_info> buffer_;
  std::string_view view_;
};

class ParserBinding {
 public:
  ParserBinding(ap::ParserKind kind, ap::Mode mode, const ap::Limits& limits, bool strings)
      : parser_(ap::make_parser(kind, mode, limits)), strings_(strings) {
    http10_ = make_text("HTTP/1.0");
    http11_ = make_text("HTTP/1.1");
    for (std::size_t i = 0; i < forms_.size(); ++i) {
      const std::string_view name = ap::name_of(static_cast<ap::TargetForm>(i));
      forms_[i] = steal_or_throw(PyUnicode_InternFromString(std::string(name).c_str()));
    }
  }

  std::string_view kind() const noexcept { return ap::name_of(parser_->kind()); }
  std::string_view mode() const noexcept {
    return parser_->mode() == ap::Mode::request ? "request" : "response";
  }
  std::size_t buffered() const noexcept { return buf_.size() - start_; }

  void feed(py::handle data) {
    if (eof_) throw py::value_error("feed() after finish()");
    append(InputView(data).view());
  }

  // One event: None when more input is needed, else (event, payload).
  py::object next() {
    if (eof_) return finish_event();
    const ap::Step step = parser_->next(unconsumed());
    return event_tuple(step);
  }

  // The peer closed: the event that ends the input (done, end or error).
  py::object finish() {
    eof_ = true;
    return finish_event();
  }

  // Appends data and returns every message completed by it, as
  // (head, body, trailers) tuples. Stops at an error (see error()), and
  // after a request without keep-alive (nothing after it is parsed).
  py::list feed_messages(py::handle data) {
    if (eof_) throw py::value_error("feed_messages() after finish()");
    append(InputView(data).view());
    py::list out;
    while (parser_->error() == ap::Error::none) {
      const ap::Step step = parser_->next(unconsumed());
      start_ += step.consumed;
      if (step.event == ap::Event::need_more || step.event == ap::Event::end) break;
      collect(step.event, out);
    }
    compact();
    return out;
  }

  // The peer closed: the message completed by the end of input, if any
  // (a response body that runs until close), or an error when a message was
  // cut short.
  py::list finish_messages() {
    py::list out;
    if (!eof_ && parser_->error() == ap::Error::none) {
      eof_ = true;
      const ap::Step step = parser_->finish(unconsumed());
      start_ += step.consumed;
      collect(step.event, out);
    }
    return out;
  }

  // The PyPy path: like feed_messages(), but the messages come back packed
  // into one bytes object (b"" when none completed); see the layout below.
  py::bytes feed_packed(py::handle data) {
    if (eof_) throw py::value_error("feed_packed() after finish()");
    append(InputView(data).view());
    packed_.clear();
    while (parser_->error() == ap::Error::none) {
      const std::string_view in = unconsumed();
      const ap::Step step = parser_->next(in);
      if (step.event == ap::Event::need_more || step.event == ap::Event::end) {
        start_ += step.consumed;
        break;
      }
      pack(step.event, in.substr(0, step.consumed));
      start_ += step.consumed;
    }
    compact();
    return py::bytes(packed_);
  }

  py::bytes finish_packed() {
    packed_.clear();
    if (!eof_ && parser_->error() == ap::Error::none) {
      eof_ = true;
      const std::string_view in = unconsumed();
      const ap::Step step = parser_->finish(in);
      pack(step.event, in.substr(0, step.consumed));
      start_ += step.consumed;
    }
    return py::bytes(packed_);
  }

  // A head with Expect: 100-continue whose body has not all arrived.
  bool expect_continue_pending() const noexcept { return expect_pending_; }

  void reset() {
    parser_->reset();
    buf_.clear();
    start_ = 0;
    eof_ = false;
    pending_head_ = py::none();
    body_.clear();
    expect_pending_ = false;
    pending_index_.clear();
    pending_text_.clear();
  }

  void set_head_response(bool on) { parser_->set_head_response(on); }

  // The head of a message whose body is still arriving (for Expect:
  // 100-continue), or None.
  py::object pending_head() const { return pending_head_; }

  int error_status() const noexcept { return ap::status_of(parser_->error()); }

  py::object error() const {
    const ap::Error e = parser_->error();
    if (e == ap::Error::none) return py::none();
    return py::make_tuple(ap::status_of(e), py::str(std::string(ap::code_of(e))));
  }

 private:
  std::string_view unconsumed() const noexcept { return std::string_view(buf_).substr(start_); }

  void append(std::string_view data) {
    compact();
    buf_.append(data);
  }

  // Drops consumed bytes; spans handed out earlier are already Python objects.
  void compact() {
    if (start_ == 0) return;
    buf_.erase(0, start_);
    start_ = 0;
  }

  py::object finish_event() {
    const ap::Step step = parser_->finish(unconsumed());
    start_ += step.consumed;
    return event_payload(step.event);
  }

  py::object event_tuple(const ap::Step& step) {
    start_ += step.consumed;
    if (step.event == ap::Event::need_more) {
      compact();
      return py::none();
    }
    return event_payload(step.event);
  }

  py::object event_payload(ap::Event event) {
    switch (event) {
      case ap::Event::need_more:
        return py::none();
      case ap::Event::head:
        return pair(kHead, make_head(parser_->message()));
      case ap::Event::body:
        return pair(kBody, make_bytes(parser_->body()));
      case ap::Event::done:
        return pair(kDone, make_fields(parser_->trailers()));
      case ap::Event::end:
        return pair(kEnd, py::none());
      case ap::Event::error:
        return pair(kError, error());
    }
    return py::none();
  }

  static py::object pair(int event, py::object payload) {
    return py::make_tuple(event, std::move(payload));
  }

  // messages(): assemble one message from head, body pieces and done.
  void collect(ap::Event event, py::list& out) {
    switch (event) {
      case ap::Event::head:
        pending_head_ = make_head(parser_->message());
        expect_pending_ = parser_->message().expect_continue;
        body_.clear();
        return;
      case ap::Event::body:
        body_.append(parser_->body());
        return;
      case ap::Event::done:
        out.append(make_message());
        return;
      case ap::Event::need_more:
      case ap::Event::end:
      case ap::Event::error:
        return;
    }
  }

  // Packed record, little-endian, one per message (anvil/parser.py _unpack):
  //   u32 record size, u32 flags (1 chunked, 2 keep_alive, 4 expect_continue,
  //   8 upgrade, 16 content_length, bits 5-6 the TargetForm), u32 status, u32 version (major * 256
  //   + minor), u64 content_length, u32 fields, u32 trailers, u32 head text size, u32 body size,
  //   u32 trailer text size; u32 (offset, length) pairs: method|reason... see below, then (name,
  //   value) of each field into the head text and of each trailer into the trailer text; then the
  //   head text, the body, the trailer text.
  // Requests: first pair method, second target; responses: reason twice.
  void pack(ap::Event event, std::string_view consumed) {
    switch (event) {
      case ap::Event::head:
        pack_head(parser_->message(), consumed);
        return;
      case ap::Event::body:
        body_.append(parser_->body());
        return;
      case ap::Event::done:
        pack_record(consumed);
        return;
      case ap::Event::need_more:
      case ap::Event::end:
      case ap::Event::error:
        return;
    }
  }

  void pack_head(const ap::Message& m, std::string_view text) {
    const bool request = parser_->mode() == ap::Mode::request;
    pending_text_.assign(text);
    pending_index_.clear();
    const std::string_view first = request ? m.method : m.reason;
    const std::string_view second = request ? m.target : m.reason;
    add_span(pending_index_, text, first);
    add_span(pending_index_, text, second);
    for (const ap::Field& f : m.fields) {
      add_span(pending_index_, text, f.name);
      add_span(pending_index_, text, f.value);
    }
    pending_fields_ = static_cast<std::uint32_t>(m.fields.size());
    pending_flags_ = (m.body == ap::BodyKind::chunked ? 1u : 0u) | (m.keep_alive ? 2u : 0u) |
                     (m.expect_continue ? 4u : 0u) | (m.upgrade ? 8u : 0u) |
                     (m.body == ap::BodyKind::content_length ? 16u : 0u) |
                     static_cast<std::uint32_t>(m.target_form) << 5;
    pending_status_ = static_cast<std::uint32_t>(m.status);
    pending_version_ = static_cast<std::uint32_t>(m.version_major) * 256 + m.version_minor;
    pending_length_ = m.content_length;
    expect_pending_ = m.expect_continue;
    body_.clear();
  }

  void pack_record(std::string_view trailer_text) {
    const std::span<const ap::Field> trailers = parser_->trailers();
    std::vector<std::uint32_t>& index = pending_index_;
    for (const ap::Field& f : trailers) {
      add_span(index, trailer_text, f.name);
      add_span(index, trailer_text, f.value);
    }
    const std::size_t header = 12 * sizeof(std::uint32_t);
    const std::size_t size = header + index.size() * sizeof(std::uint32_t) + pending_text_.size() +
                             body_.size() + trailer_text.size();
    put32(static_cast<std::uint32_t>(size));
    put32(pending_flags_);
    put32(pending_status_);
    put32(pending_version_);
    put32(static_cast<std::uint32_t>(pending_length_ & 0xffffffffu));
    put32(static_cast<std::uint32_t>(pending_length_ >> 32));
    put32(pending_fields_);
    put32(static_cast<std::uint32_t>(trailers.size()));
    put32(static_cast<std::uint32_t>(pending_text_.size()));
    put32(static_cast<std::uint32_t>(body_.size()));
    put32(static_cast<std::uint32_t>(trailer_text.size()));
    put32(0);  // reserved, keeps the index 8-byte aligned
    for (std::uint32_t v : index) put32(v);
    packed_.append(pending_text_);
    packed_.append(body_);
    packed_.append(trailer_text);
    body_.clear();
    expect_pending_ = false;
  }

  static void add_span(std::vector<std::uint32_t>& index, std::string_view text,
                       std::string_view span) {
    // Spans point into text (the parser's contract); an empty one may not.
    const bool inside = !span.empty() && span.data() >= text.data() &&
                        span.data() + span.size() <= text.data() + text.size();
    index.push_back(inside ? static_cast<std::uint32_t>(span.data() - text.data()) : 0);
    index.push_back(inside ? static_cast<std::uint32_t>(span.size()) : 0);
  }

  void put32(std::uint32_t v) {
    static_assert(std::endian::native == std::endian::little, "the packed layout is little-endian");
    packed_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }

  py::object make_message() {
    PyObject* t = PyTuple_New(3);
    if (t == nullptr) throw py::error_already_set();
    py::object message = py::reinterpret_steal<py::object>(t);
    PyTuple_SET_ITEM(t, 0, pending_head_.release().ptr());
    pending_head_ = py::none();
    expect_pending_ = false;
    PyTuple_SET_ITEM(t, 1, make_bytes(body_).release().ptr());
    PyTuple_SET_ITEM(t, 2, make_fields(parser_->trailers()).release().ptr());
    body_.clear();
    return message;
  }

  // (method|status, target|reason, version, headers, content_length|None,
  //  chunked, keep_alive, expect_continue, upgrade[, target_form])
  py::object make_head(const ap::Message& m) {
    const bool request = parser_->mode() == ap::Mode::request;
    PyObject* t = PyTuple_New(request ? kRequestHeadSize : kResponseHeadSize);
    if (t == nullptr) throw py::error_already_set();
    py::object head = py::reinterpret_steal<py::object>(t);
    PyTuple_SET_ITEM(t, 0, (request ? make_text(m.method) : make_int(m.status)).release().ptr());
    PyTuple_SET_ITEM(t, 1, make_text(request ? m.target : m.reason).release().ptr());
    PyTuple_SET_ITEM(t, 2, make_version(m).release().ptr());
    PyTuple_SET_ITEM(t, 3, make_fields(m.fields).release().ptr());
    py::object length =
        m.body == ap::BodyKind::content_length ? make_int(m.content_length) : py::none();
    PyTuple_SET_ITEM(t, 4, length.release().ptr());
    PyTuple_SET_ITEM(t, 5, make_bool(m.body == ap::BodyKind::chunked).release().ptr());
    PyTuple_SET_ITEM(t, 6, make_bool(m.keep_alive).release().ptr());
    PyTuple_SET_ITEM(t, 7, make_bool(m.expect_continue).release().ptr());
    PyTuple_SET_ITEM(t, 8, make_bool(m.upgrade).release().ptr());
    if (request) {
      PyTuple_SET_ITEM(t, 9, forms_[static_cast<std::size_t>(m.target_form)].inc_ref().ptr());
    }
    return head;
  }

  py::object make_version(const ap::Message& m) {
    if (m.version_major == 1 && m.version_minor == 1) return http11_;
    if (m.version_major == 1 && m.version_minor == 0) return http10_;
    std::string v = "HTTP/";
    v += static_cast<char>('0' + m.version_major);
    v += '.';
    v += static_cast<char>('0' + m.version_minor);
    return make_text(v);
  }

  template <typename Fields>
  py::object make_fields(const Fields& fields) {
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(fields.size()));
    if (list == nullptr) throw py::error_already_set();
    py::object result = py::reinterpret_steal<py::object>(list);
    Py_ssize_t i = 0;
    for (const ap::Field& f : fields) {
      PyObject* pair = PyTuple_New(2);
      if (pair == nullptr) throw py::error_already_set();
      PyList_SET_ITEM(list, i++, pair);  // owned by the list from here on
      PyTuple_SET_ITEM(pair, 0, make_text(f.name).release().ptr());
      PyTuple_SET_ITEM(pair, 1, make_text(f.value).release().ptr());
    }
    return result;
  }

  // Message text as str (latin-1: every byte is the code point of the same
  // value, as PEP 3333 wants for environ) or as bytes.
  py::object make_text(std::string_view s) const {
    if (!strings_) return make_bytes(s);
    return steal_or_throw(
        PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr));
  }

  static py::object make_bytes(std::string_view s) {
    return steal_or_throw(PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size())));
  }

  static py::object make_int(std::uint64_t v) {
    return steal_or_throw(PyLong_FromUnsignedLongLong(v));
  }

  static py::object make_bool(bool v) { return py::bool_(v); }

  std::unique_ptr<ap::Parser> parser_;
  bool strings_;
  std::string buf_;  // bytes fed; [start_, size) not yet consumed
  std::size_t start_ = 0;
  bool eof_ = false;
  py::object pending_head_ = py::none();
  std::string body_;  // feed_messages(): the body assembled so far
  py::object http10_;
  py::object http11_;
  std::array<py::object, 4> forms_;  // "origin", "absolute", "authority", "asterisk"

  bool expect_pending_ = false;
  // feed_packed(): the head of the message being assembled, and the output.
  std::string pending_text_;
  std::vector<std::uint32_t> pending_index_;
  std::uint32_t pending_fields_ = 0;
  std::uint32_t pending_flags_ = 0;
  std::uint32_t pending_status_ = 0;
  std::uint32_t pending_version_ = 0;
  std::uint64_t pending_length_ = 0;
  std::string packed_;
};

ap::ParserKind kind_from(const std::string& name) {
  const auto kind = ap::parser_kind_from_name(name);
  if (!kind)
    throw py::value_error("unknown parser kind '" + name + "' (one of " + ap::parser_kind_names() +
                          ")");
  return *kind;
}

ap::Mode mode_from(const std::string& name) {
  if (name == "request") return ap::Mode::request;
  if (name == "response") return ap::Mode::response;
  throw py::value_error("unknown mode '" + name + "' (request or response)");
}

std::unique_ptr<ParserBinding> make_binding(const std::string& kind, const std::string& mode,
                                            bool strings, std::size_t request_line,
                                            std::size_t header_bytes, std::size_t fields,
                                            std::optional<std::uint64_t> body,
                                            std::size_t chunk_extension) {
  ap::Limits limits;
  limits.request_line = request_line;
  limits.header_bytes = header_bytes;
  limits.fields = fields;
  limits.body = body.value_or(UINT64_MAX);
  limits.chunk_extension = chunk_extension;
  return std::make_unique<ParserBinding>(kind_from(kind), mode_from(mode), limits, strings);
}

}  // namespace

void register_parser_bindings(py::module_& m) {
  py::module_ sub = m.def_submodule("parser", "anvil's C++ HTTP/1.1 parsers (see anvil.parser)");
  sub.attr("NEED_MORE") = static_cast<int>(kNeedMore);
  sub.attr("HEAD") = static_cast<int>(kHead);
  sub.attr("BODY") = static_cast<int>(kBody);
  sub.attr("DONE") = static_cast<int>(kDone);
  sub.attr("END") = static_cast<int>(kEnd);
  sub.attr("ERROR") = static_cast<int>(kError);

  sub.def(
      "kinds",
      [] {
        py::list names;
        for (ap::ParserKind k : ap::all_parser_kinds()) names.append(std::string(ap::name_of(k)));
        return names;
      },
      "The parser kinds this build offers, e.g. ['llhttp', 'fast'].");
  sub.def(
      "status_of",
      [](const std::string& code) {
        for (int i = 0; i <= static_cast<int>(ap::Error::unsupported_version); ++i) {
          const auto e = static_cast<ap::Error>(i);
          if (ap::code_of(e) == code) return ap::status_of(e);
        }
        throw py::value_error("unknown error code '" + code + "'");
      },
      "The HTTP status for an error code such as 'bad_chunk_size'.");

  py::class_<ParserBinding>(sub, "Parser")
      .def(py::init(&make_binding), py::arg("kind") = "fast", py::arg("mode") = "request",
           py::kw_only(), py::arg("strings") = true, py::arg("request_line") = 8 * 1024,
           py::arg("header_bytes") = 64 * 1024, py::arg("fields") = 100,
           py::arg("body") = py::none(), py::arg("chunk_extension") = 4096)
      .def_property_readonly("kind", &ParserBinding::kind)
      .def_property_readonly("mode", &ParserBinding::mode)
      .def_property_readonly("buffered", &ParserBinding::buffered)
      .def_property_readonly("pending_head", &ParserBinding::pending_head)
      .def_property_readonly("error", &ParserBinding::error)
      .def_property_readonly("error_status", &ParserBinding::error_status)
      .def("feed", &ParserBinding::feed, py::arg("data"))
      .def("next", &ParserBinding::next)
      .def("finish", &ParserBinding::finish)
      .def("feed_messages", &ParserBinding::feed_messages, py::arg("data"))
      .def("finish_messages", &ParserBinding::finish_messages)
      .def("feed_packed", &ParserBinding::feed_packed, py::arg("data"))
      .def("finish_packed", &ParserBinding::finish_packed)
      .def_property_readonly("expect_continue_pending", &ParserBinding::expect_continue_pending)
      .def("reset", &ParserBinding::reset)
      .def("set_head_response", &ParserBinding::set_head_response, py::arg("on"));
}

}  // namespace anvil::python
