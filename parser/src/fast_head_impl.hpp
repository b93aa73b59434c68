// The `fast` parser's head scanner, compiled once per instruction set:
// fast_parser.cpp includes this file inside a namespace per variant, with
// FAST_TARGET (a function attribute such as target("avx2"), or nothing) and
// FAST_WIDTH (32: AVX2, 16: SSE4.2, 0: plain code) defined. Every function
// here carries FAST_TARGET so that the SIMD scans inline into the state
// machine (an indirect call per field would cost a third of the budget).
//
// No #pragma once: included several times on purpose.

// ---- Scans: the first byte at or after p, before end, of a class ----

#if FAST_WIDTH >= 16
// Bytes outside the class of the nibble table `lo_tbl` (fast_scan.hpp).
FAST_TARGET inline unsigned nonclass_mask16(__m128i v, const std::uint8_t* lo_tbl) {
  const __m128i lo_t = _mm_load_si128(reinterpret_cast<const __m128i*>(lo_tbl));
  const __m128i hi_t = _mm_load_si128(reinterpret_cast<const __m128i*>(kRowHi.data()));
  const __m128i nib = _mm_set1_epi8(0x0F);
  const __m128i lo = _mm_shuffle_epi8(lo_t, _mm_and_si128(v, nib));
  const __m128i hi = _mm_shuffle_epi8(hi_t, _mm_and_si128(_mm_srli_epi16(v, 4), nib));
  const __m128i t = _mm_and_si128(lo, hi);
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(t, _mm_setzero_si128())));
}
FAST_TARGET inline unsigned nontchar_mask16(__m128i v) {
  return nonclass_mask16(v, kTcharLo.data());
}
// Bytes <= top, or DEL.
FAST_TARGET inline unsigned ctl_mask16(__m128i v, char top) {
  const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(top)), v);
  const __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(low, del)));
}
#endif

#if FAST_WIDTH >= 32
FAST_TARGET inline std::uint32_t nonclass_mask32(__m256i v, const std::uint8_t* lo_tbl) {
  const __m256i lo_t =
      _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(lo_tbl)));
  const __m256i hi_t =
      _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kRowHi.data())));
  const __m256i nib = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_shuffle_epi8(lo_t, _mm256_and_si256(v, nib));
  const __m256i hi = _mm256_shuffle_epi8(hi_t, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
  const __m256i t = _mm256_and_si256(lo, hi);
  return static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(t, _mm256_setzero_si256())));
}
FAST_TARGET inline std::uint32_t nontchar_mask32(__m256i v) {
  return nonclass_mask32(v, kTcharLo.data());
}
FAST_TARGET inline std::uint32_t ctl_mask32(__m256i v, char top) {
  const __m256i low = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(top)), v);
  const __m256i del = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7F));
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(low, del)));
}
#endif

// The first byte in [p, end) outside the class of `lo_tbl` (kTcharLo or
// kPathLo), or end; `scalar` finishes the scan byte by byte.
template <std::size_t (*kScalar)(const char*, std::size_t, std::size_t)>
FAST_TARGET inline std::size_t find_nonclass(const std::uint8_t* lo_tbl, const char* b,
                                             std::size_t p, std::size_t end) {
#if FAST_WIDTH >= 32
  while (end - p >= 32) {
    const std::uint32_t m =
        nonclass_mask32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p)), lo_tbl);
    if (m != 0) return p + static_cast<std::size_t>(__builtin_ctz(m));
    p += 32;
  }
#endif
#if FAST_WIDTH >= 16
  while (end - p >= 16) {
    const unsigned m =
        nonclass_mask16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + p)), lo_tbl);
    if (m != 0) return p + static_cast<std::size_t>(__builtin_ctz(m));
    p += 16;
  }
#endif
  (void)lo_tbl;
  return kScalar(b, p, end);
}

// The first non-tchar byte in [p, end), or end.
FAST_TARGET inline std::size_t find_nontchar(const char* b, std::size_t p, std::size_t end) {
  return find_nonclass<scalar_nontchar>(kTcharLo.data(), b, p, end);
}

// The first byte in [p, end) that is not a path byte (kPathByte), or end.
FAST_TARGET inline std::size_t find_nonpath(const char* b, std::size_t p, std::size_t end) {
  return find_nonclass<scalar_nonpath>(kPathLo.data(), b, p, end);
}

// The first control byte (HTAB included) or DEL in [p, end), or end.
FAST_TARGET inline std::size_t find_ctl(const char* b, std::size_t p, std::size_t end) {
#if FAST_WIDTH >= 32
  while (end - p >= 32) {
    const std::uint32_t m =
        ctl_mask32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p)), 0x1F);
    if (m != 0) return p + static_cast<std::size_t>(__builtin_ctz(m));
    p += 32;
  }
#endif
#if FAST_WIDTH >= 16
  while (end - p >= 16) {
    const unsigned m = ctl_mask16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + p)), 0x1F);
    if (m != 0) return p + static_cast<std::size_t>(__builtin_ctz(m));
    p += 16;
  }
#endif
  return scalar_ctl(b, p, end);
}

// ---- Field-section windows ----
//
// The field section is classified 64 bytes at a time into two bit masks, so
// that finding a line's colon and its CR costs a few bit operations instead
// of a SIMD scan whose load waits on the previous scan's result. Bytes at or
// past `end` are marked in both masks, so a search always stops at `end`.
struct Window {
  std::size_t at = 0;     // the window covers [at, at + 64)
  std::uint64_t nt = 0;   // non-tchar bytes (a field name ends at the first)
  std::uint64_t ctl = 0;  // controls and DEL (a field value ends at the first)
};

// Masks of bytes [at, at + 32) clipped at end, without reading outside [0, end).
FAST_TARGET inline void classify32(const char* b, std::size_t at, std::size_t end,
                                   std::uint32_t& nt, std::uint32_t& ctl) {
  const std::size_t n = end - at;
#if FAST_WIDTH >= 32
  if (n >= 32 || end >= 32) {
    // A short tail is read as the 32 bytes that end at `end`, then shifted.
    const std::size_t from = n >= 32 ? at : end - 32;
    const unsigned shift = n >= 32 ? 0 : static_cast<unsigned>(32 - n);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + from));
    nt = nontchar_mask32(v) >> shift;
    ctl = ctl_mask32(v, 0x1F) >> shift;
    if (n < 32) {
      const std::uint32_t pad = ~std::uint32_t{0} << n;
      nt |= pad;
      ctl |= pad;
    }
    return;
  }
#elif FAST_WIDTH >= 16
  if (n >= 32) {
    const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + at));
    const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + at + 16));
    nt = nontchar_mask16(v0) | nontchar_mask16(v1) << 16;
    ctl = ctl_mask16(v0, 0x1F) | ctl_mask16(v1, 0x1F) << 16;
    return;
  }
#endif
  nt = 0;
  ctl = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const bool past = i >= n;
    const char c = past ? '\0' : b[at + i];
    nt |= static_cast<std::uint32_t>(past || !is_tchar(c)) << i;
    ctl |= static_cast<std::uint32_t>(past || is_ctl(c)) << i;
  }
}

FAST_TARGET inline void classify(const char* b, std::size_t at, std::size_t end, Window& w) {
  std::uint32_t nt0 = 0;
  std::uint32_t ctl0 = 0;
  std::uint32_t nt1 = ~std::uint32_t{0};
  std::uint32_t ctl1 = ~std::uint32_t{0};
  classify32(b, at, end, nt0, ctl0);
  if (end - at > 32) classify32(b, at + 32, end, nt1, ctl1);
  w.at = at;
  w.nt = nt0 | std::uint64_t{nt1} << 32;
  w.ctl = ctl0 | std::uint64_t{ctl1} << 32;
}

// The first byte at or after p (p < end) marked in the chosen mask, or end.
template <bool kNonTchar>
FAST_TARGET inline std::size_t next_marked(const char* b, std::size_t p, std::size_t end,
                                           Window& w) {
#if FAST_WIDTH == 0
  // Plain code gains nothing from windows: scan byte by byte.
  (void)w;
  return kNonTchar ? scalar_nontchar(b, p, end) : scalar_ctl(b, p, end);
#endif
  for (;;) {
    if (p - w.at >= 64) classify(b, p, end, w);
    const std::uint64_t m = (kNonTchar ? w.nt : w.ctl) >> (p - w.at);
    if (m != 0) return p + static_cast<std::size_t>(__builtin_ctzll(m));
    p = w.at + 64;
    if (p >= end) return end;
  }
}

// ---- Whole field sections ----
//
// The common case is a field section that is all in the buffer. It is
// scanned in one pass with the SIMD constants kept in registers and no
// suspend points; anything unusual (a byte it does not expect, the end of the
// buffer, a limit, an error in a field's meaning) makes it give up, and the
// resumable scanner below starts over from the same place, so every answer
// other than a plain success still comes from that scanner.
struct Consts {
#if FAST_WIDTH >= 32
  __m256i lo_t, hi_t, nib, top, del;
#elif FAST_WIDTH >= 16
  __m128i lo_t, hi_t, nib, top, del;
#endif
};

FAST_TARGET inline Consts make_consts() {
  Consts k;
#if FAST_WIDTH >= 32
  k.lo_t = _mm256_broadcastsi128_si256(
      _mm_load_si128(reinterpret_cast<const __m128i*>(kTcharLo.data())));
  k.hi_t =
      _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kRowHi.data())));
  k.nib = _mm256_set1_epi8(0x0F);
  k.top = _mm256_set1_epi8(0x1F);
  k.del = _mm256_set1_epi8(0x7F);
#elif FAST_WIDTH >= 16
  k.lo_t = _mm_load_si128(reinterpret_cast<const __m128i*>(kTcharLo.data()));
  k.hi_t = _mm_load_si128(reinterpret_cast<const __m128i*>(kRowHi.data()));
  k.nib = _mm_set1_epi8(0x0F);
  k.top = _mm_set1_epi8(0x1F);
  k.del = _mm_set1_epi8(0x7F);
#endif
  return k;
}

// nt and ctl as classify() makes them. The low-nibble lookup needs no AND:
// pshufb gives 0 for an index byte with its top bit set, and bytes 0x80-0xFF
// are not tchars.
#if FAST_WIDTH >= 32
FAST_TARGET inline void masks_of(const Consts& k, __m256i v, std::uint64_t& nt,
                                 std::uint64_t& ctl) {
  const __m256i lo = _mm256_shuffle_epi8(k.lo_t, v);
  const __m256i hi = _mm256_shuffle_epi8(k.hi_t, _mm256_and_si256(_mm256_srli_epi16(v, 4), k.nib));
  const __m256i t = _mm256_and_si256(lo, hi);
  nt = static_cast<std::uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(t, _mm256_setzero_si256())));
  const __m256i low = _mm256_cmpeq_epi8(_mm256_min_epu8(v, k.top), v);
  const __m256i del = _mm256_cmpeq_epi8(v, k.del);
  ctl = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(low, del)));
}
#elif FAST_WIDTH >= 16
FAST_TARGET inline void masks_of(const Consts& k, __m128i v, std::uint64_t& nt,
                                 std::uint64_t& ctl) {
  const __m128i lo = _mm_shuffle_epi8(k.lo_t, v);
  const __m128i hi = _mm_shuffle_epi8(k.hi_t, _mm_and_si128(_mm_srli_epi16(v, 4), k.nib));
  const __m128i t = _mm_and_si128(lo, hi);
  nt = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(t, _mm_setzero_si128())));
  const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, k.top), v);
  const __m128i del = _mm_cmpeq_epi8(v, k.del);
  ctl = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(low, del)));
}
#endif

// The window at p when all 64 bytes [p, p + 64) are below end.
FAST_TARGET inline void classify_full(const Consts& k, const char* b, std::size_t p, Window& w) {
  w.at = p;
#if FAST_WIDTH >= 32
  std::uint64_t nt0, ctl0, nt1, ctl1;
  masks_of(k, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p)), nt0, ctl0);
  masks_of(k, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + p + 32)), nt1, ctl1);
  w.nt = nt0 | nt1 << 32;
  w.ctl = ctl0 | ctl1 << 32;
#elif FAST_WIDTH >= 16
  std::uint64_t nt[4], ctl[4];
  for (int i = 0; i < 4; ++i) {
    masks_of(k, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + p + 16 * i)), nt[i], ctl[i]);
  }
  w.nt = nt[0] | nt[1] << 16 | nt[2] << 32 | nt[3] << 48;
  w.ctl = ctl[0] | ctl[1] << 16 | ctl[2] << 32 | ctl[3] << 48;
#else
  (void)k;
  classify(b, p, p + 64, w);
#endif
}

// next_marked with the constants in registers (p < end).
template <bool kNonTchar>
FAST_TARGET inline std::size_t next_marked_fast(const Consts& k, const char* b, std::size_t p,
                                                std::size_t end, Window& w) {
#if FAST_WIDTH == 0
  (void)k;
  (void)w;
  return kNonTchar ? scalar_nontchar(b, p, end) : scalar_ctl(b, p, end);
#else
  for (;;) {
    std::size_t rel = p - w.at;  // one subtraction for the test and the shift
    if (rel >= 64) [[unlikely]] {
      if (end - p >= 64) [[likely]] {
        classify_full(k, b, p, w);
      } else {
        classify(b, p, end, w);
      }
      rel = 0;
    }
    const std::uint64_t m = (kNonTchar ? w.nt : w.ctl) >> rel;
    if (m != 0) [[likely]]
      return p + static_cast<std::size_t>(__builtin_ctzll(m));
    p = w.at + 64;
    if (p >= end) return end;
  }
#endif
}

// The field section from p, fields still empty: true with st.pos one past
// the empty line's LF when it is whole, valid and within the limits; false
// (st and fields as they were) for the resumable scanner to decide.
// noinline: kept out of the flattened scan_head, its loop keeps the window
// in registers (chrome-2013: 2091 -> 1994 instructions per request).
template <bool kHead>
FAST_TARGET __attribute__((noinline)) bool whole_fields(HeadState& st, std::vector<Field>& fields,
                                                        const Limits& limits, Mode mode,
                                                        const char* b, std::size_t avail,
                                                        std::size_t p) {
  const std::size_t end = std::min(avail, sat_add(p, limits.header_bytes));
  const Consts k = make_consts();
  // A copy, in the frame rather than behind a pointer; st.facts gets it on success.
  [[maybe_unused]] FieldFacts facts = kHead ? st.facts : FieldFacts{};
  Window w;
  w.at = p - 64;  // none yet: the first search classifies
  for (;;) {
    if (p + 1 >= end) [[unlikely]]
      break;
    if (b[p] == '\r') {
      // RULES.md: at most limits.fields field lines (see the push below).
      if (b[p + 1] != '\n' || fields.size() > limits.fields) break;
      if constexpr (kHead) st.facts = facts;
      st.pos = p + 2;
      return true;
    }
    // A name of tchars ending at a colon; an empty name (which includes a
    // line starting with SP or HTAB) is left to the resumable scanner. The
    // value's CRLF needs two more bytes before end.
    const std::size_t colon = next_marked_fast<true>(k, b, p, end, w);
    if (colon + 2 >= end || b[colon] != ':' || colon == p) [[unlikely]]
      break;
    // The first control byte after the colon that is not an HTAB (allowed
    // in a value): the CR, which needs its LF before end.
    std::size_t cr = colon;
    do {
      cr = next_marked_fast<false>(k, b, cr + 1, end, w);
    } while (cr + 1 < end && b[cr] == '\t');
    if (cr + 1 >= end || b[cr] != '\r' || b[cr + 1] != '\n') [[unlikely]]
      break;
    // Only HTAB and SP below 0x21 remain in the value. One SP after the
    // colon, and none before the CR, is the usual case.
    std::size_t v = colon + 1 + (b[colon + 1] == ' ');
    while (static_cast<unsigned char>(b[v]) <= 0x20 && v < cr) [[unlikely]] {
        ++v;
      }
    std::size_t e = cr;
    if (static_cast<unsigned char>(b[e - 1]) <= 0x20) [[unlikely]] {
      while (e > v && static_cast<unsigned char>(b[e - 1]) <= 0x20) --e;
    }
    const std::string_view name(b + p, colon - p);
    const std::string_view val(b + v, e - v);
    // The field count is checked only where the vector must grow, so the
    // loop keeps no count of its own: Parser reserves limits.fields
    // (common.cpp), so the vector is full exactly at the limit. The check at
    // the empty line covers a vector reserved larger than that.
    if (fields.size() == fields.capacity() && fields.size() >= limits.fields) [[unlikely]]
      break;
    fields.push_back(Field{name, val});
    if constexpr (kHead) {
      if (on_head_field(facts, mode, name, val) != Error::none) [[unlikely]]
        break;
    }
    p = cr + 2;
  }
  fields.clear();
  return false;
}

// ---- The state machine ----

FAST_TARGET inline HeadStep suspend(HeadState& st, std::size_t p, HeadPart part) {
  st.pos = p;
  st.part = part;
  return HeadStep::need_more;
}

FAST_TARGET inline HeadStep reject(HeadState& st, Error e) {
  st.error = e;
  return HeadStep::error;
}

// Field lines up to and including the empty line (RULES.md "Field lines").
// Every byte at or past `section + limits.header_bytes` is over the limit, so
// scans stop at `end` and the first byte they could not look at decides
// between "need more" and 431: the first violation in byte order wins.
template <bool kHead>
FAST_TARGET inline HeadStep scan_fields(HeadState& st, std::vector<Field>& fields,
                                        const Limits& limits, Mode mode, const char* b,
                                        std::size_t avail, std::size_t p) {
  const std::size_t limit_at = sat_add(st.section, limits.header_bytes);
  const std::size_t end = std::min(avail, limit_at);
  Window w;
  w.at = p - 64;  // none yet: the first search classifies
#define FAST_AT_END(part) \
  return p == avail ? suspend(st, p, part) : reject(st, Error::header_too_large)
  switch (st.part) {
    case kName:
      goto name;
    case kValue:
      goto value;
    case kFieldLf:
      goto field_lf;
    case kFinalLf:
      goto final_lf;
    default:
      goto line_start;
  }
line_start:
  if (p == end) FAST_AT_END(kLineStart);
  if (b[p] == '\r') {
    ++p;
    goto final_lf;
  }
  if (fields.size() == limits.fields) return reject(st, Error::too_many_fields);
  // RFC 9112 §5.2: obs-fold is rejected.
  if (is_ows(b[p])) return reject(st, Error::obs_fold);
  st.mark = p;
name:
  if (p == end) FAST_AT_END(kName);
  p = next_marked<true>(b, p, end, w);
  if (p == end) FAST_AT_END(kName);
  // RFC 9112 §5.1: no whitespace between the name and the colon.
  if (b[p] != ':' || p == st.mark) return reject(st, Error::bad_field_name);
  st.colon = p++;
value:
  for (;;) {
    if (p == end) FAST_AT_END(kValue);
    p = next_marked<false>(b, p, end, w);
    if (p == end) FAST_AT_END(kValue);
    if (b[p] != '\t') break;
    ++p;
  }
  if (b[p] != '\r') {
    return reject(st, b[p] == '\n' ? Error::bad_line_ending : Error::bad_field_value);
  }
  ++p;
field_lf:
  if (p == end) FAST_AT_END(kFieldLf);
  // CVE-2023-30589: a CR must be followed by LF.
  if (b[p] != '\n') return reject(st, Error::bad_line_ending);
  {
    std::size_t v = st.colon + 1;
    std::size_t e = p - 1;  // the CR
    // The scan let through no byte below 0x20 but HTAB, so here "<= SP" is OWS.
    while (v < e && static_cast<unsigned char>(b[v]) <= 0x20) ++v;
    while (e > v && static_cast<unsigned char>(b[e - 1]) <= 0x20) --e;
    const std::string_view name(b + st.mark, st.colon - st.mark);
    const std::string_view val(b + v, e - v);
    fields.push_back(Field{name, val});
    if constexpr (kHead) {
      const Error err = on_head_field(st.facts, mode, name, val);
      if (err != Error::none) return reject(st, err);
    } else {
      // RULES.md "Trailers", at the field line's CRLF like a head field's rules.
      if (forbidden_trailer(name)) return reject(st, Error::forbidden_trailer);
    }
  }
  ++p;
  goto line_start;
final_lf:
  if (p == end) FAST_AT_END(kFinalLf);
  if (b[p] != '\n') return reject(st, Error::bad_line_ending);
  st.pos = p + 1;
  return HeadStep::complete;
#undef FAST_AT_END
}

// The start line's limit counts the bytes before its CRLF: a scan stops at
// `limit_at`, and the byte there is over the limit unless it is the CR (which
// the current part then judges like any other byte).
#define FAST_LINE_AT_END(part)                                         \
  do {                                                                 \
    if (p == avail) return suspend(st, p, part);                       \
    if (b[p] != '\r') return reject(st, Error::request_line_too_long); \
  } while (false)

// "HTTP/" DIGIT "." DIGIT then `last`, one byte at a time from st.mark.
FAST_TARGET inline HeadStep scan_version(HeadState& st, const char* b, std::size_t avail,
                                         std::size_t end, std::size_t& p, char last, HeadPart part,
                                         Error bad) {
  // The common case in one comparison: all nine bytes are here.
  // When `last` is the CR it may sit at the limit; a space may not.
  if (p == st.mark && end - p >= (last == '\r' ? 8u : 9u) && avail - p >= 9 &&
      std::memcmp(b + p, "HTTP/", 5) == 0 && b[p + 5] >= '0' && b[p + 5] <= '9' &&
      b[p + 6] == '.' && b[p + 7] >= '0' && b[p + 7] <= '9' && b[p + 8] == last) {
    p += 9;
    return HeadStep::complete;
  }
  for (; p - st.mark < 9; ++p) {
    if (p == end) FAST_LINE_AT_END(part);
    const std::size_t i = p - st.mark;
    const char c = b[p];
    bool ok = false;
    if (i < 5) {
      ok = c == "HTTP/"[i];
    } else if (i == 6) {
      ok = c == '.';
    } else if (i == 8) {
      ok = c == last;
    } else {
      ok = c >= '0' && c <= '9';
    }
    if (!ok) return reject(st, bad);
  }
  return HeadStep::complete;
}

// RULES.md: 1.0 and 1.1 are served, other well-formed versions are 505.
FAST_TARGET inline bool set_version(Message& m, const char* v) {
  m.version_major = static_cast<std::uint8_t>(v[5] - '0');
  m.version_minor = static_cast<std::uint8_t>(v[7] - '0');
  return m.version_major == 1 && m.version_minor <= 1;
}

// method SP target SP HTTP-version CRLF (RFC 9112 §3).
FAST_TARGET inline HeadStep scan_request_line(HeadState& st, Message& m, const Limits& limits,
                                              const char* b, std::size_t avail, std::size_t& p) {
  const std::size_t end = std::min(avail, limits.request_line);
  switch (st.part) {
    case kTarget:
      goto target;
    case kVersion:
      goto version;
    case kRequestLf:
      goto request_lf;
    default:
      break;
  }
  // GET, most requests' method, in one compare; any other in a SIMD scan.
  if (p == 0 && end >= 4 && std::memcmp(b, "GET ", 4) == 0) [[likely]] {
    p = 3;
  } else {
    p = find_nontchar(b, p, end);
  }
  if (p == end) FAST_LINE_AT_END(kMethod);
  if (b[p] != ' ' || p == 0) return reject(st, Error::bad_method);
  m.method = std::string_view(b, p);
  st.mark = ++p;
  if (m.method.size() == 7 && m.method == "CONNECT") [[unlikely]] {
    start_authority_form(st);
  } else if (p < end && b[p] == '/') [[likely]] {
    // origin-form, the common case: "/" and path bytes up to the SP at once.
    st.target = kPath;
    p = find_nonpath(b, p + 1, end);
    if (p < end && b[p] == ' ') [[likely]]
      goto target_done;
  }
target:
  // RULES.md "Request target": path and query bytes in bulk, the rest (the
  // form, "%" escapes, an authority) one byte at a time.
  for (;;) {
    if (st.target == kPath) p = find_nonpath(b, p, end);
    if (p == end) FAST_LINE_AT_END(kTarget);
    if (b[p] == ' ') break;
    // A line that ends after the target is HTTP/0.9 (RULES.md: bad_version).
    if (b[p] == '\r' || b[p] == '\n') return reject(st, Error::bad_version);
    if (!target_byte(st, m.method, b, p)) return reject(st, Error::bad_target);
    ++p;
  }
  if (p == st.mark) return reject(st, Error::bad_request_line);
  if (!target_complete(st)) return reject(st, Error::bad_target);
  m.target_form = st.form;
target_done:
  m.target = std::string_view(b + st.mark, p - st.mark);
  st.mark = ++p;
version:
  if (HeadStep s = scan_version(st, b, avail, end, p, '\r', kVersion, Error::bad_version);
      s != HeadStep::complete) {
    return s;
  }
request_lf:
  // The LF is not counted by the limit: look up to avail.
  if (p == avail) return suspend(st, p, kRequestLf);
  if (b[p] != '\n') return reject(st, Error::bad_line_ending);
  if (!set_version(m, b + st.mark)) return reject(st, Error::unsupported_version);
  ++p;
  return HeadStep::complete;
}

// HTTP-version SP 3DIGIT [SP reason-phrase] CRLF (RFC 9112 §4).
FAST_TARGET inline HeadStep scan_status_line(HeadState& st, Message& m, const Limits& limits,
                                             const char* b, std::size_t avail, std::size_t& p) {
  const std::size_t end = std::min(avail, limits.request_line);
  switch (st.part) {
    case kStatusCode:
      goto code;
    case kStatusAfterCode:
      goto after_code;
    case kReason:
      goto reason;
    case kStatusLf:
      goto status_lf;
    default:
      break;
  }
  if (HeadStep s = scan_version(st, b, avail, end, p, ' ', kStatusVersion, Error::bad_status_line);
      s != HeadStep::complete) {
    return s;
  }
code:
  for (; p < 12; ++p) {
    if (p == end) FAST_LINE_AT_END(kStatusCode);
    if (b[p] < '0' || b[p] > '9') return reject(st, Error::bad_status_line);
  }
  m.status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
after_code:
  if (p == end) FAST_LINE_AT_END(kStatusAfterCode);
  if (b[p] == ' ') {
    st.mark = ++p;
  } else if (b[p] == '\r') {
    st.mark = p;
    goto cr;
  } else {
    return reject(st, Error::bad_status_line);
  }
reason:
  for (;;) {
    p = find_ctl(b, p, end);
    if (p == end) FAST_LINE_AT_END(kReason);
    if (b[p] != '\t') break;
    ++p;
  }
  if (b[p] != '\r') return reject(st, Error::bad_status_line);
cr:
  m.reason = std::string_view(b + st.mark, p - st.mark);
  ++p;
status_lf:
  if (p == avail) return suspend(st, p, kStatusLf);
  if (b[p] != '\n') return reject(st, Error::bad_line_ending);
  if (!set_version(m, b)) return reject(st, Error::unsupported_version);
  ++p;
  return HeadStep::complete;
}
#undef FAST_LINE_AT_END

// flatten: the field push and the meaning of fields inline here too (a call
// per field cost a fifth of the time).
FAST_TARGET __attribute__((flatten)) HeadStep scan_head(HeadState& st, Message& m,
                                                        const Limits& limits, Mode mode,
                                                        const char* b, std::size_t avail) {
  std::size_t p = st.pos;
  if (st.part < kLineStart) {
    const HeadStep s = mode == Mode::request ? scan_request_line(st, m, limits, b, avail, p)
                                             : scan_status_line(st, m, limits, b, avail, p);
    if (s != HeadStep::complete) return s;
    st.section = p;
    st.part = kLineStart;
#if FAST_WIDTH > 0  // plain code gains nothing from it
    if (whole_fields<true>(st, m.fields, limits, mode, b, avail, p)) [[likely]] {
      return HeadStep::complete;
    }
#endif
  }
  return scan_fields<true>(st, m.fields, limits, mode, b, avail, p);
}

// Whole trailer sections are checked for forbidden names (RULES.md
// "Trailers") after the fast scan, which then leaves no trace in its loop; one
// with such a name is scanned again by the resumable scanner, which names the
// error at its line.
FAST_TARGET HeadStep scan_trailers(HeadState& st, std::vector<Field>& fields, const Limits& limits,
                                   const char* b, std::size_t avail) {
#if FAST_WIDTH > 0
  if (st.pos == 0 && st.part == kLineStart &&
      whole_fields<false>(st, fields, limits, Mode::request, b, avail, 0)) {
    if (std::none_of(fields.begin(), fields.end(),
                     [](const Field& f) { return forbidden_trailer(f.name); })) [[likely]] {
      return HeadStep::complete;
    }
    st.pos = 0;
    fields.clear();
  }
#endif
  return scan_fields<false>(st, fields, limits, Mode::request, b, avail, st.pos);
}
