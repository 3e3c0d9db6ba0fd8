// library::open_in and library::namespace_id on Linux: dlmopen namespaces (glibc's link-map
// lists); and identify_file, the (device, inode) by which the dynamic linker, and the
// registry after it, tell one loaded file from another. A library opened in a fresh namespace gets its own copy of everything it needs,
// libc included, so two versions of a module with the same symbol names live side by side.
//
// dlmopen is a GNU extension, so this file assumes glibc, which keeps dlerror's text per
// thread: no lock is needed to read the text of this thread's own failure.
//
// Failures are classified less finely than library::open does: the registry runs the
// preflight (livemod/check.h) before it opens anything, so what is left to tell apart is the
// file vanishing, the namespaces running out, and the rest.
#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "livemod/library.h"

namespace livemod {
namespace {

int to_mode(open_flags flags) {
  int mode = has(flags, open_flags::now) ? RTLD_NOW : RTLD_LAZY;
  mode |= has(flags, open_flags::global) ? RTLD_GLOBAL : RTLD_LOCAL;
  if (has(flags, open_flags::nodelete)) mode |= RTLD_NODELETE;
  if (has(flags, open_flags::noload)) mode |= RTLD_NOLOAD;
  if (has(flags, open_flags::deepbind)) mode |= RTLD_DEEPBIND;
  return mode;
}

error classify(const std::string& file, link_namespace where, const std::string& text) {
  // The file itself first: a path that vanished since the caller looked at it is the common
  // race, and glibc says it only as "cannot open shared object file".
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return error(errc::file_not_found, file, "no such file", "check the path, or build the module first")
          .with_os_text(text);
    if (errno == EACCES)
      return error(errc::permission_denied, file, "a directory on the path cannot be searched",
                   "give the directories on the path search permission (chmod a+x)")
          .with_os_text(text);
  } else if (!S_ISREG(st.st_mode)) {
    return error(errc::not_a_regular_file, file, "is not a regular file",
                 "pass the path of a shared library file")
        .with_os_text(text);
  }
  const bool fresh = where == link_namespace::fresh;
  if (text.find("no more namespaces available") != std::string::npos) {
    return error(errc::namespace_limit, file,
                 "the dynamic linker has no namespace left for a private copy (glibc allows 16 "
                 "namespaces, the base one included)",
                 "unload modules from isolated namespaces you no longer need, or share one "
                 "isolated namespace between several modules")
        .with_os_text(text);
  }
  if (fresh && text.find("cannot allocate memory in static TLS block") != std::string::npos) {
    // Every namespace gets its own libc, whose initial-exec TLS comes from the fixed static
    // TLS block; libraries that glibc never unloads (libstdc++'s GNU_UNIQUE symbols make it
    // NODELETE) keep their share for good.
    return error(errc::namespace_limit, file,
                 "no static TLS space is left for another namespace's copy of libc and the "
                 "libraries it needs",
                 "use fewer isolated namespaces, or start the process with a larger block "
                 "(GLIBC_TUNABLES=glibc.rtld.optional_static_tls=...)")
        .with_os_text(text);
  }
  return error(errc::load_failed, file,
               std::string("the dynamic linker refused it in ") +
                   (fresh ? "a new namespace" : "its namespace") + ": " + text,
               "run `livemod check` on it, or LD_DEBUG=files,libs to see what the dynamic "
               "linker did")
      .with_os_text(text);
}

}  // namespace

result<file_identity> identify_file(const std::filesystem::path& path) {
  const std::string& file = path.native();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    const std::string text = std::strerror(err);
    if (err == ENOENT || err == ENOTDIR)
      return fail(error(errc::file_not_found, file, "no such file", "check the path").with_os_text(text));
    if (err == EACCES)
      return fail(error(errc::permission_denied, file, "cannot be looked at by this process",
                        "give the directories on the path search permission (chmod a+x)")
                      .with_os_text(text));
    return fail(error(errc::io_error, file, "stat failed: " + text).with_os_text(text));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(errc::not_a_regular_file, file, "is not a regular file",
                "pass the path of a shared library file");
  }
  file_identity id;
  id.device = static_cast<std::uint64_t>(st.st_dev);
  id.inode = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return id;
}

result<library> library::open_in(link_namespace where, const std::filesystem::path& path,
                                 open_flags flags) {
  if (where == link_namespace::base) return open(path, flags);
  const std::string& file = path.native();
  if (file.empty()) {
    return fail(errc::file_not_found, "", "the library path is empty",
                "pass the path of a shared library");
  }
  (void)::dlerror();  // drop a stale error, so the text read below is this call's
  void* handle = ::dlmopen(static_cast<Lmid_t>(where), file.c_str(), to_mode(flags));
  if (handle == nullptr) {
    const char* text = ::dlerror();
    return fail(classify(file, where, text ? text : "dlmopen failed without saying why"));
  }
  return library(handle, path);
}

result<link_namespace> library::namespace_id() const {
  if (handle_ == nullptr) {
    return fail(errc::load_failed, path_.string(), "the library is not open",
                "open it before asking for its namespace");
  }
  Lmid_t id = 0;
  (void)::dlerror();
  if (::dlinfo(handle_, RTLD_DI_LMID, &id) != 0) {
    const char* text = ::dlerror();
    return fail(error(errc::load_failed, path_.string(), "dlinfo could not tell its namespace",
                      "this is a dynamic linker problem; report it")
                    .with_os_text(text ? text : ""));
  }
  return static_cast<link_namespace>(id);
}

}  // namespace livemod
