#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <new>
#include <string_view>

#include "image/dynamic_section.h"
#include "image/dynamic_symbols.h"
#include "image/elf_file.h"
#include "image/inspect.h"
#include "image/symbol_versions.h"
#include "livemod/image.h"
#include "os/mapped_file.h"

namespace livemod {
namespace image_detail {
namespace {

constexpr std::string_view manifest_section = ".livemod.manifest";

// A string section's text up to its first NUL (the manifest is a C string literal).
std::string text_up_to_nul(std::span<const std::byte> raw) {
  if (raw.empty()) return {};  // SHT_NOBITS or empty: memchr must not see a null pointer
  const auto* begin = reinterpret_cast<const char*>(raw.data());
  const void* nul = std::memchr(begin, '\0', raw.size());
  const std::size_t length =
      nul == nullptr ? raw.size() : static_cast<std::size_t>(static_cast<const char*>(nul) - begin);
  return std::string(begin, length);
}

// .comment holds one NUL-terminated line per toolchain that contributed, often repeated (one
// per object file with some linkers): keep each once, in order, joined with '\n'.
std::string comment_lines(std::span<const std::byte> raw) {
  std::string out;
  std::vector<std::string_view> seen;
  std::string_view rest(reinterpret_cast<const char*>(raw.data()), raw.size());
  while (!rest.empty()) {
    const std::size_t nul = rest.find('\0');
    const std::string_view line = rest.substr(0, nul);
    rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
    if (line.empty()) continue;
    bool duplicate = false;
    for (std::string_view s : seen) duplicate = duplicate || s == line;
    if (duplicate) continue;
    seen.push_back(line);
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

result<image_info> inspect(std::span<const std::byte> bytes, const std::filesystem::path& path) {
  auto elf = elf_file::open(bytes, path.string());
  if (!elf) return fail(elf.error());

  image_info info;
  info.path = path;
  info.file_size = bytes.size();
  info.cls = elf->cls();
  info.little_endian = elf->little_endian();
  info.machine = elf->header().e_machine;
  info.machine_name = machine_name(info.machine);
  info.os_abi = elf->header().e_ident[EI_OSABI];
  info.type = elf->header().e_type;

  if (auto r = read_dynamic_section(*elf, info); !r) return fail(r.error());
  auto versions = read_symbol_versions(*elf);
  if (!versions) return fail(versions.error());
  info.version_needs = std::move(versions->needs);
  info.version_defs = std::move(versions->defs);
  auto symbols = read_dynamic_symbols(*elf, *versions);
  if (!symbols) return fail(symbols.error());
  info.symbols = std::move(*symbols);
  info.pins = find_pins(info.symbols, info.flags_1);

  if (const elf_section* s = elf->find_section(manifest_section)) {
    info.manifest_json = text_up_to_nul(elf->raw_bytes(*s));
  }
  if (const elf_section* s = elf->find_section(".comment")) {
    info.comment = comment_lines(elf->raw_bytes(*s));
  }
  return info;
}

}  // namespace

result<image_info> inspect_bytes(std::span<const std::byte> bytes,
                                 const std::filesystem::path& path) noexcept {
  try {
    return inspect(bytes, path);
  } catch (const std::bad_alloc&) {
    return fail(errc::io_error, path.string(), "out of memory while reading the file",
                "free memory and try again");
  } catch (const std::exception& e) {
    return fail(errc::io_error, path.string(), std::string("cannot read the file: ") + e.what(),
                "report this as a bug in livemod");
  }
}

}  // namespace image_detail

result<image_info> read_image(const std::filesystem::path& path) {
  try {
    auto file = os::mapped_file::open(path);
    if (!file) return fail(file.error());
    return image_detail::inspect_bytes(file->bytes(), path);
  } catch (const std::bad_alloc&) {
    return fail(errc::io_error, path.string(), "out of memory while reading the file",
                "free memory and try again");
  }
}

namespace {

struct image_cache {
  struct entry {
    // What tells one version of a file from another without reading it: a rewrite in place
    // that keeps the size still moves mtime; a rename over the path brings another inode.
    file_identity state;
    std::shared_ptr<const image_info> image;
  };
  std::mutex mutex;
  std::unordered_map<std::string, entry> by_path;  // one entry per path: its latest version
};

image_cache& shared_images() {
  static image_cache* cache = new image_cache;  // never destroyed: safe in exit-time callers
  return *cache;
}

// Enough for a host's libraries and a few thousand modules; past it the cache starts over
// rather than tracking use (a load reads each file a few times in a short span).
constexpr std::size_t k_max_shared_images = 4096;

}  // namespace

result<std::shared_ptr<const image_info>> read_image_shared(const std::filesystem::path& path) {
  auto before = identify_file(path);
  if (!before) {
    // Not a readable regular file: read_image gives the precise error, and nothing is kept.
    auto image = read_image(path);
    if (!image) return fail(std::move(image.error()));
    return std::make_shared<const image_info>(std::move(*image));
  }
  return read_image_shared(path, *before);
}

result<std::shared_ptr<const image_info>> read_image_shared(const std::filesystem::path& path,
                                                           const file_identity& version) {
  image_cache& cache = shared_images();
  {
    std::lock_guard lock(cache.mutex);
    if (auto it = cache.by_path.find(path.native());
        it != cache.by_path.end() && it->second.state == version) {
      return it->second.image;
    }
  }
  auto image = read_image(path);
  if (!image) return fail(std::move(image.error()));
  auto shared = std::make_shared<const image_info>(std::move(*image));
  // Kept only when the file was that version before and after the read: a file being written
  // while it was read must not be remembered under either state.
  if (auto after = identify_file(path); after && *after == version) {
    std::lock_guard lock(cache.mutex);
    if (cache.by_path.size() >= k_max_shared_images) cache.by_path.clear();
    cache.by_path.insert_or_assign(path.native(), image_cache::entry{version, shared});
  }
  return shared;
}

std::string machine_name(std::uint16_t machine) {
  switch (machine) {
    case EM_NONE: return "none";
    case EM_386: return "i386";
    case EM_X86_64: return "x86_64";
    case EM_AARCH64: return "aarch64";
    case EM_ARM: return "arm";
    case EM_RISCV: return "riscv";
    case EM_PPC: return "ppc";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390";
    case EM_MIPS: return "mips";
    case EM_SPARC: return "sparc";
    case EM_SPARCV9: return "sparcv9";
    case EM_IA_64: return "ia64";
    case EM_68K: return "m68k";
    case EM_SH: return "sh";
    case EM_PARISC: return "parisc";
    case EM_ALPHA: return "alpha";
    case EM_LOONGARCH: return "loongarch";
    case EM_BPF: return "bpf";
    default: return "machine " + std::to_string(machine);
  }
}

}  // namespace livemod
