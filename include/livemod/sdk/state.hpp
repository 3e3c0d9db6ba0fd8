// File: livemod/sdk/state.hpp
//
// The C++ face of livemod/sdk/state.h: a versioned key/value state blob, and macros that
// define the save_state / restore_state entry points around ordinary C++ functions.
//
//   static std::int64_t count = 0;
//   static std::string greeting = "hello";                      // added in state_schema 2
//   LIVEMOD_SAVE_STATE(svc_save, [](livemod::sdk::state_writer& w) {
//     w.put("count", count); w.put("greeting", greeting); });
//   LIVEMOD_RESTORE_STATE(svc_restore, [](const livemod::sdk::state_reader& r, std::uint32_t) {
//     count = r.get_int("count", 0); greeting = r.get_string("greeting", "hello"); });
//
// Schema evolution is by key: a field the old version did not write gets the default given to
// get_*; a field the new version no longer reads is dropped. old_schema is there for changes
// a key cannot express (a unit that changed). The encoding: "LMS1", then per field a 16-bit key
// length, the key, a type byte (1 int64, 2 bytes), a 64-bit length and the value, little-endian.
// A blob that does not parse makes restore fail (-LIVEMOD_E_FAILED), never a crash.
//
// Thread-safety: writer and reader are plain values used by one thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "livemod/sdk/module.hpp"
#include "livemod/sdk/state.h"

namespace livemod::sdk {

namespace detail {
inline void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
inline std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}
constexpr char state_magic[4] = {'L', 'M', 'S', '1'};
}  // namespace detail

class state_writer {
 public:
  state_writer() { bytes_.assign(detail::state_magic, sizeof detail::state_magic); }
  void put(std::string_view key, std::int64_t value) {
    header(key, 1, 8);
    detail::put_le(bytes_, static_cast<std::uint64_t>(value), 8);
  }
  void put(std::string_view key, std::string_view value) {
    header(key, 2, value.size());
    bytes_.append(value);
  }
  void put(std::string_view key, const char* value) { put(key, std::string_view(value)); }
  const std::string& bytes() const noexcept { return bytes_; }

 private:
  void header(std::string_view key, unsigned char type, std::uint64_t size) {
    detail::put_le(bytes_, key.size() & 0xffffu, 2);
    bytes_.append(key.substr(0, 0xffff));
    bytes_.push_back(static_cast<char>(type));
    detail::put_le(bytes_, size, 8);
  }
  std::string bytes_;
};

class state_reader {
 public:
  // Parses `size` bytes; ok() is false when they are not a blob this encoding wrote.
  state_reader(const std::uint8_t* data, std::uint64_t size) {
    const unsigned char* p = data;
    const unsigned char* end = data + size;
    ok_ = size >= 4 && std::memcmp(p, detail::state_magic, 4) == 0;
    if (!ok_) return;
    p += 4;
    while (p != end) {
      if (end - p < 2) {
        fail();
        return;
      }
      auto key_size = static_cast<std::size_t>(detail::get_le(p, 2));
      p += 2;
      if (static_cast<std::size_t>(end - p) < key_size + 9) {
        fail();
        return;
      }
      std::string_view key(reinterpret_cast<const char*>(p), key_size);
      p += key_size;
      unsigned char type = *p++;
      std::uint64_t value_size = detail::get_le(p, 8);
      p += 8;
      if (static_cast<std::uint64_t>(end - p) < value_size || (type == 1 && value_size != 8))
        {
        fail();
        return;
      }
      fields_.push_back({key, type,
                         std::string_view(reinterpret_cast<const char*>(p),
                                          static_cast<std::size_t>(value_size))});
      p += value_size;
    }
  }
  bool ok() const noexcept { return ok_; }
  bool has(std::string_view key) const noexcept { return find(key) != nullptr; }
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const noexcept {
    const field* f = find(key);
    if (!f || f->type != 1) return fallback;
    return static_cast<std::int64_t>(
        detail::get_le(reinterpret_cast<const unsigned char*>(f->value.data()), 8));
  }
  std::string get_string(std::string_view key, std::string_view fallback) const {
    const field* f = find(key);
    return std::string(f && f->type == 2 ? f->value : fallback);
  }

 private:
  struct field {
    std::string_view key;
    unsigned char type;
    std::string_view value;
  };
  void fail() noexcept {
    ok_ = false;
    fields_.clear();
  }
  const field* find(std::string_view key) const noexcept {
    for (const field& f : fields_)
      if (f.key == key) return &f;
    return nullptr;
  }
  bool ok_ = false;
  std::vector<field> fields_;
};

namespace detail {
template <class F>
std::int32_t save_state(livemod_state_sink* sink, const char* entry, F&& body) noexcept {
  return guarded(nullptr, entry, [&]() -> std::int32_t {
    state_writer w;
    body(w);
    const std::string& b = w.bytes();
    return sink->write(sink, b.data(), b.size());
  });
}
template <class F>
std::int32_t restore_state(const std::uint8_t* data, std::uint64_t size, std::uint32_t old_schema,
                           const char* entry, F&& body) noexcept {
  return guarded(nullptr, entry, [&]() -> std::int32_t {
    state_reader r(data, size);
    if (!r.ok()) return -LIVEMOD_E_FAILED;
    using ret = decltype(body(r, old_schema));
    if constexpr (std::is_void_v<ret>) {
      body(r, old_schema);
      return LIVEMOD_OK;
    } else {
      return static_cast<std::int32_t>(body(r, old_schema));
    }
  });
}
}  // namespace detail
}  // namespace livemod::sdk

// Defines the exported save_state entry point `symbol` around a function taking
// livemod::sdk::state_writer& (may throw: an exception becomes -LIVEMOD_E_EXCEPTION).
#define LIVEMOD_SAVE_STATE(symbol, ...)                                                   \
  extern "C" LIVEMOD_EXPORT std::int32_t symbol(livemod_state_sink* livemod_sink_) noexcept { \
    return ::livemod::sdk::detail::save_state(livemod_sink_, #symbol, __VA_ARGS__);       \
  }                                                                                       \
  static_assert(std::is_convertible_v<decltype(&symbol), ::livemod_save_state_fn>)

// Defines the exported restore_state entry point `symbol` around a function taking
// (const livemod::sdk::state_reader&, std::uint32_t old_schema), returning void or an int32_t
// code (negative: failure, the old version keeps serving).
#define LIVEMOD_RESTORE_STATE(symbol, ...)                                                    \
  extern "C" LIVEMOD_EXPORT std::int32_t symbol(const std::uint8_t* livemod_data_,            \
                                                std::uint64_t livemod_size_,                  \
                                                std::uint32_t livemod_schema_) noexcept {     \
    return ::livemod::sdk::detail::restore_state(livemod_data_, livemod_size_, livemod_schema_, \
                                                 #symbol, __VA_ARGS__);                       \
  }                                                                                           \
  static_assert(std::is_convertible_v<decltype(&symbol), ::livemod_restore_state_fn>)
