/* A 32-bit x86 shared object (built with i686-linux-gnu-gcc): ELFCLASS32, EM_386. */
#include <math.h>

__attribute__((visibility("default"))) double i686_hypot(double a, double b) {
  return sqrt(a * a + b * b);
}
