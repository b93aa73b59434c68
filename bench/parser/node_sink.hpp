// What a C parser's callbacks keep when it is driven the way Node.js's
// node_http_parser.cc drives llhttp (and drove http-parser before it):
// zero-copy spans of the URL and of each field name and value, a count (or a
// copy) of the body bytes, the messages completed. Parser-independent: the
// callbacks are templates over the parser's struct (llhttp_t, http_parser),
// whose headers cannot share a translation unit (their enumerators clash).
// Used by raw_llhttp.hpp and raw_http_parser.cpp, and so by parser_bench
// (issue 11 §2 and §7) and the shoot-out's parsers_c (bench/parsers/).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::bench::raw {

// One message as the matrix compares them: RFC 9112 framing, not fields.
struct Message {
  std::string method;
  std::string target;
  std::string body;  // decoded body bytes
};

// A span of the input that grows while its pieces are contiguous (Node's
// StringPtr); a piece elsewhere makes it an owned copy.
class Piece {
 public:
  void reset() {
    view_ = {};
    owned_.clear();
  }
  void add(const char* at, std::size_t n) {
    if (view_.empty()) {
      view_ = {at, n};
    } else if (owned_.empty() && view_.data() + view_.size() == at) {
      view_ = {view_.data(), view_.size() + n};
    } else {
      if (owned_.empty()) owned_.assign(view_);
      owned_.append(at, n);
      view_ = owned_;
    }
  }
  std::string_view view() const { return view_; }

 private:
  std::string_view view_;
  std::string owned_;
};

struct NodeSink {
  Piece url;
  std::vector<Piece> names;  // Node keeps 32 and flushes to JS past them
  std::vector<Piece> values;
  std::size_t fields = 0;
  bool value_open = false;
  bool keep_body = false;  // verdicts copy the body; speed runs count it
  std::string body;
  long body_bytes = 0;
  std::vector<Message>* messages = nullptr;
  long completed = 0;
  bool keep_alive = true;  // of the last message completed

  NodeSink() : names(32), values(32) {}
};

// Both parsers keep the caller's pointer in `data`.
template <class P>
NodeSink& sink_of(P* p) {
  return *static_cast<NodeSink*>(p->data);
}

template <class P>
int on_message_begin(P* p) {
  NodeSink& s = sink_of(p);
  s.url.reset();
  s.fields = 0;
  s.value_open = false;
  s.body.clear();
  s.body_bytes = 0;
  return 0;
}

template <class P>
int on_url(P* p, const char* at, std::size_t n) {
  sink_of(p).url.add(at, n);
  return 0;
}

template <class P>
int on_header_field(P* p, const char* at, std::size_t n) {
  NodeSink& s = sink_of(p);
  if (s.value_open || s.fields == 0) {
    if (s.fields == s.names.size()) {
      s.names.resize(s.fields * 2);
      s.values.resize(s.fields * 2);
    }
    s.names[s.fields].reset();
    s.values[s.fields].reset();
    ++s.fields;
    s.value_open = false;
  }
  s.names[s.fields - 1].add(at, n);
  return 0;
}

template <class P>
int on_header_value(P* p, const char* at, std::size_t n) {
  NodeSink& s = sink_of(p);
  s.value_open = true;
  s.values[s.fields - 1].add(at, n);
  return 0;
}

template <class P>
int on_body(P* p, const char* at, std::size_t n) {
  NodeSink& s = sink_of(p);
  s.body_bytes += static_cast<long>(n);
  if (s.keep_body) s.body.append(at, n);
  return 0;
}

// The end of a message, with its method's name as the parser spells it and
// whether the connection may carry another (the parser's should_keep_alive,
// which is valid in this callback: llhttp clears its flags after it).
inline int message_complete(NodeSink& s, const char* method, bool keep_alive) {
  ++s.completed;
  s.keep_alive = keep_alive;
  if (s.messages != nullptr) s.messages->push_back({method, std::string(s.url.view()), s.body});
  return 0;
}

// Settings (llhttp_settings_t or http_parser_settings: the same callback
// names) with the Node.js-style callbacks above; the parser's own
// on_message_complete names the method.
template <class P, class Settings>
void set_node_callbacks(Settings& settings) {
  settings.on_message_begin = on_message_begin<P>;
  settings.on_url = on_url<P>;
  settings.on_header_field = on_header_field<P>;
  settings.on_header_value = on_header_value<P>;
  settings.on_body = on_body<P>;
}

}  // namespace anvil::bench::raw
