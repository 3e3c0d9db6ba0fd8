/* A host linked without PIE: e_type ET_EXEC, which read_image accepts as well. */
#include <stdio.h>

int main(void) {
  puts("host");
  return 0;
}
