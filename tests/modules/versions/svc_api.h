/* The API of the hot-swap fixture module "svc": versions v1..vN of it live in this folder. */
#ifndef LIVEMOD_TESTS_SVC_API_H
#define LIVEMOD_TESTS_SVC_API_H
#include <stdint.h>
#define SVC_API_ID "svc-api-1"
typedef struct svc_api {
  int32_t (*version)(void);  /* the fixture's number: v1 returns 1, v2 returns 2 ... */
  int64_t (*bump)(void);     /* adds one to the counter carried across swaps; returns it */
  int64_t (*count)(void);    /* the counter */
} svc_api;
#endif
