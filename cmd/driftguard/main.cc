// driftguard: flags -> Options -> wiring. The only code outside a library.
#include <cstdio>

int main(int argc, char** argv) {
  std::puts("driftguard");
  return 0;
}
