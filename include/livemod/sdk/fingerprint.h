// File: livemod/sdk/fingerprint.h
//
// The build fingerprint: the facts about how a translation unit was compiled that decide
// whether two binaries can share C++ types. It is computed by the preprocessor, so it always
// describes the flags of the code that includes this header: the module's generated manifest
// source (cmake/LivemodModule.cmake) and the host that asks for its own.
//
//   const char* mine = LIVEMOD_BUILD_FINGERPRINT_JSON;
//   // {"compiler":"gcc","compiler_major":12,"cxx11_abi":1,"arch":"x86_64","exceptions":true,
//   //  "rtti":true,"glibcxx_debug":false,"asan":false,"tsan":false}
//
// Recorded are the flags that change layout or ABI: -fno-exceptions, -fno-rtti,
// _GLIBCXX_DEBUG (container layouts), and the sanitizers whose runtime must come first (ASan,
// TSan). GCC gives no macro for UBSan, so it is not recorded. cxx11_abi is -1 in C.
#pragma once

#ifdef __cplusplus
#include <cstddef>  // brings in libstdc++'s configuration macros (_GLIBCXX_USE_CXX11_ABI)
#else
#include <stddef.h>
#endif

#define LIVEMOD_FP_STR2(x) #x
#define LIVEMOD_FP_STR(x) LIVEMOD_FP_STR2(x)

#if defined(__clang__)
#define LIVEMOD_FP_COMPILER "\"compiler\":\"clang\",\"compiler_major\":" LIVEMOD_FP_STR(__clang_major__)
#elif defined(__GNUC__)
#define LIVEMOD_FP_COMPILER "\"compiler\":\"gcc\",\"compiler_major\":" LIVEMOD_FP_STR(__GNUC__)
#else
#define LIVEMOD_FP_COMPILER "\"compiler\":\"unknown\",\"compiler_major\":0"
#endif

#if defined(__cplusplus) && defined(_GLIBCXX_USE_CXX11_ABI)
#define LIVEMOD_FP_CXX11_ABI ",\"cxx11_abi\":" LIVEMOD_FP_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define LIVEMOD_FP_CXX11_ABI ",\"cxx11_abi\":-1"
#endif

#if defined(__x86_64__)
#define LIVEMOD_FP_ARCH ",\"arch\":\"x86_64\""
#elif defined(__aarch64__)
#define LIVEMOD_FP_ARCH ",\"arch\":\"aarch64\""
#elif defined(__i386__)
#define LIVEMOD_FP_ARCH ",\"arch\":\"i386\""
#elif defined(__arm__)
#define LIVEMOD_FP_ARCH ",\"arch\":\"arm\""
#elif defined(__riscv) && __riscv_xlen == 64
#define LIVEMOD_FP_ARCH ",\"arch\":\"riscv64\""
#else
#define LIVEMOD_FP_ARCH ",\"arch\":\"unknown\""
#endif

#if defined(__cplusplus) && !defined(__EXCEPTIONS) && !defined(__cpp_exceptions)
#define LIVEMOD_FP_EXCEPTIONS "false"
#else
#define LIVEMOD_FP_EXCEPTIONS "true"
#endif
#if defined(__cplusplus) && !defined(__GXX_RTTI) && !defined(__cpp_rtti)
#define LIVEMOD_FP_RTTI "false"
#else
#define LIVEMOD_FP_RTTI "true"
#endif
#if defined(_GLIBCXX_DEBUG)
#define LIVEMOD_FP_GLIBCXX_DEBUG "true"
#else
#define LIVEMOD_FP_GLIBCXX_DEBUG "false"
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LIVEMOD_FP_ASAN "true"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIVEMOD_FP_ASAN "true"
#endif
#endif
#ifndef LIVEMOD_FP_ASAN
#define LIVEMOD_FP_ASAN "false"
#endif
#if defined(__SANITIZE_THREAD__)
#define LIVEMOD_FP_TSAN "true"
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LIVEMOD_FP_TSAN "true"
#endif
#endif
#ifndef LIVEMOD_FP_TSAN
#define LIVEMOD_FP_TSAN "false"
#endif

#define LIVEMOD_BUILD_FINGERPRINT_JSON                                                    \
  "{" LIVEMOD_FP_COMPILER LIVEMOD_FP_CXX11_ABI LIVEMOD_FP_ARCH                           \
  ",\"exceptions\":" LIVEMOD_FP_EXCEPTIONS ",\"rtti\":" LIVEMOD_FP_RTTI                  \
  ",\"glibcxx_debug\":" LIVEMOD_FP_GLIBCXX_DEBUG ",\"asan\":" LIVEMOD_FP_ASAN            \
  ",\"tsan\":" LIVEMOD_FP_TSAN "}"
