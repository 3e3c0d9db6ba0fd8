// A host that uses std::string through libstdc++'s exported members, so its dynamic symbol
// table shows which std::string ABI it was built with.
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  std::string text = argc > 1 ? argv[1] : "host";
  text.append(std::to_string(argc));
  std::printf("%s %zu\n", text.c_str(), text.find('o'));
  return 0;
}
