/* The API of the demo's module "counter", as host and module both see it. */
#ifndef LIVEMOD_EXAMPLE_COUNTER_API_H
#define LIVEMOD_EXAMPLE_COUNTER_API_H
#include <stdint.h>
#define COUNTER_API_ID "counter-api-1"
typedef struct counter_api {
  int32_t (*build)(void);     /* which build this is: 100 for 1.0, 200 for 2.0, 201 for 2.1 */
  int64_t (*handle)(void);    /* serves a request: counts it, returns the count */
} counter_api;
#endif
